"""A first layer at full resolution, wider layers, nn.BatchNorm2d and a one-cycle learning rate.

Every layer of the lecture's network halves the image, the first one too: its 5 x 5 filters see
the digit only every second pixel. Here the first layer keeps the 28 x 28 resolution (stride 1,
16 channels), and four stride-2 layers follow (nfs 32, 64, 128, 128; 28 -> 14 -> 7 -> 4 -> 2). Each
convolution is followed by lesson 03's `GeneralRelu(leak=0.1, sub=0.4, maxv=6.)` and PyTorch's
`nn.BatchNorm2d` (the equivalent of lesson 04's BatchNorm; at batch size 32 its batch statistics are
good enough, and it is faster than RunningBatchNorm). Batch norm lets plain SGD take large steps:
the learning rate warms up from 0.1 to 2.0 over the first 30% of the epoch and anneals to 0.002
along a cosine, so the last few hundred steps settle into a minimum instead of bouncing around it.
"""

from functools import partial

from torch import nn

from course.challenges.ablation import norm_layer
from solutions.l03_cnn_hooks import (
    Lambda, ParamScheduler, combine_scheds, flatten, get_runner, init_cnn, sched_cos,
)

BATCH_SIZE = 32
NFS = [16, 32, 64, 128, 128]
RELU = {"leak": 0.1, "sub": 0.4, "maxv": 6.0}


def learn_run(data):
    layer = partial(norm_layer, nn.BatchNorm2d, **RELU)
    model = nn.Sequential(layer(1, NFS[0], 5, stride=1), *[layer(ni, nf) for ni, nf in zip(NFS, NFS[1:])],
                          nn.AdaptiveAvgPool2d(1), Lambda(flatten), nn.Linear(NFS[-1], data.c_out))
    sched = combine_scheds([0.3, 0.7], [sched_cos(0.1, 2.0), sched_cos(2.0, 0.002)])
    return get_runner(init_cnn(model), data, lr=0.1, cbs=[partial(ParamScheduler, "lr", sched)])
