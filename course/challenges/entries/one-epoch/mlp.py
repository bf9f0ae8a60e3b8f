"""Lesson 00's MLP: one hidden layer of 50 ReLUs, plain SGD, a one-cycle learning rate.

A baseline built from lessons 00-02 only: the image is flattened and fed to lesson 00's
one-hidden-layer network, trained by lesson 02's Runner with a ParamScheduler that warms the
learning rate up from 0.1 to 0.8 over the first 30% of the epoch and anneals it to 0.01 (a cosine
one-cycle, built with `combine_scheds`). It shows what the convolutions and normalisation of
lessons 03 and 04 add.
"""

from functools import partial

import torch
from torch import nn

from solutions.l02_exceptions import Learner, ParamScheduler, Runner, combine_scheds, sched_cos

BATCH_SIZE = 64


def learn_run(data):
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 50), nn.ReLU(), nn.Linear(50, data.c_out))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = combine_scheds([0.3, 0.7], [sched_cos(0.1, 0.8), sched_cos(0.8, 0.01)])
    learn = Learner(model, opt, nn.functional.cross_entropy, data)
    return learn, Runner(cb_funcs=[partial(ParamScheduler, "lr", sched)])
