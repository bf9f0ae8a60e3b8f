"""The MNIST loader (course/data.py) on small generated IDX files, served by a local HTTP server.

MNIST itself is never part of the repository: only the last test reads it, from $COURSE_DATA_DIR
or ../shared/data, and skips where it is absent.
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

N_TRAIN_IMAGES, N_TEST_IMAGES, N_TRAIN = 20, 8, 15
NAMES = (data.TRAIN_IMAGES, data.TRAIN_LABELS, data.TEST_IMAGES, data.TEST_LABELS)
REPO = Path(__file__).resolve().parents[1]


def idx(tensor):
    """The IDX bytes of a uint8 tensor."""
    return bytes([0, 0, 0x08, tensor.ndim]) + struct.pack(f">{tensor.ndim}I", *tensor.shape) + tensor.numpy().tobytes()


def make_files(seed=0):
    """Tiny MNIST look-alikes: {name: IDX bytes}, 20 training and 8 test images of 28x28."""
    g = torch.Generator().manual_seed(seed)
    tensors = {
        data.TRAIN_IMAGES: torch.randint(0, 256, (N_TRAIN_IMAGES, 28, 28), generator=g, dtype=torch.uint8),
        data.TRAIN_LABELS: torch.randint(0, 10, (N_TRAIN_IMAGES,), generator=g, dtype=torch.uint8),
        data.TEST_IMAGES: torch.randint(0, 256, (N_TEST_IMAGES, 28, 28), generator=g, dtype=torch.uint8),
        data.TEST_LABELS: torch.randint(0, 10, (N_TEST_IMAGES,), generator=g, dtype=torch.uint8),
    }
    return {name: idx(t) for name, t in tensors.items()}


FILES = make_files()
GZ = {name: gzip.compress(raw, mtime=0) for name, raw in FILES.items()}


class Trickle(bytes):
    """A body the server sends one byte every `delay` seconds (a mirror that never quite stalls)."""
    delay = 0.2


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.routes`: path -> body, or (body, declared Content-Length) to cut a file short."""
    timeout = 5  # a stuck client cannot hold a server thread for long

    def do_GET(self):
        self.server.hits.append(self.path)
        body = self.server.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        body, length = body if isinstance(body, tuple) else (body, len(body))
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if not isinstance(body, Trickle):
            self.wfile.write(body)
            return
        for i in range(len(body)):
            try:
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
            except OSError:  # the client gave up
                return
            time.sleep(body.delay)

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.routes, srv.hits = {}, []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@pytest.fixture
def web(server):
    """The server, emptied, with its base URL as `.url`."""
    server.routes.clear()
    server.hits.clear()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


@pytest.fixture
def refused_url():
    """A local URL nothing listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Checksums of the generated files, a 15/5 split, a private cache, no real mirrors or proxies."""
    for name, raw in FILES.items():
        monkeypatch.setitem(data.SHA256, name, hashlib.sha256(raw).hexdigest())
    monkeypatch.setattr(data, "N_TRAIN", N_TRAIN)
    monkeypatch.setattr(data, "MIRRORS", ())  # a test that forgets to set mirrors must not go online
    for var in ("COURSE_DATA_DIR", "COURSE_MNIST_MIRRORS", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def serve(web, prefix, files):
    """Serve `files` ({name: body}) under `prefix`; the mirror URL."""
    for name, body in files.items():
        web.routes[f"/{prefix}/{name}.gz"] = body
    return f"{web.url}/{prefix}/"


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_read_idx_parses_bytes_gzip_and_plain_files(tmp_path):
    expected = torch.arange(24, dtype=torch.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx(expected))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx(expected)))
    for source in (idx(expected), tmp_path / "a", str(tmp_path / "a.gz")):
        got = data.read_idx(source)
        assert got.dtype == torch.uint8 and torch.equal(got, expected)


@pytest.mark.parametrize("raw, message", [
    (b"\x08\x03\0\0", "not an IDX file"),
    (b"", "not an IDX file"),
    (bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 1) + b"\0\0\0\0", "type 0x0d"),
    (bytes([0, 0, 8, 3]) + struct.pack(">I", 2), "header is cut short"),
    (bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + b"abc", "need 5 bytes of data, it holds 3"),
])
def test_read_idx_rejects_bad_headers(raw, message):
    with pytest.raises(MNISTError, match=message):
        data.read_idx(raw)


def test_download_skips_dead_mirrors_and_caches(web, refused_url, monkeypatch, tmp_path):
    good = serve(web, "good", GZ)
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", f"{refused_url}, {web.url}/missing/,{good}")
    x_train, y_train, x_valid, y_valid = data.get_mnist()

    cache = tmp_path / "xdg" / "callbacks-to-norms" / "mnist"
    assert listing(cache) == sorted([data._MARKER, f"{data.TRAIN_IMAGES}.gz", f"{data.TRAIN_LABELS}.gz"])
    assert web.hits == [f"/missing/{data.TRAIN_IMAGES}.gz", f"/good/{data.TRAIN_IMAGES}.gz",
                         f"/missing/{data.TRAIN_LABELS}.gz", f"/good/{data.TRAIN_LABELS}.gz"]
    assert x_train.shape == (N_TRAIN, 784) and x_valid.shape == (N_TRAIN_IMAGES - N_TRAIN, 784)
    assert y_train.dtype == y_valid.dtype == torch.int64

    # A cache folder the loader downloaded into takes the optional test set too; a second load is offline.
    assert not data.has_test_set()
    x_test, y_test = data.get_mnist_test()
    assert data.has_test_set() and x_test.shape == (N_TEST_IMAGES, 784) and y_test.shape == (N_TEST_IMAGES,)
    web.hits.clear()
    assert torch.equal(data.get_mnist()[0], x_train)
    assert web.hits == []


def test_truncated_downloads_are_rejected_and_leave_nothing(web, monkeypatch, tmp_path):
    raw = GZ[data.TRAIN_IMAGES]
    short = serve(web, "short", {data.TRAIN_IMAGES: raw[: len(raw) // 2]})  # a truncated .gz
    cut = serve(web, "cut", {data.TRAIN_IMAGES: (raw[: len(raw) // 2], len(raw))})  # a connection cut mid-file
    folder = tmp_path / "dl"
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", f"{short},{cut}")
    with pytest.raises(MNISTError) as error:
        data.get_mnist(folder)
    message = str(error.value)
    assert "Could not download train-images-idx3-ubyte.gz from any mirror" in message
    assert f"{short}{data.TRAIN_IMAGES}.gz: it is not a valid gzip file; it is truncated" in message
    assert f"{cut}{data.TRAIN_IMAGES}.gz: IncompleteRead" in message
    assert "Check your internet connection" in message and "COURSE_DATA_DIR" in message
    assert not folder.exists()  # no partial file, no temporary file, not even the folder it made


def test_wrong_checksum_download_is_rejected(web, monkeypatch, tmp_path):
    other = make_files(seed=1)
    bad = serve(web, "bad", {data.TRAIN_IMAGES: gzip.compress(other[data.TRAIN_IMAGES])})
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", bad)
    with pytest.raises(MNISTError, match="does not match the pinned checksum of train-images-idx3-ubyte"):
        data.get_mnist(tmp_path)
    assert listing(tmp_path) == []


def test_no_network_says_what_to_do(refused_url, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", refused_url)
    with pytest.raises(MNISTError, match=r"(?s)Could not download.*refused.*Check your internet connection"):
        data.get_mnist(tmp_path / "new")


def test_corrupt_cached_file_is_reported_not_trusted(web, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", serve(web, "good", GZ))
    data.get_mnist(tmp_path)
    cached = tmp_path / f"{data.TRAIN_IMAGES}.gz"
    cached.write_bytes(GZ[data.TRAIN_IMAGES][:-100])  # e.g. a copy cut short by a full disk
    with pytest.raises(MNISTError, match=rf"{cached} is unusable: it is not a valid gzip file.*Delete it"):
        data.get_mnist(tmp_path)

    # What an interrupted download leaves (a hidden temporary file) is never read; after deleting
    # the corrupt file the loader downloads a fresh copy.
    (tmp_path / f".{data.TRAIN_IMAGES}.gz.x1y2.part").write_bytes(b"half a file")
    cached.unlink()
    web.hits.clear()
    x_train = data.get_mnist(tmp_path, normalize=False)[0]
    assert web.hits == [f"/good/{data.TRAIN_IMAGES}.gz"]
    assert torch.equal(x_train, data.read_idx(FILES[data.TRAIN_IMAGES])[:N_TRAIN].reshape(N_TRAIN, -1) / 255)


def test_course_data_dir_with_uncompressed_files_is_used_as_is(web, monkeypatch, tmp_path):
    for name, raw in FILES.items():
        (tmp_path / name).write_bytes(raw)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", serve(web, "good", GZ))
    before = listing(tmp_path)
    x_train, y_train, x_valid, y_valid = data.get_mnist()
    assert data.has_test_set()
    x_test, y_test = data.get_mnist_test()
    assert listing(tmp_path) == before and web.hits == []
    labels = data.read_idx(FILES[data.TRAIN_LABELS]).long()
    assert torch.equal(torch.cat([y_train, y_valid]), labels)
    assert torch.equal(y_test, data.read_idx(FILES[data.TEST_LABELS]).long())


def test_local_file_with_wrong_checksum_names_the_file(monkeypatch, tmp_path):
    (tmp_path / data.TRAIN_IMAGES).write_bytes(make_files(seed=1)[data.TRAIN_IMAGES])
    (tmp_path / data.TRAIN_LABELS).write_bytes(FILES[data.TRAIN_LABELS])
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(MNISTError, match=rf"{tmp_path / data.TRAIN_IMAGES} is unusable: .*pinned checksum.*Replace it"):
        data.get_mnist()


def test_missing_test_set_in_a_provided_folder(web, monkeypatch, tmp_path):
    for name in (data.TRAIN_IMAGES, data.TRAIN_LABELS):
        (tmp_path / f"{name}.gz").write_bytes(GZ[name])
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", serve(web, "good", GZ))
    before = listing(tmp_path)
    assert not data.has_test_set(tmp_path)
    with pytest.raises(MNISTError) as error:
        data.get_mnist_test(tmp_path)
    message = str(error.value)
    assert "The MNIST test set is not available" in message and "optional" in message
    assert f"{data.TEST_IMAGES} is not in {tmp_path}" in message and "read-only" in message
    assert listing(tmp_path) == before and web.hits == []  # no network, nothing written


def test_read_only_empty_folder_is_reported(web, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", serve(web, "good", GZ))
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(MNISTError, match=rf"not in {tmp_path}.*it is not writable.*COURSE_DATA_DIR"):
            data.get_mnist(tmp_path)
    finally:
        tmp_path.chmod(0o755)
    assert web.hits == []


def test_split_and_normalisation():
    images = torch.randint(0, 256, (12, 28, 28), dtype=torch.uint8)
    labels = torch.arange(12, dtype=torch.uint8)
    x_train, y_train, x_valid, y_valid = data._split(images, labels, 9, normalize=True)
    pixels = images.reshape(12, 784).float() / 255
    mean, std = pixels[:9].mean(), pixels[:9].std()  # the TRAINING split's statistics, for both sets
    assert x_train.shape == (9, 784) and x_valid.shape == (3, 784) and x_train.dtype == torch.float32
    assert torch.allclose(x_train, (pixels[:9] - mean) / std, atol=1e-6)
    assert torch.allclose(x_valid, (pixels[9:] - mean) / std, atol=1e-6)
    assert abs(x_train.mean().item()) < 1e-6 and abs(x_train.std().item() - 1) < 1e-5
    assert y_train.tolist() == list(range(9)) and y_valid.tolist() == [9, 10, 11] and y_valid.dtype == torch.int64

    raw_train, _, raw_valid, _ = data._split(images, labels, 9, normalize=False)
    assert torch.equal(raw_train, pixels[:9]) and torch.equal(raw_valid, pixels[9:])
    assert raw_train.min() >= 0 and raw_train.max() <= 1


def test_test_set_is_normalised_with_training_statistics(tmp_path):
    for name, raw in FILES.items():
        (tmp_path / name).write_bytes(raw)
    pixels = data.read_idx(FILES[data.TEST_IMAGES]).reshape(N_TEST_IMAGES, -1).float() / 255
    train = data.read_idx(FILES[data.TRAIN_IMAGES])[:N_TRAIN].reshape(N_TRAIN, -1).float() / 255
    x_test, _ = data.get_mnist_test(tmp_path)
    assert torch.allclose(x_test, (pixels - train.mean()) / train.std(), atol=1e-6)
    x_test, _ = data.get_mnist_test(tmp_path, train_stats=(0.5, 0.25))
    assert torch.allclose(x_test, (pixels - 0.5) / 0.25, atol=1e-6)
    assert torch.equal(data.get_mnist_test(tmp_path, normalize=False)[0], pixels)


def test_cli_reports_the_data_and_fails_clearly(monkeypatch, tmp_path, capsys, refused_url):
    for name in (data.TRAIN_IMAGES, data.TRAIN_LABELS):
        (tmp_path / name).write_bytes(FILES[name])
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.main() == 0
    out = capsys.readouterr().out
    assert f"MNIST from {tmp_path} ($COURSE_DATA_DIR)" in out and "(20, 28, 28)" in out
    assert "x_train (15, 784) torch.float32" in out and "test set: not in" in out

    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", refused_url)
    assert data.main() == 1
    err = capsys.readouterr().err
    assert "error: Could not download" in err and "Traceback" not in err

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "emtpy"))
    assert data.main() == 1
    assert f"error: COURSE_DATA_DIR={tmp_path / 'emtpy'} does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("deadline, project_after", [(1, 100), (100, 0.5)], ids=["deadline", "projected"])
def test_a_trickling_mirror_is_given_up(web, monkeypatch, tmp_path, deadline, project_after):
    monkeypatch.setattr(data, "DEADLINE_S", deadline)
    monkeypatch.setattr(data, "PROJECT_AFTER_S", project_after)
    slow = serve(web, "slow", {data.TRAIN_IMAGES: Trickle(GZ[data.TRAIN_IMAGES])})
    good = serve(web, "good", GZ)
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", slow)
    started = time.monotonic()
    with pytest.raises(MNISTError) as error:
        data.get_mnist(tmp_path / "new")
    assert time.monotonic() - started < 10  # the deadline (1 s) and at most one more byte: not the whole file
    assert f"{slow}{data.TRAIN_IMAGES}.gz: gave up after " in str(error.value)
    assert f"the limit is {deadline:g} s a file): the mirror is too slow or has stalled" in str(error.value)
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", f"{slow},{good}")  # the next mirror is tried
    assert data.get_mnist(tmp_path / "new")[0].shape == (N_TRAIN, 784)


def test_a_download_shows_its_progress(web, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", serve(web, "good", GZ))
    data.get_mnist(tmp_path)
    err = capsys.readouterr().err
    assert all(f"  {name}.gz: 100%|" in err for name in (data.TRAIN_IMAGES, data.TRAIN_LABELS))  # tqdm's bars


def test_a_gzip_bomb_is_refused_without_inflating_it(monkeypatch, tmp_path):
    """A small .gz that inflates past any MNIST file's size stops at the cap, not after gigabytes."""
    monkeypatch.setattr(data, "MAX_BYTES", 1 << 20)
    bomb = gzip.compress(bytes(64 << 20), mtime=0)  # 64 MiB of zeros: 64 kB compressed
    (tmp_path / f"{data.TRAIN_IMAGES}.gz").write_bytes(bomb)
    with pytest.raises(MNISTError, match=r"inflates to more than 1.0 MB, more than any MNIST file"):
        data.get_mnist(tmp_path)
    (tmp_path / f"{data.TRAIN_IMAGES}.gz").unlink()
    (tmp_path / data.TRAIN_IMAGES).write_bytes(bytes(2 << 20))
    with pytest.raises(MNISTError, match=r"holds 2.1 MB, more than any MNIST file"):
        data.get_mnist(tmp_path)


def test_a_mistyped_course_data_dir_is_reported_not_created(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "mnsit"))
    with pytest.raises(MNISTError, match=rf"COURSE_DATA_DIR={tmp_path / 'mnsit'} does not exist. Fix the path"):
        data.get_mnist()
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "file"))
    with pytest.raises(MNISTError, match="is not a folder"):
        data.get_mnist()
    assert listing(tmp_path) == ["file"]


def test_a_failed_download_leaves_no_cache_folder(refused_url, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", refused_url)
    with pytest.raises(MNISTError, match="Could not download"):
        data.get_mnist()
    assert not (tmp_path / "xdg").exists()  # not the cache, not its parents
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    with pytest.raises(MNISTError, match="Could not download"):
        data.get_mnist()
    assert listing(tmp_path / "home") == []


def test_downloaded_files_are_readable_like_any_cache(web, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", serve(web, "good", GZ))
    previous = os.umask(0o022)
    try:
        data.get_mnist(tmp_path)
    finally:
        os.umask(previous)
    assert (tmp_path / f"{data.TRAIN_IMAGES}.gz").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("where", ["", ".gz"])
def test_a_folder_where_a_file_should_be_says_so(web, monkeypatch, tmp_path, where):
    monkeypatch.setenv("COURSE_MNIST_MIRRORS", serve(web, "good", GZ))
    (tmp_path / f"{data.TRAIN_IMAGES}{where}").mkdir()
    with pytest.raises(MNISTError, match=rf"{tmp_path / data.TRAIN_IMAGES}{where} is a folder, not the data file"):
        data.get_mnist(tmp_path)
    assert web.hits == []


def real_data_dir():
    folder = Path(os.environ.get("COURSE_DATA_DIR") or REPO.parent / "shared" / "data")
    return folder if all(data._find(n, folder) for n in (data.TRAIN_IMAGES, data.TRAIN_LABELS)) else None


# Read at import, before the `isolated` fixture clears COURSE_DATA_DIR and replaces the checksums.
REAL, REAL_PINS = real_data_dir(), dict(data.SHA256)


@pytest.mark.skipif(REAL is None, reason="the MNIST training files are not in $COURSE_DATA_DIR or ../shared/data")
def test_real_mnist_matches_the_data_readme(monkeypatch):
    for name, pinned in REAL_PINS.items():
        monkeypatch.setitem(data.SHA256, name, pinned)
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
    if not data.has_test_set(REAL):
        with pytest.raises(MNISTError, match="test set is not available"):
            data.get_mnist_test(REAL)
    assert listing(REAL) == before
