"""CIFAR-10, read from the files you have, downloaded only when there are none.

:func:`load_cifar10` reads three layouts:

* the official binary files (``cifar-10-batches-bin/data_batch_1.bin`` ...
  ``test_batch.bin``), each record one label byte then 3,072 pixel bytes (the red
  plane, then green, then blue, row by row). Read with NumPy; never with pickle,
  which can run code hidden in a file.
* the official archive ``cifar-10-binary.tar.gz``, accepted only when its size
  and checksums match the published ones. Members are read in memory, never
  extracted, so a crafted archive cannot write outside its folder.
* a class-folder tree of image files, ``train/<class>/*.jpg`` and
  ``test/<class>/*.jpg`` (JPEG or PNG), as a folder or as a ``.tar.gz`` of one:
  the layout of many mirrors and of the offline copy used by the book's CI.

Where it looks, in order: the ``source`` argument, the folder named by the
environment variable ``CNNBOOK_DATA_DIR``, the per-user cache folder
(:func:`cache_dir`), and finally a download of the official archive into that
cache, checked before it is kept.

Used by chapters 4, 7, 9a, 9b, 9c, 10 and 11.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

import numpy as np

__all__ = [
    "CIFAR10_ARCHIVE",
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DatasetError",
    "DatasetNotFoundError",
    "DownloadProgress",
    "cache_dir",
    "cifar10_copy",
    "load_cifar10",
    "load_digits",
    "validation_split",
]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""Class names in the official label order (label ``i`` is ``CIFAR10_CLASSES[i]``)."""

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
"""Mean red, green and blue value of the 50,000 CIFAR-10 training images, on the 0-1 scale."""

CIFAR10_STD = (0.2470, 0.2435, 0.2616)
"""Standard deviation of the red, green and blue values of the training images (0-1 scale)."""

DATA_DIR_VARIABLE = "CNNBOOK_DATA_DIR"
IMAGE_SHAPE = (32, 32, 3)
RECORD_BYTES = 1 + 32 * 32 * 3
BINARY_FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: What reading a damaged tar archive raises: tarfile's own errors, EOFError (cut short),
#: OSError (a bad gzip stream) and KeyError (a hard link to a file the archive lacks).
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, OSError, KeyError)


@dataclasses.dataclass(frozen=True)
class Archive:
    """Where a dataset archive is published, and how to recognize the real one."""

    url: str
    filename: str
    size: int
    md5: str
    sha256: str


CIFAR10_ARCHIVE = Archive(
    url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    filename="cifar-10-binary.tar.gz",
    size=170_052_171,
    md5="c32a1d4ab5d03f1284b67883e8d87530",
    sha256="c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
)


class DatasetError(ValueError):
    """A dataset file exists but is not what it should be (truncated, malformed, altered)."""


class DatasetNotFoundError(FileNotFoundError):
    """No copy of the dataset was found, and none could be downloaded."""


def cache_dir():
    """The per-user folder where cnnbook keeps downloaded data.

    ``$XDG_CACHE_HOME/cnnbook`` if that variable is set, else
    ``%LOCALAPPDATA%\\cnnbook`` on Windows, else ``~/.cache/cnnbook``.

    Returns
    -------
    pathlib.Path
        The folder (it may not exist yet).
    """
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "cnnbook"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "cnnbook"
    return Path.home() / ".cache" / "cnnbook"


def load_cifar10(source=None, *, download=True):
    """Load CIFAR-10 as uint8 images and integer labels.

    Parameters
    ----------
    source : str or path-like, optional
        A folder holding one of the layouts listed in the module's description, or
        an archive file (the official ``cifar-10-binary.tar.gz``, or a ``.tar.gz``
        of a class-folder tree). When given, nothing else is searched.
    download : bool, default True
        Whether to download the official archive (about 170 MB) into
        :func:`cache_dir` when no copy is found.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of tuples of numpy.ndarray
        Images of shape (N, 32, 32, 3), dtype uint8, channels last; labels of shape
        (N,), dtype int64, in the official class order (:data:`CIFAR10_CLASSES`).
        The official files give 50,000 training and 10,000 test images in their
        published order; a class-folder tree gives them class by class, so shuffle
        before training (Keras's ``fit`` does).

    Raises
    ------
    DatasetNotFoundError
        No copy was found and the download failed or was not allowed. The message
        says where the function looked and how to use a copy offline.
    DatasetError
        A file is truncated or malformed, or an archive's checksum does not match.
        The message names the file.

    Examples
    --------
    >>> (x_train, y_train), (x_test, y_test) = load_cifar10()  # doctest: +SKIP
    >>> x_train.shape, x_train.dtype, CIFAR10_CLASSES[y_train[0]]  # doctest: +SKIP
    ((50000, 32, 32, 3), dtype('uint8'), 'frog')
    """
    kind, reader = _find_copy(source)
    if reader is not None:
        return reader()
    if not download:
        raise DatasetNotFoundError(
            _offline_help(_searched_folders(), "downloading is switched off")
        )
    archive = _download(CIFAR10_ARCHIVE, cache_dir(), _searched_folders())
    return _read_binary_archive(archive)


def cifar10_copy(source=None):
    """Which copy of CIFAR-10 :func:`load_cifar10` reads, without reading it.

    Accuracy figures differ slightly between the official files and a re-encoded
    copy (the book's CI uses one in JPEG), so the book prints this beside its results.

    Parameters
    ----------
    source : str or path-like, optional
        As for :func:`load_cifar10`.

    Returns
    -------
    str
        ``"official binary files"``, ``"official archive"``, ``"JPEG copy (class
        folders)"`` or ``"PNG copy (class folders)"`` (by the first image file); ``"image
        copy (class folders)"`` for class folders without a JPEG or PNG file, which
        :func:`load_cifar10` refuses (it reads .jpg, .jpeg and .png); or, when there is
        no copy, ``"none found (load_cifar10 downloads the official archive)"``.

    Raises
    ------
    DatasetNotFoundError
        ``source`` is given but does not exist or holds no copy.
    """
    kind, _ = _find_copy(source)
    return kind or "none found (load_cifar10 downloads the official archive)"


def _searched_folders():
    folders = []
    if os.environ.get(DATA_DIR_VARIABLE):
        folders.append(Path(os.environ[DATA_DIR_VARIABLE]))
    return folders + [cache_dir()]


def _find_copy(source):
    """``(kind, reader)`` of the first copy found, ``(None, None)`` if there is none."""
    if source is not None:
        source = Path(source)
        if not source.exists():
            raise DatasetNotFoundError(f"CIFAR-10 source {str(source)!r} does not exist")
        found = _reader_for_file(source) if source.is_file() else _reader_for_folder(source)
        if found is None:
            raise DatasetNotFoundError(
                f"no CIFAR-10 copy in {str(source)!r}: expected {BINARY_FOLDER}/, "
                f"{CIFAR10_ARCHIVE.filename}, or train/<class>/ and test/<class>/ image folders"
            )
        return found
    for folder in _searched_folders():
        found = _reader_for_folder(folder) if folder.is_dir() else None
        if found is not None:
            return found
    return None, None


def _offline_help(searched, reason):
    places = ", ".join(repr(str(folder)) for folder in searched)
    return (
        f"CIFAR-10 was not found (looked in {places}) and {reason}. To work offline, get "
        f"{CIFAR10_ARCHIVE.filename} from {CIFAR10_ARCHIVE.url} on a machine with "
        f"internet (or a class-folder copy: train/<class>/*.jpg, test/<class>/*.jpg), then "
        f"pass its path as load_cifar10(source=...), or set {DATA_DIR_VARIABLE} to the "
        f"folder that holds it, or put it in {str(cache_dir())!r}."
    )


# --------------------------------------------------------------------------------------
# Finding a copy
# --------------------------------------------------------------------------------------


def _reader_for_folder(folder):
    """``(kind, function that reads the copy in folder)``, or None if there is none."""
    for binary_folder in (folder, folder / BINARY_FOLDER):
        if (binary_folder / TRAIN_FILES[0]).is_file():
            return "official binary files", functools.partial(_read_binary_folder, binary_folder)
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        names = (path.name for path in (folder / "train").glob("*/*"))
        return _tree_kind(names), lambda: _read_image_tree(_FolderTree(folder))
    archive = folder / CIFAR10_ARCHIVE.filename
    if archive.is_file():
        return "official archive", lambda: _read_binary_archive(archive)
    return None


def _reader_for_file(path):
    """``(kind, function that reads the archive path)``, or None for another file."""
    if path.name == CIFAR10_ARCHIVE.filename:
        # checked against the checksum before it is read
        return "official archive", lambda: _read_binary_archive(path)
    if not tarfile.is_tarfile(path):
        raise DatasetError(f"{str(path)!r} is not a tar archive (nor a CIFAR-10 folder)")
    try:
        with tarfile.open(path) as archive:
            names = [PurePosixPath(member.name).parts for member in archive if _is_file(member)]
    except _ARCHIVE_ERRORS as error:
        raise DatasetError(f"{str(path)!r} is not a readable archive: {error}") from None
    if any(BINARY_FOLDER in parts for parts in names):
        return "official archive", lambda: _read_binary_archive(path)
    tree = [parts for parts in names if len(parts) >= 3 and parts[-3] in ("train", "test")]
    if tree:
        return _tree_kind(parts[-1] for parts in tree), lambda: _read_image_tree(_ArchiveTree(path))
    return None


def _is_file(member):
    """Whether a tar member holds a file's bytes: a regular file, or a hard link to one
    (how ``tar`` stores a file that is linked twice)."""
    return member.isfile() or member.islnk()


def _tree_kind(file_names):
    """ "JPEG copy (class folders)" or "PNG copy (class folders)", by the first image."""
    for name in file_names:
        suffix = PurePosixPath(name).suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return f"{'PNG' if suffix == '.png' else 'JPEG'} copy (class folders)"
    return "image copy (class folders)"


# --------------------------------------------------------------------------------------
# The official binary format
# --------------------------------------------------------------------------------------


def _parse_records(data, name):
    """Split the bytes of one binary batch file into images and labels."""
    if len(data) == 0 or len(data) % RECORD_BYTES:
        raise DatasetError(
            f"{name} is truncated or malformed: {len(data):,} bytes is not a whole number "
            f"of {RECORD_BYTES:,}-byte CIFAR-10 records"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CIFAR10_CLASSES):
        raise DatasetError(
            f"{name} is malformed: label {labels.max()} found, CIFAR-10 labels are 0 to 9"
        )
    # Each record stores the red plane, then green, then blue: (3, 32, 32) -> NHWC.
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _concatenate(parts):
    images, labels = zip(*parts)
    return np.concatenate(images), np.concatenate(labels)


def _read_binary_folder(folder):
    def read(filename):
        path = folder / filename
        if not path.is_file():
            raise DatasetError(f"{str(folder)!r} has no {filename} (CIFAR-10 needs all six files)")
        return _parse_records(path.read_bytes(), repr(str(path)))

    return _concatenate(map(read, TRAIN_FILES)), read(TEST_FILE)


def _file_digests(path):
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


def _verify(path, archive):
    """Raise DatasetError unless ``path`` is exactly the published ``archive``."""
    size = os.path.getsize(path)
    if size != archive.size:
        raise DatasetError(
            f"{str(path)!r} has {size:,} bytes, the official {archive.filename} has "
            f"{archive.size:,}: it is truncated or another file. Delete it and download "
            f"it again from {archive.url}"
        )
    if _file_digests(path) != (archive.md5, archive.sha256):
        raise DatasetError(
            f"{str(path)!r} does not match the published checksum of {archive.filename} "
            f"(MD5 {archive.md5}): it is corrupted or altered. Delete it and download it "
            f"again from {archive.url}"
        )


def _read_binary_archive(path):
    _verify(path, CIFAR10_ARCHIVE)
    wanted = (*TRAIN_FILES, TEST_FILE)
    batches = {}
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                parts = PurePosixPath(member.name).parts
                if _is_file(member) and parts[-1] in wanted and BINARY_FOLDER in parts:
                    data = archive.extractfile(member).read()
                    batches[parts[-1]] = _parse_records(data, f"{parts[-1]} in {str(path)!r}")
    except _ARCHIVE_ERRORS as error:
        raise DatasetError(f"{str(path)!r} is not a readable archive: {error}") from None
    missing = [name for name in wanted if name not in batches]
    if missing:
        raise DatasetError(f"{str(path)!r} lacks {', '.join(missing)}")
    return _concatenate(batches[name] for name in TRAIN_FILES), batches[TEST_FILE]


# --------------------------------------------------------------------------------------
# Class-folder trees of image files
# --------------------------------------------------------------------------------------


class _FolderTree:
    """Image files under ``root/<split>/<class>/`` on disk."""

    def __init__(self, root):
        self.description = repr(str(root))
        self.root = Path(root)

    def files(self, split, class_name):
        """List ``(name for messages, file bytes)`` of one class folder, sorted."""
        folder = self.root / split / class_name
        paths = sorted(folder.iterdir()) if folder.is_dir() else []
        return [
            (repr(str(path)), path.read_bytes())
            for path in paths
            if path.suffix.lower() in IMAGE_SUFFIXES
        ]


class _ArchiveTree:
    """Image files under ``[prefix/]<split>/<class>/`` inside a tar archive."""

    def __init__(self, path):
        self.description = repr(str(path))
        self._files = {}
        try:
            with tarfile.open(path) as archive:
                for member in archive:
                    parts = PurePosixPath(member.name).parts
                    if (
                        _is_file(member)
                        and len(parts) >= 3
                        and parts[-3] in ("train", "test")
                        and PurePosixPath(parts[-1]).suffix.lower() in IMAGE_SUFFIXES
                    ):
                        name = f"{member.name} in {self.description}"
                        data = archive.extractfile(member).read()
                        self._files.setdefault(parts[-3:-1], []).append((name, data))
        except _ARCHIVE_ERRORS as error:
            raise DatasetError(f"{self.description} is not a readable archive: {error}") from None

    def files(self, split, class_name):
        """List ``(name for messages, file bytes)`` of one class folder, sorted."""
        return sorted(self._files.get((split, class_name), []))


def _decode_image(data, name):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DatasetError(f"{name} is not a readable image: {error}") from None
    if pixels.shape != IMAGE_SHAPE:
        raise DatasetError(
            f"{name} is {pixels.shape[1]}x{pixels.shape[0]} pixels; CIFAR-10 images are 32x32"
        )
    return pixels


def _read_split(tree, split):
    images, labels = [], []
    for label, class_name in enumerate(CIFAR10_CLASSES):
        files = tree.files(split, class_name)
        if not files:
            raise DatasetError(
                f"no images in {split}/{class_name}/ of {tree.description}: a class-folder "
                f"copy needs all ten classes ({', '.join(CIFAR10_CLASSES)})"
            )
        images.extend(_decode_image(data, name) for name, data in files)
        labels.extend([label] * len(files))
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _read_image_tree(tree):
    return _read_split(tree, "train"), _read_split(tree, "test")


# --------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------


class DownloadProgress:
    r"""A download's progress on one line that updates in place.

    Shows the bytes so far, the share of the total, the rate and the time left, as
    ``  52.4 / 170.5 MB  31%  4.1 MB/s  29 s left``. The line is rewritten after a
    carriage return, which terminals, Jupyter and Colab all show as one changing line,
    at most every ``every`` seconds, and ended with a newline by :meth:`close`.

    Parameters
    ----------
    total : int
        Expected bytes.
    stream : file, default sys.stderr
    every : float, default 0.5
        Seconds between redraws.
    clock : callable, default time.monotonic

    Examples
    --------
    >>> import io
    >>> times = iter([0.0, 1.0, 2.0, 2.0])
    >>> out = io.StringIO()
    >>> progress = DownloadProgress(4_000_000, stream=out, clock=lambda: next(times))
    >>> progress.update(1_000_000); progress.update(1_000_000); progress.close()
    >>> out.getvalue().split("\r")[-1]
    '   2.0 / 4.0 MB  50%  1.0 MB/s  2 s left\n'
    """

    def __init__(self, total, stream=None, every=0.5, clock=time.monotonic):
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.clock = clock
        self.started = clock()
        self.shown = None
        self.done = 0

    def update(self, size):
        """Count ``size`` more bytes; redraw if ``every`` seconds have passed."""
        self.done += size
        now = self.clock()
        if self.shown is None or now - self.shown >= self.every:
            self._draw(now)

    def close(self):
        """Draw the final state and end the line."""
        self._draw(self.clock())
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, now):
        self.shown = now
        rate = self.done / max(now - self.started, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        line = (
            f"{self.done / 1e6:6.1f} / {self.total / 1e6:.1f} MB  {self.done / self.total:.0%}"
            f"  {rate / 1e6:.1f} MB/s  {left:.0f} s left"
        )
        self.stream.write("\r" + line)
        self.stream.flush()


def _download(archive, folder, searched):
    """Download ``archive`` into ``folder``; keep it only if it is the published file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / archive.filename
    print(f"Downloading {archive.url} ({archive.size / 1e6:.0f} MB) to {target}", file=sys.stderr)
    partial = tempfile.NamedTemporaryFile(
        dir=folder, prefix=f".{archive.filename}.", suffix=".part", delete=False
    )
    try:
        with partial, urllib.request.urlopen(archive.url, timeout=60) as response:
            progress = DownloadProgress(int(response.headers.get("Content-Length") or archive.size))
            for chunk in iter(lambda: response.read(1 << 20), b""):
                partial.write(chunk)
                progress.update(len(chunk))
            progress.close()
        _verify(partial.name, archive)
    except (urllib.error.URLError, OSError, DatasetError) as error:
        os.unlink(partial.name)
        raise DatasetNotFoundError(
            _offline_help(searched, f"the download failed: {error}")
        ) from None
    except BaseException:
        os.unlink(partial.name)
        raise
    os.replace(partial.name, target)
    return target


def validation_split(x, y, fraction=0.1, seed=0):
    """Hold out a random ``fraction`` of the training data for validation (any arrays).

    Returns
    -------
    (x_train, y_train), (x_validation, y_validation)

    Examples
    --------
    >>> (a, b), (c, d) = validation_split(np.zeros((100, 2)), np.arange(100), 0.2)
    >>> a.shape, c.shape, len(set(b) & set(d))
    ((80, 2), (20, 2), 0)
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1). Received: fraction={fraction!r}")
    order = np.random.default_rng(seed).permutation(len(x))
    held_out = int(round(len(x) * fraction))
    validation, train = order[:held_out], order[held_out:]
    return (x[train], y[train]), (x[validation], y[validation])


# --------------------------------------------------------------------------------------
# scikit-learn's handwritten digits
# --------------------------------------------------------------------------------------


def load_digits(test_fraction=0.25, seed=0):
    """scikit-learn's 1,797 handwritten digits, 8x8 pixels, split into train and test.

    Real data that ships with scikit-learn, so it needs no download: small enough to
    train a CNN on in seconds, even in NumPy.

    Parameters
    ----------
    test_fraction : float, default 0.25
        Share of the images held out for testing (stratified: every digit in the
        same proportion in both parts).
    seed : int, default 0
        Seed of the split.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of tuples of numpy.ndarray
        Images of shape (N, 8, 8, 1), float32 in [0, 1] (the originals count 0 to 16
        ink levels); labels int64 from 0 to 9.

    Raises
    ------
    ImportError
        Without scikit-learn, saying how to install it (``pip install 'cnnbook[book]'``).

    Examples
    --------
    >>> (x_train, y_train), (x_test, y_test) = load_digits()
    >>> x_train.shape, x_test.shape, float(x_train.max())
    ((1347, 8, 8, 1), (450, 8, 8, 1), 1.0)
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:
        raise ImportError(
            "load_digits reads the digits that ship with scikit-learn, which is not "
            "installed: pip install 'cnnbook[book]' (or pip install scikit-learn)"
        ) from error

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1). Received: {test_fraction!r}")
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    x_train, x_test, y_train, y_test = train_test_split(
        images,
        digits.target.astype(np.int64),
        test_size=test_fraction,
        random_state=seed,
        stratify=digits.target,
    )
    return (x_train, y_train), (x_test, y_test)
