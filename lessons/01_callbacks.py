# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 01 - Callbacks, closures and dunder methods
#
# A training loop is only useful if you can change what it does without rewriting it: print
# progress, stop early, schedule the learning rate, record statistics. The tool for that is the
# **callback**, and this lesson builds it up from a single line of Python. On the way we meet the
# language features that make callbacks pleasant (lambdas, closures, `functools.partial`, callable
# objects, `*args`/`**kwargs`) and the ones that make PyTorch feel like Python (dunder methods).
# Then we switch to a little maths, always by code: the statistics that normalisation layers are
# built from, and the choice between softmax and sigmoid outputs.
#
# **What you will learn**
#
# 1. callbacks: functions as objects, lambdas, closures, `partial`, callable classes, `*args`/`**kwargs`,
#    callbacks with several hooks, early stopping, callbacks that change the loop's state;
# 2. dunder methods: how `a + b`, `x[i]`, `len(x)`, `with ...:` and attribute access turn into method calls;
# 3. how to find and read library source code, in your editor and from Python;
# 4. statistics by code: mean, variance, standard deviation, mean absolute deviation, covariance and
#    correlation, and how to compute a variance in one pass without losing all your digits;
# 5. softmax versus one sigmoid per class, and a numerically stable log-softmax and cross-entropy.
#
# **Exercises.** The code lives in `solutions/l01_callbacks.py`, the small library this lesson
# builds; we show each piece from there (with `show_source`) instead of copying it. Pieces marked
# *Exercise* are yours to write in `exercises/l01_callbacks.py`: `make grade LESSON=01` grades them.
# Try each one before you read our version, which is folded behind "Show our version".
#
# | exercise | what you write |
# | --- | --- |
# | `01-closure` | `make_show_progress`: a function that returns a function |
# | `01-partial-adapter` | `make_show_progress_partial`: adapt a 2-argument function with `partial` |
# | `01-callable-callback` | `ProgressCallback`: a callback object that keeps state |
# | `01-hooks-runner` | `slow_calculation_hooks`: optional hooks and early stopping |
# | `01-stateful-calculator` | `SlowCalculator`: callbacks that can change the calculator |
# | `01-dunder` | `Items`: `__len__`, `__getitem__`, `__iter__`, `__repr__` |
# | `01-context-manager` | `TemporaryAttrs`: `__enter__` and `__exit__` |
# | `01-mad` | `mean_abs_dev` |
# | `01-running-sums` | `one_pass_stats`: mean and variance from running sums |
# | `01-running-stats` | `RunningStats`: a running variance that survives float32 (optional part) |
# | `01-covariance`, `01-correlation` | `covariance`, `pearson` |
# | `01-sigmoid`, `01-logsumexp`, `01-cross-entropy` | stable `sigmoid`, `logsumexp`, `log_softmax`, `cross_entropy` |
# | `01-multilabel` | `predict_labels`: several labels (or none) per item |

# %%
# The course's library: in the repository it is installed; anywhere else (Colab, VS Code, a plain
# Jupyter) this cell installs it with pip first, which takes a few minutes once.
try:
    import course.check  # noqa: F401  (checks that this kernel has what the lesson needs)
except ModuleNotFoundError:
    import importlib, os, subprocess, sys  # noqa: E401
    source = os.environ.get("COURSE_PIP_SOURCE", "git+https://github.com/callbacks-to-norms/callbacks-to-norms")
    print(f"The course is not installed in this kernel: installing it with pip from {source} ...")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], check=True)
    importlib.invalidate_caches()
    import course.check  # noqa: F401

# %%
import functools
import gc
import inspect
import time
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display
from torch import nn

from course.seed import set_seed
from course.show import show_source, source
from solutions.l01_callbacks import (
    Items, ModifyingCallback, PrintAfterCallback, PrintStepCallback, ProgressCallback, RunningStats,
    SloppyAdder, SlowCalculator, TemporaryAttrs, covariance, cross_entropy, log_softmax, logsumexp,
    make_show_progress, make_show_progress_partial, mean_abs_dev, one_pass_stats, pearson,
    predict_labels, show_progress2, sigmoid, slow_calculation, slow_calculation_hooks, softmax,
)

set_seed(42)
plt.rcParams["figure.figsize"] = (6, 3)

# %% [markdown]
# ## 1. A callback is a function you hand to someone else
#
# In Python a function is an object like any other. Writing its name without parentheses gives
# you the object; adding parentheses calls it. So you can store a function in a variable, put it
# in a list, or pass it to another function, which can then *call it back* later:

# %%
def f(o):
    print("hi")

print(f)  # the function object itself: nothing is printed by f
g = f     # a second name for the same object
g(None)   # calling it

# %% [markdown]
# The classic example is a button in a user interface. The button does not know what your program
# should do when it is clicked; you tell it by handing it a function, and the button calls that
# function whenever someone clicks. In a notebook, `ipywidgets` provides such buttons:
# `button.on_click(f)` stores `f`, and each click calls `f(button)`.
#
# One detail: a click happens after the cell has finished, so what the callback prints has no
# cell to go to. An `Output` widget gives it a place, under the button. `button.click()` does
# what a click with the mouse does, so the cell clicks once itself; in JupyterLab (`make lab`) you
# can click the button too and watch the count grow.

# %%
import ipywidgets as widgets

clicks = []
out = widgets.Output()  # where the callback's prints appear, under the button


def on_click(button):
    clicks.append(button.description)
    with out:
        print(f"hi! click number {len(clicks)}")


button = widgets.Button(description="Click me")
button.on_click(on_click)  # hand the function over: note on_click, not on_click()
display(button, out)
button.click()  # a click from code: the button calls on_click back
print(f"{len(clicks)} click so far, by the cell itself")

# %% [markdown]
# ## 2. Writing our own: a slow calculation with a progress callback
#
# Now let's be the one who *receives* a callback. Here is a calculation that takes a while,
# a stand-in for a training loop: it adds up `i * i` for `i` in `range(5)`, sleeping between steps.
# Whoever calls it may pass a function `cb`, which it calls after each step with the step number.

# %%
show_source(slow_calculation)

# %% [markdown]
# In the lecture each step sleeps one second, so that you *feel* why a progress report is
# welcome. Ours does too. Without a callback we just get the answer, after five seconds of
# silence:

# %%
start = time.perf_counter()
print(slow_calculation(), f"after {time.perf_counter() - start:.0f} s of silence")

# %% [markdown]
# With a callback, the calculation tells us how it is getting on:

# %%
def show_progress(epoch):
    print(f"Awesome! We've finished epoch {epoch}!")

slow_calculation(show_progress)

# %% [markdown]
# The same five seconds feel shorter when something tells you where you are. Now that you have
# felt it, the rest of the lesson passes `delay=DELAY`, a hundredth of a second per step, so that
# its many small experiments run at once.

# %%
DELAY = 0.01  # seconds per step from here on

# %% [markdown]
# `slow_calculation` knows nothing about printing, and `show_progress` knows nothing about sums.
# The only thing they share is the *signature* of the callback: one argument, the epoch. That is
# the whole idea; the next sections are about writing such functions conveniently.
#
# ## 3. Lambdas, adapters, closures and `partial`
#
# A function that is used once does not need a name. `lambda epoch: ...` is a `def` squeezed into
# an expression: one argument list, one expression, whose value is returned.

# %%
slow_calculation(lambda o: print(f"Awesome! We've finished epoch {o}!"), delay=DELAY)

# %% [markdown]
# Lambdas are also handy as **adapters**. Suppose the function we want to use takes two arguments,
# an exclamation and the epoch, but the calculation calls its callback with one:

# %%
show_source(show_progress2)
try:
    slow_calculation(show_progress2, delay=DELAY)
except TypeError as e:
    print("TypeError:", e)

# %% [markdown]
# A lambda with the expected one-argument signature fills in the missing argument:

# %%
slow_calculation(lambda o: show_progress2("OK I guess", o), delay=DELAY)

# %% [markdown]
# If we need such adapters with many different exclamations, we can write a function that
# *makes* them. A function that builds and returns a function: the result is called a
# **closure**, because the inner function closes over (keeps) the variables of the call that made it.
#
# *Exercise `01-closure`: write `make_show_progress` yourself first.*

# %%
show_source(make_show_progress)
f2 = make_show_progress("Nice")
slow_calculation(f2, delay=DELAY)

# %% [markdown]
# **Why does this work?** Because `def` is a statement that runs at run time, like an assignment.
# Each call of `make_show_progress` executes the inner `def` again, creating a *new* function
# object, and that object keeps a reference to the `exclamation` of that particular call. We can
# check all three claims:

# %%
a, b = make_show_progress("Yes"), make_show_progress("Yes")
print("a new function per call:", a is not b)
print("free variables of the inner function:", f2.__code__.co_freevars)
print("the value it captured:", repr(f2.__closure__[0].cell_contents))

# %% [markdown]
# A closure captures *variables*, not values. That matters in a loop: all the lambdas below share
# the single loop variable `i`, which is 2 by the time they run. A factory such as
# `make_show_progress` gives each callback its own variable, because each call has its own scope.

# %%
shared = [lambda epoch: print(f"callback {i}, epoch {epoch}") for i in range(3)]
for cb in shared:
    cb(0)
print("---")
own = [make_show_progress(f"callback {i}") for i in range(3)]
for cb in own:
    cb(0)

# %% [markdown]
# Fixing some arguments of a function is so common that the standard library does it for you:
# `functools.partial(f, a)` is a callable that calls `f(a, ...)` with whatever else it receives.
# Unlike a lambda, it shows what it wraps.
#
# *Exercise `01-partial-adapter`.*

# %%
show_source(make_show_progress_partial)
f3 = make_show_progress_partial("OK I guess")
print(f3.func.__name__, f3.args)
slow_calculation(f3, delay=DELAY)

# %% [markdown]
# ## 4. A callable class as a callback
#
# Anything with a `__call__` method can be called like a function: a *callable* object, which
# C++ programmers call a **functor** (the lecture's word). A class gives the callback a
# place to keep state between calls (`self`), and a state you can look at afterwards. A closure
# could hold state too, but as soon as there is more than one value, or you want to inspect it,
# a class reads better.
#
# *Exercise `01-callable-callback`.*

# %%
show_source(ProgressCallback)
cb = ProgressCallback("Just super")
slow_calculation(cb, delay=DELAY)
print(cb)  # the state it collected, through its __repr__

# %% [markdown]
# ## 5. `*args` and `**kwargs`
#
# In a signature, `*args` collects the extra positional arguments into a tuple and `**kwargs`
# the extra keyword arguments into a dict. At a call, `*` and `**` do the reverse: they spread a
# sequence or a dict out into arguments.

# %%
def f(*args, **kwargs):
    print(f"args: {args}; kwargs: {kwargs}")

f(3, "a", thing1="hello")
f(*[1, 2], **{"lr": 0.1})

# %% [markdown]
# You use both every day in PyTorch. `nn.Sequential` takes its layers as `*args`, so a model can
# be built from a list whose length is only known at run time, by spreading the list out:

# %%
print("nn.Sequential.__init__", inspect.signature(nn.Sequential.__init__))
sizes = [784, 50, 20, 10]
layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
nn.Sequential(*layers)  # the same as nn.Sequential(layers[0], layers[1], layers[2])

# %% [markdown]
# **When they help.**
#
# - A callback that does not care about its arguments can accept anything. It keeps working
#   even if the caller later passes more arguments (that is what makes callbacks resilient to a
#   growing training loop).
# - A wrapper can pass everything on to the function it wraps without knowing its parameters:

# %%
slow_calculation(lambda *args, **kwargs: print("a step is done"), n=2, delay=DELAY)

def timed(func):
    def wrapper(*args, **kwargs):  # whatever the caller passes ...
        start = time.perf_counter()
        result = func(*args, **kwargs)  # ... goes on unchanged
        print(f"{func.__name__} took {time.perf_counter() - start:.1f} s")
        return result
    return wrapper

timed(slow_calculation)(n=2, delay=0.25)  # steps long enough that the rounded time is the same every run

# %% [markdown]
# **When they hurt.** They hide the parameters. The wrapper's signature says nothing, so your
# editor cannot complete the arguments and `help` is no help; and a function that accepts
# `**kwargs` "for later" swallows typos without a word:

# %%
print("signature of the original:", inspect.signature(slow_calculation))
print("signature of the wrapper: ", inspect.signature(timed(slow_calculation)))

def fit(epochs, lr=0.1, **kwargs):  # kwargs "for future options", unused
    print(f"training for {epochs} epochs with lr={lr}")

fit(3, lrr=0.5)  # a typo: silently trains with lr=0.1

# %% [markdown]
# So: use them to forward arguments and to ignore arguments, and otherwise spell parameters out.
# When you do wrap a function, `functools.wraps` copies its name and docstring and lets
# `inspect.signature` see through the wrapper:

# %%
print(inspect.signature(functools.wraps(slow_calculation)(lambda *args, **kwargs: None)))

# %% [markdown]
# ## 6. Callbacks with several hooks
#
# A training loop has more than one interesting moment: before a step, after a step, after an
# epoch... So a callback becomes an *object* with one method per moment (a **hook**), and the loop
# calls the ones the callback has. Not every callback needs every hook, so first, a question:
# what happens if the loop calls a hook that the callback did not write?

# %%
class OnlyAfter:
    def after_calc(self, epoch, val):
        print(f"after {epoch}: {val}")

try:
    OnlyAfter().before_calc(0)
except AttributeError as e:
    print("AttributeError:", e)
print("getattr with a default instead:", getattr(OnlyAfter(), "before_calc", None))

# %% [markdown]
# A loop that calls its hooks unconditionally would crash; `getattr(cb, name, None)` turns a
# missing hook into `None`, which the loop can skip. The loop below does that for two hooks,
# `before_calc(epoch)` and `after_calc(epoch, val)`. It also gives the callback a voice: if
# `after_calc` returns something truthy, the loop stops. That one convention is enough for early
# stopping.
#
# *Exercise `01-hooks-runner`.*

# %%
show_source(slow_calculation_hooks)

# %% [markdown]
# A callback that only wants to say something can accept and ignore the hooks' arguments with
# `*args, **kwargs`:

# %%
show_source(PrintStepCallback)
slow_calculation_hooks(PrintStepCallback(), n=2, delay=DELAY)

# %% [markdown]
# That is what makes such a callback resilient: the loop may grow. Say a later version of the
# loop also passes the time the step took, `after_calc(epoch, val, secs=...)`. A callback written
# with exactly the parameters it uses today breaks; the one with `**kwargs` does not notice:

# %%
def slow_calculation_timed(cb, n=2):
    """The loop, grown: `after_calc` now also gets the step's duration as `secs`."""
    res = 0
    for i in range(n):
        start = time.perf_counter()
        res += i * i
        cb.after_calc(i, res, secs=time.perf_counter() - start)
    return res

class Exact:
    def after_calc(self, epoch, val):  # the parameters of today's loop, and nothing else
        print(f"After {epoch}: {val}")

slow_calculation_timed(PrintStepCallback())
try:
    slow_calculation_timed(Exact())
except TypeError as e:
    print("TypeError:", e)

# %% [markdown]
# And one that stops the calculation once the result is above 10. The full sum is 30; the
# callback stops it after the step that takes it past 10:

# %%
show_source(PrintAfterCallback)
res = slow_calculation_hooks(PrintAfterCallback(), delay=DELAY)
print("result:", res)

# %% [markdown]
# So far a callback could watch and could stop the loop, but not change what the loop computes:
# the running result was a local variable of the loop. Turn the calculation into an object and
# pass *the object itself* to every hook, and the callback can read and change its state. This is
# how the training loops of the next lessons work: a callback receives the runner and may change
# its learning rate, its model, its batch.
#
# *Exercise `01-stateful-calculator`.*

# %%
show_source(SlowCalculator)

# %% [markdown]
# `ModifyingCallback` doubles the running result whenever it is below 3, and stops the loop once it
# is above 10. Each line it prints shows the result *before* its own change:

# %%
show_source(ModifyingCallback)
calc = SlowCalculator(ModifyingCallback(), delay=DELAY)
calc.calc()
print("result:", calc.res)

# %% [markdown]
# Follow the numbers: after step 1 the result is 1, below 3, so the callback makes it 2; step 2
# adds 4 (6) and step 3 adds 9, which makes 15 instead of the 14 we saw before, and stops.
#
# The dispatcher is called `callback(name, ...)`. Naming it `__call__` instead lets you write
# `calc("after_calc", ...)`; `SlowCalculator` has both, and either is fine:

# %%
calc = SlowCalculator(ModifyingCallback(), delay=DELAY)
calc.callback("after_calc", 0)
calc("after_calc", 0)

# %% [markdown]
# ## 7. Dunder methods: the Python data model
#
# Why does `calc(...)` call `calc.__call__(...)`? Because Python turns its syntax into calls of
# methods with **d**ouble **under**score names: `a + b` is `type(a).__add__(a, b)`, `len(x)` is
# `x.__len__()`, `x[i]` is `x.__getitem__(i)`. The full list is the
# [Python data model](https://docs.python.org/3/reference/datamodel.html). Define the method and
# your objects work with the syntax, which is how a PyTorch tensor can be added, indexed and printed.

# %%
print((1).__add__(2), 1 + 2)
show_source(SloppyAdder)
a, b = SloppyAdder(1), SloppyAdder(2)
a + b

# %% [markdown]
# `SloppyAdder(1) + SloppyAdder(2)` is `3.01` because we said so: `+` means whatever `__add__`
# does. Here are the dunder methods worth knowing, with what triggers them:
#
# | method | called by | in PyTorch |
# | --- | --- | --- |
# | `__new__`, `__init__` | `C(...)`: first create the object, then fill it in | every `nn.Module` subclass's `__init__` |
# | `__repr__`, `__str__` | `repr(x)` and the REPL; `print(x)`, `str(x)`, f-strings | `Linear(in_features=2, ...)` |
# | `__del__` | the object is about to be destroyed | (rarely needed) |
# | `__getattr__` | attribute lookup that *failed* the normal way | `nn.Module` finds parameters and submodules |
# | `__setattr__` | *every* attribute assignment | `nn.Module` registers parameters and submodules |
# | `__len__`, `__getitem__` | `len(x)`, `x[i]` | `Dataset` |
# | `__enter__`, `__exit__` | `with x: ...` | `torch.no_grad()` |
# | `__call__` | `x(...)` | `model(x)` runs `forward` (and hooks) |
#
# A short tour, each one run. `__new__` creates the object and `__init__` fills it in; `__repr__`
# is for developers (the REPL, containers), `__str__` for users (`print`); `__del__` runs when the
# object is destroyed. When that is depends on the interpreter: CPython counts references and
# destroys an object as soon as the last one goes away, so below `del t` runs `__del__` at once.
# That holds only in CPython, and only when no reference cycle holds the object (an object that
# refers to itself, or two that refer to each other, wait for the cycle collector, which runs
# when it likes); PyPy and other interpreters collect later. Never rely on `__del__`'s timing to
# release a resource: that is what `with` is for.

# %%
class Traced:
    def __new__(cls, *args):
        print(f"__new__: creating a {cls.__name__}")
        return super().__new__(cls)

    def __init__(self, name):
        print(f"__init__: name={name!r}")
        self.name = name

    def __repr__(self):
        return f"Traced({self.name!r})"

    def __str__(self):
        return f"a traced object called {self.name}"

    def __del__(self):
        print(f"__del__: {self.name} goes away")

t = Traced("t")
print(t)    # __str__
print([t])  # a list shows its items' __repr__
del t       # the last reference: in CPython __del__ runs at once

u = Traced("u")
u.me = u    # a reference cycle: u refers to itself
del u       # no __del__ yet: the cycle still holds the object
print("after del u: nothing yet")
unreachable = gc.collect()  # the cycle collector finds the cycle: now __del__ runs

# %% [markdown]
# `__setattr__` sees every assignment and `__getattr__` is asked only when the normal lookup
# fails. Together they let an object file some attributes away and still find them, which is
# exactly how `nn.Module` keeps its parameters in a dictionary of their own:

# %%
class Registry:
    def __init__(self):
        object.__setattr__(self, "_params", {})  # bypass our own __setattr__ for this one

    def __setattr__(self, name, value):
        if isinstance(value, torch.Tensor):
            self._params[name] = value  # tensors are registered, like nn.Module's parameters
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):  # only called when normal lookup fails
        try:
            return self._params[name]
        except KeyError:
            raise AttributeError(name) from None

r = Registry()
r.weight, r.name = torch.ones(2), "layer"
print("registered:", list(r._params), "| ordinary attributes:", vars(r).keys() - {"_params"})
print("r.weight is found anyway:", r.weight)

lin = nn.Linear(2, 3)
print("nn.Linear: 'weight' in vars(lin)?", "weight" in vars(lin), "| lin._parameters:", list(lin._parameters))

# %% [markdown]
# The container protocol: `__len__` and `__getitem__` are all `len(x)` and `x[i]` need (a PyTorch
# `Dataset` is nothing more), and `__iter__` makes `for` loops and `in` work. `Items` is a list
# that can also be indexed like a tensor: with a slice, a list of indices, or a mask of booleans.
#
# *Exercise `01-dunder`.*

# %%
show_source(Items)
it = Items("abcdefghijkl")
print(len(it), it[0], it[-1])
print(it[2:5])
print(it[[0, 4, 4]])
print(it[[c in "aeiou" for c in it]])
it

# %% [markdown]
# `with x: ...` calls `x.__enter__()` before the block and `x.__exit__(...)` after it, *however*
# the block ends, also by an exception. That makes it the right tool for "change something, and
# be sure to change it back", like `torch.no_grad()`:

# %%
with torch.no_grad():
    print("inside no_grad, gradients enabled?", torch.is_grad_enabled())
print("after it:", torch.is_grad_enabled())

# %% [markdown]
# *Exercise `01-context-manager`*: `TemporaryAttrs` sets attributes for the length of a block and
# restores them afterwards, even when the block fails. `__exit__` receives the exception (or three
# `None`s) and returns `False`, so that the exception is not swallowed.

# %%
show_source(TemporaryAttrs)
cfg = SimpleNamespace(lr=0.1)
try:
    with TemporaryAttrs(cfg, lr=1.0, note="temporary") as c:
        print("inside:", c)
        raise RuntimeError("the block failed")
except RuntimeError as e:
    print("caught:", e)
print("after:", cfg)

# %% [markdown]
# ## 8. Browsing source code
#
# You will read far more code than you write, and the fastest way to answer "what does this
# really do?" is to jump to its definition, including inside PyTorch. These are the moves worth
# having in your fingers:
#
# | to ... | VS Code, Windows | VS Code, Linux | VS Code, macOS | vim |
# | --- | --- | --- | --- | --- |
# | jump to a symbol by (partial) name, anywhere | `Ctrl+T` | `Ctrl+T` | `Cmd+T` | `:tag /part` (a pattern), `:tselect /part` to choose (with ctags) |
# | jump to a symbol in this file | `Ctrl+Shift+O` | `Ctrl+Shift+O` | `Cmd+Shift+O` | `:tag` as above, or search: `/def name` |
# | go to the definition (also into installed libraries) | `F12` | `F12` | `F12` | `Ctrl-]` on the name (with ctags) |
# | peek at the definition in place | `Alt+F12` | `Ctrl+Shift+F10` | `Option+F12` | `Ctrl-W }` (preview window, with ctags) |
# | jump back | `Alt+Left` | `Ctrl+Alt+-` | `Ctrl+-` | `Ctrl-t` (tag stack) or `Ctrl-o` (jump list) |
# | fold / unfold a block | `Ctrl+Shift+[` / `Ctrl+Shift+]` | `Ctrl+Shift+[` / `Ctrl+Shift+]` | `Cmd+Option+[` / `Cmd+Option+]` | `zc` / `zo` (after `:set foldmethod=indent`) |
# | fold / unfold everything (an outline) | `Ctrl+K Ctrl+0` / `Ctrl+K Ctrl+J` | `Ctrl+K Ctrl+0` / `Ctrl+K Ctrl+J` | `Cmd+K Cmd+0` / `Cmd+K Cmd+J` | `zM` / `zR` |
# | search across files | `Ctrl+Shift+F` | `Ctrl+Shift+F` | `Cmd+Shift+F` | `:vimgrep /pattern/ **/*.py` then `:copen`, or `:grep` |
#
# These are VS Code's default bindings; `Ctrl+K Ctrl+S` (macOS `Cmd+K Cmd+S`) lists yours, and the
# Outline view in the Explorer shows a file's symbols too. In Neovim with a language server
# attached, `Ctrl-]`, `Ctrl-W }` and `:tag` ask the server instead of a tags file.
#
# VS Code's Python extension follows definitions into `site-packages`. With vim's ctags, index the
# library too: `ctags -R . $(python -c "import torch, os; print(os.path.dirname(torch.__file__))")`.
#
# Python can answer the same questions itself, which also works on a remote machine or in a
# notebook (where `torch.nn.init.kaiming_normal_??` shows the source too). Where is
# `torch.nn.init.kaiming_normal_` defined, and what does it look like?

# %%
func = torch.nn.init.kaiming_normal_
site = Path(torch.__file__).parent.parent  # site-packages: print paths relative to it
lines, first = inspect.getsourcelines(func)
print("defined in:", Path(inspect.getsourcefile(func)).relative_to(site), "line", first)
print("signature: ", inspect.signature(func))
print(f"{len(lines)} lines; the first 12:\n")
print("".join(lines[:12]))

# %% [markdown]
# Jump to a symbol by part of its name, and search across files, in a few lines:

# %%
print([name for name in dir(torch.nn.init) if "kaiming" in name])
for path in sorted((site / "torch" / "nn").rglob("*.py")):
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("def kaiming"):
            print(f"{path.relative_to(site)}:{n}: {line.strip()}")

# %% [markdown]
# `show_source`, which this lesson uses to show its own library, starts from `inspect.getsource`:
# its helper `source` takes the code and drops the exercise markers; `show_source` adds the file
# name and line and folds the code of an exercise behind "Show our version".

# %%
show_source(source)

# %% [markdown]
# ## 9. Statistics by code
#
# Normalisation layers, the goal of this course, are built from a mean and a variance. So let us
# be precise about them, on four numbers with one outlier:

# %%
t = torch.tensor([1.0, 2.0, 4.0, 18.0])

# %% [markdown]
# The **mean** $\bar t = \frac{1}{n} \sum_i t_i$:

# %%
m = t.mean()
print(f"mean {m.item()}")

# %% [markdown]
# How far are the values from the mean, on average? The obvious try, the mean of the deviations
# $t_i - \bar t$, is always zero, because the positive and negative deviations cancel exactly:
# $\frac{1}{n}\sum_i (t_i - \bar t) = \bar t - \bar t = 0$. On our data, and on a thousand random
# numbers (where only rounding error is left):

# %%
print("deviations:", (t - m).tolist(), "their mean:", (t - m).mean().item())
x = torch.randn(1000) * 5 + 3
print(f"random data: mean deviation {(x - x.mean()).mean().item():.1e}")

# %% [markdown]
# To stop the cancelling, make every deviation positive: square it, or take its absolute value.
#
# $$\mathrm{Var}(t) = \frac{1}{n}\sum_i (t_i - \bar t)^2 \qquad
#   \sigma = \sqrt{\mathrm{Var}(t)} \qquad
#   \mathrm{MAD}(t) = \frac{1}{n}\sum_i |t_i - \bar t|$$
#
# The variance is in squared units (squared pixels, squared dollars), so we take its square root,
# the **standard deviation** $\sigma$, to get back to the scale of the data. The **mean absolute
# deviation** is on that scale from the start.
#
# *Exercise `01-mad`.*

# %%
var = (t - m).pow(2).mean()
std = var.sqrt()
show_source(mean_abs_dev)
print(f"variance {var.item()}  std {std.item():.4f}  mean absolute deviation {mean_abs_dev(t).item()}")
print(f"PyTorch: var {t.var(unbiased=False).item()}  std {t.std(unbiased=False).item():.4f}")
print(f"PyTorch's default divides by n - 1 (Bessel's correction): var {t.var().item():.4f}")

# %% [markdown]
# The standard deviation (6.87) is larger than the mean absolute deviation (5.875). Squaring makes
# big deviations bigger, so the outlier 18 dominates the variance. How much? Its share of the sum
# of squared deviations against its share of the sum of absolute deviations, and then one outlier
# moved further and further away from twenty ordinary points:

# %%
dev = t - m
share_sq, share_abs = dev.pow(2) / dev.pow(2).sum(), dev.abs() / dev.abs().sum()
print(f"the point 18 carries {share_sq[-1].item():.0%} of the variance but {share_abs[-1].item():.0%} of the MAD")

base = torch.randn(20)
outliers = torch.linspace(0, 30, 61)
stds = [torch.cat([base, o[None]]).std(unbiased=False).item() for o in outliers]
mads = [mean_abs_dev(torch.cat([base, o[None]])).item() for o in outliers]

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(8, 3))
pos = torch.arange(4.0)
ax0.bar(pos - 0.2, share_sq, 0.4, label="share of variance")
ax0.bar(pos + 0.2, share_abs, 0.4, label="share of MAD")
ax0.set_xticks(pos.tolist(), [f"{v:g}" for v in t.tolist()])
ax0.set(title="Who contributes? t = [1, 2, 4, 18]", xlabel="data point", ylabel="share")
ax0.legend(fontsize=8)
ax1.plot(outliers, stds, label="std")
ax1.plot(outliers, mads, label="mean abs. deviation")
ax1.set(title="20 normal points + 1 outlier", xlabel="value of the outlier", ylabel="spread")
ax1.legend(fontsize=8)
fig.tight_layout()

i10 = int((outliers >= 10).nonzero()[0])  # from here on the outlier is far from the twenty points
std_slope = (stds[-1] - stds[i10]) / (outliers[-1] - outliers[i10]).item()
mad_slope = (mads[-1] - mads[i10]) / (outliers[-1] - outliers[i10]).item()
print(f"outlier from 10 to 30: the std grows by {std_slope:.3f} per unit, the MAD by {mad_slope:.3f}: "
      f"{std_slope / mad_slope:.2f} times as fast")

# %% [markdown]
# With the outlier far away, both measures grow in a straight line, but the std
# grows more than twice as fast as the MAD (the ratio is printed above). The MAD is an under-used
# measure of spread: when your data has outliers, it describes the typical distance better. The
# lecture goes further: replacing squares by absolute values often works better in practice, and
# the std is the standard mostly because it makes the mathematics easier, not because it
# describes data better. (Squares are smooth where $|x|$ has a corner, and the variances of
# independent variables simply add up: that is what makes proofs with them short.)
#
# The same question comes up for the centre. The mean is pulled towards an outlier; the
# **median**, the middle value once the data is sorted, is not. On `t` the median is halfway
# between 2 and 4, and moving the outlier from 18 to 1800 leaves it where it is:

# %%
for last in (18.0, 1800.0):
    u = torch.tensor([1.0, 2.0, 4.0, last])
    print(f"t = {u.tolist()}: mean {u.mean().item():7.2f}   median {u.quantile(0.5).item():.2f}   "
          f"std {u.std(unbiased=False).item():7.2f}   MAD {mean_abs_dev(u).item():7.2f}")

# %% [markdown]
# ### One pass: $E[x^2] - E[x]^2$
#
# The definition needs two passes over the data: one for the mean, one for the deviations. Expand
# the square and it needs only one:
#
# $$\mathrm{Var}(x) = E\big[(x - E[x])^2\big] = E[x^2] - 2E[x]E[x] + E[x]^2 = E[x^2] - E[x]^2$$

# %%
print(f"E[t^2] - E[t]^2 = {((t * t).mean() - m * m).item()}")

# %% [markdown]
# Why does this matter? Because $E[x]$ and $E[x^2]$ are sums divided by a count, and sums can be
# kept *running*: add each batch's sum and sum of squares as it goes by, never store the data and
# never look at it twice. That is how a layer can keep statistics over all the batches it has seen
# (lesson 04's RunningBatchNorm does exactly this).
#
# *Exercise `01-running-sums`.*

# %%
show_source(one_pass_stats)
mean1, var1, std1 = one_pass_stats(t.split(2))  # two batches: [1, 2] and [4, 18]
print(f"one pass: mean {mean1.item()}  variance {var1.item()}  std {std1.item():.4f}")

# %% [markdown]
# ### ... and its weakness: catastrophic cancellation (optional on a first reading)
#
# *This part, up to "Covariance and correlation", is about float32 arithmetic rather than
# statistics. Skip it on a first reading if you like, and come back when lesson 04's running batch
# norm, which keeps running sums of $x$ and $x^2$, needs it. Its exercise, `01-running-stats`, is
# the most demanding of the lesson.*
#
# The formula is exact on paper. In float32, which keeps about 7 significant digits, it can be
# badly wrong. Take 10,000 values with mean $10^4$ and standard deviation 1. Then
# $E[x^2] \approx 10^8$ and $E[x]^2 \approx 10^8$, and the variance we want is their difference,
# about 1. But float32 numbers near $10^8$ are 8 apart: the difference is rounding noise.

# %%
big = torch.tensor(1e8)
print("spacing of float32 numbers near 1e8:", (torch.nextafter(big, 2 * big) - big).item())
print("1e8 + 1 == 1e8 in float32?", (big + 1 == big).item())

x64 = 1e4 + torch.randn(10_000, dtype=torch.float64)
x32 = x64.float()
batches = x32.split(100)
ref = x32.double().var(unbiased=False).item()  # the float32 data's variance, computed in float64
_, var32, std32 = one_pass_stats(batches)
print(f"true variance (float64, two passes)  {ref:.6f}   std {ref ** 0.5:.6f}")
print(f"one pass, float32 running sums        {var32.item():.6f}   std {std32.item():.6f}")

# %% [markdown]
# The one-pass variance is nowhere near the true one: it is rounding noise. $E[x^2]$ and
# $E[x]^2$ are both float32 numbers near $10^8$, so their difference is a multiple of the spacing
# printed above, and which multiple comes out is luck. It can just as well be 0, or negative, and
# the square root of a negative variance, the `std`, is `nan` (not a number). Two fixes:
#
# 1. **Shift the data.** The variance does not change when you subtract a constant:
#    $\mathrm{Var}(x - K) = \mathrm{Var}(x)$. With $K$ near the mean (the first value seen is good
#    enough), the sums stay small and keep their digits.
# 2. **Never form $E[x^2]$.** Keep the count, the mean and $M_2$, the sum of squared deviations from
#    the mean, and merge each batch into them (Welford's algorithm, in the batched form of Chan et al.).
#
# *Exercise `01-running-stats`*: `RunningStats` does the second.

# %%
K = batches[0][0]
shifted = one_pass_stats(b - K for b in batches)[1]
show_source(RunningStats)
rs = RunningStats()
for b in batches:
    rs.update(b)
print(f"one pass on x - K (K = {K.item():.2f})       {shifted.item():.6f}")
print(f"RunningStats (float32 state)          {rs.var.item():.6f}")
print(rs)

# %% [markdown]
# How large must the mean be before the one-pass formula breaks? Move the data away from 0 and
# watch the relative error of each method (all in float32):

# %%
def running_var(batches):
    rs = RunningStats()
    for b in batches:
        rs.update(b)
    return rs.var

methods = {"E[x²] - E[x]²": lambda bs: one_pass_stats(bs)[1],
           "shifted by K": lambda bs: one_pass_stats(b - bs[0][0] for b in bs)[1],
           "RunningStats": running_var}
offsets = torch.logspace(0, 5, 11, dtype=torch.float64)
noise = torch.randn(10_000, dtype=torch.float64)
errors = {name: [] for name in methods}
for mu in offsets:
    bs = (mu + noise).float().split(100)
    ref = torch.cat(bs).double().var(unbiased=False).item()
    for name, method in methods.items():
        rel = abs(method(bs).item() - ref) / ref
        errors[name].append(max(rel, 1e-9))  # an exact 0 cannot be drawn on a log scale

for k in (2, 4, 6, 8, 10):
    print(f"mean {offsets[k].item():>8.0f}: "
          + "   ".join(f"{name} {errs[k]:.0e}" for name, errs in errors.items()))

fig, ax = plt.subplots()
for name, errs in errors.items():
    ax.loglog(offsets, errs, "o-", ms=3, label=name)
ax.set(title="Variance in float32: relative error", xlabel="mean of the data (std 1)", ylabel="relative error")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# The textbook formula's error grows like the square of the mean, two digits lost for every
# factor of 10: a fraction of a percent wrong at a mean of 100, tens of percent at 1000, and
# beyond that the error is larger than the variance itself. Both fixes hold. The shifted sums are the best
# here, because subtracting two float32 numbers that are close to each other is exact, so
# $x - K$ loses nothing; the Welford merge drifts a little as its running mean (itself a large,
# rounded number) grows, but stays far better than the formula. Remember this when we build
# RunningBatchNorm, which keeps running sums of $x$ and $x^2$.
#
# ### Covariance and correlation
#
# Variance describes one variable. **Covariance** asks how two variables move together: multiply
# their deviations. When $y$ tends to be above its mean whenever $x$ is, the products are mostly
# positive; when they are unrelated, positive and negative products cancel.
#
# $$\mathrm{Cov}(x, y) = E\big[(x - E[x])(y - E[y])\big] = E[xy] - E[x]E[y]$$
#
# *Exercise `01-covariance`.*

# %%
show_source(covariance)
x = torch.rand(200) * 10
y = 2 * x + torch.randn(200) * 2  # related: a line plus noise
z = torch.randn(200) * 6 + 10     # unrelated to x
print(f"cov(x, y) = {covariance(x, y).item():.2f}   (related)")
print(f"cov(x, z) = {covariance(x, z).item():.2f}   (unrelated)")
print(f"one-pass form E[xy] - E[x]E[y] = {((x * y).mean() - x.mean() * y.mean()).item():.2f}")
print(f"torch.cov: {torch.cov(torch.stack([x, y]), correction=0)[0, 1].item():.2f}")

# %% [markdown]
# Covariance has a flaw as a measure of relation: it depends on the units. Measure $y$ in
# centimetres instead of metres and the covariance is 100 times bigger, though nothing changed.
# Divide by both standard deviations and the units cancel: that is **Pearson's correlation**,
# always between -1 and 1.
#
# $$r_{xy} = \frac{\mathrm{Cov}(x, y)}{\sigma_x \sigma_y}$$
#
# *Exercise `01-correlation`.*

# %%
show_source(pearson)
print(f"cov(x, 100 y) = {covariance(x, 100 * y).item():.1f}, but r(x, 100 y) = {pearson(x, 100 * y).item():.3f}")
print(f"r(x, y) = {pearson(x, y).item():.3f}   "
      f"torch.corrcoef: {torch.corrcoef(torch.stack([x, y]))[0, 1].item():.3f}")
print(f"r(x, z) = {pearson(x, z).item():.3f}")

# %% [markdown]
# Correlation measures only a *linear* relation. $w = (s - 5)^2$ is completely determined by $s$,
# yet for $s$ spread evenly around 5 its correlation with $s$ is about zero:

# %%
s = torch.linspace(0, 10, 200)
w = (s - 5) ** 2
print(f"r(s, (s - 5)^2) = {pearson(s, w).item():.1e}")

fig, axes = plt.subplots(1, 3, figsize=(9, 2.8))
for ax, (u, v, title) in zip(axes, [(x, y, "related: y = 2x + noise"), (x, z, "unrelated"),
                                    (s, w, "related, not linearly")]):
    ax.scatter(u, v, s=6, alpha=0.6)
    c, r = round(covariance(u, v).item(), 1) + 0.0, round(pearson(u, v).item(), 2) + 0.0  # + 0.0: no "-0.0"
    ax.set(title=f"{title}\ncov {c:.1f}, r {r:.2f}", xlabel="x")
axes[0].set_ylabel("y")
fig.tight_layout()

# %% [markdown]
# Finally, put $y = x$ into the covariance formula: $E[(x - E[x])(x - E[x])]$ is the variance.
# **Variance is the covariance of a variable with itself**:

# %%
print(f"cov(x, x) = {covariance(x, x).item():.4f}   var(x) = {x.var(unbiased=False).item():.4f}")
print("t:", covariance(t, t).item(), "=", var.item())

# %% [markdown]
# ## 10. Softmax or one sigmoid per class?
#
# A classifier ends with one number per class, a *logit*. Two ways to turn them into
# probabilities:
#
# $$\mathrm{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}} \qquad\qquad
#   \sigma(x_i) = \frac{e^{x_i}}{1 + e^{x_i}} = \frac{1}{1 + e^{-x_i}}$$
#
# Softmax makes the classes compete: the probabilities add up to 1. The sigmoid asks each class
# its own yes/no question. Here are the final activations for two images, over five classes:

# %%
classes = ["cat", "dog", "plane", "fish", "building"]
logits = torch.tensor([[0.02, -2.49, -1.75, 2.07, 1.25],     # image 1
                       [-1.42, -3.93, -3.19, 0.63, -0.19]])  # image 2
sm, sg = softmax(logits), sigmoid(logits)

rows = ["| class | image 1 logit | softmax | sigmoid | image 2 logit | softmax | sigmoid |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
rows += [f"| {c} | {logits[0, i]:.2f} | {sm[0, i]:.3f} | {sg[0, i]:.3f} "
         f"| {logits[1, i]:.2f} | {sm[1, i]:.3f} | {sg[1, i]:.3f} |" for i, c in enumerate(classes)]
display(Markdown("\n".join(rows)))

fish = classes.index("fish")
print(f"softmax of fish: image 1 {sm[0, fish]:.2f}, image 2 {sm[1, fish]:.2f}")
print("image 1, sigmoid above 0.5:", ", ".join(f"{c} {p:.3f}" for c, p in zip(classes, sg[0].tolist()) if p > 0.5))
print(f"image 2, highest sigmoid: {classes[sg[1].argmax()]} {sg[1].max():.3f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
pos = torch.arange(len(classes)).float()
for k, ax in enumerate(axes):
    ax.bar(pos - 0.2, sm[k], 0.4, label="softmax")
    ax.bar(pos + 0.2, sg[k], 0.4, label="sigmoid")
    ax.set_xticks(pos.tolist(), classes, fontsize=8)
    ax.set(title=f"image {k + 1}", xlabel="class")
axes[0].set_ylabel("probability")
axes[0].legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# The softmax outputs of the two images are identical, fish 0.62 both times, though image 1's
# activations are much stronger. Softmax only sees *differences* between logits: adding a
# constant $c$ to every logit multiplies numerator and denominator by $e^c$. Image 2 is image 1
# minus a constant:

# %%
print("image 1 - image 2:", [f"{d:.2f}" for d in (logits[0] - logits[1]).tolist()])
print("softmax(x + 100) == softmax(x)?", torch.allclose(softmax(logits[0] + 100), softmax(logits[0])))

# %% [markdown]
# The sigmoids tell the two apart. Image 1 probably shows a fish (0.89) *and* a building (0.78),
# and the cat is undecided (0.505; the lecture's spreadsheet shows it rounded up, 0.51). Image 2
# is less sure of everything: its best, fish at 0.65, is a moderate yes, and every other class is
# below 0.5. Softmax cannot express "less sure of everything": it gives image 2 the same 0.62 fish
# as image 1, because its outputs must add up to 1. And it cannot say yes to two classes either:
# an image with a clear cat and a clear fish gets half a cat and half a fish.

# %%
both = torch.tensor([3.0, -2.0, -2.0, 3.0, -2.0])  # a cat and a fish in one picture
print("softmax:", [f"{p:.2f}" for p in softmax(both).tolist()])
print("sigmoid:", [f"{p:.2f}" for p in sigmoid(both).tolist()])

# %% [markdown]
# **When is softmax right?** When every item has exactly one class, always: a handwritten digit is
# exactly one digit, and the next word of a sentence is exactly one word (which is why language
# models use softmax). When an item may have several classes, or none, use one sigmoid per class:
# a *binary* output per class (the lecture calls it "binomial").
#
# Why, then, does nearly every image classifier end in a softmax? Because the benchmark that
# shaped the field, ImageNet, gives every image exactly one class, so softmax was the right choice
# there and became the habit. Real photos often show several things, or none of the classes.
# The lecture's advice: many published results use a softmax on data where it does not fit, and
# re-running such a paper with one sigmoid per class is a cheap experiment that may well do better.
#
# Adding a "none of these" class to a softmax is a poor fix. To predict it, the model needs
# features that say "none": but there is no such thing to see in an image, only the absence of
# cats, dogs, planes, fish and buildings. The model has to learn the negation of everything else,
# and relearn it whenever a class is added. With sigmoids, "none" needs no class of its own: an
# item gets no label when none of its probabilities clears a threshold. How high that threshold
# is, is our choice, as the next cells show.
#
# Computing the sigmoid needs a little care: written as $e^x / (1 + e^x)$, it overflows for
# large logits.
#
# *Exercise `01-sigmoid` and Exercise `01-multilabel`.*

# %%
huge = torch.tensor([-1e4, 0.0, 1e4])
print("exp(x) / (1 + exp(x)):", (torch.exp(huge) / (1 + torch.exp(huge))).tolist())
show_source(sigmoid)
print("stable sigmoid:       ", sigmoid(huge).tolist(), "  torch.sigmoid:", torch.sigmoid(huge).tolist())

# %% [markdown]
# A sigmoid is a softmax over two classes, "yes" with logit $x$ and "no" with logit 0:
#
# $$\mathrm{softmax}(x, 0)_{\text{yes}} = \frac{e^x}{e^x + e^0} = \frac{e^x}{1 + e^x} = \sigma(x)$$
#
# and since a softmax only sees differences, $\mathrm{softmax}(a, b)_0 = \sigma(a - b)$ for any
# two logits. So "one sigmoid per class" is "one two-class softmax per class": each class gets its
# own yes/no question instead of competing with the others for one unit of probability.

# %%
zs = torch.linspace(-6, 6, 25)
yes = softmax(torch.stack([zs, torch.zeros_like(zs)], dim=-1))[:, 0]
print("max |softmax(x, 0)[0] - sigmoid(x)|:", (yes - sigmoid(zs)).abs().max().item())
za, zb = torch.randn(1000), torch.randn(1000)
print("max |softmax(a, b)[0] - sigmoid(a - b)|:",
      (softmax(torch.stack([za, zb], dim=-1))[:, 0] - sigmoid(za - zb)).abs().max().item())
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(zs, sigmoid(zs), label="sigmoid(x)")
ax.plot(zs, yes, "o", ms=4, label="softmax(x, 0), class 0")
ax.set(xlabel="logit x", ylabel="probability", title="A sigmoid is a two-class softmax")
ax.legend()
fig.tight_layout()

# %%
show_source(predict_labels)
print("image 2, sigmoid of fish:", f"{sg[1, fish]:.4f}")
for threshold in (0.5, 0.65, 0.7):
    print(f"threshold {threshold}:", predict_labels(logits, classes, threshold=threshold))

# %% [markdown]
# At the default threshold of 0.5, image 1 gets three labels (the cat only just, at 0.505) and
# image 2 gets fish: 0.65 is not a low probability, so the sigmoids do *not* say "none" for image 2
# on their own. At 0.7, image 1 keeps fish and building, and image 2 gets no label at all. Image
# 2's fish, at 0.6525, is above even a threshold of 0.65: "nothing above 0.65" would be off by a
# hair.
#
# So whether image 2 shows "a fish" or "nothing we know" is not in the logits: it is decided by
# the threshold. The threshold is a hyperparameter, like the learning rate. Choose it (one for
# all classes, or one per class) on validation data, by the trade-off you need between missed
# labels and wrong ones; not by eye, and not on the training data.

# %% [markdown]
# ### A stable log-softmax and cross-entropy
#
# Training a softmax classifier uses the log of the softmax: it is inside the cross-entropy loss
# (`F.cross_entropy`) that lesson 00's `get_learner` trains with.
#
# $$\log \mathrm{softmax}(x)_i = x_i - \log \sum_j e^{x_j}$$
#
# The sum of exponentials overflows just like the sigmoid did. The fix is the **log-sum-exp**
# trick: take out the largest logit $m$, so that the largest exponent is $e^0 = 1$.
#
# $$\log \sum_j e^{x_j} = \log \Big(e^m \sum_j e^{x_j - m}\Big) = m + \log \sum_j e^{x_j - m}$$
#
# *Exercise `01-logsumexp` and Exercise `01-cross-entropy`.*

# %%
big_logits = torch.tensor([[1e4, 1e4 - 1, 0.0], [2.0, 1.0, 0.1]])
print("naive log(sum(exp(x))):", big_logits.exp().sum(-1).log().tolist())
show_source(logsumexp, log_softmax)
print("logsumexp:             ", logsumexp(big_logits).tolist())
print("torch.logsumexp:       ", torch.logsumexp(big_logits, dim=-1).tolist())
print("max |log_softmax - torch.log_softmax|:",
      (log_softmax(big_logits) - torch.log_softmax(big_logits, dim=-1)).abs().max().item())

# %% [markdown]
# Note that `log_softmax` subtracts the maximum *before* anything else. On paper
# $x - \mathrm{logsumexp}(x)$ is the same thing, but float32 numbers near $10^4$ are far apart
# (the first line below), so subtracting two such numbers leaves only about three correct digits
# after the decimal point:

# %%
near = torch.tensor(1e4)
print("spacing of float32 numbers near 1e4:", (torch.nextafter(near, 2 * near) - near).item())
print("x - logsumexp(x):      ", (big_logits[0] - logsumexp(big_logits[0])).tolist())
print("log_softmax(x):        ", log_softmax(big_logits[0]).tolist())
print("in float64:            ", torch.log_softmax(big_logits[0].double(), dim=-1).tolist())

# %% [markdown]
# Cross-entropy is then the mean of minus the log-probability of each item's true class. Since it
# only sees the softmax, it cannot tell our two images apart either:

# %%
show_source(cross_entropy)
targets = torch.tensor([fish, fish])
print(f"ours {cross_entropy(logits, targets).item():.6f}   "
      f"F.cross_entropy {F.cross_entropy(logits, targets).item():.6f}")
print("per image:", [f"{cross_entropy(logits[k:k + 1], targets[k:k + 1]).item():.4f}" for k in range(2)])
r_logits, r_targets = torch.randn(64, 10) * 20, torch.randint(0, 10, (64,))
print(f"random batch: ours {cross_entropy(r_logits, r_targets).item():.4f}   "
      f"F.cross_entropy {F.cross_entropy(r_logits, r_targets).item():.4f}")

# %% [markdown]
# ## Check your understanding
#
# 1. `make_show_progress("Yes")` is called twice. Are the two results the same function, and where
#    does each keep its `"Yes"`?
#
#    <details><summary>Answer</summary>
#
#    Two different function objects: `def` is a statement that runs at every call, creating a new
#    function each time. Each keeps a reference to the `exclamation` variable of the call that made
#    it (a cell in its `__closure__`): that is what makes it a closure.
#
#    </details>
#
# 2. `[lambda epoch: print(i) for i in range(3)]` gives three callbacks that all print 2. Why, and
#    how does a factory like `make_show_progress` avoid it?
#
#    <details><summary>Answer</summary>
#
#    A closure captures the variable, not its value. All three lambdas share the comprehension's
#    single `i`, which is 2 when they finally run. A factory call has its own scope, so each
#    callback it returns captures its own variable.
#
#    </details>
#
# 3. When does `**kwargs` in a callback's signature help, and when does it hurt?
#
#    <details><summary>Answer</summary>
#
#    It helps a callback that ignores some arguments, or a wrapper that passes them on: the code
#    keeps working when the caller adds arguments later. It hurts when it hides real parameters: a
#    misspelt keyword is swallowed without an error, and neither `help` nor your editor can tell
#    what the function accepts.
#
#    </details>
#
# 4. Why does `slow_calculation_hooks` look its hooks up with `getattr(cb, name, None)` instead of
#    calling `cb.before_calc(...)`?
#
#    <details><summary>Answer</summary>
#
#    So that every hook is optional: a callback defines only the moments it cares about, and the
#    loop skips a missing hook (`None`) instead of failing with an AttributeError.
#
#    </details>
#
# 5. Why is `with` the right tool to release a resource, and `__del__` not?
#
#    <details><summary>Answer</summary>
#
#    `__exit__` runs when the block ends, however it ends, also by an exception. When `__del__`
#    runs depends on the interpreter: at once in CPython when the last reference goes, later when
#    the object is in a reference cycle, and later still in other interpreters.
#
#    </details>
#
# 6. Why is the standard deviation more affected by one outlier than the mean absolute deviation?
#
#    <details><summary>Answer</summary>
#
#    Squaring makes large deviations much larger: on `t = [1, 2, 4, 18]` the point 18 carries most
#    of the sum of squared deviations but a smaller share of the sum of absolute deviations. As the
#    outlier moves away, the std grows more than twice as fast as the MAD.
#
#    </details>
#
# 7. Two images get the same softmax outputs but different sigmoid outputs. What can softmax not
#    see, and when is it the right choice anyway?
#
#    <details><summary>Answer</summary>
#
#    Softmax only sees differences between logits: adding a constant to all of them changes
#    nothing, so "sure of everything" and "sure of nothing" look the same, and the outputs must add
#    up to 1. It is right when every item has exactly one class (a digit, the next word); with
#    several classes per item, or none, use one sigmoid per class and a threshold.
#
#    </details>
#
# 8. Why does `logsumexp` take the maximum out before exponentiating?
#
#    <details><summary>Answer</summary>
#
#    `exp` of a large logit overflows to `inf` in float32. After subtracting the
#    maximum $m$, the largest term is $e^0 = 1$ and nothing overflows; adding $m$ back outside the
#    log gives the same value exactly, on paper.
#
#    </details>

# %% [markdown]
# ## Summary
#
# - A callback is a function (or any callable) handed to code that calls it back. Lambdas,
#   closures and `partial` make callbacks with the right signature; a class with `__call__` makes
#   one with state.
# - A callback object with several optional hooks, looked up with `getattr`, can watch a loop, stop
#   it through its return value, and change it when the loop passes itself to the hooks. That is
#   the design of the training loop in the coming lessons.
# - Dunder methods are how Python syntax reaches your objects: `+`, `[]`, `len`, `with`, attribute
#   access, calls.
# - Read library code: jump to definitions in your editor, or ask `inspect`.
# - Variance, std and mean absolute deviation measure spread; the std is more sensitive to
#   outliers. $E[x^2] - E[x]^2$ allows one pass but cancels catastrophically in float32: shift the
#   data or use Welford's update. Covariance measures joint movement, correlation is its
#   unit-free version (linear relations only), and variance is covariance with itself.
# - Softmax when each item has exactly one class; otherwise a sigmoid per class, with a threshold
#   (a hyperparameter, tuned on validation data) deciding which labels an item gets. Compute the
#   logs of both with the max taken out.
#
# Now write the exercises in `exercises/l01_callbacks.py` and run `make grade LESSON=01`.
