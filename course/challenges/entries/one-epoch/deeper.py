"""full-resolution with two more stride-1 convolutions, the norm before the activation, and a gentler peak.

Three changes to `full-resolution`, found by a search of one change at a time (seed 0 each, then
all three over seeds 0-2; the leaderboard shows what they give):

- Two more 3 x 3 convolutions that keep the resolution, one at 14 x 14 (32 channels) and one at
  7 x 7 (64 channels): 28 -> 28 -> 14 -> 14 -> 7 -> 7 -> 4 -> 2. Each image is seen once, so what
  the network learns is limited by what each step can do with its batch; two more layers of
  nonlinearity where strokes become parts of digits give every step more to work with, for more
  time per step.
- conv -> `nn.BatchNorm2d` -> `GeneralRelu` instead of lesson 04's conv -> GeneralRelu -> norm: the
  activation then sees normalised inputs, so its leak, its shift `sub` and its ceiling `maxv` act
  at the same place of every channel's distribution, whatever the convolution's scale.
- The learning rate peaks at 1.0 instead of 2.0 (warm-up from 0.1 over 30% of the epoch) and ends
  at 0.0005 instead of 0.002 (cosine), so the last steps settle further.

Alone, each of the last two changes moved seed 0 by less than the spread between seeds. What else
the search tried on top of all three (a lower peak, a shorter warm-up, another stride-1 layer at
7 x 7 or 4 x 4, batch size 64) stayed within that spread.
"""

from functools import partial

from torch import nn

from solutions.l03_cnn_hooks import (
    Lambda, ParamScheduler, combine_scheds, flatten, get_runner, init_cnn, sched_cos,
)
from solutions.l04_norms import conv_layer

BATCH_SIZE = 32
# (channels, kernel size, stride): 28 -> 28 -> 14 -> 14 -> 7 -> 7 -> 4 -> 2
LAYERS = [(16, 5, 1), (32, 3, 2), (32, 3, 1), (64, 3, 2), (64, 3, 1), (128, 3, 2), (128, 3, 2)]


def norm_first_layer(ni: int, nf: int, ks: int, stride: int) -> nn.Sequential:
    """Lesson 04's `conv_layer` with nn.BatchNorm2d, its norm moved before its GeneralRelu."""
    conv, relu, norm = conv_layer(ni, nf, ks, stride, norm=nn.BatchNorm2d, leak=0.1, sub=0.4, maxv=6.0)
    return nn.Sequential(conv, norm, relu)


def learn_run(data):
    nis = [1] + [nf for nf, _, _ in LAYERS]
    model = nn.Sequential(*[norm_first_layer(ni, nf, ks, s) for ni, (nf, ks, s) in zip(nis, LAYERS)],
                          nn.AdaptiveAvgPool2d(1), Lambda(flatten), nn.Linear(LAYERS[-1][0], data.c_out))
    sched = combine_scheds([0.3, 0.7], [sched_cos(0.1, 1.0), sched_cos(1.0, 0.0005)])
    return get_runner(init_cnn(model), data, lr=0.1, cbs=[partial(ParamScheduler, "lr", sched)])
