"""Kill the processes a run started: every tool runs work in a process session of its own
(`start_new_session=True`), and kills that session when the work ends, however it ends."""

import contextlib
import os
import signal
import time

import psutil


def kill_session(sid: int, spare=()) -> int:
    """Kill every live process of session `sid` but `spare`; how many. They are stopped first, until three
    looks in a row find no new one (a fork bomb forks while it is found), then killed together: one that
    notices another die (xdist's controller, a worker gone) cannot start a new one meanwhile."""
    stopped, quiet = set(), 0
    while quiet < 3 and len(stopped) < 100_000:
        found = set()
        for p in psutil.process_iter(["status"]):
            with contextlib.suppress(OSError):  # gone meanwhile
                if p.pid not in spare and os.getsid(p.pid) == sid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    found.add(p.pid)
        if not (found := found - stopped) and not stopped:  # the usual case: nothing left
            return 0
        quiet = 0 if found else quiet + 1
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= found
        time.sleep(0.01)
    for pid in stopped:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(stopped)
