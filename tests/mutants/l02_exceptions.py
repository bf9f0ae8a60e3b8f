"""Wrong answers to lesson 02's exercises: each must fail at least one graded test of its exercise."""

_ONE_BATCH = '''
def one_batch(self, xb, yb):
    try:
        self.xb, self.yb = xb, yb
        self("begin_batch")
        self.pred = self.model(self.xb)
        self("after_pred")
        self.loss = self.loss_func(self.pred, self.yb)
        self("after_loss")
        if not self.in_train:
            return
        {backward}
        self("after_backward")
        self.opt.step()
        self("after_step"){after}
    except CancelBatchException:
        self("after_cancel_batch")
    finally:
        self("after_batch")
'''

MUTANTS = [
    ("02-callback-call", "returns the handler's answer as it is, not a bool", {"Callback.__call__": '''
def __call__(self, event):
    handler = getattr(self, event, None)
    return handler() if handler else False
'''}),
    ("02-callback-call", "the Runner stops calling callbacks after a True", {"Runner.__call__": '''
def __call__(self, event):
    for cb in sorted(self.cbs, key=lambda cb: cb._order):
        if cb(event):
            return
'''}),
    ("02-callback-call", "the Runner looks up handlers itself, bypassing cb(event)", {"Runner.__call__": '''
def __call__(self, event):
    for cb in sorted(self.cbs, key=lambda cb: cb._order):
        handler = getattr(cb, event, None)
        if handler:
            handler()
'''}),
    ("02-cancel-batch", "zero_grad after the step, as in lesson 00", {"Runner.one_batch": _ONE_BATCH.format(
        backward="self.loss.backward()", after="\n        self.opt.zero_grad()")}),
    ("02-cancel-batch", "never zeroes the gradients", {"Runner.one_batch": _ONE_BATCH.format(
        backward="self.loss.backward()", after="")}),
    ("02-cancel-batch", "after_batch only when nothing was raised", {"Runner.one_batch": '''
def one_batch(self, xb, yb):
    try:
        self.xb, self.yb = xb, yb
        self("begin_batch")
        self.pred = self.model(self.xb)
        self("after_pred")
        self.loss = self.loss_func(self.pred, self.yb)
        self("after_loss")
        if self.in_train:
            self.opt.zero_grad()
            self.loss.backward()
            self("after_backward")
            self.opt.step()
            self("after_step")
    except CancelBatchException:
        self("after_cancel_batch")
    self("after_batch")
'''}),
    ("02-cancel-batch", "catches every exception", {"Runner.one_batch": '''
def one_batch(self, xb, yb):
    try:
        self.xb, self.yb = xb, yb
        self("begin_batch")
        self.pred = self.model(self.xb)
        self("after_pred")
        self.loss = self.loss_func(self.pred, self.yb)
        self("after_loss")
        if not self.in_train:
            return
        self.opt.zero_grad()
        self.loss.backward()
        self("after_backward")
        self.opt.step()
        self("after_step")
    except Exception:
        self("after_cancel_batch")
    finally:
        self("after_batch")
'''}),
    ("02-cancel-epoch", "catches the exception inside the loop: the pass goes on", {"Runner.all_batches": '''
def all_batches(self, dl):
    self.iters = len(dl)
    for xb, yb in dl:
        try:
            self.one_batch(xb, yb)
        except CancelEpochException:
            self("after_cancel_epoch")
'''}),
    ("02-cancel-epoch", "also swallows CancelTrainException", {"Runner.all_batches": '''
def all_batches(self, dl):
    self.iters = len(dl)
    try:
        for xb, yb in dl:
            self.one_batch(xb, yb)
    except (CancelEpochException, CancelTrainException):
        self("after_cancel_epoch")
'''}),
    ("02-cancel-epoch", "forgets iters", {"Runner.all_batches": '''
def all_batches(self, dl):
    try:
        for xb, yb in dl:
            self.one_batch(xb, yb)
    except CancelEpochException:
        self("after_cancel_epoch")
'''}),
    ("02-cancel-train", "after_fit skipped on an ordinary error", {"Runner.fit": '''
def fit(self, epochs, learn):
    self.epochs, self.learn, self.loss = epochs, learn, torch.tensor(0.0)
    try:
        for cb in self.cbs:
            cb.set_runner(self)
        self("begin_fit")
        for epoch in range(epochs):
            self.epoch = epoch
            self("begin_epoch")
            self.all_batches(self.data.train_dl)
            with torch.no_grad():
                self("begin_validate")
                self.all_batches(self.data.valid_dl)
            self("after_epoch")
    except CancelTrainException:
        self("after_cancel_train")
    self("after_fit")
    self.learn = None
'''}),
    ("02-cancel-train", "validation with gradients on", {"Runner.fit": '''
def fit(self, epochs, learn):
    self.epochs, self.learn, self.loss = epochs, learn, torch.tensor(0.0)
    try:
        for cb in self.cbs:
            cb.set_runner(self)
        self("begin_fit")
        for epoch in range(epochs):
            self.epoch = epoch
            self("begin_epoch")
            self.all_batches(self.data.train_dl)
            self("begin_validate")
            self.all_batches(self.data.valid_dl)
            self("after_epoch")
    except CancelTrainException:
        self("after_cancel_train")
    finally:
        self("after_fit")
        self.learn = None
'''}),
    ("02-cancel-train", "keeps the learner", {"Runner.fit": '''
def fit(self, epochs, learn):
    self.epochs, self.learn, self.loss = epochs, learn, torch.tensor(0.0)
    try:
        for cb in self.cbs:
            cb.set_runner(self)
        self("begin_fit")
        for epoch in range(epochs):
            self.epoch = epoch
            self("begin_epoch")
            self.all_batches(self.data.train_dl)
            with torch.no_grad():
                self("begin_validate")
                self.all_batches(self.data.valid_dl)
            self("after_epoch")
    except CancelTrainException:
        self("after_cancel_train")
    finally:
        self("after_fit")
'''}),
    ("02-stop-after", "off by one: n steps, not n + 1", {"StopAfterStep.after_step": '''
def after_step(self):
    if self.report:
        self.report(self.n_iter)
    if self.n_iter >= self.n - 1:
        raise CancelTrainException()
'''}),
    ("02-stop-after", "reports after the check: the last step is not reported", {"StopAfterStep.after_step": '''
def after_step(self):
    if self.n_iter >= self.n:
        raise CancelTrainException()
    if self.report:
        self.report(self.n_iter)
'''}),
    ("02-stop-after", "cancels the epoch, not the training", {"StopAfterStep.after_step": '''
def after_step(self):
    if self.report:
        self.report(self.n_iter)
    if self.n_iter >= self.n:
        raise CancelEpochException()
'''}),
    ("02-lr-schedule", "divides by max_iter: never reaches max_lr", {"lr_find_schedule": '''
def lr_find_schedule(i, max_iter=100, min_lr=1e-6, max_lr=10.0):
    return sched_exp(min_lr, max_lr)(i / max_iter)
'''}),
    ("02-lr-schedule", "linear, not exponential", {"lr_find_schedule": '''
def lr_find_schedule(i, max_iter=100, min_lr=1e-6, max_lr=10.0):
    return sched_lin(min_lr, max_lr)(i / (max_iter - 1))
'''}),
    ("02-smooth-loss", "no bias correction", {"DebiasedEMA.value": '''
def value(self):
    if not self.n:
        raise ValueError("no value yet")
    return self.avg
'''}),
    ("02-smooth-loss", "beta on the new value", {"DebiasedEMA.update": '''
def update(self, x):
    self.n += 1
    self.avg = (1 - self.beta) * self.avg + self.beta * x
    return self.value
'''}),
    ("02-smooth-loss", "0 before the first update instead of an error", {"DebiasedEMA.value": '''
def value(self):
    if not self.n:
        return 0.0
    return self.avg / (1 - self.beta ** self.n)
'''}),
    ("02-lr-stop-rule", "nan > x is False: never stops on nan", {"should_stop": '''
def should_stop(loss, best_loss, stop_factor=10.0):
    return loss > stop_factor * best_loss
'''}),
    ("02-lr-stop-rule", "checks nan only: should_stop(inf, inf) is False", {"should_stop": '''
def should_stop(loss, best_loss, stop_factor=10.0):
    return math.isnan(loss) or loss > stop_factor * best_loss
'''}),
    ("02-lr-stop-rule", ">= instead of >", {"should_stop": '''
def should_stop(loss, best_loss, stop_factor=10.0):
    return not math.isfinite(loss) or loss >= stop_factor * best_loss
'''}),
    ("02-lr-stop-rule", "compares the raw loss, not the smoothed one", {"LRFinder.after_step": '''
def after_step(self):
    loss = self.loss.item()
    self.ema.update(loss)
    if should_stop(loss, self.best_loss, self.stop_factor) or self.n_iter >= self.max_iter - 1:
        raise CancelTrainException()
    self.best_loss = min(self.best_loss, loss)
'''}),
    ("02-lr-stop-rule", "stops one iteration late", {"LRFinder.after_step": '''
def after_step(self):
    loss = self.ema.update(self.loss.item())
    if should_stop(loss, self.best_loss, self.stop_factor) or self.n_iter >= self.max_iter:
        raise CancelTrainException()
    self.best_loss = min(self.best_loss, loss)
'''}),
    ("02-restore-state", "keeps the live state_dict, not a copy", {"LRFinder.save_state": '''
def save_state(self):
    self.saved_model = self.model.state_dict()
    self.saved_opt = self.opt.state_dict()
'''}),
    ("02-restore-state", "restores the model only", {"LRFinder.restore_state": '''
def restore_state(self):
    self.model.load_state_dict(self.saved_model)
'''}),
    ("02-suggest-lr", "no smoothing", {"suggest_lr": '''
def suggest_lr(lrs, losses, beta=0.9):
    if len(lrs) != len(losses):
        raise ValueError("lengths")
    finite = [(loss, i) for i, loss in enumerate(losses) if math.isfinite(loss)]
    return lrs[min(finite)[1]] / 10
'''}),
    ("02-suggest-lr", "the lr at the minimum, not a tenth of it", {"suggest_lr": '''
def suggest_lr(lrs, losses, beta=0.9):
    if len(lrs) != len(losses):
        raise ValueError("lengths")
    finite = [(loss, i) for i, loss in enumerate(smooth(losses, beta)) if math.isfinite(loss)]
    return lrs[min(finite)[1]]
'''}),
    ("02-suggest-lr", "no finite loss: suggests from the first lr", {"suggest_lr": '''
def suggest_lr(lrs, losses, beta=0.9):
    if len(lrs) != len(losses):
        raise ValueError("lengths")
    smoothed = smooth(losses, beta)
    i = min(range(len(smoothed)), key=lambda i: smoothed[i] if math.isfinite(smoothed[i]) else math.inf)
    return lrs[i] / 10
'''}),
    ("02-suggest-lr", "a float look-alike whose == is always True", {"suggest_lr": '''
def suggest_lr(lrs, losses, beta=0.9):
    class Same(float):
        def __eq__(self, other):
            return True
        __hash__ = float.__hash__
    if len(lrs) != len(losses):
        raise ValueError("lengths")
    return Same(0.005)
'''}),
    # edge values and callers' lists (issue 26)
    ("02-stop-after", "a falsy n means 'never stop': StopAfterStep(0) runs on", {"StopAfterStep.after_step": '''
def after_step(self):
    if self.report:
        self.report(self.n_iter)
    if self.n and self.n_iter >= self.n:
        raise CancelTrainException()
'''}),
    ("02-lr-stop-rule", "checks nan and +inf only: a loss of -inf does not stop", {"should_stop": '''
def should_stop(loss, best_loss, stop_factor=10.0):
    return loss != loss or loss == math.inf or loss > stop_factor * best_loss
'''}),
    ("02-suggest-lr", "drops the blow-up from the caller's lists", {"suggest_lr": '''
def suggest_lr(lrs, losses, beta=0.9):
    if len(lrs) != len(losses):
        raise ValueError("lengths")
    for i in reversed(range(len(losses))):
        if not math.isfinite(losses[i]):
            del losses[i], lrs[i]
    if not losses:
        raise ValueError("no finite loss")
    smoothed = smooth(losses, beta)
    return lrs[min(range(len(smoothed)), key=smoothed.__getitem__)] / 10
'''}),
]
