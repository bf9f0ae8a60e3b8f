"""MNIST for the course: download, verify, cache, parse and split (docs/data.md).

The loader uses ONE folder: the `data_dir` argument, else ``$COURSE_DATA_DIR``, else the user cache
``$XDG_CACHE_HOME/callbacks-to-norms/mnist`` (``~/.cache/...``). A file there (``NAME.gz`` or ``NAME``) is used
only when the sha256 of its decompressed bytes is the one pinned in `SHA256`. A missing file is downloaded, into
a writable folder only, from the first of `MIRRORS` (or ``$COURSE_MNIST_MIRRORS``, comma separated) that serves
a good copy. Every failure raises `MNISTError`, whose message says what happened and what to do.
"""

import hashlib
import http.client
import os
import sys
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
# of the DECOMPRESSED bytes: the mirrors' .gz files differ byte for byte, their content does not
SHA256 = {
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
N_TRAIN = 50_000  # the first 50,000 training images train, the last 10,000 validate
TIMEOUT_S = 30  # per network operation: a dead mirror cannot hang a lesson
DEADLINE_S = 300  # per file and mirror: after PROJECT_AFTER_S, a rate that cannot make it is given up
PROJECT_AFTER_S = 10
MAX_BYTES = 64 << 20  # more than any MNIST file (train-images: 47 MB): a gzip bomb stops here


class MNISTError(RuntimeError):
    """MNIST could not be loaded; the message says what happened and what to do."""


def resolve_data_dir(data_dir=None) -> Path:
    """The folder the loader reads and, when writable, downloads into (see the module docstring)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if env := os.environ.get("COURSE_DATA_DIR"):
        if not Path(env).expanduser().is_dir():
            raise MNISTError(f"COURSE_DATA_DIR={env} {'is not a folder' if Path(env).exists() else 'does not exist'}"
                             ". Fix the path (a typo?), create the folder to download MNIST into, or unset "
                             "COURSE_DATA_DIR to use the default cache.")
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "callbacks-to-norms" / "mnist"


def get_mnist(data_dir=None, normalize=True):
    """The course's split `(x_train, y_train, x_valid, y_valid)`: the first `N_TRAIN` training images
    train, the rest validate. Images are (N, 784) float32 in [0, 1], with `normalize` shifted and scaled
    by the TRAINING split's pixel mean and std; labels are int64."""
    folder = resolve_data_dir(data_dir)
    images, labels = _load(TRAIN_IMAGES, folder), _load(TRAIN_LABELS, folder).long()
    x_train, x_valid = _to_float(images[:N_TRAIN]), _to_float(images[N_TRAIN:])  # storages of their own
    if normalize:
        mean, std = x_train.mean().item(), x_train.std().item()
        for x in (x_train, x_valid):
            x.sub_(mean).div_(std)
    return x_train, labels[:N_TRAIN], x_valid, labels[N_TRAIN:]


def get_mnist_test(data_dir=None, normalize=True):
    """The official test set `(x_test, y_test)`, shaped and normalised like `get_mnist`'s training split.
    It is optional: `MNISTError` when it is neither on disk nor downloadable."""
    folder = resolve_data_dir(data_dir)
    try:
        x_test, y_test = _to_float(_load(TEST_IMAGES, folder)), _load(TEST_LABELS, folder).long()
    except MNISTError as e:
        raise MNISTError(f"The MNIST test set is not available. {e}\nThe test set is optional: training and "
                         "validation work without it.") from None
    if normalize:
        x_train = get_mnist(folder, normalize=False)[0]
        x_test.sub_(x_train.mean().item()).div_(x_train.std().item())
    return x_test, y_test


def _to_float(images):
    return images.reshape(len(images), -1).float().div_(255)


def _load(name, folder):
    """The uint8 tensor of file `name`, verified (downloaded first when missing)."""
    path = _find(name, folder) or _download(name, folder)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"it holds {_size(path.stat().st_size)}, more than any MNIST file")
        data = _decompress(path.read_bytes())
        _check_sha256(data, name)
    except ValueError as e:
        raise MNISTError(f"{path} is unusable: {e}. Delete it (the loader then downloads a fresh copy) or "
                         "replace it with a good copy.") from None
    except OSError as e:
        raise MNISTError(f"Cannot read {path}: {e}. Check the file and its permissions.") from None
    ndim = data[3]  # IDX: 00 00 08 <ndim>, ndim big-endian uint32 sizes, the bytes (the checksum vouches)
    dims = np.frombuffer(data, ">u4", ndim, offset=4).tolist()
    return torch.tensor(np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)).reshape(dims)


def _find(name, folder):
    """The path of `name` in `folder`, uncompressed or gzipped; None if absent."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.exists() and not path.is_file():
            raise MNISTError(f"{path} is not a file but a {'folder' if path.is_dir() else 'special file'}. Move "
                             f"it away; the loader then downloads {name}.gz there.")
        if path.exists():
            return path
    return None


def _decompress(raw):
    """The IDX bytes of a file (gunzipped when its magic number says gzip), refused past `MAX_BYTES`."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16: with a gzip header and trailer
    try:
        data = stream.decompress(raw, MAX_BYTES + 1)  # a stream: a bomb is never inflated further
    except zlib.error as e:
        raise ValueError(f"it is not a valid gzip file; it is truncated or corrupt ({e})") from None
    if len(data) > MAX_BYTES:
        raise ValueError(f"it inflates to more than {_size(MAX_BYTES)}, more than any MNIST file")
    if not stream.eof:
        raise ValueError("it is not a valid gzip file; it is truncated or corrupt (the stream ends early)")
    return data


def _check_sha256(data, name):
    if (digest := hashlib.sha256(data).hexdigest()) != SHA256[name]:
        raise ValueError(f"its content does not match the pinned checksum of {name} (sha256 {digest}, "
                         f"expected {SHA256[name]}); it is corrupt or not that file")


def _download(name, folder):
    """Download `name`.gz into `folder` from the first mirror that serves a good copy; its path."""
    if folder.exists() and not (os.access(folder, os.W_OK) and folder.stat().st_mode & 0o222):  # root: the bits
        raise MNISTError(f"{name} is not in {folder}, and the loader cannot download it there: the folder is not "
                         f"writable. Put {name}.gz into it, or set COURSE_DATA_DIR to a writable folder.")
    failures = []
    for mirror in [m.strip() for m in os.environ.get("COURSE_MNIST_MIRRORS", "").split(",") if m.strip()] or MIRRORS:
        url = f"{mirror.rstrip('/')}/{name}.gz"
        print(f"Downloading {url} into {folder}", file=sys.stderr)
        try:
            raw = _fetch(url, f"{name}.gz")
            _check_sha256(_decompress(raw), name)  # a cut download fails here: gzip checks its length
            return _write(folder, f"{name}.gz", raw)  # the folder is made only now: a failure leaves nothing
        except (OSError, ValueError, http.client.HTTPException) as e:  # OSError: URLError, timeouts
            failures.append(f"  {url}: {e}")
    raise MNISTError(f"Could not download {name}.gz from any mirror:\n" + "\n".join(failures) + "\nCheck your "
                     "internet connection (or set COURSE_MNIST_MIRRORS to mirrors you can reach), or set "
                     "COURSE_DATA_DIR to a folder that already holds the MNIST files.")


def _fetch(url, label):
    """The bytes at `url`, with a progress bar on stderr; a mirror too slow to make `DEADLINE_S` is given up."""
    started, chunks, got = time.monotonic(), [], 0
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, desc=f"  {label}", unit="B", unit_scale=True, file=sys.stderr) as bar:
            while chunk := response.read1(1 << 16):
                chunks.append(chunk)
                got += len(chunk)
                bar.update(len(chunk))
                elapsed = time.monotonic() - started
                if elapsed > PROJECT_AFTER_S and elapsed * (total or got) / got > DEADLINE_S:
                    raise TimeoutError(f"gave up after {elapsed:.0f} s with {_size(got)} of {_size(total)} "
                                       f"(the limit is {DEADLINE_S:g} s a file): the mirror is too slow or stalled")
    return b"".join(chunks)


def _size(n):
    return "?" if n is None else f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _write(folder, filename, raw):
    """Write `raw` to a temporary file in `folder`, then rename it: an interrupted write leaves no `filename`."""
    tmp = folder / f".{filename}.{os.getpid()}.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as out:  # mode 0666 minus the umask, like any file the user makes
            out.write(raw)
            os.fsync(out.fileno())  # the rename must not land before the data
        os.replace(tmp, folder / filename)
    except OSError as e:
        raise MNISTError(f"Cannot write {folder / filename} ({e}). Free some disk space, or set "
                         "COURSE_DATA_DIR to a writable folder.") from None
    finally:
        tmp.unlink(missing_ok=True)
    return folder / filename


def main() -> None:
    """``python -m course.data``: check the data and describe it; exit 1 with the error's message."""
    try:
        splits = get_mnist()
    except MNISTError as e:
        sys.exit(f"error: {e}")
    test = all(_find(name, resolve_data_dir()) for name in (TEST_IMAGES, TEST_LABELS))
    print(f"MNIST from {resolve_data_dir()}, checksums verified; test set {'' if test else 'not '}on disk")
    for label, x, y in (("train", *splits[:2]), ("valid", *splits[2:])):
        print(f"x_{label} {tuple(x.shape)} {x.dtype}, y_{label} {tuple(y.shape)} {y.dtype}; normalised "
              f"mean/std {x.mean():.4f}/{x.std():.4f}; class counts {y.bincount(minlength=10).tolist()}")


if __name__ == "__main__":
    main()
