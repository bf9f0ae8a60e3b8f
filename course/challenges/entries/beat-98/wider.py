"""Twice as wide, smaller batches, a lower peak learning rate: lesson 03's layers, no normalisation.

The lecture's network and schedule shape (GeneralRelu, Kaiming init, a cosine warm-up then a
cosine anneal), with three changes. Each layer has twice or four times the channels (nfs
[16, 32, 64, 128] instead of [8, 16, 32, 32]): the last layers of the lecture's network, 32
channels for ten classes, are the bottleneck. The batch size is 128 instead of 512, so 8 epochs are
3,128 steps instead of 782: without normalisation, a step cannot be made much larger, but there can
be more of them. And the learning rate peaks at 0.6 (0.2 -> 0.6 -> 0.005) rather than 1.0, because
a smaller batch has noisier gradients, and a network without normalisation diverges from a too
large step instead of recovering from it.
"""

from functools import partial

from solutions.l03_cnn_hooks import ParamScheduler, combine_scheds, conv_layer, get_learn_run, sched_cos

BATCH_SIZE = 128
EPOCHS = 8


def learn_run(data):
    sched = combine_scheds([0.3, 0.7], [sched_cos(0.2, 0.6), sched_cos(0.6, 0.005)])
    return get_learn_run([16, 32, 64, 128], data, 0.6, conv_layer, cbs=[partial(ParamScheduler, "lr", sched)],
                         leak=0.1, sub=0.4, maxv=6.0)
