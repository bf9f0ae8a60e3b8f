"""The MNIST loader (course/data.py) on small generated IDX files, served by a local HTTP server.

Only the last test reads MNIST itself, from $COURSE_DATA_DIR or ../shared/data, and skips where it is absent.
"""

import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
import torch

from course import data
from course.data import MNISTError

TI, TL, N_TRAIN = data.TRAIN_IMAGES, data.TRAIN_LABELS, 15


def idx(t):
    return bytes([0, 0, 8, t.ndim]) + struct.pack(f">{t.ndim}I", *t.shape) + t.numpy().tobytes()


def tensors(seed=0):
    """Tiny MNIST look-alikes: {name: uint8 tensor}, 20 training and 8 test images."""
    g = torch.Generator().manual_seed(seed)
    return {name: torch.randint(0, high, shape, generator=g, dtype=torch.uint8) for name, high, shape in [
        (TI, 256, (20, 28, 28)), (TL, 10, (20,)), (data.TEST_IMAGES, 256, (8, 28, 28)), (data.TEST_LABELS, 10, (8,))]}


T = tensors()
FILES = {name: idx(t) for name, t in T.items()}
GZ = {name: gzip.compress(raw, mtime=0) for name, raw in FILES.items()}


class Trickle(bytes):
    """A body the server sends a byte every 0.2 s: a mirror that never quite stalls."""


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.routes`: path -> body, or (body, declared Content-Length) to cut a file short."""
    timeout = 5

    def do_GET(self):
        self.server.hits.append(self.path)
        if (body := self.server.routes.get(self.path)) is None:
            return self.send_error(404)
        body, length = body if isinstance(body, tuple) else (body, len(body))
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if not isinstance(body, Trickle):
            return self.wfile.write(body)
        for i in range(len(body)):
            try:
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
            except OSError:  # the client gave up
                return
            time.sleep(0.2)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads, srv.routes, srv.hits = True, {}, []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def web(server):
    server.routes.clear()
    server.hits.clear()
    return server


@pytest.fixture
def refused_url():
    """A local URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """The generated files' checksums, a 15/5 split, a private cache, no real mirrors or proxies."""
    for name, raw in FILES.items():
        monkeypatch.setitem(data.SHA256, name, hashlib.sha256(raw).hexdigest())
    monkeypatch.setattr(data, "N_TRAIN", N_TRAIN)
    monkeypatch.setattr(data, "MIRRORS", ())  # a test that forgets to set mirrors must not go online
    for var in ("COURSE_DATA_DIR", "COURSE_MNIST_MIRRORS", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def mirror(web, monkeypatch, *served):
    """Serve each {name: body} as a mirror, in order, and make them the loader's mirrors; their URLs."""
    urls = [f"{web.url}/{i}/" for i in range(len(served))]
    web.routes.update({f"/{i}/{name}.gz": body for i, files in enumerate(served) for name, body in files.items()})
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", ",".join(urls))
    return urls


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_download_caches_and_recovers(web, refused_url, monkeypatch, tmp_path, capsys):
    _, good = mirror(web, monkeypatch, {}, GZ)
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", f"{refused_url}, {os.environ['COURSE_MNIST_MIRRORS']}")
    previous = os.umask(0o022)
    try:
        x_train, y_train, x_valid, y_valid = data.get_mnist()
    finally:
        os.umask(previous)
    cache = tmp_path / "xdg" / "callbacks-to-norms" / "mnist"
    assert listing(cache) == sorted([data.MARKER, f"{TI}.gz", f"{TL}.gz"])
    assert (cache / f"{TI}.gz").stat().st_mode & 0o777 == 0o644  # readable like any file the user makes
    assert web.hits == [f"/0/{TI}.gz", f"/1/{TI}.gz", f"/0/{TL}.gz", f"/1/{TL}.gz"]  # dead mirrors skipped
    assert x_train.shape == (N_TRAIN, 784) and x_valid.shape == (5, 784) and y_train.dtype == torch.int64
    err = capsys.readouterr().err
    assert all(f"  {name}.gz: 100%|" in err for name in (TI, TL))  # tqdm's bars

    assert not data.has_test_set()  # the loader's own folder takes the optional test set too
    x_test, y_test = data.get_mnist_test()
    assert data.has_test_set() and x_test.shape == (8, 784) and y_test.shape == (8,)
    web.hits.clear()
    assert torch.equal(data.get_mnist()[0], x_train) and web.hits == []  # offline from now on

    (cache / f"{TI}.gz").write_bytes(GZ[TI][:-100])  # e.g. a copy cut short by a full disk
    with pytest.raises(MNISTError, match=rf"{cache / TI}.gz is unusable: it is not a valid gzip file.*Delete it"):
        data.get_mnist()
    (cache / f"{TI}.gz").unlink()
    (cache / f".{TI}.gz.123.part").write_bytes(b"half a file")  # an interrupted download: never read
    assert torch.equal(data.get_mnist()[0], x_train) and web.hits == [f"/0/{TI}.gz", f"/1/{TI}.gz"]


@pytest.mark.parametrize("served, message", [
    ({TI: GZ[TI][:len(GZ[TI]) // 2]}, "it is not a valid gzip file; it is truncated"),
    ({TI: (GZ[TI][:len(GZ[TI]) // 2], len(GZ[TI]))}, "the connection closed after"),
    ({TI: gzip.compress(idx(tensors(seed=1)[TI]))}, "its content does not match the pinned checksum of train-images"),
    ({TI: Trickle(GZ[TI])}, r"gave up after \d+ s .*the limit is 2 s a file\): the mirror is too slow or stalled"),
    (None, ".*Connection refused"),
], ids=["truncated", "cut", "checksum", "trickle", "no network"])
def test_a_failed_download_says_why_and_leaves_nothing(web, refused_url, monkeypatch, tmp_path, served, message):
    monkeypatch.setattr(data, "DEADLINE_S", 2)
    monkeypatch.setattr(data, "PROJECT_AFTER_S", 0.5)
    url = mirror(web, monkeypatch, served)[0] if served else refused_url
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", url)
    started = time.monotonic()
    with pytest.raises(MNISTError, match=rf"(?s)Could not download {TI}.gz from any mirror:\n  {url}{TI}.gz: "
                                         rf"{message}.*Check your internet connection.*COURSE_DATA_DIR"):
        data.get_mnist()
    assert time.monotonic() - started < 10
    assert listing(tmp_path) == []  # no file, no temporary file, not even the cache folder


@pytest.mark.parametrize("name, raw, pinned, message", [
    (f"{TI}.gz", GZ[TI][:-100], False, "is unusable: it is not a valid gzip file; it is truncated or corrupt"),
    (TI, FILES[TI][:-1], False, "is unusable: its content does not match the pinned checksum"),
    (f"{TI}.gz", gzip.compress(bytes(8 << 20)), False, "is unusable: it inflates to more than 1.0 MB, more than any"),
    (TI, bytes(2 << 20), False, "is unusable: it holds 2.1 MB, more than any MNIST file"),
    (TI, b"\x08\x03\0\0", True, "is not an IDX file of unsigned bytes .*it starts with 08 03 00 00"),
    (TI, b"", True, "is not an IDX file .*it starts with nothing"),
    (TI, bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 1) + b"\0\0\0\0", True, "is not an IDX file .*starts with 00 00 0d 01"),
    (TI, bytes([0, 0, 8, 3]) + struct.pack(">I", 2), True, "is truncated: its IDX header is cut short"),
    (TI, bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + b"abc", True, r"does not match .*\(5,\) need 5 bytes .* holds 3"),
    (TI, None, False, "is a folder, not the data file"),
    (f"{TI}.gz", None, False, "is a folder, not the data file"),
], ids=["truncated gz", "checksum", "gzip bomb", "too big", "magic", "empty", "type", "header", "size", "dir", "gz dir"])
def test_a_bad_file_in_a_given_folder_is_named_with_what_to_do(monkeypatch, tmp_path, name, raw, pinned, message):
    monkeypatch.setattr(data, "MAX_BYTES", 1 << 20)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    if pinned:  # a file with the right checksum but broken content: the IDX parser's own checks
        monkeypatch.setitem(data.SHA256, TI, hashlib.sha256(raw).hexdigest())
    if raw is None:
        (tmp_path / name).mkdir()
    else:
        (tmp_path / name).write_bytes(raw)
    before = listing(tmp_path)
    with pytest.raises(MNISTError, match=rf"{tmp_path / name} {message}.*(Replace it|Move it away)"):
        data.get_mnist()
    assert listing(tmp_path) == before


def test_a_folder_of_idx_files_is_used_as_is(web, monkeypatch, tmp_path):
    for name, raw in FILES.items():
        (tmp_path / name).write_bytes(raw)
    mirror(web, monkeypatch, GZ)
    x_train, y_train, x_valid, y_valid = data.get_mnist(tmp_path)
    x_test, y_test = data.get_mnist_test(tmp_path)
    assert web.hits == [] and listing(tmp_path) == sorted(FILES)
    pixels = T[TI].reshape(20, -1).float() / 255
    mean, std = pixels[:N_TRAIN].mean(), pixels[:N_TRAIN].std()  # the TRAINING split's, for all three
    assert torch.allclose(x_train, (pixels[:N_TRAIN] - mean) / std, atol=1e-6)
    assert torch.allclose(x_valid, (pixels[N_TRAIN:] - mean) / std, atol=1e-6)
    assert torch.allclose(x_test, (T[data.TEST_IMAGES].reshape(8, -1) / 255 - mean) / std, atol=1e-6)
    assert torch.equal(torch.cat([y_train, y_valid]), T[TL].long()) and torch.equal(y_test, T[data.TEST_LABELS].long())
    assert torch.equal(data.get_mnist(tmp_path, normalize=False)[2], pixels[N_TRAIN:])
    assert torch.equal(data.get_mnist_test(tmp_path, normalize=False)[0], T[data.TEST_IMAGES].reshape(8, -1) / 255)


@pytest.mark.parametrize("files, mode, load, message", [
    ((TI, TL), 0o755, data.get_mnist_test, "The MNIST test set is not available.*not in .*treated as read-only"
                                           ".*The test set is optional"),
    ((), 0o555, data.get_mnist, "not in .*it is not writable.*COURSE_DATA_DIR"),
], ids=["filled by somebody else", "read-only"])
def test_the_loader_never_writes_into_a_folder_it_did_not_fill(web, monkeypatch, tmp_path, files, mode, load, message):
    for name in files:
        (tmp_path / f"{name}.gz").write_bytes(GZ[name])
    mirror(web, monkeypatch, GZ)
    tmp_path.chmod(mode)
    try:
        with pytest.raises(MNISTError, match=f"(?s){message}"):
            load(tmp_path)
    finally:
        tmp_path.chmod(0o755)
    assert listing(tmp_path) == sorted(f"{name}.gz" for name in files) and web.hits == []


def test_the_data_folder_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.resolve_data_dir() == tmp_path / ".cache" / "callbacks-to-norms" / "mnist"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "mnsit"))
    with pytest.raises(MNISTError, match=rf"COURSE_DATA_DIR={tmp_path / 'mnsit'} does not exist. Fix the path"):
        data.get_mnist()
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "file"))
    with pytest.raises(MNISTError, match="is not a folder"):
        data.get_mnist()
    assert listing(tmp_path) == ["file"]  # reported, never created


def test_cli_describes_the_data_and_fails_clearly(monkeypatch, tmp_path, capsys):
    for name in (TI, TL):
        (tmp_path / name).write_bytes(FILES[name])
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.main() == 0
    out = capsys.readouterr().out
    assert f"MNIST from {tmp_path} ($COURSE_DATA_DIR)" in out and "x_train (15, 784) torch.float32" in out
    assert f"test set: absent (optional) in {tmp_path}" in out
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "emtpy"))
    assert data.main() == 1
    assert f"error: COURSE_DATA_DIR={tmp_path / 'emtpy'} does not exist" in capsys.readouterr().err


# Read at import, before the `isolated` fixture clears COURSE_DATA_DIR and replaces the checksums.
REAL, REAL_PINS = Path(os.environ.get("COURSE_DATA_DIR") or Path(__file__).parents[2] / "shared/data"), dict(data.SHA256)


@pytest.mark.skipif(not all(data._find(n, REAL) for n in (TI, TL)), reason="no MNIST in $COURSE_DATA_DIR or ../shared/data")
def test_real_mnist_matches_the_data_readme(monkeypatch):
    monkeypatch.setattr(data, "SHA256", REAL_PINS)
    monkeypatch.setattr(data, "N_TRAIN", 50_000)
    before = listing(REAL)
    x_train, y_train, x_valid, y_valid = data.get_mnist(REAL, normalize=False)
    labels, pixels = torch.cat([y_train, y_valid]), torch.cat([x_train, x_valid])
    assert labels.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert (round(pixels.mean().item(), 4), round(pixels.std().item(), 4)) == (0.1307, 0.3081)
    x_train, _, x_valid, _ = data.get_mnist(REAL)
    assert x_train.shape == (50_000, 784) and x_valid.shape == (10_000, 784)
    assert abs(x_train.mean().item()) < 1e-4 and abs(x_train.std().item() - 1) < 1e-4
    assert listing(REAL) == before
