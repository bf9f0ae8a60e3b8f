"""RunningBatchNorm (corrected), wider layers, GeneralRelu and a one-cycle learning rate.

Lesson 04's recipe for batch size 2 (RunningBatchNorm after each convolution's activation, plain
SGD) with three changes. The learning rate warms up from 0.05 to 0.4 over the first quarter of the
epoch and then anneals to 0.001 along a cosine: at batch size 2 each step's gradient is very noisy,
and a learning rate that ends near zero averages that noise away over the last thousands of steps
instead of leaving the weights wherever the last few images pushed them. The first layers are twice
as wide (nfs [16, 32, 64, 64, 64]): at batch size 2 the time of a step is mostly fixed overhead, so
the wider layers cost little. Lesson 03's `GeneralRelu(leak=0.1, sub=0.4, maxv=6.)` keeps a gradient
for negative inputs.
"""

from functools import partial

from course.challenges.ablation import norm_layer
from solutions.l03_cnn_hooks import ParamScheduler, combine_scheds, get_learn_run, sched_cos
from solutions.l04_norms import RunningBatchNorm

BATCH_SIZE = 2


def learn_run(data):
    sched = combine_scheds([0.25, 0.75], [sched_cos(0.05, 0.4), sched_cos(0.4, 0.001)])
    return get_learn_run([16, 32, 64, 64, 64], data, 0.4, partial(norm_layer, RunningBatchNorm),
                         cbs=[partial(ParamScheduler, "lr", sched)], leak=0.1, sub=0.4, maxv=6.0)
