"""Lesson 04's runs: `run_cost` orders them as their real durations do, `run_experiments` starts
one worker per CPU plus one per busy CPU, at most one per run, longest first, and a run whose loss
turns `nan` skips the rest of each epoch's training (`CancelEpochOnNaN`), and tiny batches train
without oneDNN (`TinyBatchConvs`)."""

import contextlib
import os
from multiprocessing import get_context
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from solutions import l04_norms as l04
from solutions.l03_cnn_hooks import get_runner

E = l04.Experiment


def test_run_cost_orders_the_lessons_runs_by_their_measured_durations():
    # one thread, AMD EPYC, 2026-12-05 (two executions): 42-77 s, 38 s, 14-18 s and 11-12 s
    runs = [E("bs32", bs=32, epochs=1), E("bs512_3", bs=512, epochs=3), E("bs2", bs=2, epochs=1),
            E("bs512_8", bs=512, epochs=8)]
    assert [e.name for e in sorted(runs, key=l04.run_cost, reverse=True)] == ["bs2", "bs512_8", "bs512_3", "bs32"]
    assert l04.run_cost(E("half", bs=2, n_train=25_000)) == l04.run_cost(E("full", bs=2)) // 2


class FakePool:
    """multiprocessing's Pool stand-in: records its worker count and runs the map in this process."""

    def __init__(self, workers, initializer):
        FakePool.workers = workers

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, f, items, chunksize):
        assert chunksize == 1  # larger chunks would hand a worker two long runs in a row
        return list(map(f, items))


@pytest.mark.parametrize("cpus, idle, n_runs, workers", [
    (2, 2.0, 13, 2), (2, 1.9, 13, 2), (2, 1.0, 13, 3), (2, 0.1, 13, 4), (8, 7.0, 13, 9), (16, 0.0, 13, 13),
    (None, 1.0, 5, 1),
])
def test_run_experiments_adds_a_worker_per_busy_cpu(monkeypatch, cpus, idle, n_runs, workers):
    started = []
    monkeypatch.setattr(l04, "get_context", lambda method: SimpleNamespace(Pool=FakePool))
    monkeypatch.setattr(l04.os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(l04.threads, "idle_cores", lambda: idle)
    monkeypatch.setattr(l04, "train_cnn", lambda e: started.append(e.name) or {"name": e.name})
    runs = [E(f"bs{bs}_{i}", bs=bs) for i, bs in enumerate([512, 2, 32] * 5)][:n_runs]
    results = l04.run_experiments(runs)
    assert FakePool.workers == workers
    assert sorted(results) == sorted(e.name for e in runs)
    assert started == [e.name for e in sorted(runs, key=l04.run_cost, reverse=True)]
    assert started[0].startswith("bs2_")


@pytest.mark.skipif(not hasattr(os, "setsid"), reason="sessions are a POSIX notion")
def test_a_worker_runs_on_one_thread_in_a_session_of_its_own():
    with get_context("spawn").Pool(1, initializer=l04._start_worker) as pool:
        pid, sid, threads = pool.apply(os.getpid), pool.apply(os.getsid, (0,)), pool.apply(torch.get_num_threads)
    assert sid == pid != os.getsid(0)
    assert threads == 1


@pytest.mark.parametrize("nan_at, steps", [(None, [4, 4]), (1, [2, 1]), (0, [1, 1])])
def test_a_nan_loss_ends_the_epochs_training_after_its_step(nan_at, steps):
    """Two epochs of 4 training batches; the loss is `nan` from training step `nan_at` on. The pass
    ends after the step with the first `nan` loss, which has made the weights `nan`; validation
    (2 batches) runs every epoch all the same."""
    torch.manual_seed(0)
    train_steps, valid_batches = [], []

    def loss_func(pred, yb):
        loss = F.cross_entropy(pred, yb)
        if not pred.requires_grad:
            valid_batches.append(run.epoch)
        elif nan_at is not None and len(train_steps) >= nan_at:
            loss = loss * float("nan")
        if pred.requires_grad:
            train_steps.append(run.epoch)
        return loss

    data = l04.DataBunch(l04.BatchDataLoader(l04.Dataset(torch.randn(8, 3), torch.randint(0, 2, (8,))), 2),
                         l04.BatchDataLoader(l04.Dataset(torch.randn(4, 3), torch.randint(0, 2, (4,))), 2))
    learn, run = get_runner(nn.Linear(3, 2), data, lr=0.1, cbs=[l04.CancelEpochOnNaN], loss_func=loss_func)
    run.fit(2, learn)
    assert [train_steps.count(e) for e in (0, 1)] == steps
    assert valid_batches == [0, 0, 1, 1]
    assert torch.isnan(learn.model.weight).all().item() == (nan_at is not None)


class Boom(Exception):
    pass


@pytest.mark.parametrize("bs, onednn_before, fails", [(2, True, False), (8, True, True), (9, True, False),
                                                       (2, False, False), (9, False, False)])
def test_tiny_batches_train_without_onednn_and_everything_else_keeps_the_setting(bs, onednn_before, fails):
    """Training batches of at most 8 run with oneDNN off; validation, and whatever follows the fit
    (also a fit that ends in an error), has the setting from before the fit; larger batches keep it."""
    seen = {True: [], False: []}

    def loss_func(pred, yb):
        seen[pred.requires_grad].append(torch.backends.mkldnn.enabled)
        if fails and len(seen[True]) == 3:
            raise Boom
        return F.cross_entropy(pred, yb)

    data = l04.DataBunch(l04.BatchDataLoader(l04.Dataset(torch.randn(2 * bs, 3), torch.randint(0, 2, (2 * bs,))), bs),
                         l04.BatchDataLoader(l04.Dataset(torch.randn(4, 3), torch.randint(0, 2, (4,))), 2))
    learn, run = get_runner(nn.Linear(3, 2), data, lr=0.1, cbs=[l04.TinyBatchConvs], loss_func=loss_func)
    before = torch.backends.mkldnn.enabled
    try:
        torch.backends.mkldnn.enabled = onednn_before
        with pytest.raises(Boom) if fails else contextlib.nullcontext():
            run.fit(2, learn)
        assert torch.backends.mkldnn.enabled == onednn_before
    finally:
        torch.backends.mkldnn.enabled = before
    assert seen[True] == [onednn_before and bs > 8] * (3 if fails else 4)
    assert seen[False] == [onednn_before] * (2 if fails else 4)  # it fails in the second epoch


def test_tiny_batch_convs_leaves_the_setting_alone_when_the_fit_fails_before_it_saved_it():
    """A callback that runs before TinyBatchConvs fails in `begin_fit`: `after_fit` (in the fit's
    `finally`) must neither touch the setting nor hide the error."""
    class FailsFirst(l04.Callback):
        _order = -20

        def begin_fit(self):
            raise Boom

    data = l04.DataBunch(l04.BatchDataLoader(l04.Dataset(torch.randn(4, 3), torch.randint(0, 2, (4,))), 2),
                         l04.BatchDataLoader(l04.Dataset(torch.randn(4, 3), torch.randint(0, 2, (4,))), 2))
    learn, run = get_runner(nn.Linear(3, 2), data, lr=0.1, cbs=[FailsFirst, l04.TinyBatchConvs])
    before = torch.backends.mkldnn.enabled
    with pytest.raises(Boom):
        run.fit(1, learn)
    assert torch.backends.mkldnn.enabled == before
