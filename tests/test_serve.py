"""`python -m course.site serve` announces the address only once the server answers there, then executes
the lessons that need it beside the server, one at a time, naming each."""

import socket
import sys

from course import site

# Stands in for `mkdocs serve`: builds for a while (printing as it goes), then serves for a while.
FAKE_MKDOCS = """
import http.server, sys, threading, time
host, port = sys.argv[1].split(":")
print("fake: building", flush=True)
time.sleep(1.5)
httpd = http.server.ThreadingHTTPServer((host, int(port)), http.server.SimpleHTTPRequestHandler)
print("fake: listening", flush=True)
threading.Timer(2, httpd.shutdown).start()
httpd.serve_forever(poll_interval=0.1)
"""


def test_serve_prints_the_address_when_it_answers_and_progress_before(monkeypatch, capfd, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        addr = f"127.0.0.1:{s.getsockname()[1]}"
    script = tmp_path / "fake_mkdocs.py"
    script.write_text(FAKE_MKDOCS)
    monkeypatch.setattr(site, "_mkdocs_command", lambda *args: ([sys.executable, str(script), args[3]], {}))
    assert site.serve(addr, progress_every=0.5, execute=False) == 0
    out = capfd.readouterr().out
    assert out.startswith(f"Building the site before serving it on http://{addr}/")
    assert "  ... still building (" in out
    assert out.index("fake: building") < out.index("... still building") < out.index("fake: listening")
    assert out.index("fake: listening") < out.index(f"Serving the course on http://{addr}/ after ")
    assert out.count("Serving the course on") == 1


def test_serve_executes_stale_lessons_one_at_a_time_and_says_which(monkeypatch, capsys, tmp_path):
    lessons = [tmp_path / "00_good.py", tmp_path / "01_broken.py", tmp_path / "02_done.py"]
    done = {lessons[2]}
    monkeypatch.setattr(site.lesson_runner, "all_lessons", lambda: lessons)
    monkeypatch.setattr(site.lesson_runner, "digest", lambda path: "same")
    monkeypatch.setattr(site, "executed_notebook_path", lambda lesson: lesson.path if lesson.path in done else None)

    def fake_run(path):
        if path.name.startswith("01"):
            return [sys.executable, "-c", "import sys; print('NameError: boom'); sys.exit(1)"]
        done.add(path)
        return [sys.executable, "-c", "pass"]
    monkeypatch.setattr(site, "_lesson_run_argv", fake_run)
    state, runner = {"failed": {}, "complete": False}, None
    for _ in range(200):
        runner = site._execute_next(runner, state, 0.0)
        if runner is None and state["complete"]:
            break
        if runner is not None:
            runner[0].wait()
    out = capsys.readouterr().out
    assert "Executing lessons/00_good.py (2 lesson(s) to execute) ..." in out
    assert "lessons/00_good.py executed in" in out
    assert "Executing lessons/01_broken.py (1 lesson(s) to execute) ..." in out
    assert "lessons/01_broken.py failed" in out and "NameError: boom" in out
    assert "02_done" not in out, "an executed lesson is not executed again"
    assert out.count("Executing lessons/01_broken.py") == 1, "a failed lesson waits for an edit"
    assert "Every lesson page is complete" not in out, "not while a lesson fails"
