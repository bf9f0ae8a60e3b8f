"""MNIST for the course: download, verify, cache, parse and split.

The loader works with ONE folder, the first of:

1. the `data_dir` argument;
2. ``$COURSE_DATA_DIR`` (e.g. a folder that already holds the files: CI sets it to ``../shared/data``);
3. the user cache, ``$XDG_CACHE_HOME/callbacks-to-norms/mnist`` (``~/.cache/...`` without XDG_CACHE_HOME).

A file found there (``NAME.gz`` or the uncompressed ``NAME``) is used only after the sha256 of its
decompressed bytes matches the pinned one in `SHA256` (checked once per process). A missing file is
downloaded from the first of `MIRRORS` (or ``$COURSE_MNIST_MIRRORS``, comma separated) that serves a
good copy: it is verified in memory, written to a temporary file in the same folder and renamed into
place, so an interrupted download never leaves a file under the final name. The loader downloads only
into a folder that holds no MNIST files yet, or that it downloaded into before (it leaves a marker
file): a folder filled by somebody else, like the read-only shared data folder, is never written to.

Every failure raises `MNISTError`, whose message says what happened and what to do.

``python -m course.data`` checks the data and prints where it came from and what it looks like.
"""

import contextlib
import hashlib
import http.client
import math
import os
import struct
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

import torch
from tqdm import tqdm

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
# sha256 of the DECOMPRESSED bytes: the mirrors' .gz files differ byte for byte (recompression),
# the IDX content does not. Tests replace these to serve small generated files.
SHA256 = {
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
N_TRAIN = 50_000  # the course split: the first 50,000 training images train, the last 10,000 validate
TIMEOUT_S = 30  # per network operation, so a dead mirror cannot hang a lesson
DEADLINE_S = 300  # per file and mirror, so a mirror that trickles (a byte every few seconds) cannot either;
PROJECT_AFTER_S = 10  # from then on, a download whose rate so far would need longer is given up at once
MAX_BYTES = 64 << 20  # an IDX file larger than this is not MNIST's (its largest, train-images, is 47 MB)

_MARKER = ".callbacks-to-norms-cache"  # "the loader downloaded into this folder": it may add files
_GZIP_MAGIC = b"\x1f\x8b"
_verified: set[tuple] = set()  # (path, size, mtime, sha256) of files already checked by this process


class MNISTError(RuntimeError):
    """MNIST could not be loaded; the message says what happened and what to do."""


def resolve_data_dir(data_dir=None) -> Path:
    """The folder the loader reads and, when allowed, downloads into (see the module docstring)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("COURSE_DATA_DIR"):
        folder = Path(os.environ["COURSE_DATA_DIR"]).expanduser()
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise MNISTError(f"COURSE_DATA_DIR={os.environ['COURSE_DATA_DIR']} {what}. Fix the path (a typo?), "
                             f"create the folder to download MNIST into (mkdir -p {folder}), or unset "
                             "COURSE_DATA_DIR to use the default cache.")
        return folder
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "callbacks-to-norms" / "mnist"


def read_idx(path_or_bytes) -> torch.Tensor:
    """Parse an IDX file (a path, gzipped or not, or its bytes) into a uint8 tensor of its dimensions."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        raw, where = bytes(path_or_bytes), "the IDX bytes"
    else:
        where = Path(path_or_bytes)
        raw = _read(where)
    try:
        data = _decompress(raw)
    except ValueError as e:
        raise MNISTError(f"{where} is unusable: {e}.") from None
    return _parse_idx(data, where)


def get_mnist(data_dir=None, normalize=True):
    """The course's MNIST split: `(x_train, y_train, x_valid, y_valid)`.

    The first `N_TRAIN` (50,000) training images train, the rest (10,000) validate. Images are
    flattened to (N, 784) float32 in [0, 1]; with `normalize`, both sets are shifted and scaled by the
    TRAINING split's pixel mean and std. Labels are int64.
    """
    images, labels, _ = _load_set(TRAIN_IMAGES, TRAIN_LABELS, resolve_data_dir(data_dir))
    return _split(images, labels, N_TRAIN, normalize)


def get_mnist_test(data_dir=None, normalize=True, train_stats=None):
    """The official 10,000-image test set `(x_test, y_test)`, shaped and normalised like `get_mnist`.

    `train_stats` is the training split's `(mean, std)` of pixels in [0, 1]; when None (and
    `normalize`), it is computed from the training set. The test set is optional: this raises
    `MNISTError` when it is neither on disk nor downloadable; `has_test_set` asks without downloading.
    """
    folder = resolve_data_dir(data_dir)
    try:
        images, labels, _ = _load_set(TEST_IMAGES, TEST_LABELS, folder)
    except MNISTError as e:
        raise MNISTError(
            f"The MNIST test set is not available. {e}\n"
            "The test set is optional: training and validation work without it "
            "(has_test_set() tells, without downloading, whether it is on disk).") from None
    x_test, y_test = _to_float(images), labels.long()
    if normalize:
        if train_stats is None:
            train_images, _, _ = _load_set(TRAIN_IMAGES, TRAIN_LABELS, folder)
            train_stats = _stats(_to_float(train_images[:N_TRAIN]))
        mean, std = train_stats
        x_test.sub_(mean).div_(std)
    return x_test, y_test


def has_test_set(data_dir=None) -> bool:
    """Whether both test-set files are on disk (unverified, so cheap); never downloads."""
    folder = resolve_data_dir(data_dir)
    return all(_find(name, folder) is not None for name in (TEST_IMAGES, TEST_LABELS))


def _split(images, labels, n_train, normalize):
    """Split a training set (uint8 images, labels) into the course's train/valid tensors."""
    # Slicing before converting gives each set its own storage (saving x_valid saves only x_valid).
    x_train, x_valid = _to_float(images[:n_train]), _to_float(images[n_train:])
    if normalize:
        mean, std = _stats(x_train)
        x_train.sub_(mean).div_(std)
        x_valid.sub_(mean).div_(std)
    return x_train, labels[:n_train].long(), x_valid, labels[n_train:].long()


def _to_float(images):
    """(N, 28, 28) uint8 -> (N, 784) float32 in [0, 1]."""
    return images.reshape(len(images), -1).float().div_(255)


def _stats(x):
    """Pixel mean and std of a float image tensor, as Python floats."""
    return x.mean().item(), x.std().item()


def _load_set(images_name, labels_name, folder):
    """Matching (images, labels, paths) from `folder`, downloading what is missing."""
    images, images_path = _load(images_name, folder)
    labels, labels_path = _load(labels_name, folder)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise MNISTError(
            f"{images_path} and {labels_path} do not form an MNIST set: images {tuple(images.shape)}, "
            f"labels {tuple(labels.shape)}; expected (N, 28, 28) and (N,). Replace them with the "
            "original files.")
    return images, labels, (images_path, labels_path)


def _load(name, folder):
    """The verified uint8 tensor of file `name` and the path it came from."""
    path = _find(name, folder) or _download(name, folder)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, SHA256[name])
    try:
        data = _decompress(_read(path))
        if key not in _verified:
            _check_sha256(data, name)
            _verified.add(key)
    except ValueError as e:
        todo = ("Delete it and run again to download a fresh copy." if (folder / _MARKER).exists()
                else "Replace it with a good copy, or point COURSE_DATA_DIR at another folder.")
        raise MNISTError(f"{path} is unusable: {e}. {todo}") from None
    return _parse_idx(data, path), path


def _find(name, folder):
    """The path of `name` in `folder`, uncompressed (fastest to read) or gzipped; None if absent."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
        if path.exists():  # a folder (or a device, a socket) under a data file's name
            raise MNISTError(f"{path} is a {'folder' if path.is_dir() else 'special file'}, not the data "
                             f"file {path.name}. Move it away or delete it; the loader then downloads {name}.gz "
                             "there (or put the real file in its place).")
    return None


def _read(path):
    try:
        if path.stat().st_size > MAX_BYTES:
            raise MNISTError(f"{path} holds {_size(path.stat().st_size)}, more than any MNIST file "
                             f"({_size(MAX_BYTES)} at most): it is not an MNIST file. Replace it.")
        return path.read_bytes()
    except OSError as e:
        raise MNISTError(f"Cannot read {path}: {e}. Check the file and its permissions.") from None


def _decompress(raw):
    """IDX bytes from a file's bytes: gunzipped when gzip (told by its magic number, not its name),
    in a stream that stops past `MAX_BYTES`, so a small file that would inflate to gigabytes is
    refused after reading a few megabytes of it."""
    if raw[:2] != _GZIP_MAGIC:
        return raw
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16: a gzip header and trailer
    try:
        data = stream.decompress(raw, MAX_BYTES + 1)
    except zlib.error as e:
        raise ValueError(f"it is not a valid gzip file; it is truncated or corrupt ({e})") from None
    if len(data) > MAX_BYTES:
        raise ValueError(f"it inflates to more than {_size(MAX_BYTES)}, more than any MNIST file")
    if not stream.eof:
        raise ValueError("it is not a valid gzip file; it is truncated or corrupt (the stream ends early)")
    return data


def _check_sha256(data, name):
    digest, expected = hashlib.sha256(data).hexdigest(), SHA256[name]
    if digest != expected:
        raise ValueError(f"its content does not match the pinned checksum of {name} "
                         f"(sha256 {digest}, expected {expected}); it is corrupt or not that file")


def _parse_idx(data, where):
    """Tensor from IDX bytes: magic 00 00 08 <ndim>, ndim big-endian uint32 sizes, then uint8 data."""
    if len(data) < 4 or data[:2] != b"\0\0":
        raise MNISTError(f"{where} is not an IDX file: it does not start with the IDX magic number "
                         f"00 00 <type> <ndim> (got {data[:4].hex(' ') or 'nothing'}). Replace it.")
    dtype, ndim = data[2], data[3]
    if dtype != 0x08:
        raise MNISTError(f"{where} holds IDX type 0x{dtype:02x}; only unsigned bytes (0x08), "
                         "MNIST's type, are supported.")
    start = 4 + 4 * ndim
    if len(data) < start:
        raise MNISTError(f"{where} is truncated: its IDX header is cut short. Replace it.")
    dims = struct.unpack(f">{ndim}I", data[4:start])
    if len(data) - start != math.prod(dims):
        raise MNISTError(f"{where} does not match its IDX header: dimensions {dims} need "
                         f"{math.prod(dims)} bytes of data, it holds {len(data) - start}. Replace it.")
    if math.prod(dims) == 0:  # torch.frombuffer refuses an empty buffer
        return torch.empty(dims, dtype=torch.uint8)
    # bytearray: frombuffer wants a writable buffer, and the copy frees the file's bytes.
    return torch.frombuffer(bytearray(data[start:]), dtype=torch.uint8).reshape(dims)


def _mirrors():
    chosen = os.environ.get("COURSE_MNIST_MIRRORS", "").split(",")
    chosen = [m.strip() for m in chosen if m.strip()] or MIRRORS
    return [m if m.endswith("/") else m + "/" for m in chosen]


def _refusal(folder):
    """Why the loader must not download into `folder`, or None when it may."""
    if not folder.exists():
        return None
    present = [p.name for name in SHA256 for p in (folder / name, folder / f"{name}.gz") if p.is_file()]
    if present and not (folder / _MARKER).exists():
        return (f"it holds MNIST files the loader did not download ({', '.join(present)}), so it is "
                "treated as read-only")
    # The mode bits as well as access(): root may write anywhere, but a folder marked read-only is
    # read-only for the course.
    if not os.access(folder, os.W_OK) or not folder.stat().st_mode & 0o222:
        return "it is not writable"
    return None


def _download(name, folder):
    """Download `name`.gz into `folder` from the first mirror serving a verified copy; its path.

    Folders it had to create are removed again when no mirror serves a good copy.
    """
    reason = _refusal(folder)
    if reason is not None:
        raise MNISTError(
            f"{name} is not in {folder}, and the loader will not download it there: {reason}. "
            f"Put {name}.gz (or {name}) into that folder, or set COURSE_DATA_DIR to a writable "
            "folder to download into.")
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MNISTError(f"Cannot create the data folder {folder} to download {name} into ({e}). "
                         "Set COURSE_DATA_DIR to a writable folder, or to one holding the MNIST files.") from None
    failures = []
    try:
        for mirror in _mirrors():
            url = f"{mirror}{name}.gz"
            print(f"Downloading {url} into {folder}", file=sys.stderr)
            try:
                raw = _fetch(url, f"{name}.gz")
                _check_sha256(_decompress(raw), name)
            except (OSError, ValueError, http.client.HTTPException) as e:
                # OSError covers URLError, HTTPError and timeouts; HTTPException a connection cut mid-file.
                failures.append(f"  {url}: {e}")
                continue
            path = _write_atomically(folder, f"{name}.gz", raw)
            created = []
            return path
    finally:
        for path in created:  # the folders this failed download made: leave nothing behind
            with contextlib.suppress(OSError):
                path.rmdir()
    raise MNISTError(
        f"Could not download {name}.gz from any mirror:\n" + "\n".join(failures) + "\n"
        "Check your internet connection (or set COURSE_MNIST_MIRRORS to mirrors you can reach), "
        "or set COURSE_DATA_DIR to a folder that already holds the MNIST files.")


class TooSlow(OSError):
    """A download that ran past DEADLINE_S."""


def _fetch(url, label):
    """The bytes at `url`, within DEADLINE_S overall, showing progress on stderr (tqdm).

    A mirror that sends a byte every few seconds never trips the per-read timeout; the deadline
    stops it, and once PROJECT_AFTER_S have passed, so does a rate that cannot make the deadline.
    """
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        chunks, got = [], 0
        with tqdm(total=total, desc=f"  {label}", unit="B", unit_scale=True, file=sys.stderr, leave=True) as bar:
            while chunk := response.read1(1 << 16):
                chunks.append(chunk)
                got += len(chunk)
                bar.update(len(chunk))
                elapsed = time.monotonic() - started
                projected = elapsed * total / got if total else elapsed
                if (elapsed > DEADLINE_S or (elapsed > PROJECT_AFTER_S and projected > DEADLINE_S)) and got != total:
                    raise TooSlow(f"gave up after {elapsed:.0f} s with {_size(got)} of {_size(total)} received "
                                  f"({_size(got / elapsed)}/s; the limit is {DEADLINE_S:g} s a file): the mirror is "
                                  "too slow or has stalled")
                if got > MAX_BYTES:
                    raise ValueError(f"it sends more than {_size(MAX_BYTES)}, more than any MNIST file")
    if total is not None and got < total:
        raise http.client.IncompleteRead(b"".join(chunks), total - got)
    return b"".join(chunks)


def _size(n):
    if n is None:
        return "?"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _write_atomically(folder, filename, raw):
    """Write verified bytes to a temporary file in `folder`, then rename it to `filename`
    (readable like any file the user makes: mkstemp's 0600 widened to 0666 minus the umask)."""
    target = folder / filename
    try:
        (folder / _MARKER).touch()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(raw)
                out.flush()
                os.fsync(out.fileno())  # the rename must not land before the data does
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):  # a failed write: leave nothing behind
                os.unlink(tmp)
    except OSError as e:
        raise MNISTError(f"Cannot write {target} ({e}). Free some disk space, or set "
                         "COURSE_DATA_DIR to a writable folder.") from None
    return target


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def main() -> int:
    """Load the training set, print what was found; 1 with the error message on failure."""
    origin = "$COURSE_DATA_DIR" if os.environ.get("COURSE_DATA_DIR") else "the default cache"
    start = time.perf_counter()
    try:
        folder = resolve_data_dir()
        images, labels, paths = _load_set(TRAIN_IMAGES, TRAIN_LABELS, folder)
        x_train, y_train, x_valid, y_valid = _split(images, labels, N_TRAIN, normalize=True)
    except MNISTError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    raw = _to_float(images)
    print(f"MNIST from {folder} ({origin}), checksums verified:")
    for path in paths:
        print(f"  {path.name}")
    print(f"training set: {tuple(images.shape)} uint8 images, loaded in {seconds:.2f} s")
    print(f"class counts: {' '.join(str(int(c)) for c in labels.bincount(minlength=10))}")
    print("pixel mean/std after /255: all {:.4f}/{:.4f}, training split {:.4f}/{:.4f}".format(
        *_stats(raw), *_stats(raw[:N_TRAIN])))
    for label, x, y in (("train", x_train, y_train), ("valid", x_valid, y_valid)):
        print(f"x_{label} {tuple(x.shape)} {x.dtype}, y_{label} {tuple(y.shape)} {y.dtype}; "
              f"normalised mean/std {x.mean():.4f}/{x.std():.4f}")
    if has_test_set(folder):
        print(f"test set: available in {folder}")
    else:
        reason = _refusal(folder)
        then = ("get_mnist_test() would try to download it there" if reason is None
                else f"the loader will not download it there ({reason})")
        print(f"test set: not in {folder} (optional); {then}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
