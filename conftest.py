"""Test set-up for the whole repository: `--impl` picks the implementation the graded tests run against.

It lives at the root, not in tests/, so pytest 9 always loads it before parsing `--impl exercises`
(a value that names an existing folder: pytest-dev/pytest#13913).
"""

import importlib
import sys

from course import threads

threads.configure()  # before torch is imported: the same thread count as the lessons, sleeping when idle

import pytest  # noqa: E402

import course.seed  # noqa: E402
from course.paths import IMPLS  # noqa: E402

# the grader's plugin: its marker checks reject a malformed `exercise` marker in any run
pytest_plugins = ["course.grade_plugin"]


def pytest_addoption(parser):
    parser.addoption("--impl", choices=IMPLS, default="solutions",
                     help="package the graded tests import: the reference solutions or your exercises")
    parser.addoption("--seed-shift", type=int, default=0, metavar="N",
                     help="add N to every set_seed() seed: a test that passes only for today's seeds fails")


def pytest_configure(config):
    shift = config.getoption("seed_shift")
    if shift:  # before the test modules are collected, so their `from course.seed import set_seed` sees it
        original = course.seed.set_seed

        def shifted(seed: int = 42, deterministic: bool = True) -> None:
            original(seed + shift, deterministic)
        course.seed.set_seed = shifted


@pytest.fixture
def impl(request):
    """The chosen package's module `name`, imported afresh so an edited exercise is picked up."""
    package = request.config.getoption("impl")

    def load(name):
        qualified = f"{package}.{name}"
        sys.modules.pop(qualified, None)
        return importlib.import_module(qualified)
    return load


@pytest.fixture
def mod(request, impl):
    """The module under test, named after the test file: tests/graded/test_l01_callbacks.py -> l01_callbacks."""
    return impl(request.module.__name__.rpartition(".")[2].removeprefix("test_"))


@pytest.fixture
def ref(request):
    """The reference solution of the module under test (always from `solutions`, whatever `--impl`).

    A test of exercise B that needs exercise A of the same module takes A from here, so B is graded
    on B alone: `monkeypatch.setattr(mod, "Hook", ref.Hook)` before calling the learner's `Hooks`.
    """
    return importlib.import_module("solutions." + request.module.__name__.rpartition(".")[2].removeprefix("test_"))


@pytest.fixture(autouse=True)
def _seeded():
    course.seed.set_seed(0)
