"""`python -m course.site serve` announces the address only once the server answers there."""

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
    assert site.serve(addr, progress_every=0.5) == 0
    out = capfd.readouterr().out
    assert out.startswith(f"Building the site before serving it on http://{addr}/")
    assert "  ... still building (" in out
    assert out.index("fake: building") < out.index("... still building") < out.index("fake: listening")
    assert out.index("fake: listening") < out.index(f"Serving the course on http://{addr}/ (Ctrl-C to stop)")
    assert out.count("Serving the course on") == 1
