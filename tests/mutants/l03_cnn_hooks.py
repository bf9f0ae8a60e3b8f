"""Plausible wrong answers to lesson 03's exercises; each must fail at least one graded test of its exercise."""

MUTANTS = [
    # ------------------------------------------------------------------ normalize_to
    ("03-normalize-to", "normalises the validation set with its own statistics", {"normalize_to": '''
def normalize_to(train, valid):
    return normalize(train, train.mean(), train.std()), normalize(valid, valid.mean(), valid.std())
'''}),
    ("03-normalize-to", "normalises in place, changing the caller's tensors", {"normalize_to": '''
def normalize_to(train, valid):
    mean, std = train.mean(), train.std()
    return train.sub_(mean).div_(std), valid.sub_(mean).div_(std)
'''}),
    ("03-normalize-to", "divides by the variance instead of the std", {"normalize_to": '''
def normalize_to(train, valid):
    mean, var = train.mean(), train.var()
    return normalize(train, mean, var), normalize(valid, mean, var)
'''}),
    # ------------------------------------------------------------------------ Lambda
    ("03-lambda", "flattens the batch dimension too", {"flatten": '''
def flatten(x):
    return x.view(-1)
'''}),
    ("03-lambda", "Lambda returns its input unchanged", {"Lambda.forward": '''
def forward(self, x):
    return x
'''}),
    ("03-lambda", "mnist_resize forgets the channel dimension", {"mnist_resize": '''
def mnist_resize(x):
    return x.view(-1, 28, 28)
'''}),
    ("03-lambda", "flatten keeps only the first two dimensions' sizes", {"flatten": '''
def flatten(x):
    return x.view(x.shape[0], x.shape[1])
'''}),
    # ------------------------------------------------------------- dot_product_sizes
    ("03-dot-products", "forgets the input channels: kernel size only", {"dot_product_sizes": '''
def dot_product_sizes(model):
    return [(m.kernel_size[0] * m.kernel_size[1], m.out_channels) for m in model.modules() if isinstance(m, nn.Conv2d)]
'''}),
    ("03-dot-products", "only looks at the direct children", {"dot_product_sizes": '''
def dot_product_sizes(model):
    return [(m.in_channels * m.kernel_size[0] * m.kernel_size[1], m.out_channels)
            for m in model.children() if isinstance(m, nn.Conv2d)]
'''}),
    ("03-dot-products", "ignores groups", {"dot_product_sizes": '''
def dot_product_sizes(model):
    return [(m.in_channels * m.kernel_size[0] * m.kernel_size[1], m.out_channels)
            for m in model.modules() if isinstance(m, nn.Conv2d)]
'''}),
    # ---------------------------------------------------------------- DeviceCallback
    ("03-device", "moves only the inputs, not the targets", {"DeviceCallback.begin_batch": '''
def begin_batch(self):
    self.run.xb = self.xb.to(self.device)
'''}),
    ("03-device", "stores the moved batch on the callback instead of the runner", {"DeviceCallback.begin_batch": '''
def begin_batch(self):
    self.xb, self.yb = self.xb.to(self.device), self.yb.to(self.device)
'''}),
    ("03-device", "moves the parameters but not the buffers", {"DeviceCallback.begin_fit": '''
def begin_fit(self):
    for p in self.model.parameters():
        p.data = p.data.to(self.device)
'''}),
    ("03-device", "never moves the model", {"DeviceCallback.begin_fit": '''
def begin_fit(self):
    pass
'''}),
    # ------------------------------------------------------- BatchTransformXCallback
    ("03-batch-transform", "assigns the result on the callback, not the runner",
     {"BatchTransformXCallback.begin_batch": '''
def begin_batch(self):
    self.xb = self.tfm(self.xb)
'''}),
    ("03-batch-transform", "transforms the targets as well", {"BatchTransformXCallback.begin_batch": '''
def begin_batch(self):
    self.run.xb, self.run.yb = self.tfm(self.xb), self.tfm(self.yb)
'''}),
    # ---------------------------------------------------------------------- view_tfm
    ("03-view-tfm", "drops the batch dimension", {"view_tfm": '''
def view_tfm(*size):
    def _view(x):
        return x.view(*size)
    return _view
'''}),
    ("03-view-tfm", "fixes the batch size at 64", {"view_tfm": '''
def view_tfm(*size):
    def _view(x):
        return x.view(64, *size)
    return _view
'''}),
    ("03-view-tfm", "flattens instead of reshaping to size", {"view_tfm": '''
def view_tfm(*size):
    return lambda x: x.view(x.shape[0], -1)
'''}),
    # ---------------------------------------------------------------- get_cnn_layers
    ("03-cnn-layers", "3x3 kernels everywhere", {"get_cnn_layers": '''
def get_cnn_layers(data, nfs, layer=conv_layer, **kwargs):
    nfs = [1] + list(nfs)
    layers = [layer(nfs[i], nfs[i + 1], 3, **kwargs) for i in range(len(nfs) - 1)]
    return layers + [nn.AdaptiveAvgPool2d(1), Lambda(flatten), nn.Linear(nfs[-1], data.c_out)]
'''}),
    ("03-cnn-layers", "does not pass the kwargs on", {"get_cnn_layers": '''
def get_cnn_layers(data, nfs, layer=conv_layer, **kwargs):
    nfs = [1] + list(nfs)
    layers = [layer(nfs[i], nfs[i + 1], 5 if i == 0 else 3) for i in range(len(nfs) - 1)]
    return layers + [nn.AdaptiveAvgPool2d(1), Lambda(flatten), nn.Linear(nfs[-1], data.c_out)]
'''}),
    ("03-cnn-layers", "forgets the one input channel: starts from nfs[0]", {"get_cnn_layers": '''
def get_cnn_layers(data, nfs, layer=conv_layer, **kwargs):
    layers = [layer(nfs[i], nfs[i + 1], 5 if i == 0 else 3, **kwargs) for i in range(len(nfs) - 1)]
    return layers + [nn.AdaptiveAvgPool2d(1), Lambda(flatten), nn.Linear(nfs[-1], data.c_out)]
'''}),
    ("03-cnn-layers", "no pooling: flattens the last feature map", {"get_cnn_layers": '''
def get_cnn_layers(data, nfs, layer=conv_layer, **kwargs):
    nfs = [1] + list(nfs)
    layers = [layer(nfs[i], nfs[i + 1], 5 if i == 0 else 3, **kwargs) for i in range(len(nfs) - 1)]
    return layers + [Lambda(flatten), nn.Linear(nfs[-1], data.c_out)]
'''}),
    # --------------------------------------------------------------- BatchDataLoader
    ("03-batch-loader", "still fetches item by item", {"BatchDataLoader.__iter__": '''
def __iter__(self):
    n = len(self.ds)
    order = torch.randperm(n) if self.shuffle else torch.arange(n)
    for idx in order.split(self.bs):
        yield collate([self.ds[i] for i in idx.tolist()])
'''}),
    ("03-batch-loader", "drops the last, partial batch", {"BatchDataLoader.__iter__": '''
def __iter__(self):
    n = len(self.ds)
    order = torch.randperm(n) if self.shuffle else torch.arange(n)
    for start in range(0, n - self.bs + 1, self.bs):
        yield self.ds[order[start:start + self.bs]]
'''}),
    ("03-batch-loader", "never shuffles", {"BatchDataLoader.__iter__": '''
def __iter__(self):
    for idx in torch.arange(len(self.ds)).split(self.bs):
        yield self.ds[idx]
'''}),
    ("03-batch-loader", "shuffles once: the same order every pass", {"BatchDataLoader.__iter__": '''
def __iter__(self):
    n = len(self.ds)
    if not hasattr(self, "_order"):
        self._order = torch.randperm(n) if self.shuffle else torch.arange(n)
    for idx in self._order.split(self.bs):
        yield self.ds[idx]
'''}),
    # ---------------------------------------------------------------- SequentialModel
    ("03-sequential-model", "records the statistics in eval mode too", {"SequentialModel.forward": '''
def forward(self, x):
    for i, layer in enumerate(self.layers):
        x = layer(x)
        self.act_means[i].append(x.detach().mean().item())
        self.act_stds[i].append(x.detach().std().item())
    return x
'''}),
    ("03-sequential-model", "records each layer's input instead of its output", {"SequentialModel.forward": '''
def forward(self, x):
    for i, layer in enumerate(self.layers):
        if self.training:
            self.act_means[i].append(x.detach().mean().item())
            self.act_stds[i].append(x.detach().std().item())
        x = layer(x)
    return x
'''}),
    ("03-sequential-model", "keeps tensors rather than floats", {"SequentialModel.forward": '''
def forward(self, x):
    for i, layer in enumerate(self.layers):
        x = layer(x)
        if self.training:
            self.act_means[i].append(x.detach().mean())
            self.act_stds[i].append(x.detach().std())
    return x
'''}),
    # --------------------------------------------------------------------------- Hook
    ("03-hook-class", "registers f itself: it gets the module, not the Hook, first", {"Hook.__init__": '''
def __init__(self, m, f, backward=False):
    self.module_name = layer_name(m)
    register = m.register_full_backward_hook if backward else m.register_forward_hook
    self.hook = register(f)
'''}),
    ("03-hook-class", "remove does nothing", {"Hook.remove": '''
def remove(self):
    pass
'''}),
    ("03-hook-class", "a pre-hook: runs before the forward pass, without the output", {"Hook.__init__": '''
def __init__(self, m, f, backward=False):
    self.module_name = layer_name(m)
    self.hook = m.register_forward_pre_hook(lambda mod, inp: f(self, mod, inp, None))
'''}),
    ("03-hook-class", "ignores backward: always a forward hook", {"Hook.__init__": '''
def __init__(self, m, f, backward=False):
    self.module_name = layer_name(m)
    self.hook = m.register_forward_hook(partial(f, self))
'''}),
    ("03-hook-class", "backward: a hook on the output tensor, called with the gradient only",
     {"Hook.__init__": '''
def __init__(self, m, f, backward=False):
    self.module_name = layer_name(m)
    if backward:
        def on_output(mod, inp, out):
            out.register_hook(lambda g: f(self, mod, (None,), (g,)))
        self.hook = m.register_forward_hook(on_output)
    else:
        self.hook = m.register_forward_hook(partial(f, self))
'''}),
    # ----------------------------------------------------------------- ListContainer
    ("03-list-index", "does not check the mask's length (zip stops at the shorter)", {"ListContainer.__getitem__": '''
def __getitem__(self, idx):
    if isinstance(idx, (int, slice)):
        return self.items[idx]
    idx = list(idx)
    if idx and all(isinstance(i, bool) for i in idx):
        return [item for keep, item in zip(idx, self.items) if keep]
    return [self.items[i] for i in idx]
'''}),
    ("03-list-index", "fast.ai's check of idx[0]: an empty list fails", {"ListContainer.__getitem__": '''
def __getitem__(self, idx):
    if isinstance(idx, (int, slice)):
        return self.items[idx]
    if isinstance(idx[0], bool):
        assert len(idx) == len(self)
        return [o for m, o in zip(idx, self.items) if m]
    return [self.items[i] for i in idx]
'''}),
    ("03-list-index", "treats a mask as indices (True = 1, False = 0)", {"ListContainer.__getitem__": '''
def __getitem__(self, idx):
    if isinstance(idx, (int, slice)):
        return self.items[idx]
    return [self.items[i] for i in idx]
'''}),
    ("03-list-container", "the repr shows every item", {"ListContainer.__repr__": '''
def __repr__(self):
    return f"{type(self).__name__} ({len(self)} items)\\n{self.items!r}"
'''}),
    ("03-list-container", "the repr appends '...' after the bracket", {"ListContainer.__repr__": '''
def __repr__(self):
    shown = repr(self.items[:10])
    if len(self) > 10:
        shown += "..."
    return f"{type(self).__name__} ({len(self)} items)\\n{shown}"
'''}),
    ("03-list-container", "del removes the last item whatever the index", {"ListContainer.__delitem__": '''
def __delitem__(self, i):
    self.items.pop()
'''}),
    ("03-list-container", "the repr names ListContainer even for a subclass", {"ListContainer.__repr__": '''
def __repr__(self):
    shown = repr(self.items[:10])
    if len(self) > 10:
        shown = shown[:-1] + "...]"
    return f"ListContainer ({len(self)} items)\\n{shown}"
'''}),
    # --------------------------------------------------------------------------- Hooks
    ("03-hooks", "__exit__ returns True: swallows the exception", {"Hooks.__exit__": '''
def __exit__(self, *args):
    self.remove()
    return True
'''}),
    ("03-hooks", "__enter__ returns nothing", {"Hooks.__enter__": '''
def __enter__(self, *args):
    pass
'''}),
    ("03-hooks", "__exit__ forgets to remove the hooks", {"Hooks.__exit__": '''
def __exit__(self, *args):
    pass
'''}),
    ("03-hooks", "del hooks[i] drops the Hook from the list but leaves it on the module", {"Hooks.__delitem__": '''
def __delitem__(self, i):
    ListContainer.__delitem__(self, i)
'''}),
    # -------------------------------------------------------------------- append_stats
    ("03-append-stats", "no training check: validation batches are recorded too", {"append_stats": '''
def append_stats(hook, mod, inp, outp, bins=HIST_BINS, range=HIST_RANGE):
    if not hasattr(hook, "stats"):
        hook.stats, hook.hist_range = ([], [], []), range
    means, stds, hists = hook.stats
    x = outp.detach()
    means.append(x.mean().item())
    stds.append(x.std().item())
    hists.append(x.float().histc(bins, *range).cpu())
'''}),
    ("03-append-stats", "histogram over the data's own min and max instead of the range", {"append_stats": '''
def append_stats(hook, mod, inp, outp, bins=HIST_BINS, range=HIST_RANGE):
    if not mod.training:
        return
    if not hasattr(hook, "stats"):
        hook.stats, hook.hist_range = ([], [], []), range
    means, stds, hists = hook.stats
    x = outp.detach()
    means.append(x.mean().item())
    stds.append(x.std().item())
    hists.append(x.float().histc(bins).cpu())
'''}),
    ("03-append-stats", "starts new lists at every call", {"append_stats": '''
def append_stats(hook, mod, inp, outp, bins=HIST_BINS, range=HIST_RANGE):
    if not mod.training:
        return
    hook.stats, hook.hist_range = ([], [], []), range
    means, stds, hists = hook.stats
    x = outp.detach()
    means.append(x.mean().item())
    stds.append(x.std().item())
    hists.append(x.float().histc(bins, *range).cpu())
'''}),
    # ------------------------------------------------------------------------ get_hist
    ("03-get-hist", "forgets the transpose: iterations x bins", {"get_hist": '''
def get_hist(hook):
    return torch.stack(hook.stats[2]).float().log1p()
'''}),
    ("03-get-hist", "log instead of log1p: empty bins become -inf", {"get_hist": '''
def get_hist(hook):
    return torch.stack(hook.stats[2]).t().float().log()
'''}),
    # ------------------------------------------------------------------------- get_min
    ("03-get-min", "fast.ai's hard-coded bins 19 to 21", {"get_min": '''
def get_min(hook, near=0.5):
    h1 = torch.stack(hook.stats[2]).t().float()
    return h1[19:22].sum(0) / h1.sum(0)
'''}),
    ("03-get-min", "fast.ai's hard-coded first two bins", {"get_min": '''
def get_min(hook, near=0.5):
    h1 = torch.stack(hook.stats[2]).t().float()
    return h1[:2].sum(0) / h1.sum(0)
'''}),
    ("03-get-min", "counts the bins that merely touch (-near, near)", {"get_min": '''
def get_min(hook, near=0.5):
    hists = torch.stack(hook.stats[2]).t().float()
    lo, hi = hook.hist_range
    edges = torch.linspace(lo, hi, hists.shape[0] + 1)
    keep = (edges[1:] > -near) & (edges[:-1] < near)
    return hists[keep].sum(0) / hists.sum(0)
'''}),
    # ------------------------------------------------------------------------ init_cnn
    ("03-init-cnn", "does not recurse: only the direct children are initialised", {"init_cnn": '''
def init_cnn(m, uniform=False):
    init = nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_
    for child in m.children():
        if isinstance(child, nn.Conv2d):
            init(child.weight, a=0.1)
            if child.bias is not None:
                nn.init.zeros_(child.bias)
    return m
'''}),
    ("03-init-cnn", "uses fan_out", {"init_cnn": '''
def init_cnn(m, uniform=False):
    init = nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_
    if isinstance(m, nn.Conv2d):
        init(m.weight, a=0.1, mode="fan_out")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    for child in m.children():
        init_cnn(child, uniform)
    return m
'''}),
    ("03-init-cnn", "leaves the biases as they were", {"init_cnn": '''
def init_cnn(m, uniform=False):
    init = nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_
    if isinstance(m, nn.Conv2d):
        init(m.weight, a=0.1)
    for child in m.children():
        init_cnn(child, uniform)
    return m
'''}),
    ("03-init-cnn", "mixes up uniform and normal", {"init_cnn": '''
def init_cnn(m, uniform=False):
    init = nn.init.kaiming_normal_ if uniform else nn.init.kaiming_uniform_
    if isinstance(m, nn.Conv2d):
        init(m.weight, a=0.1)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    for child in m.children():
        init_cnn(child, uniform)
    return m
'''}),
    ("03-init-cnn", "initialises the linear layers too", {"init_cnn": '''
def init_cnn(m, uniform=False):
    init = nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        init(m.weight, a=0.1)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    for child in m.children():
        init_cnn(child, uniform)
    return m
'''}),
    # --------------------------------------------------------------------- GeneralRelu
    ("03-general-relu", "clamps before subtracting", {"GeneralRelu.forward": '''
def forward(self, x):
    x = F.leaky_relu(x, self.leak) if self.leak is not None else F.relu(x)
    if self.maxv is not None:
        x = x.clamp_max(self.maxv)
    if self.sub is not None:
        x = x - self.sub
    return x
'''}),
    ("03-general-relu", "fast.ai's in-place sub_ and clamp_max_: breaks relu's backward", {"GeneralRelu.forward": '''
def forward(self, x):
    x = F.leaky_relu(x, self.leak) if self.leak is not None else F.relu(x)
    if self.sub is not None:
        x.sub_(self.sub)
    if self.maxv is not None:
        x.clamp_max_(self.maxv)
    return x
'''}),
    ("03-general-relu", "ignores the leak", {"GeneralRelu.forward": '''
def forward(self, x):
    x = F.relu(x)
    if self.sub is not None:
        x = x - self.sub
    if self.maxv is not None:
        x = x.clamp_max(self.maxv)
    return x
'''}),
    ("03-general-relu", "subtracts before the ReLU", {"GeneralRelu.forward": '''
def forward(self, x):
    if self.sub is not None:
        x = x - self.sub
    x = F.leaky_relu(x, self.leak) if self.leak is not None else F.relu(x)
    if self.maxv is not None:
        x = x.clamp_max(self.maxv)
    return x
'''}),
    # ---------------------------------------------------- new kinds (issue 26)
    # numerics: a one-pass variance, E[x^2] - E[x]^2, loses every digit for a large mean
    ("03-normalize-to", "one-pass std: sqrt(E[x^2] - E[x]^2)", {"normalize_to": '''
def normalize_to(train, valid):
    mean = train.mean()
    std = ((train * train).mean() - mean * mean).clamp_min(0).sqrt() * (train.numel() / (train.numel() - 1)) ** 0.5
    return normalize(train, mean, std), normalize(valid, mean, std)
'''}),
    ("03-sequential-model", "one-pass std", {"SequentialModel.forward": '''
def forward(self, x):
    for i, layer in enumerate(self.layers):
        x = layer(x)
        if self.training:
            d = x.detach()
            n = d.numel()
            self.act_means[i].append(d.mean().item())
            self.act_stds[i].append(((d.pow(2).mean() - d.mean() ** 2).clamp_min(0) * n / (n - 1)).sqrt().item())
    return x
'''}),
    ("03-append-stats", "one-pass std", {"append_stats": '''
def append_stats(hook, mod, inp, outp, bins=HIST_BINS, range=HIST_RANGE):
    if not mod.training:
        return
    if not hasattr(hook, "stats"):
        hook.stats, hook.hist_range = ([], [], []), range
    means, stds, hists = hook.stats
    x = outp.detach()
    n = x.numel()
    means.append(x.mean().item())
    stds.append(((x.pow(2).mean() - x.mean() ** 2).clamp_min(0) * n / (n - 1)).sqrt().item())
    hists.append(x.float().histc(bins, *range).cpu())
'''}),
    # a function that mutates its caller's list
    ("03-cnn-layers", "inserts the input channel into the caller's nfs", {"get_cnn_layers": '''
def get_cnn_layers(data, nfs, layer=conv_layer, **kwargs):
    nfs.insert(0, 1)
    layers = [layer(nfs[i], nfs[i + 1], 5 if i == 0 else 3, **kwargs) for i in range(len(nfs) - 1)]
    return layers + [nn.AdaptiveAvgPool2d(1), Lambda(flatten), nn.Linear(nfs[-1], data.c_out)]
'''}),
    # edge values: a batch of one, a centre on the boundary, falsy parameters, large negative inputs
    ("03-batch-loader", "squeezes the indices: a last batch of one becomes a single item",
     {"BatchDataLoader.__iter__": '''
def __iter__(self):
    n = len(self.ds)
    order = torch.randperm(n) if self.shuffle else torch.arange(n)
    for idx in order.split(self.bs):
        yield self.ds[idx.squeeze()]
'''}),
    ("03-get-min", "counts a centre exactly at +-near", {"get_min": '''
def get_min(hook, near=0.5):
    hists = torch.stack(hook.stats[2]).t().float()
    lo, hi = hook.hist_range
    width = (hi - lo) / hists.shape[0]
    centres = lo + width * (torch.arange(hists.shape[0]) + 0.5)
    return hists[centres.abs() <= near].sum(0) / hists.sum(0)
'''}),
    ("03-general-relu", "`if self.maxv:` skips a ceiling of 0", {"GeneralRelu.forward": '''
def forward(self, x):
    x = F.leaky_relu(x, self.leak) if self.leak is not None else F.relu(x)
    if self.sub is not None:
        x = x - self.sub
    if self.maxv:
        x = x.clamp_max(self.maxv)
    return x
'''}),
    ("03-general-relu", "clamps both sides to +-maxv", {"GeneralRelu.forward": '''
def forward(self, x):
    x = F.leaky_relu(x, self.leak) if self.leak is not None else F.relu(x)
    if self.sub is not None:
        x = x - self.sub
    if self.maxv is not None:
        x = x.clamp(-self.maxv, self.maxv)
    return x
'''}),
    # tests that mean to check but don't: `with Hooks(...)` without `as` let __del__ hide a bad __exit__
    ("03-hooks", "__exit__ removes the hooks only when the block did not raise", {"Hooks.__exit__": '''
def __exit__(self, exc_type, *args):
    if exc_type is None:
        self.remove()
'''}),
    ("03-hooks", "does not hand `backward` on to Hook", {"Hooks.__init__": '''
def __init__(self, ms, f, backward=False):
    super().__init__([Hook(m, f) for m in ms])
'''}),
    # from scratch / a check that can be fooled: a str subclass whose == is always true
    ("03-list-container", "returns a str subclass that equals anything", {"ListContainer.__repr__": '''
def __repr__(self):
    class Agreeable(str):
        def __eq__(self, other):
            return True
        __hash__ = str.__hash__
    return Agreeable(f"{type(self).__name__}")
'''}),
    # a misleading failure before: a missing a=0.1 failed with a hint about uniform
    ("03-init-cnn", "forgets a=0.1 (the gain of a plain ReLU)", {"init_cnn": '''
def init_cnn(m, uniform=False):
    init = nn.init.kaiming_uniform_ if uniform else nn.init.kaiming_normal_
    if isinstance(m, nn.Conv2d):
        init(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    for child in m.children():
        init_cnn(child, uniform)
    return m
'''}),
    # the new exercise: append_grad_stats
    ("03-grad-stats", "records the gradient with respect to the input", {"append_grad_stats": '''
def append_grad_stats(hook, mod, grad_input, grad_output):
    if not hasattr(hook, "grad_rms"):
        hook.grad_rms = []
    hook.grad_rms.append(grad_input[0].detach().pow(2).mean().sqrt().item())
'''}),
    ("03-grad-stats", "the std instead of the RMS", {"append_grad_stats": '''
def append_grad_stats(hook, mod, grad_input, grad_output):
    if not hasattr(hook, "grad_rms"):
        hook.grad_rms = []
    hook.grad_rms.append(grad_output[0].detach().std().item())
'''}),
    ("03-grad-stats", "the norm, not divided by the count", {"append_grad_stats": '''
def append_grad_stats(hook, mod, grad_input, grad_output):
    if not hasattr(hook, "grad_rms"):
        hook.grad_rms = []
    hook.grad_rms.append(grad_output[0].detach().norm().item())
'''}),
    ("03-grad-stats", "the mean absolute value", {"append_grad_stats": '''
def append_grad_stats(hook, mod, grad_input, grad_output):
    if not hasattr(hook, "grad_rms"):
        hook.grad_rms = []
    hook.grad_rms.append(grad_output[0].detach().abs().mean().item())
'''}),
    ("03-grad-stats", "the mean square, no square root", {"append_grad_stats": '''
def append_grad_stats(hook, mod, grad_input, grad_output):
    if not hasattr(hook, "grad_rms"):
        hook.grad_rms = []
    hook.grad_rms.append(grad_output[0].detach().pow(2).mean().item())
'''}),
    ("03-grad-stats", "starts a new list at every call", {"append_grad_stats": '''
def append_grad_stats(hook, mod, grad_input, grad_output):
    hook.grad_rms = [grad_output[0].detach().pow(2).mean().sqrt().item()]
'''}),
    ("03-grad-stats", "keeps a tensor, not a float", {"append_grad_stats": '''
def append_grad_stats(hook, mod, grad_input, grad_output):
    if not hasattr(hook, "grad_rms"):
        hook.grad_rms = []
    hook.grad_rms.append(grad_output[0].detach().pow(2).mean().sqrt())
'''}),
]
