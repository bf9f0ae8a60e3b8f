"""Wrong answers to lesson 00's exercises: each must fail at least one graded test of its exercise."""

MUTANTS = [
    ("00-dataset", "counts elements instead of rows", {"Dataset.__len__": '''
def __len__(self):
    return self.x.numel()
'''}),
    ("00-dataset", "returns the input without its target", {"Dataset.__getitem__": '''
def __getitem__(self, i):
    return self.x[i]
'''}),
    ("00-dataloader", "floor division: the last, partial batch is not counted", {"DataLoader.__len__": '''
def __len__(self):
    return len(self.ds) // self.bs
'''}),
    ("00-dataloader", "drops the last, partial batch", {"DataLoader.__iter__": '''
def __iter__(self):
    n = len(self.ds)
    order = torch.randperm(n) if self.shuffle else torch.arange(n)
    for start in range(0, n - self.bs + 1, self.bs):
        yield self.collate_fn([self.ds[i] for i in order[start:start + self.bs].tolist()])
'''}),
    ("00-dataloader", "never shuffles", {"DataLoader.__iter__": '''
def __iter__(self):
    n = len(self.ds)
    for start in range(0, n, self.bs):
        yield self.collate_fn([self.ds[i] for i in range(start, min(start + self.bs, n))])
'''}),
    ("00-dataloader", "shuffles the same way every pass", {"DataLoader.__iter__": '''
def __iter__(self):
    n = len(self.ds)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0)) if self.shuffle else torch.arange(n)
    for start in range(0, n, self.bs):
        yield self.collate_fn([self.ds[i] for i in order[start:start + self.bs].tolist()])
'''}),
    ("00-get-dls", "shuffles the validation set too", {"get_dls": '''
def get_dls(train_ds, valid_ds, bs):
    return DataLoader(train_ds, bs, shuffle=True), DataLoader(valid_ds, bs * 2, shuffle=True)
'''}),
    ("00-get-dls", "validation with the training batch size", {"get_dls": '''
def get_dls(train_ds, valid_ds, bs):
    return DataLoader(train_ds, bs, shuffle=True), DataLoader(valid_ds, bs)
'''}),
    ("00-get-dls", "training not shuffled", {"get_dls": '''
def get_dls(train_ds, valid_ds, bs):
    return DataLoader(train_ds, bs), DataLoader(valid_ds, bs * 2)
'''}),
    ("00-accuracy", "argmax over the batch axis", {"accuracy": '''
def accuracy(out, yb):
    return (out.argmax(dim=0) == yb).float().mean()
'''}),
    ("00-accuracy", "the number of hits, not the fraction", {"accuracy": '''
def accuracy(out, yb):
    return (out.argmax(dim=1) == yb).float().sum()
'''}),
    ("00-accuracy", "a Python float, not a tensor", {"accuracy": '''
def accuracy(out, yb):
    return (out.argmax(dim=1) == yb).float().mean().item()
'''}),
    ("00-camel2snake", "one regex: an underscore before every capital", {"camel2snake": '''
def camel2snake(name):
    return re.sub(r"(?<!^)([A-Z])", r"_\\1", name).lower()
'''}),
    ("00-camel2snake", "only a capital after a lowercase letter (Layer2Norm)", {"camel2snake": '''
def camel2snake(name):
    return re.sub(r"(.)([A-Z][a-z]+)", r"\\1_\\2", re.sub(r"([a-z])([A-Z])", r"\\1_\\2", name)).lower()
'''}),
    ("00-camel2snake", "a str look-alike whose == is always True", {"camel2snake": '''
def camel2snake(name):
    class Same(str):
        def __eq__(self, other):
            return True
        __hash__ = str.__hash__
    return Same(name)
'''}),
    ("00-camel2snake", "name keeps the Callback suffix", {"Callback.name": '''
def name(self):
    return camel2snake(type(self).__name__)
'''}),
    ("00-camel2snake", "the bare Callback gets an empty name", {"Callback.name": '''
def name(self):
    return camel2snake(re.sub(r"Callback$", "", type(self).__name__))
'''}),
    ("00-callback-getattr", "no guard for `run`: recursion before set_runner", {"Callback.__getattr__": '''
def __getattr__(self, name):
    return getattr(self.run, name)
'''}),
    ("00-callback-getattr", "None for anything the runner lacks", {"Callback.__getattr__": '''
def __getattr__(self, name):
    if name == "run":
        raise AttributeError(name)
    return getattr(self.run, name, None)
'''}),
    ("00-runner", "ignores a True from after_pred", {"Runner.one_batch": '''
def one_batch(self, xb, yb):
    self.xb, self.yb = xb, yb
    if self("begin_batch"):
        return
    self.pred = self.model(self.xb)
    self("after_pred")
    self.loss = self.loss_func(self.pred, self.yb)
    if self("after_loss") or not self.in_train:
        return
    self.loss.backward()
    if self("after_backward"):
        return
    self.opt.step()
    if self("after_step"):
        return
    self.opt.zero_grad()
'''}),
    ("00-runner", "ignores a True from after_backward", {"Runner.one_batch": '''
def one_batch(self, xb, yb):
    self.xb, self.yb = xb, yb
    if self("begin_batch"):
        return
    self.pred = self.model(self.xb)
    if self("after_pred"):
        return
    self.loss = self.loss_func(self.pred, self.yb)
    if self("after_loss") or not self.in_train:
        return
    self.loss.backward()
    self("after_backward")
    self.opt.step()
    if self("after_step"):
        return
    self.opt.zero_grad()
'''}),
    ("00-runner", "never zeroes the gradients", {"Runner.one_batch": '''
def one_batch(self, xb, yb):
    self.xb, self.yb = xb, yb
    if self("begin_batch"):
        return
    self.pred = self.model(self.xb)
    if self("after_pred"):
        return
    self.loss = self.loss_func(self.pred, self.yb)
    if self("after_loss") or not self.in_train:
        return
    self.loss.backward()
    if self("after_backward"):
        return
    self.opt.step()
    self("after_step")
'''}),
    ("00-runner", "callbacks in list order, not _order", {"Runner.__call__": '''
def __call__(self, event):
    for cb in self.cbs:
        handler = getattr(cb, event, None)
        if handler and handler():
            return True
    return False
'''}),
    ("00-runner", "after_fit skipped when a callback raises", {"Runner.fit": '''
def fit(self, epochs, learn):
    self.epochs, self.learn, self.loss = epochs, learn, torch.tensor(0.0)
    for cb in self.cbs:
        cb.set_runner(self)
    if self("begin_fit"):
        return
    for epoch in range(epochs):
        self.epoch = epoch
        if not self("begin_epoch"):
            self.all_batches(self.data.train_dl)
        with torch.no_grad():
            if not self("begin_validate"):
                self.all_batches(self.data.valid_dl)
        if self("after_epoch"):
            break
    self("after_fit")
    self.learn = None
'''}),
    ("00-runner", "stop is never reset", {"Runner.all_batches": '''
def all_batches(self, dl):
    self.iters = len(dl)
    for xb, yb in dl:
        if self.stop:
            break
        self.one_batch(xb, yb)
        self("after_batch")
'''}),
    ("00-train-eval", "begin_epoch keeps counting from a shortened epoch", {"TrainEvalCallback.begin_epoch": '''
def begin_epoch(self):
    self.model.train()
    self.run.in_train = True
'''}),
    ("00-train-eval", "validation batches counted too", {"TrainEvalCallback.after_batch": '''
def after_batch(self):
    self.run.n_epochs += 1.0 / self.iters
    self.run.n_iter += 1
'''}),
    ("00-avg-stats", "averages the batch means, ignoring batch sizes", {"AvgStats.accumulate": '''
def accumulate(self, run):
    self.count += 1
    self.tot_loss += run.loss.item()
    for i, metric in enumerate(self.metrics):
        self.tot_mets[i] += metric(run.pred, run.yb).item()
'''}),
    ("00-avg-stats", "zeros instead of an error before any batch", {"AvgStats.avg_stats": '''
def avg_stats(self):
    return [total / max(self.count, 1) for total in self.all_stats]
'''}),
    ("00-recorder", "records validation batches too", {"Recorder.after_batch": '''
def after_batch(self):
    for group, lrs in zip(self.opt.param_groups, self.lrs):
        lrs.append(group["lr"])
    self.losses.append(self.loss.detach().item())
'''}),
    ("00-recorder", "keeps the loss tensors", {"Recorder.after_batch": '''
def after_batch(self):
    if not self.in_train:
        return
    for group, lrs in zip(self.opt.param_groups, self.lrs):
        lrs.append(group["lr"])
    self.losses.append(self.loss.detach())
'''}),
    ("00-annealers", "cosine run backwards", {"sched_cos": '''
def sched_cos(start, end, pos):
    return start + (1 + math.cos(math.pi * pos)) * (end - start) / 2
'''}),
    ("00-annealers", "exponential of the difference", {"sched_exp": '''
def sched_exp(start, end, pos):
    return start * (end - start) ** pos
'''}),
    ("00-annealers", "linear towards end, not from start to end", {"sched_lin": '''
def sched_lin(start, end, pos):
    return start + pos * end
'''}),
    ("00-combine-scheds", "bisect_left: a boundary belongs to the earlier piece", {"combine_scheds": '''
def combine_scheds(pcts, scheds):
    if len(pcts) != len(scheds):
        raise ValueError("lengths")
    if any(p <= 0 for p in pcts) or not math.isclose(sum(pcts), 1.0):
        raise ValueError("fractions")
    from bisect import bisect_left
    bounds = [0.0]
    for p in pcts:
        bounds.append(bounds[-1] + p)

    def schedule(pos):
        i = min(max(bisect_left(bounds, pos) - 1, 0), len(scheds) - 1)
        return scheds[i]((pos - bounds[i]) / (bounds[i + 1] - bounds[i]))
    return schedule
'''}),
    ("00-combine-scheds", "accepts negative fractions that sum to 1", {"combine_scheds": '''
def combine_scheds(pcts, scheds):
    if len(pcts) != len(scheds) or not math.isclose(sum(pcts), 1.0):
        raise ValueError("bad fractions")
    bounds = [0.0]
    for p in pcts:
        bounds.append(bounds[-1] + p)

    def schedule(pos):
        i = min(max(bisect_right(bounds, pos) - 1, 0), len(scheds) - 1)
        return scheds[i]((pos - bounds[i]) / (bounds[i + 1] - bounds[i]))
    return schedule
'''}),
    ("00-combine-scheds", "exact sum == 1 rejects [0.6, 0.3, 0.1]", {"combine_scheds": '''
def combine_scheds(pcts, scheds):
    if len(pcts) != len(scheds) or any(p <= 0 for p in pcts) or sum(pcts) != 1:
        raise ValueError("bad fractions")
    bounds = [0.0]
    for p in pcts:
        bounds.append(bounds[-1] + p)

    def schedule(pos):
        i = min(max(bisect_right(bounds, pos) - 1, 0), len(scheds) - 1)
        return scheds[i]((pos - bounds[i]) / (bounds[i + 1] - bounds[i]))
    return schedule
'''}),
    ("00-combine-scheds", "each piece gets the overall position, not its own", {"combine_scheds": '''
def combine_scheds(pcts, scheds):
    if len(pcts) != len(scheds) or any(p <= 0 for p in pcts) or not math.isclose(sum(pcts), 1.0):
        raise ValueError("bad fractions")
    bounds = [0.0]
    for p in pcts:
        bounds.append(bounds[-1] + p)

    def schedule(pos):
        i = min(max(bisect_right(bounds, pos) - 1, 0), len(scheds) - 1)
        return scheds[i](pos)
    return schedule
'''}),
    ("00-param-scheduler", "position in epochs, not a fraction of training", {"ParamScheduler.set_param": '''
def set_param(self):
    for group, f in zip(self.opt.param_groups, self.sched_funcs):
        group[self.pname] = f(self.n_epochs)
'''}),
    ("00-param-scheduler", "the first group's schedule for every group", {"ParamScheduler.set_param": '''
def set_param(self):
    pos = self.n_epochs / self.epochs
    for group in self.opt.param_groups:
        group[self.pname] = self.sched_funcs[0](pos)
'''}),
    # edge values, callers' lists, Runner paths (issue 26)
    ("00-dataloader", "len(ds) // bs + 1: one batch too many when bs divides the data", {"DataLoader.__len__": '''
def __len__(self):
    return len(self.ds) // self.bs + 1
'''}),
    ("00-dataloader", "squeezes the indices: a batch of one breaks", {"DataLoader.__iter__": '''
def __iter__(self):
    n = len(self.ds)
    order = torch.randperm(n) if self.shuffle else torch.arange(n)
    for start in range(0, n, self.bs):
        idx = order[start:start + self.bs].squeeze().tolist()
        yield self.collate_fn([self.ds[i] for i in idx])
'''}),
    ("00-runner", "ignores a True from after_step: zero_grad runs anyway", {"Runner.one_batch": '''
def one_batch(self, xb, yb):
    self.xb, self.yb = xb, yb
    if self("begin_batch"):
        return
    self.pred = self.model(self.xb)
    if self("after_pred"):
        return
    self.loss = self.loss_func(self.pred, self.yb)
    if self("after_loss") or not self.in_train:
        return
    self.loss.backward()
    if self("after_backward"):
        return
    self.opt.step()
    self("after_step")
    self.opt.zero_grad()
'''}),
    ("00-runner", "keeps the learner after the fit", {"Runner.fit": '''
def fit(self, epochs, learn):
    self.epochs, self.learn, self.loss = epochs, learn, torch.tensor(0.0)
    try:
        for cb in self.cbs:
            cb.set_runner(self)
        if self("begin_fit"):
            return
        for epoch in range(epochs):
            self.epoch = epoch
            if not self("begin_epoch"):
                self.all_batches(self.data.train_dl)
            with torch.no_grad():
                if not self("begin_validate"):
                    self.all_batches(self.data.valid_dl)
            if self("after_epoch"):
                break
    finally:
        self("after_fit")
'''}),
    ("00-combine-scheds", "turns the caller's fractions into boundaries, in place", {"combine_scheds": '''
def combine_scheds(pcts, scheds):
    if len(pcts) != len(scheds):
        raise ValueError("lengths")
    if any(p <= 0 for p in pcts) or not math.isclose(sum(pcts), 1.0):
        raise ValueError("fractions")
    pcts.insert(0, 0.0)
    for i in range(1, len(pcts)):
        pcts[i] += pcts[i - 1]

    def schedule(pos):
        i = min(max(bisect_right(pcts, pos) - 1, 0), len(scheds) - 1)
        return scheds[i]((pos - pcts[i]) / (pcts[i + 1] - pcts[i]))
    return schedule
'''}),
]
