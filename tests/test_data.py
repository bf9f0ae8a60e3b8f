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
from functools import partial
from pathlib import Path

import pytest
import torch

from course import data
from course.data import MNISTError

TI, TL, TEST, N_TRAIN = data.TRAIN_IMAGES, data.TRAIN_LABELS, (data.TEST_IMAGES, data.TEST_LABELS), 15
SHAPES, gen = {TI: (20, 28, 28), TL: (20,), TEST[0]: (8, 28, 28), TEST[1]: (8,)}, torch.Generator().manual_seed(0)
T = {n: torch.randint(0, 10 if len(s) == 1 else 256, s, generator=gen, dtype=torch.uint8) for n, s in SHAPES.items()}
FILES = {n: bytes([0, 0, 8, t.ndim]) + struct.pack(f">{t.ndim}I", *t.shape) + t.numpy().tobytes() for n, t in T.items()}
GZ = {name: gzip.compress(raw, mtime=0) for name, raw in FILES.items()}


class Mirrors(http.server.SimpleHTTPRequestHandler):
    """Serves the mirrors' folders; one named `slow` sends a byte every 0.2 s (a mirror that never quite stalls)."""
    def copyfile(self, source, outputfile):
        try:
            while "/slow/" in self.path and (byte := source.read(1)):
                outputfile.write(byte)
                outputfile.flush()
                time.sleep(0.2)
            super().copyfile(source, outputfile)
        except OSError:  # the client gave up
            pass

    def log_request(self, *args):
        self.server.hits.append(self.path)


@pytest.fixture(autouse=True)
def web(monkeypatch, tmp_path):
    """The mirrors' server; the generated files' checksums, a 15/5 split, a private cache, no proxies."""
    for name, raw in FILES.items():
        monkeypatch.setitem(data.SHA256, name, hashlib.sha256(raw).hexdigest())
    monkeypatch.setattr(data, "N_TRAIN", N_TRAIN)
    monkeypatch.setattr(data, "MIRRORS", ())  # a test that forgets to set mirrors must not go online
    for var in ("COURSE_DATA_DIR", "COURSE_MNIST_MIRRORS", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Mirrors, directory=tmp_path / "www"))
    server.daemon_threads, server.hits, server.root = True, [], tmp_path / "www"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def refused_url():
    """A local URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def mirrors(monkeypatch, web, **served):
    """Serve each mirror's {name: body} and make them, in order, the loader's mirrors; their URLs."""
    for mirror, files in served.items():
        (web.root / mirror).mkdir(parents=True)
        for name, body in files.items():
            (web.root / mirror / f"{name}.gz").write_bytes(body)
    urls = [f"http://127.0.0.1:{web.server_address[1]}/{mirror}/" for mirror in served]
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", ",".join(urls))
    return urls


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_download_is_cached_and_verified(web, refused_url, monkeypatch, tmp_path, capsys):
    urls = mirrors(monkeypatch, web, dead={}, good=GZ)
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", ",".join([refused_url, *urls]))
    previous = os.umask(0o022)
    try:
        x_train, y_train, x_valid, y_valid = data.get_mnist()
    finally:
        os.umask(previous)
    cache = tmp_path / "xdg" / "callbacks-to-norms" / "mnist"
    assert listing(cache) == [f"{TI}.gz", f"{TL}.gz"]
    assert (cache / f"{TI}.gz").stat().st_mode & 0o777 == 0o644  # readable like any file the user makes
    assert web.hits == [f"/dead/{TI}.gz", f"/good/{TI}.gz", f"/dead/{TL}.gz", f"/good/{TL}.gz"]  # dead: skipped
    assert x_train.shape == (N_TRAIN, 784) and x_valid.shape == (5, 784) and y_train.dtype == torch.int64
    err = capsys.readouterr().err
    assert all(f"  {name}.gz: 100%|" in err for name in (TI, TL))  # tqdm's bars

    x_test, y_test = data.get_mnist_test()  # the test set, downloaded when asked for
    assert x_test.shape == (8, 784) and y_test.shape == (8,) and len(listing(cache)) == 4
    web.hits.clear()
    assert torch.equal(data.get_mnist()[0], x_train) and web.hits == []  # offline from now on

    (cache / f"{TI}.gz").write_bytes(GZ[TI][:-100])  # e.g. a copy cut short by a full disk
    with pytest.raises(MNISTError, match=rf"{cache / TI}.gz is unusable: it is not a valid gzip file.*Delete it"):
        data.get_mnist()
    (cache / f"{TI}.gz").unlink()
    (cache / f".{TI}.gz.123.part").write_bytes(b"half a file")  # an interrupted download: never read
    assert torch.equal(data.get_mnist()[0], x_train) and web.hits == [f"/dead/{TI}.gz", f"/good/{TI}.gz"]


@pytest.mark.parametrize("served, message", [
    ({"cut": {TI: GZ[TI][:len(GZ[TI]) // 2]}}, "it is not a valid gzip file; it is truncated"),
    ({"bad": {TI: gzip.compress(FILES[TI][:-1])}}, "its content does not match the pinned checksum of train-images"),
    ({"slow": {TI: GZ[TI]}}, r"gave up after \d+ s .*the limit is 2 s a file\): the mirror is too slow or stalled"),
    (None, ".*Connection refused"),
], ids=["truncated", "checksum", "trickle", "no network"])
def test_a_failed_download_says_why_and_leaves_nothing(web, refused_url, monkeypatch, tmp_path, served, message):
    monkeypatch.setattr(data, "DEADLINE_S", 2)
    monkeypatch.setattr(data, "PROJECT_AFTER_S", 0.5)
    url = mirrors(monkeypatch, web, **served)[0] if served else refused_url
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", url)
    started = time.monotonic()
    with pytest.raises(MNISTError, match=rf"(?s)Could not download {TI}.gz from any mirror:\n  {url}{TI}.gz: "
                                         rf"{message}.*Check your internet connection.*COURSE_DATA_DIR"):
        data.get_mnist()
    assert time.monotonic() - started < 10
    assert not (tmp_path / "xdg").exists()  # no file, no temporary file, not even the cache folder


@pytest.mark.parametrize("name, raw, message", [
    (f"{TI}.gz", GZ[TI][:-100], "is unusable: it is not a valid gzip file; it is truncated or corrupt"),
    (f"{TI}.gz", gzip.compress(bytes(8 << 20)), "is unusable: it inflates to more than 1.0 MB, more than any"),
    (TI, bytes(2 << 20), "is unusable: it holds 2.1 MB, more than any MNIST file"),
    (TI, FILES[TI][:-1], "is unusable: its content does not match the pinned checksum"),  # truncated
    (TI, b"\x08\x03" + FILES[TI][2:], "is unusable: its content does not match the pinned checksum"),  # magic
    (TI, b"", "is unusable: its content does not match the pinned checksum"),
    (TI, None, "is not a file but a folder. Move it away"),
    (f"{TI}.gz", None, "is not a file but a folder. Move it away"),
], ids=["truncated gz", "gzip bomb", "too big", "truncated", "magic", "empty", "dir", "gz dir"])
def test_a_bad_file_is_named_with_what_to_do(web, monkeypatch, tmp_path, name, raw, message):
    monkeypatch.setattr(data, "MAX_BYTES", 1 << 20)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    if raw is None:
        (tmp_path / name).mkdir()
    else:
        (tmp_path / name).write_bytes(raw)
    with pytest.raises(MNISTError, match=rf"{tmp_path / name} {message}"):
        data.get_mnist()
    assert listing(tmp_path) == [name] and web.hits == []


def test_a_folder_of_idx_files_is_used_as_is(web, monkeypatch, tmp_path):
    for name, raw in FILES.items():
        (tmp_path / name).write_bytes(raw)
    x_train, y_train, x_valid, y_valid = data.get_mnist(tmp_path)
    x_test, y_test = data.get_mnist_test(tmp_path)
    assert listing(tmp_path) == sorted(FILES)
    pixels, test_pixels = T[TI].reshape(20, -1) / 255, T[TEST[0]].reshape(8, -1) / 255
    mean, std = pixels[:N_TRAIN].mean(), pixels[:N_TRAIN].std()  # the TRAINING split's, for all three
    assert torch.allclose(x_train, (pixels[:N_TRAIN] - mean) / std, atol=1e-6)
    assert torch.allclose(x_valid, (pixels[N_TRAIN:] - mean) / std, atol=1e-6)
    assert torch.allclose(x_test, (test_pixels - mean) / std, atol=1e-6)
    assert torch.equal(torch.cat([y_train, y_valid]), T[TL].long()) and torch.equal(y_test, T[TEST[1]].long())
    assert torch.equal(data.get_mnist(tmp_path, normalize=False)[2], pixels[N_TRAIN:])
    assert torch.equal(data.get_mnist_test(tmp_path, normalize=False)[0], test_pixels)


def test_a_read_only_folder_is_never_written_to(web, monkeypatch, tmp_path, capsys):
    (folder := tmp_path / "shared").mkdir()
    for name in (TI, TL):
        (folder / f"{name}.gz").write_bytes(GZ[name])
    mirrors(monkeypatch, web, good=GZ)
    folder.chmod(0o555)
    try:
        assert data.get_mnist(folder)[0].shape == (N_TRAIN, 784)
        with pytest.raises(MNISTError, match="(?s)The MNIST test set is not available. t10k-images-idx3-ubyte is "
                                             f"not in {folder}.*not writable.*The test set is optional"):
            data.get_mnist_test(folder)
        monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
        data.main()  # python -m course.data
    finally:
        folder.chmod(0o755)
    assert listing(folder) == [f"{TI}.gz", f"{TL}.gz"] and web.hits == []
    out = capsys.readouterr().out
    assert f"MNIST from {folder}, checksums verified; test set not on disk\nx_train (15, 784) torch.float32" in out


def test_the_data_folder_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.resolve_data_dir() == tmp_path / ".cache" / "callbacks-to-norms" / "mnist"
    (tmp_path / "file").write_text("")
    for folder, message in [("mnsit", "does not exist. Fix the path"), ("file", "is not a folder")]:
        monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / folder))
        with pytest.raises(MNISTError, match=f"COURSE_DATA_DIR={tmp_path / folder} {message}"):
            data.get_mnist()
        with pytest.raises(SystemExit, match=f"error: COURSE_DATA_DIR={tmp_path / folder} {message}"):
            data.main()  # python -m course.data
    assert listing(tmp_path) == ["file"]  # reported, never created


# Read at import, before the `web` fixture clears COURSE_DATA_DIR and replaces the checksums.
REAL = Path(os.environ.get("COURSE_DATA_DIR") or Path(__file__).parents[2] / "shared/data")
REAL_PINS = dict(data.SHA256)


@pytest.mark.skipif(not all(data._find(n, REAL) for n in data.SHA256),
                    reason="no MNIST in $COURSE_DATA_DIR or ../shared/data")
def test_real_mnist_matches_the_data_readme(monkeypatch):
    monkeypatch.setattr(data, "SHA256", REAL_PINS)
    monkeypatch.setattr(data, "N_TRAIN", 50_000)
    before = listing(REAL)
    x_train, y_train, x_valid, y_valid = data.get_mnist(REAL, normalize=False)
    labels, pixels = torch.cat([y_train, y_valid]), torch.cat([x_train, x_valid])
    assert labels.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4] and x_train.shape == (50_000, 784)
    assert (round(pixels.mean().item(), 4), round(pixels.std().item(), 4)) == (0.1307, 0.3081)
    assert data.get_mnist_test(REAL)[0].shape == (10_000, 784) and listing(REAL) == before
