"""Wrong answers to lesson 01's exercises: each must fail at least one graded test of its exercise."""

MUTANTS = [
    ("01-closure", "calls the inner function instead of returning it", {"make_show_progress": '''
def make_show_progress(exclamation):
    def show_progress(epoch):
        print(f"{exclamation}! We've finished epoch {epoch}!")
    return show_progress(0)
'''}),
    ("01-closure", "prints without the exclamation mark", {"make_show_progress": '''
def make_show_progress(exclamation):
    def show_progress(epoch):
        print(f"{exclamation} We've finished epoch {epoch}!")
    return show_progress
'''}),
    ("01-closure", "a lambda with a fixed exclamation", {"make_show_progress": '''
def make_show_progress(exclamation):
    return lambda epoch: print(f"Nice! We've finished epoch {epoch}!")
'''}),
    ("01-partial-adapter", "a lambda instead of a partial", {"make_show_progress_partial": '''
def make_show_progress_partial(exclamation):
    return lambda epoch: show_progress2(exclamation, epoch)
'''}),
    ("01-partial-adapter", "fixes the wrong argument", {"make_show_progress_partial": '''
def make_show_progress_partial(exclamation):
    return partial(show_progress2, epoch=exclamation)
'''}),
    ("01-callable-callback", "the epochs list is a class attribute, shared", {"ProgressCallback.__init__": '''
def __init__(self, exclamation="Awesome"):
    self.exclamation = exclamation
    if "shared" not in ProgressCallback.__dict__:
        ProgressCallback.shared = []
    self.epochs = ProgressCallback.shared
'''}),
    ("01-callable-callback", "forgets to record the epoch", {"ProgressCallback.__call__": '''
def __call__(self, epoch):
    print(f"{self.exclamation}! We've finished epoch {epoch}!")
'''}),
    ("01-callable-callback", "default exclamation missing", {"ProgressCallback.__init__": '''
def __init__(self, exclamation=""):
    self.exclamation = exclamation
    self.epochs = []
'''}),
    ("01-hooks-runner", "stops only on a return of exactly True", {"slow_calculation_hooks": '''
def slow_calculation_hooks(cb=None, n=5, delay=1.0):
    before = getattr(cb, "before_calc", None)
    after = getattr(cb, "after_calc", None)
    res = 0
    for i in range(n):
        if before:
            before(i)
        res += i * i
        time.sleep(delay)
        if after and after(i, res) is True:
            print("stopping early")
            break
    return res
'''}),
    ("01-hooks-runner", "calls after_calc before adding the step", {"slow_calculation_hooks": '''
def slow_calculation_hooks(cb=None, n=5, delay=1.0):
    before = getattr(cb, "before_calc", None)
    after = getattr(cb, "after_calc", None)
    res = 0
    for i in range(n):
        if before:
            before(i)
        if after and after(i, res):
            print("stopping early")
            break
        res += i * i
        time.sleep(delay)
    return res
'''}),
    ("01-hooks-runner", "assumes both hooks exist", {"slow_calculation_hooks": '''
def slow_calculation_hooks(cb=None, n=5, delay=1.0):
    res = 0
    for i in range(n):
        if cb:
            cb.before_calc(i)
        res += i * i
        time.sleep(delay)
        if cb and cb.after_calc(i, res):
            print("stopping early")
            break
    return res
'''}),
    ("01-stateful-calculator", "stops only on a return of exactly True", {"SlowCalculator.calc": '''
def calc(self):
    for i in range(self.n):
        self.callback("before_calc", i)
        self.res += i * i
        time.sleep(self.delay)
        if self.callback("after_calc", i) is True:
            print("stopping early")
            break
    return self.res
'''}),
    ("01-stateful-calculator", "a local running result: hooks cannot change it", {"SlowCalculator.calc": '''
def calc(self):
    res = 0
    for i in range(self.n):
        self.callback("before_calc", i)
        res += i * i
        self.res = res
        time.sleep(self.delay)
        if self.callback("after_calc", i):
            print("stopping early")
            break
    return res
'''}),
    ("01-stateful-calculator", "the hook does not get the calculator", {"SlowCalculator.callback": '''
def callback(self, name, *args):
    hook = getattr(self.cb, name, None)
    return hook(*args) if hook else None
'''}),
    ("01-dunder", "'...' already at exactly 10 items", {"Items.__repr__": '''
def __repr__(self):
    shown = repr(self.items[:10])
    if len(self) >= 10:
        shown = shown[:-1] + ", ...]"
    return f"{type(self).__name__}({len(self)} items) {shown}"
'''}),
    ("01-dunder", "a mask is read as a list of indices 0 and 1", {"Items.__getitem__": '''
def __getitem__(self, idx):
    if isinstance(idx, slice):
        return Items(self.items[idx])
    if isinstance(idx, (list, tuple)):
        return Items(self.items[i] for i in idx)
    return self.items[idx]
'''}),
    ("01-dunder", "a slice gives a plain list", {"Items.__getitem__": '''
def __getitem__(self, idx):
    if isinstance(idx, (list, tuple)):
        if idx and all(isinstance(i, bool) for i in idx):
            if len(idx) != len(self):
                raise IndexError("mask length")
            return Items(o for o, keep in zip(self.items, idx) if keep)
        return Items(self.items[i] for i in idx)
    return self.items[idx]
'''}),
    ("01-dunder", "a short mask is silently accepted", {"Items.__getitem__": '''
def __getitem__(self, idx):
    if isinstance(idx, slice):
        return Items(self.items[idx])
    if isinstance(idx, (list, tuple)):
        if idx and all(isinstance(i, bool) for i in idx):
            return Items(o for o, keep in zip(self.items, idx) if keep)
        return Items(self.items[i] for i in idx)
    return self.items[idx]
'''}),
    ("01-context-manager", "None as 'did not exist': deletes an attribute that was None", {
        "TemporaryAttrs.__enter__": '''
def __enter__(self):
    self.old = {k: getattr(self.obj, k, None) for k in self.attrs}
    for k, v in self.attrs.items():
        setattr(self.obj, k, v)
    return self.obj
''', "TemporaryAttrs.__exit__": '''
def __exit__(self, exc_type, exc, tb):
    for k, v in self.old.items():
        if v is None:
            delattr(self.obj, k)
        else:
            setattr(self.obj, k, v)
    return False
'''}),
    ("01-context-manager", "swallows the exception", {"TemporaryAttrs.__exit__": '''
def __exit__(self, exc_type, exc, tb):
    for k, v in self.old.items():
        if v is self.missing:
            delattr(self.obj, k)
        else:
            setattr(self.obj, k, v)
    return True
'''}),
    ("01-context-manager", "leaves new attributes behind", {"TemporaryAttrs.__exit__": '''
def __exit__(self, exc_type, exc, tb):
    for k, v in self.old.items():
        if v is not self.missing:
            setattr(self.obj, k, v)
'''}),
    ("01-context-manager", "returns the context manager, not obj", {"TemporaryAttrs.__enter__": '''
def __enter__(self):
    self.missing = object()
    self.old = {k: getattr(self.obj, k, self.missing) for k in self.attrs}
    for k, v in self.attrs.items():
        setattr(self.obj, k, v)
    return self
'''}),
    ("01-mad", "deviation from the median", {"mean_abs_dev": '''
def mean_abs_dev(x):
    _check_not_empty(x)
    return (x - x.median()).abs().mean()
'''}),
    ("01-mad", "a Python float", {"mean_abs_dev": '''
def mean_abs_dev(x):
    _check_not_empty(x)
    return (x - x.mean()).abs().mean().item()
'''}),
    ("01-mad", "nan instead of an error on empty input", {"mean_abs_dev": '''
def mean_abs_dev(x):
    return (x - x.mean()).abs().mean()
'''}),
    ("01-running-sums", "clamps the variance at 0", {"one_pass_stats": '''
def one_pass_stats(batches):
    n, s, ss = 0, None, None
    for b in batches:
        if b.numel() == 0:
            continue
        bs, bss = b.sum(), (b * b).sum()
        s, ss = (bs, bss) if s is None else (s + bs, ss + bss)
        n += b.numel()
    if n == 0:
        raise ValueError("no data")
    mean = s / n
    var = (ss / n - mean * mean).clamp(min=0)
    return mean, var, var.sqrt()
'''}),
    ("01-running-sums", "accumulates in float64", {"one_pass_stats": '''
def one_pass_stats(batches):
    n, s, ss = 0, 0.0, 0.0
    for b in batches:
        n += b.numel()
        s += b.double().sum()
        ss += (b.double() ** 2).sum()
    if n == 0:
        raise ValueError("no data")
    mean = s / n
    var = ss / n - mean * mean
    return mean, var, var.sqrt()
'''}),
    ("01-running-sums", "a two-pass variance", {"one_pass_stats": '''
def one_pass_stats(batches):
    x = torch.cat([b.flatten() for b in batches])
    if x.numel() == 0:
        raise ValueError("no data")
    mean = x.mean()
    var = ((x - mean) ** 2).mean()
    return mean, var, var.sqrt()
'''}),
    ("01-running-sums", "sample variance (divides by n - 1)", {"one_pass_stats": '''
def one_pass_stats(batches):
    n, s, ss = 0, None, None
    for b in batches:
        if b.numel() == 0:
            continue
        bs, bss = b.sum(), (b * b).sum()
        s, ss = (bs, bss) if s is None else (s + bs, ss + bss)
        n += b.numel()
    if n == 0:
        raise ValueError("no data")
    mean = s / n
    var = (ss - n * mean * mean) / (n - 1)
    return mean, var, var.sqrt()
'''}),
    ("01-running-stats", "the textbook formula after all", {"RunningStats.update": '''
def update(self, batch):
    b = batch.detach().flatten()
    if b.numel() == 0:
        return self
    if self.n == 0:
        self._s, self._ss = b.sum(), (b * b).sum()
    else:
        self._s, self._ss = self._s + b.sum(), self._ss + (b * b).sum()
    self.n += b.numel()
    self._mean = self._s / self.n
    self._m2 = self._ss - self.n * self._mean ** 2
    return self
'''}),
    ("01-running-stats", "merges the means without the cross term in M2", {"RunningStats.update": '''
def update(self, batch):
    b = batch.detach().flatten()
    nb = b.numel()
    if nb == 0:
        return self
    mb = b.mean()
    m2b = (b - mb).pow(2).sum()
    if self.n == 0:
        self._mean, self._m2 = mb, m2b
    else:
        n = self.n + nb
        self._mean = self._mean + (mb - self._mean) * (nb / n)
        self._m2 = self._m2 + m2b
    self.n += nb
    return self
'''}),
    ("01-running-stats", "sample variance", {"RunningStats.var": '''
def var(self):
    if self.n == 0:
        raise ValueError("no data")
    return self._m2 / (self.n - 1)
'''}),
    ("01-covariance", "E[xy] - E[x]E[y] without checks", {"covariance": '''
def covariance(x, y):
    return (x * y).mean() - x.mean() * y.mean()
'''}),
    ("01-covariance", "sample covariance (n - 1)", {"covariance": '''
def covariance(x, y):
    _check_pair(x, y)
    return ((x - x.mean()) * (y - y.mean())).sum() / (len(x) - 1)
'''}),
    ("01-correlation", "sample std with population covariance", {"pearson": '''
def pearson(x, y):
    _check_pair(x, y)
    return covariance(x, y) / (x.std() * y.std())
'''}),
    ("01-correlation", "divides by the variances", {"pearson": '''
def pearson(x, y):
    _check_pair(x, y)
    return covariance(x, y) / (x.var(unbiased=False) * y.var(unbiased=False)).sqrt().sqrt()
'''}),
    ("01-correlation", "0 instead of nan for a constant input", {"pearson": '''
def pearson(x, y):
    _check_pair(x, y)
    sx, sy = x.var(unbiased=False).sqrt(), y.var(unbiased=False).sqrt()
    if sx == 0 or sy == 0:
        return torch.zeros((), dtype=x.dtype)
    return covariance(x, y) / (sx * sy)
'''}),
    ("01-sigmoid", "1 - 1/(1+exp(x)) for x < 0: 0 at x = -20", {"sigmoid": '''
def sigmoid(x):
    return torch.where(x >= 0, 1 / (1 + torch.exp(-x.clamp(min=0))), 1 - 1 / (1 + torch.exp(x.clamp(max=0))))
'''}),
    ("01-sigmoid", "the naive form", {"sigmoid": '''
def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))
'''}),
    ("01-sigmoid", "the two forms swapped", {"sigmoid": '''
def sigmoid(x):
    e = torch.exp(-x.abs())
    return torch.where(x >= 0, e / (1 + e), 1 / (1 + e))
'''}),
    ("01-logsumexp", "no shift: overflows", {"logsumexp": '''
def logsumexp(x, dim=-1, keepdim=False):
    return x.exp().sum(dim=dim, keepdim=keepdim).log()
'''}),
    ("01-logsumexp", "shift by the max without guarding -inf rows", {"logsumexp": '''
def logsumexp(x, dim=-1, keepdim=False):
    m = x.amax(dim=dim, keepdim=True)
    out = m + (x - m).exp().sum(dim=dim, keepdim=True).log()
    return out if keepdim else out.squeeze(dim)
'''}),
    ("01-logsumexp", "ignores keepdim", {"logsumexp": '''
def logsumexp(x, dim=-1, keepdim=False):
    m = x.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, 0.0)
    return (m + (x - m).exp().sum(dim=dim, keepdim=True).log()).squeeze(dim)
'''}),
    ("01-logsumexp", "log_softmax over the last axis whatever dim", {"log_softmax": '''
def log_softmax(x, dim=-1):
    m = x.amax(dim=-1, keepdim=True)
    z = x - torch.where(torch.isfinite(m), m, 0.0)
    return z - logsumexp(z, dim=-1, keepdim=True)
'''}),
    ("01-cross-entropy", "sums instead of averaging", {"cross_entropy": '''
def cross_entropy(logits, targets):
    logp = log_softmax(logits, dim=-1)
    return -logp[torch.arange(len(targets)), targets].sum()
'''}),
    ("01-cross-entropy", "indexes rows and columns as a grid", {"cross_entropy": '''
def cross_entropy(logits, targets):
    logp = log_softmax(logits, dim=-1)
    return -logp[:, targets].mean()
'''}),
    ("01-cross-entropy", "naive log of softmax: -inf for large logits", {"cross_entropy": '''
def cross_entropy(logits, targets):
    p = logits.exp() / logits.exp().sum(-1, keepdim=True)
    return -p.log()[torch.arange(len(targets)), targets].mean()
'''}),
    ("01-multilabel", ">= threshold: a logit of 0 counts at 0.5", {"predict_labels": '''
def predict_labels(logits, classes, threshold=0.5):
    if logits.shape[-1] != len(classes):
        raise ValueError("classes")
    if logits.dim() == 1:
        return predict_labels(logits[None], classes, threshold)[0]
    keep = sigmoid(logits) >= threshold
    return [[c for c, k in zip(classes, row.tolist()) if k] for row in keep]
'''}),
    ("01-multilabel", "the argmax class only, softmax style", {"predict_labels": '''
def predict_labels(logits, classes, threshold=0.5):
    if logits.shape[-1] != len(classes):
        raise ValueError("classes")
    if logits.dim() == 1:
        return [classes[int(logits.argmax())]]
    return [[classes[int(row.argmax())]] for row in logits]
'''}),
    ("01-multilabel", "a list look-alike whose == is always True", {"predict_labels": '''
def predict_labels(logits, classes, threshold=0.5):
    class Same(list):
        def __eq__(self, other):
            return True
    return Same()
'''}),
    # edge values, callers' tensors, one-pass numerics (issue 26)
    ("01-callable-callback", "an empty exclamation falls back to the default", {"ProgressCallback.__init__": '''
def __init__(self, exclamation="Awesome"):
    self.exclamation = exclamation or "Awesome"
    self.epochs = []
'''}),
    ("01-context-manager", "False as the 'did not exist' marker: an attribute that was False is deleted", {
        "TemporaryAttrs.__enter__": '''
def __enter__(self):
    self.old = {k: getattr(self.obj, k, False) for k in self.attrs}
    for k, v in self.attrs.items():
        setattr(self.obj, k, v)
    return self.obj
''', "TemporaryAttrs.__exit__": '''
def __exit__(self, exc_type, exc, tb):
    for k, v in self.old.items():
        if v is False:
            delattr(self.obj, k)
        else:
            setattr(self.obj, k, v)
    return False
'''}),
    ("01-mad", "subtracts the mean in place: changes the caller's tensor", {"mean_abs_dev": '''
def mean_abs_dev(x):
    _check_not_empty(x)
    return x.sub_(x.mean()).abs_().mean()
'''}),
    ("01-running-stats", "centres the batch in place: changes the caller's data", {"RunningStats.update": '''
def update(self, batch):
    b = batch.detach().flatten()
    nb = b.numel()
    if nb == 0:
        return self
    mb = b.mean()
    m2b = b.sub_(mb).pow_(2).sum()
    if self.n == 0:
        self._mean, self._m2 = mb, m2b
    else:
        n = self.n + nb
        delta = mb - self._mean
        self._mean = self._mean + delta * (nb / n)
        self._m2 = self._m2 + m2b + delta.pow(2) * (self.n * nb / n)
    self.n += nb
    return self
'''}),
    ("01-covariance", "one pass, E[xy] - E[x]E[y], with the checks: cancels in float32", {"covariance": '''
def covariance(x, y):
    _check_pair(x, y)
    return (x * y).mean() - x.mean() * y.mean()
'''}),
    ("01-covariance", "subtracts the means in place: changes the caller's tensors", {"covariance": '''
def covariance(x, y):
    _check_pair(x, y)
    return (x.sub_(x.mean()) * y.sub_(y.mean())).mean()
'''}),
    ("01-correlation", "one pass for everything: cancels in float32", {"pearson": '''
def pearson(x, y):
    _check_pair(x, y)
    cov = (x * y).mean() - x.mean() * y.mean()
    vx, vy = (x * x).mean() - x.mean() ** 2, (y * y).mean() - y.mean() ** 2
    return cov / (vx * vy).sqrt()
'''}),
    ("01-cross-entropy", "one_hot without num_classes: wrong when targets miss the last class", {"cross_entropy": '''
def cross_entropy(logits, targets):
    logp = log_softmax(logits, dim=-1)
    return -(logp * torch.nn.functional.one_hot(targets)).sum(-1).mean()
'''}),
    ("01-multilabel", "a threshold of 0 falls back to 0.5", {"predict_labels": '''
def predict_labels(logits, classes, threshold=0.5):
    threshold = threshold or 0.5
    if logits.shape[-1] != len(classes):
        raise ValueError("classes")
    if logits.dim() == 1:
        return predict_labels(logits[None], classes, threshold)[0]
    keep = sigmoid(logits) > threshold
    return [[c for c, k in zip(classes, row.tolist()) if k] for row in keep]
'''}),
    ("01-dunder", "a str look-alike whose == is always True", {"Items.__repr__": '''
def __repr__(self):
    class Same(str):
        def __eq__(self, other):
            return True
        __hash__ = str.__hash__
    return Same(f"Items({len(self)} items)")
'''}),
]
