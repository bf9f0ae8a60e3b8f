"""Plausible wrong answers to lesson 04's exercises; each must fail a graded test of its exercise."""

MUTANTS = [
    ("04-batch-stats", "normalises with the unbiased variance (x.var's default)", {"batch_stats": '''
def batch_stats(x, dims=(0, 2, 3)):
    return x.mean(dims, keepdim=True), x.var(dims, keepdim=True)
'''}),
    ("04-batch-stats", "takes the statistics over the channel dimension too", {"batch_stats": '''
def batch_stats(x, dims=(0, 2, 3)):
    dims = tuple(range(x.ndim))
    return x.mean(dims, keepdim=True), x.var(dims, correction=0, keepdim=True)
'''}),
    ("04-batch-stats", "computes the statistics under no_grad, as the lecture did", {"batch_stats": '''
def batch_stats(x, dims=(0, 2, 3)):
    with torch.no_grad():
        return x.mean(dims, keepdim=True), x.var(dims, correction=0, keepdim=True)
'''}),
    ("04-batch-stats", "the one-pass shortcut E[x^2] - E[x]^2 (cancels at large means)", {"batch_stats": '''
def batch_stats(x, dims=(0, 2, 3)):
    x = upcast(x)
    mean = x.mean(dims, keepdim=True)
    return mean, (x * x).mean(dims, keepdim=True) - mean * mean
'''}),
    ("04-batch-stats", "the one-pass shortcut, clamped at 0", {"batch_stats": '''
def batch_stats(x, dims=(0, 2, 3)):
    x = upcast(x)
    mean = x.mean(dims, keepdim=True)
    return mean, ((x * x).mean(dims, keepdim=True) - mean * mean).clamp_min(0)
'''}),
    ("04-batch-stats", "statistics of half-precision inputs in half precision", {"batch_stats": '''
def batch_stats(x, dims=(0, 2, 3)):
    mean = x.mean(dims, keepdim=True)
    return mean, (x - mean).pow(2).mean(dims, keepdim=True)
'''}),
    ("04-ema", "momentum the wrong way round (mom is the weight of the old value)", {"ema_update": '''
def ema_update(avg, new, mom):
    return avg.lerp_(new, 1 - mom)
'''}),
    ("04-ema", "returns a new tensor instead of updating in place", {"ema_update": '''
def ema_update(avg, new, mom):
    return avg.lerp(new, mom)
'''}),
    ("04-norm-affine", "eps added to the standard deviation, not the variance", {"norm_affine": '''
def norm_affine(x, mean, var, mults, adds, eps=1e-5):
    return (x - mean) / (var.sqrt() + eps) * mults + adds
'''}),
    ("04-norm-affine", "shifts before scaling", {"norm_affine": '''
def norm_affine(x, mean, var, mults, adds, eps=1e-5):
    return ((x - mean) / (var + eps).sqrt() + adds) * mults
'''}),
    ("04-norm-affine", "returns float32 for a half-precision input", {"norm_affine": '''
def norm_affine(x, mean, var, mults, adds, eps=1e-5):
    return (x - mean) / (var + eps).sqrt() * mults + adds
'''}),
    ("04-batchnorm-init", "running statistics as plain attributes, not buffers", {"BatchNorm.__init__": '''
def __init__(self, nf, mom=0.1, eps=1e-5):
    Norm.__init__(self, nf, eps)
    self.mom = mom
    self.means, self.vars = torch.zeros(1, nf, 1, 1), torch.ones(1, nf, 1, 1)
'''}),
    ("04-batchnorm-init", "running stats as parameters (the optimiser trains them)", {"BatchNorm.__init__": '''
def __init__(self, nf, mom=0.1, eps=1e-5):
    Norm.__init__(self, nf, eps)
    self.mom = mom
    self.means = nn.Parameter(torch.zeros(1, nf, 1, 1), requires_grad=False)
    self.vars = nn.Parameter(torch.ones(1, nf, 1, 1), requires_grad=False)
'''}),
    ("04-batchnorm-init", "running variance starts at 0", {"BatchNorm.__init__": '''
def __init__(self, nf, mom=0.1, eps=1e-5):
    Norm.__init__(self, nf, eps)
    self.mom = mom
    self.register_buffer("means", torch.zeros(1, nf, 1, 1))
    self.register_buffer("vars", torch.zeros(1, nf, 1, 1))
'''}),
    ("04-batchnorm-update", "keeps the biased variance in the running variance", {"BatchNorm.update_stats": '''
def update_stats(self, x):
    if x.numel() // x.shape[1] < 2:
        raise ValueError("one value per channel")
    mean, var = batch_stats(x)
    with torch.no_grad():
        ema_update(self.means, mean, self.mom)
        ema_update(self.vars, var, self.mom)
    return mean, var
'''}),
    ("04-batchnorm-update", "returns the unbiased variance for normalising", {"BatchNorm.update_stats": '''
def update_stats(self, x):
    mean, var = batch_stats(x)
    n = x.numel() / x.shape[1]
    if n < 2:
        raise ValueError("one value per channel")
    var = var * n / (n - 1)
    with torch.no_grad():
        ema_update(self.means, mean, self.mom)
        ema_update(self.vars, var, self.mom)
    return mean, var
'''}),
    ("04-batchnorm-update", "the whole update under no_grad: the batch statistics lose their gradients", {
        "BatchNorm.update_stats": '''
def update_stats(self, x):
    with torch.no_grad():
        mean, var = batch_stats(x)
        n = x.numel() / x.shape[1]
        if n < 2:
            raise ValueError("one value per channel")
        ema_update(self.means, mean, self.mom)
        ema_update(self.vars, var * n / (n - 1), self.mom)
    return mean, var
'''}),
    ("04-batchnorm-update", "no guard for one value per channel (max(n - 1, 1) hides the division by zero)", {
        "BatchNorm.update_stats": '''
def update_stats(self, x):
    mean, var = batch_stats(x)
    n = x.numel() / x.shape[1]
    with torch.no_grad():
        ema_update(self.means, mean, self.mom)
        ema_update(self.vars, var * (n / max(n - 1, 1)), self.mom)
    return mean, var
'''}),
    ("04-batchnorm-forward", "uses the batch statistics in evaluation too", {"BatchNorm.forward": '''
def forward(self, x):
    mean, var = self.update_stats(x)
    return norm_affine(x, mean, var, self.mults, self.adds, self.eps)
'''}),
    ("04-batchnorm-forward", "normalises with the running statistics in training", {"BatchNorm.forward": '''
def forward(self, x):
    if self.training:
        self.update_stats(x)
    return norm_affine(x, self.means, self.vars, self.mults, self.adds, self.eps)
'''}),
    ("04-batchnorm-forward", "detaches the batch statistics", {"BatchNorm.forward": '''
def forward(self, x):
    if self.training:
        mean, var = [s.detach() for s in self.update_stats(x)]
    else:
        mean, var = self.means, self.vars
    return norm_affine(x, mean, var, self.mults, self.adds, self.eps)
'''}),
    ("04-conv-layer", "keeps the conv bias even with a norm", {"conv_layer": '''
def conv_layer(ni, nf, ks=3, stride=2, norm=BatchNorm, **kwargs):
    layers = [nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=stride), GeneralRelu(**kwargs)]
    if norm is not None:
        layers.append(norm(nf))
    return nn.Sequential(*layers)
'''}),
    ("04-conv-layer", "forgets the padding", {"conv_layer": '''
def conv_layer(ni, nf, ks=3, stride=2, norm=BatchNorm, **kwargs):
    layers = [nn.Conv2d(ni, nf, ks, stride=stride, bias=norm is None), GeneralRelu(**kwargs)]
    if norm is not None:
        layers.append(norm(nf))
    return nn.Sequential(*layers)
'''}),
    ("04-layernorm", "statistics over the batch dimension instead of the channels", {"LayerNorm.forward": '''
def forward(self, x):
    mean, var = batch_stats(x, dims=(0, 2, 3))
    return norm_affine(x, mean, var, self.mults, self.adds, self.eps)
'''}),
    ("04-layernorm", "the notebook's std for the variance", {"LayerNorm.forward": '''
def forward(self, x):
    mean, var = x.mean((1, 2, 3), keepdim=True), x.std((1, 2, 3), keepdim=True)
    return norm_affine(x, mean, var, self.mults, self.adds, self.eps)
'''}),
    ("04-instancenorm", "statistics over the channels too (that is layer norm)", {"InstanceNorm.forward": '''
def forward(self, x):
    mean, var = batch_stats(x, dims=(1, 2, 3))
    return norm_affine(x, mean, var, self.mults, self.adds, self.eps)
'''}),
    ("04-instancenorm", "unbiased variance", {"InstanceNorm.forward": '''
def forward(self, x):
    mean, var = x.mean((2, 3), keepdim=True), x.var((2, 3), keepdim=True)
    return norm_affine(x, mean, var, self.mults, self.adds, self.eps)
'''}),
    ("04-groupnorm", "groups of interleaved channels instead of consecutive ones", {"GroupNorm.forward": '''
def forward(self, x):
    n, c = x.shape[:2]
    mean, var = batch_stats(x.reshape(n, c // self.num_groups, self.num_groups, -1).transpose(1, 2), dims=(2, 3))
    mean, var = (t.view(n, 1, self.num_groups).expand(n, c // self.num_groups, self.num_groups).reshape(n, c, 1, 1)
                 for t in (mean, var))
    return norm_affine(x, mean, var, self.mults, self.adds, self.eps)
'''}),
    ("04-groupnorm", "the groups' statistics given to the wrong channels (repeat, not repeat_interleave)", {
        "GroupNorm.forward": '''
def forward(self, x):
    n, c = x.shape[:2]
    mean, var = batch_stats(x.reshape(n, self.num_groups, -1), dims=(2,))
    mean, var = (t.repeat(1, c // self.num_groups, 1).view(n, c, 1, 1) for t in (mean, var))
    return norm_affine(x, mean, var, self.mults, self.adds, self.eps)
'''}),
    ("04-groupnorm", "forgets mults and adds", {"GroupNorm.forward": '''
def forward(self, x):
    n, c = x.shape[:2]
    mean, var = batch_stats(x.reshape(n, self.num_groups, -1), dims=(2,))
    mean, var = (t.repeat_interleave(c // self.num_groups, dim=1).view(n, c, 1, 1) for t in (mean, var))
    return norm_affine(x, mean, var, 1.0, 0.0, self.eps)
'''}),
    ("04-fog", "scales around 0 instead of each image's mean", {"fog": '''
def fog(x, contrast=0.5, dim=1.0):
    return contrast * x - dim
'''}),
    ("04-fog", "one mean for the whole batch", {"fog": '''
def fog(x, contrast=0.5, dim=1.0):
    mean = x.mean()
    return mean + contrast * (x - mean) - dim
'''}),
    ("04-fog", "brightens instead of darkening", {"fog": '''
def fog(x, contrast=0.5, dim=1.0):
    mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
    return mean + contrast * (x - mean) + dim
'''}),
    ("04-rbn-momentum", "divides by sqrt(bs) instead of sqrt(bs - 1)", {"rbn_momentum": '''
def rbn_momentum(mom, bs):
    return 1 - (1 - mom) / math.sqrt(bs)
'''}),
    ("04-rbn-momentum", "scales the momentum itself down with the batch size", {"rbn_momentum": '''
def rbn_momentum(mom, bs):
    return mom / math.sqrt(max(bs - 1, 1))
'''}),
    ("04-debias", "the product of the momenta", {"debias_factor": '''
def debias_factor(moms):
    return math.prod(moms) if moms else 0.0
'''}),
    ("04-debias", "only the latest momentum, as if it had been constant", {"debias_factor": '''
def debias_factor(moms):
    moms = list(moms)
    return 1 - (1 - moms[-1]) ** len(moms) if moms else 0.0
'''}),
    ("04-running-var", "no floor at 0: rounding leaves negative variances", {"running_mean_var": '''
def running_mean_var(sums, sqrs, count):
    mean = sums / count
    return mean, sqrs / count - mean * mean
'''}),
    ("04-running-var", "forgets to square the mean", {"running_mean_var": '''
def running_mean_var(sums, sqrs, count):
    mean = sums / count
    return mean, sqrs / count - mean
'''}),
    ("04-running-var", "the mean of the squares as the variance", {"running_mean_var": '''
def running_mean_var(sums, sqrs, count):
    return sums / count, sqrs / count
'''}),
    ("04-clamp-var", "clamps in place", {"clamp_var": '''
def clamp_var(var, n_seen, min_var=0.01, until=20):
    return var.clamp_min_(min_var) if n_seen < until else var
'''}),
    ("04-clamp-var", "clamps up to and including `until` items", {"clamp_var": '''
def clamp_var(var, n_seen, min_var=0.01, until=20):
    return var.clamp_min(min_var) if n_seen <= until else var
'''}),
    ("04-clamp-var", "clamps from above", {"clamp_var": '''
def clamp_var(var, n_seen, min_var=0.01, until=20):
    return var.clamp_max(min_var) if n_seen < until else var
'''}),
    ("04-rbn-update", "the plain momentum instead of the batch-size-aware one", {"RunningBatchNorm.update_stats": '''
def update_stats(self, x):
    x = upcast(x)
    bs, nc = x.shape[:2]
    mom1 = self.mom
    sums = self.sums.lerp(x.sum((0, 2, 3), keepdim=True), mom1)
    sqrs = self.sqrs.lerp((x * x).sum((0, 2, 3), keepdim=True), mom1)
    with torch.no_grad():
        self.sums.copy_(sums)
        self.sqrs.copy_(sqrs)
        self.count.lerp_(self.count.new_tensor(x.numel() / nc), mom1)
        self.seen += bs
    return sums, sqrs
'''}),
    ("04-rbn-update", "counts all values, not the values per channel", {"RunningBatchNorm.update_stats": '''
def update_stats(self, x):
    x = upcast(x)
    bs = x.shape[0]
    mom1 = rbn_momentum(self.mom, bs)
    sums = self.sums.lerp(x.sum((0, 2, 3), keepdim=True), mom1)
    sqrs = self.sqrs.lerp((x * x).sum((0, 2, 3), keepdim=True), mom1)
    with torch.no_grad():
        self.sums.copy_(sums)
        self.sqrs.copy_(sqrs)
        self.count.lerp_(self.count.new_tensor(float(x.numel())), mom1)
        self.seen += bs
    return sums, sqrs
'''}),
    ("04-rbn-update", "stores the averages with their graph in the buffers", {"RunningBatchNorm.update_stats": '''
def update_stats(self, x):
    x = upcast(x)
    bs, nc = x.shape[:2]
    mom1 = rbn_momentum(self.mom, bs)
    self.sums = self.sums.detach().lerp(x.sum((0, 2, 3), keepdim=True), mom1)
    self.sqrs = self.sqrs.detach().lerp((x * x).sum((0, 2, 3), keepdim=True), mom1)
    self.count.lerp_(self.count.new_tensor(x.numel() / nc), mom1)
    self.seen += bs
    return self.sums, self.sqrs
'''}),
    ("04-rbn-update", "returns the averages without this batch's gradient", {"RunningBatchNorm.update_stats": '''
def update_stats(self, x):
    x = upcast(x)
    bs, nc = x.shape[:2]
    mom1 = rbn_momentum(self.mom, bs)
    with torch.no_grad():
        self.sums.lerp_(x.sum((0, 2, 3), keepdim=True), mom1)
        self.sqrs.lerp_((x * x).sum((0, 2, 3), keepdim=True), mom1)
        self.count.lerp_(self.count.new_tensor(x.numel() / nc), mom1)
        self.seen += bs
    return self.sums, self.sqrs
'''}),
    ("04-rbn-update", "sums of a float16 batch in float16 (they overflow)", {"RunningBatchNorm.update_stats": '''
def update_stats(self, x):
    bs, nc = x.shape[:2]
    mom1 = rbn_momentum(self.mom, bs)
    sums = self.sums.to(x.dtype).lerp(x.sum((0, 2, 3), keepdim=True), mom1)
    sqrs = self.sqrs.to(x.dtype).lerp((x * x).sum((0, 2, 3), keepdim=True), mom1)
    with torch.no_grad():
        self.sums.copy_(sums)
        self.sqrs.copy_(sqrs)
        self.count.lerp_(self.count.new_tensor(x.numel() / nc), mom1)
        self.seen += bs
    return sums, sqrs
'''}),
    ("04-rbn-forward", "normalises with the batch's own statistics in training (plain batch norm)", {
        "RunningBatchNorm.forward": '''
def forward(self, x):
    if self.training:
        self.update_stats(x)
        mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), correction=0, keepdim=True)
    else:
        mean, var = running_mean_var(self.sums, self.sqrs, self.count)
    return norm_affine(x, mean, clamp_var(var, self.seen), self.mults, self.adds, self.eps)
'''}),
    ("04-rbn-forward", "no variance clamp", {"RunningBatchNorm.forward": '''
def forward(self, x):
    if self.training:
        sums, sqrs = self.update_stats(x)
    elif not self.seen:
        raise RuntimeError("no statistics yet")
    else:
        sums, sqrs = self.sums, self.sqrs
    mean, var = running_mean_var(sums, sqrs, self.count)
    return norm_affine(x, mean, var, self.mults, self.adds, self.eps)
'''}),
    ("04-rbn-forward", "updates the statistics in evaluation too", {"RunningBatchNorm.forward": '''
def forward(self, x):
    sums, sqrs = self.update_stats(x)
    mean, var = running_mean_var(sums, sqrs, self.count)
    return norm_affine(x, mean, clamp_var(var, self.seen), self.mults, self.adds, self.eps)
'''}),
    ("04-rbn-forward", "no gradient through the statistics (the buffers used as constants)", {
        "RunningBatchNorm.forward": '''
def forward(self, x):
    if self.training:
        self.update_stats(x)
    elif not self.seen:
        raise RuntimeError("no statistics yet")
    mean, var = running_mean_var(self.sums, self.sqrs, self.count)
    return norm_affine(x, mean, clamp_var(var, self.seen), self.mults, self.adds, self.eps)
'''}),
    ("04-batchnorm-backward", "no gradient through the statistics (the lecture's no_grad gradient)", {
        "BatchNormFunction.backward": '''
def backward(ctx, grad):
    xhat, factor, var_grad = ctx.saved_tensors
    sum_g = grad.sum((0, 2, 3), keepdim=True)
    sum_gxhat = (grad * xhat).sum((0, 2, 3), keepdim=True)
    return grad * factor, None, None, sum_gxhat.squeeze(0), sum_g.squeeze(0), None, None, None
'''}),
    ("04-batchnorm-backward", "forgets the mean's term, share * sum(grad)", {
        "BatchNormFunction.backward": '''
def backward(ctx, grad):
    xhat, factor, var_grad = ctx.saved_tensors
    sum_g = grad.sum((0, 2, 3), keepdim=True)
    sum_gxhat = (grad * xhat).sum((0, 2, 3), keepdim=True)
    through_var = sum_gxhat if var_grad is None else sum_gxhat * var_grad
    grad_x = (grad - ctx.share * xhat * through_var) * factor
    return grad_x, None, None, sum_gxhat.squeeze(0), sum_g.squeeze(0), None, None, None
'''}),
    ("04-batchnorm-backward", "1 / n (the batch's own mean) instead of ctx.share", {
        "BatchNormFunction.backward": '''
def backward(ctx, grad):
    xhat, factor, var_grad = ctx.saved_tensors
    sum_g = grad.sum((0, 2, 3), keepdim=True)
    sum_gxhat = (grad * xhat).sum((0, 2, 3), keepdim=True)
    through_var = sum_gxhat if var_grad is None else sum_gxhat * var_grad
    share = grad.shape[1] / grad.numel()
    grad_x = factor * (grad - share * (sum_g + xhat * through_var))
    return grad_x, None, None, sum_gxhat.squeeze(0), sum_g.squeeze(0), None, None, None
'''}),
    ("04-batchnorm-backward", "a clamped variance still passes its gradient (ignores var_grad)", {
        "BatchNormFunction.backward": '''
def backward(ctx, grad):
    xhat, factor, var_grad = ctx.saved_tensors
    sum_g = grad.sum((0, 2, 3), keepdim=True)
    sum_gxhat = (grad * xhat).sum((0, 2, 3), keepdim=True)
    grad_x = torch.addcmul(grad, xhat, sum_gxhat, value=-ctx.share).sub_(sum_g, alpha=ctx.share).mul_(factor)
    return grad_x, None, None, sum_gxhat.squeeze(0), sum_g.squeeze(0), None, None, None
'''}),
    ("04-batchnorm-backward", "the gradient of mults from the output's gradient alone, sum(grad)", {
        "BatchNormFunction.backward": '''
def backward(ctx, grad):
    xhat, factor, var_grad = ctx.saved_tensors
    sum_g = grad.sum((0, 2, 3), keepdim=True)
    sum_gxhat = (grad * xhat).sum((0, 2, 3), keepdim=True)
    through_var = sum_gxhat if var_grad is None else sum_gxhat * var_grad
    grad_x = torch.addcmul(grad, xhat, through_var, value=-ctx.share).sub_(sum_g, alpha=ctx.share).mul_(factor)
    return grad_x, None, None, sum_g.squeeze(0), sum_g.squeeze(0), None, None, None
'''}),
]
