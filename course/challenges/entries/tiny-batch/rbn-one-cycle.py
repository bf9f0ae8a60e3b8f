"""The lecture's RunningBatchNorm recipe with a one-cycle learning rate instead of a constant one.

Lesson 04's network for batch size 2, unchanged: five stride-2 convolutions (nfs [8, 16, 32, 64,
64]), each followed by a ReLU and RunningBatchNorm (corrected), plain SGD. Only the learning rate
changes: instead of a constant 0.4 it warms up from 0.05 to 0.4 over the first quarter of the epoch
and then anneals to 0.001 along a cosine. At batch size 2 each step's gradient is very noisy; a
learning rate that ends near zero averages that noise away over the last thousands of steps instead
of leaving the weights wherever the last few images pushed them.

(A first version also used GeneralRelu(leak=0.1, sub=0.4, maxv=6.) before RunningBatchNorm and
wider layers: all three seeds diverged to chance level.)
"""

from functools import partial

from course.challenges.ablation import norm_layer
from solutions.l03_cnn_hooks import ParamScheduler, combine_scheds, get_learn_run, sched_cos
from solutions.l04_norms import NFS, RunningBatchNorm

BATCH_SIZE = 2


def learn_run(data):
    sched = combine_scheds([0.25, 0.75], [sched_cos(0.05, 0.4), sched_cos(0.4, 0.001)])
    return get_learn_run(NFS, data, 0.4, partial(norm_layer, RunningBatchNorm),
                         cbs=[partial(ParamScheduler, "lr", sched)])
