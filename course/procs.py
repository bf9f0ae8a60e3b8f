"""Find and kill the processes a run started: every tool runs work in a process session of its own
(`start_new_session=True`), and kills that session when the work ends, however it ends."""

import os
import signal
import time


def session_processes(sid: int, spare=()) -> list[int]:
    """The live processes of session `sid` (zombies aside), but those in `spare`."""
    import psutil
    found = []
    for pid in psutil.pids():
        try:
            if pid not in spare and os.getsid(pid) == sid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except (OSError, psutil.Error):  # gone meanwhile
            pass
    return found


def kill_session(sid: int, spare=()) -> int:
    """Kill every process of session `sid` but `spare`; how many. They are stopped first, until no new
    one appears (a fork bomb forks while it is found), then killed together: a process that notices one
    of them die (xdist's controller, its worker gone) cannot start another before the others are dead."""
    stopped, quiet = set(), 0
    while quiet < 3 and len(stopped) < 100_000:  # three looks in a row find no new one: none is forking
        found = set(session_processes(sid, spare)) - stopped
        if not found and not stopped:  # the usual case: nothing left
            return 0
        quiet = 0 if found else quiet + 1
        for pid in found:
            _signal(pid, signal.SIGSTOP)
        stopped |= found
        time.sleep(0.01)
    for pid in stopped:
        _signal(pid, signal.SIGKILL)
    return len(stopped)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:  # gone meanwhile
        pass
