"""cnnbook.datasets on small files made here: every format, every failure, no network."""

import dataclasses
import hashlib
import http.client
import io
import os
import re
import shutil
import sys
import tarfile
import urllib.request

import numpy as np
import pytest
from PIL import Image

from cnnbook import datasets
from cnnbook.datasets import (
    CIFAR10_CLASSES,
    DatasetError,
    DatasetNotFoundError,
    cifar10_copy,
    load_cifar10,
    load_digits,
    validation_split,
)

RECORDS_PER_FILE = 3
URLOPEN = urllib.request.urlopen


def make_records(rng, count):
    """``count`` random images and labels, and their bytes in the official layout."""
    images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count)
    planes = images.transpose(0, 3, 1, 2).reshape(count, -1)  # R plane, G plane, B plane
    data = np.concatenate([labels[:, None].astype(np.uint8), planes], axis=1).tobytes()
    return images, labels, data


@pytest.fixture
def binary_copy(tmp_path, rng):
    """A cifar-10-batches-bin/ folder of six small batch files, and what it holds."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    train = []
    for name in datasets.TRAIN_FILES:
        images, labels, data = make_records(rng, RECORDS_PER_FILE)
        (folder / name).write_bytes(data)
        train.append((images, labels))
    test_images, test_labels, data = make_records(rng, RECORDS_PER_FILE)
    (folder / datasets.TEST_FILE).write_bytes(data)
    x_train = np.concatenate([images for images, _ in train])
    y_train = np.concatenate([labels for _, labels in train])
    return folder, ((x_train, y_train), (test_images, test_labels))


def archive_of(folder, path):
    with tarfile.open(path, "w:gz") as archive:
        archive.add(folder, arcname=folder.name)
    return path


def published(monkeypatch, path):
    """Make ``path`` the published archive (size and checksums) for this test."""
    data = path.read_bytes()
    archive = dataclasses.replace(
        datasets.CIFAR10_ARCHIVE,
        url=path.as_uri(),
        filename=path.name,
        size=len(data),
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    monkeypatch.setattr(datasets, "CIFAR10_ARCHIVE", archive)
    return archive


def published_bytes(monkeypatch, path, data):
    """Write ``data`` to ``path`` and make it the published archive."""
    path.write_bytes(data)
    return published(monkeypatch, path)


def assert_same(loaded, expected):
    for (images, labels), (want_images, want_labels) in zip(loaded, expected):
        assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, want_labels)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No real data directory or cache, and no download unless a test allows one."""
    monkeypatch.delenv("CNNBOOK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(
        datasets.urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used")
    )


# ---- formats ---------------------------------------------------------------------------


def test_binary_folder_decodes_the_official_layout(binary_copy):
    folder, expected = binary_copy
    assert_same(load_cifar10(folder), expected)
    assert_same(load_cifar10(folder.parent), expected)  # the folder that holds it


def test_pixel_order_is_red_plane_then_green_then_blue(tmp_path):
    record = np.zeros(datasets.RECORD_BYTES, np.uint8)
    record[0] = 7
    record[1 + 0 * 1024 + 5] = 200  # red, row 0, column 5
    record[1 + 1 * 1024 + 32] = 100  # green, row 1, column 0
    record[1 + 2 * 1024 + 1023] = 50  # blue, row 31, column 31
    for name in (*datasets.TRAIN_FILES, datasets.TEST_FILE):
        (tmp_path / name).write_bytes(record.tobytes())
    (x_train, y_train), _ = load_cifar10(tmp_path)
    assert y_train[0] == 7
    assert x_train[0, 0, 5, 0] == 200 and x_train[0, 1, 0, 1] == 100 and x_train[0, 31, 31, 2] == 50
    assert x_train[0].sum() == 350


def test_official_archive_with_matching_checksum(monkeypatch, binary_copy, tmp_path):
    folder, expected = binary_copy
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    published(monkeypatch, archive)
    assert_same(load_cifar10(archive), expected)


def test_hard_linked_batch_in_the_official_archive_is_read(monkeypatch, binary_copy, tmp_path):
    folder, _ = binary_copy
    first, second = (folder / name for name in datasets.TRAIN_FILES[:2])
    second.unlink()
    os.link(first, second)  # two batches with the same bytes: tar stores the second as a link
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    with tarfile.open(archive) as tar:
        assert [member.name for member in tar if member.islnk()] == [f"{folder.name}/{second.name}"]
    published(monkeypatch, archive)
    assert_same(load_cifar10(archive), load_cifar10(folder))


def test_official_archive_with_wrong_checksum_is_refused(monkeypatch, binary_copy, tmp_path):
    folder, _ = binary_copy
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    published(monkeypatch, archive)
    data = bytearray(archive.read_bytes())
    data[100] ^= 0xFF  # same size, different content
    archive.write_bytes(bytes(data))
    with pytest.raises(
        DatasetError, match=re.escape(f"{str(archive)!r} does not match the published checksum")
    ):
        load_cifar10(archive)


def test_official_archive_of_wrong_size_is_refused(binary_copy, tmp_path):
    folder, _ = binary_copy
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    shutil.rmtree(folder)  # so that the folder search finds the archive
    message = (
        f"{str(archive)!r} has {archive.stat().st_size:,} bytes, "
        "the official cifar-10-binary.tar.gz has 170,052,171"
    )
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_cifar10(tmp_path)
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_cifar10(archive)


def test_official_archive_with_its_batch_folder_inside_another_is_read(
    monkeypatch, binary_copy, tmp_path
):
    folder, expected = binary_copy
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=f"cifar10/{folder.name}")
    published(monkeypatch, archive)
    assert_same(load_cifar10(archive), expected)
    # A damaged batch there is named by its file name.
    (folder / "data_batch_2.bin").write_bytes(b"short")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=f"cifar10/{folder.name}")
    published(monkeypatch, archive)
    with pytest.raises(DatasetError, match=r"^data_batch_2\.bin in "):
        load_cifar10(archive)


def test_renamed_official_archive_is_recognized_by_its_batch_folder(
    monkeypatch, binary_copy, tmp_path
):
    folder, expected = binary_copy
    renamed = archive_of(folder, tmp_path / "cifar10.tar.gz")
    archive = published(monkeypatch, renamed)
    official = dataclasses.replace(archive, filename="cifar-10-binary.tar.gz")
    monkeypatch.setattr(datasets, "CIFAR10_ARCHIVE", official)
    assert cifar10_copy(renamed) == "official archive"
    assert_same(load_cifar10(renamed), expected)


def test_archive_members_are_never_extracted(monkeypatch, binary_copy, tmp_path):
    folder, _ = binary_copy
    archive_path = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive_path, "w:gz") as archive:
        archive.add(folder, arcname=folder.name)
        evil = tarfile.TarInfo("../../escaped.txt")
        evil.size = 4
        archive.addfile(evil, io.BytesIO(b"evil"))
    published(monkeypatch, archive_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    load_cifar10(archive_path)
    assert not (tmp_path.parent / "escaped.txt").exists()
    assert sorted(tmp_path.rglob("*")) == before


def test_image_folder_tree(tmp_path, rng, make_image_tree):
    expected = make_image_tree(tmp_path / "cifar10", rng)
    assert_same(load_cifar10(tmp_path / "cifar10"), expected)


def test_image_tree_inside_an_archive(tmp_path, rng, make_image_tree):
    expected = make_image_tree(tmp_path / "cifar10", rng)
    archive = archive_of(tmp_path / "cifar10", tmp_path / "cifar10-png.tar.gz")
    assert_same(load_cifar10(archive), expected)


def test_archive_with_train_and_test_at_its_top_level(tmp_path, rng, make_image_tree):
    """Members exactly three deep (train/cat/0000.png), beside a top-level README."""
    expected = make_image_tree(tmp_path / "cifar10", rng, per_class=1)
    (tmp_path / "cifar10" / "README.txt").write_text("CIFAR-10 as PNG files")
    path = tmp_path / "top-level.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member in ("train", "test", "README.txt"):
            archive.add(tmp_path / "cifar10" / member, arcname=member)
    assert cifar10_copy(path) == "PNG copy (class folders)"
    assert_same(load_cifar10(path), expected)


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "archive"])
def test_other_files_in_class_folders_are_skipped(tmp_path, rng, make_image_tree, packed):
    expected = make_image_tree(tmp_path / "cifar10", rng, per_class=1)
    (tmp_path / "cifar10" / "train" / "cat" / "notes.txt").write_text("not an image")
    source = tmp_path / "cifar10"
    if packed:
        source = archive_of(source, tmp_path / "cifar10.tar.gz")
    assert_same(load_cifar10(source), expected)


def test_gray_images_are_read_as_rgb(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path, rng, per_class=1)
    gray = rng.integers(0, 256, size=(32, 32), dtype=np.uint8)
    Image.fromarray(gray, mode="L").save(tmp_path / "train" / "cat" / "0000.png")
    (x_train, _), _ = load_cifar10(tmp_path)
    cat = CIFAR10_CLASSES.index("cat")
    np.testing.assert_array_equal(x_train[cat], np.stack([gray] * 3, axis=-1))


def test_jpeg_images_are_read(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path / "jpeg", rng, per_class=1, suffix=".jpg")
    (x_train, y_train), (x_test, _) = load_cifar10(tmp_path / "jpeg")
    assert x_train.shape == (10, 32, 32, 3) and x_test.shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(y_train, np.arange(10))


# ---- where it looks --------------------------------------------------------------------


def test_environment_variable_is_searched(monkeypatch, binary_copy):
    folder, expected = binary_copy
    monkeypatch.setenv("CNNBOOK_DATA_DIR", str(folder.parent))
    assert_same(load_cifar10(), expected)


def test_cache_folder_is_searched(binary_copy, tmp_path):
    folder, expected = binary_copy
    cache = tmp_path / "cache" / "cnnbook"
    cache.mkdir(parents=True)
    folder.rename(cache / folder.name)
    assert_same(load_cifar10(), expected)


def test_source_takes_precedence_over_the_environment(monkeypatch, binary_copy, tmp_path, rng):
    folder, expected = binary_copy
    monkeypatch.setenv("CNNBOOK_DATA_DIR", str(tmp_path / "elsewhere"))
    assert_same(load_cifar10(folder), expected)


def test_folder_with_train_but_no_test_is_not_a_class_folder_copy(
    monkeypatch, binary_copy, tmp_path
):
    """A stray train/ folder does not hide the official archive beside it."""
    folder, expected = binary_copy
    published(monkeypatch, archive_of(folder, tmp_path / "cifar-10-binary.tar.gz"))
    shutil.rmtree(folder)
    (tmp_path / "train" / "cat").mkdir(parents=True)
    assert cifar10_copy(tmp_path) == "official archive"
    assert_same(load_cifar10(tmp_path), expected)


def test_cache_dir_on_windows_is_under_localappdata(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(datasets.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "AppData" / "Local"))
    assert datasets.cache_dir() == tmp_path / "AppData" / "Local" / "cnnbook"


def test_cache_dir_defaults_to_dot_cache_in_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(datasets.sys, "platform", "linux")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "AppData"))  # read on Windows only
    assert datasets.cache_dir() == tmp_path / ".cache" / "cnnbook"
    monkeypatch.setattr(datasets.sys, "platform", "win32")
    monkeypatch.delenv("LOCALAPPDATA")  # Windows without it: the same default
    assert datasets.cache_dir() == tmp_path / ".cache" / "cnnbook"


def test_missing_source_is_a_clear_error(tmp_path):
    nowhere = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError, match=re.escape(f"{str(nowhere)!r} does not exist")):
        load_cifar10(nowhere)
    empty = re.escape(f"no CIFAR-10 copy in {str(tmp_path)!r}")
    with pytest.raises(DatasetNotFoundError, match=empty):
        load_cifar10(tmp_path)


def test_nothing_found_and_no_download_tells_what_to_do(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="CNNBOOK_DATA_DIR") as error:
        load_cifar10(download=False)
    assert "downloading is switched off" in str(error.value)
    assert "load_cifar10(source=...)" in str(error.value)


def test_offline_help_names_the_folders_searched(monkeypatch, tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache" / "cnnbook"
    monkeypatch.setenv("CNNBOOK_DATA_DIR", str(data))
    with pytest.raises(DatasetNotFoundError) as error:
        load_cifar10(download=False)
    message = str(error.value)
    assert message.startswith(
        f"CIFAR-10 was not found (looked in {str(data)!r}, {str(cache)!r}) and downloading "
        "is switched off. To work offline, get cifar-10-binary.tar.gz from "
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz on a machine with internet"
    )
    assert message.endswith(f", or put it in {str(cache)!r}.")


# ---- download ----------------------------------------------------------------------------


def allow_download(monkeypatch):
    """Let the loader "download": the tests' URLs are file:// URLs of files made here."""
    monkeypatch.setattr(datasets.urllib.request, "urlopen", URLOPEN)


class FakeResponse(io.BytesIO):
    """A fake urlopen's reply: ``data``, ``headers``, and ``on_read()`` run before each read."""

    def __init__(self, data, headers, on_read):
        super().__init__(data)
        self.headers = http.client.HTTPMessage()
        for name, value in headers.items():
            self.headers[name] = value
        self.on_read = on_read

    def read(self, size=-1):
        self.on_read()
        return super().read(size)


def serve(monkeypatch, data, length=None, on_read=lambda: None):
    """Fake urlopen serving ``data`` (``Content-Length: length`` unless None); lists its calls."""
    calls = []

    def urlopen(url, **options):
        calls.append((url, options))
        headers = {} if length is None else {"Content-Length": str(length)}
        return FakeResponse(data, headers, on_read)

    monkeypatch.setattr(datasets.urllib.request, "urlopen", urlopen)
    return calls


def progress_redraws(err):
    """The redraws of the progress line (the second line of stderr)."""
    return err.split("\n")[1].split("\r")[1:]


def test_download_checks_and_keeps_the_archive(monkeypatch, binary_copy, tmp_path):
    folder, expected = binary_copy
    served = archive_of(folder, tmp_path / "served.tar.gz")
    published(monkeypatch, served)
    allow_download(monkeypatch)
    assert_same(load_cifar10(), expected)
    cache = tmp_path / "cache" / "cnnbook"
    assert [p.name for p in cache.iterdir()] == ["served.tar.gz"]
    monkeypatch.setattr(datasets.urllib.request, "urlopen", lambda *a, **k: pytest.fail("again"))
    assert_same(load_cifar10(), expected)  # from the cache this time


def test_download_shows_progress_on_one_updating_line(monkeypatch, binary_copy, tmp_path, capsys):
    folder, _ = binary_copy
    published(monkeypatch, archive_of(folder, tmp_path / "served.tar.gz"))
    allow_download(monkeypatch)
    load_cifar10()
    lines = capsys.readouterr().err.split("\n")  # not splitlines(): it splits at "\r" too
    assert len(lines) == 3 and lines[0].startswith("Downloading file://") and lines[2] == ""
    redraws = lines[1].split("\r")[1:]
    assert 1 <= len(redraws) <= 3  # the first chunk, maybe one more, the end
    assert re.fullmatch(r" *[0-9.]+ / [0-9.]+ MB  100%  [0-9.]+ MB/s  0 s left", redraws[-1])


def test_download_into_an_existing_folder_without_content_length(
    monkeypatch, binary_copy, tmp_path, capsys
):
    """The progress then counts to the archive's published size."""
    folder, expected = binary_copy
    served = archive_of(folder, tmp_path / "served.tar.gz")
    archive = published(monkeypatch, served)
    cache = tmp_path / "cache" / "cnnbook"
    cache.mkdir(parents=True)
    (cache / "notes.txt").write_text("kept")
    calls = serve(monkeypatch, served.read_bytes())
    assert_same(load_cifar10(), expected)
    assert sorted(path.name for path in cache.iterdir()) == ["notes.txt", "served.tar.gz"]
    [(url, options)] = calls
    assert url == archive.url and options["timeout"] == 60  # never waits forever
    assert "  100%  " in progress_redraws(capsys.readouterr().err)[-1]


def test_download_prints_the_url_its_size_in_mb_and_the_target(monkeypatch, tmp_path, capsys):
    data = bytes(2_500_001)  # 2.500001 MB, shown as 3 MB
    archive = published_bytes(monkeypatch, tmp_path / "data.tar.gz", data)
    serve(monkeypatch, data, length=len(data))
    target = datasets._download(archive, tmp_path / "cache" / "cnnbook", [])
    assert target == tmp_path / "cache" / "cnnbook" / "data.tar.gz"
    assert target.read_bytes() == data
    first_line = capsys.readouterr().err.split("\n")[0]
    assert first_line == f"Downloading {archive.url} (3 MB) to {target}"


def test_download_of_another_file_counts_to_its_content_length_and_is_refused(
    monkeypatch, tmp_path, capsys
):
    published_bytes(monkeypatch, tmp_path / "cifar.tar.gz", bytes(1000))
    error_page = b"<html>moved</html>"
    serve(monkeypatch, error_page, length=len(error_page))
    with pytest.raises(DatasetNotFoundError, match="18 bytes, the official cifar.tar.gz has 1,000"):
        load_cifar10()
    assert "  100%  " in progress_redraws(capsys.readouterr().err)[-1]
    assert list((tmp_path / "cache" / "cnnbook").iterdir()) == []


def test_download_writes_a_hidden_part_file_in_the_target_folder(monkeypatch, tmp_path):
    """...and deletes it when the connection breaks."""
    published_bytes(monkeypatch, tmp_path / "cifar.tar.gz", bytes(1000))
    cache = tmp_path / "cache" / "cnnbook"
    seen = []

    def read_then_break():
        seen.append([path.name for path in cache.iterdir()])
        if len(seen) == 2:
            raise ConnectionResetError("connection reset by peer")

    serve(monkeypatch, bytes(1000), length=1000, on_read=read_then_break)
    with pytest.raises(DatasetNotFoundError, match="the download failed: connection reset by peer"):
        load_cifar10()
    assert len(seen[0]) == 1 and re.fullmatch(r"\.cifar\.tar\.gz\..+\.part", seen[0][0])
    assert list(cache.iterdir()) == []


def test_interrupted_download_leaves_no_file(monkeypatch, tmp_path):
    """Ctrl-C (or any other exception) goes through, and the partial file goes."""
    published_bytes(monkeypatch, tmp_path / "cifar.tar.gz", bytes(1000))

    def interrupt():
        raise KeyboardInterrupt

    serve(monkeypatch, bytes(1000), length=1000, on_read=interrupt)
    with pytest.raises(KeyboardInterrupt):
        load_cifar10()
    assert list((tmp_path / "cache" / "cnnbook").iterdir()) == []


def test_download_reads_and_reports_a_megabyte_at_a_time(monkeypatch, tmp_path):
    """So that the progress line moves during a 170 MB download, not only at its end."""
    data = bytes(3 * 2**20 + 1)
    archive = published_bytes(monkeypatch, tmp_path / "data.tar.gz", data)
    serve(monkeypatch, data, length=len(data))
    sizes = []

    class Recording(datasets.DownloadProgress):
        def update(self, size):
            sizes.append(size)
            super().update(size)

    monkeypatch.setattr(datasets, "DownloadProgress", Recording)
    datasets._download(archive, tmp_path / "cache", [])
    assert sizes == [2**20, 2**20, 2**20, 1]


def test_progress_line_shows_megabytes_share_rate_and_seconds_left():
    """MB are 10**6 bytes; the rate is the average since the start; redraws every 0.5 s."""
    times = iter([100.0, 100.25, 100.5, 100.75, 101.0, 102.0])  # the start, each call
    out = io.StringIO()
    progress = datasets.DownloadProgress(10_050_001, stream=out, clock=lambda: next(times))
    progress.update(1_050_001)  # at 0.25 s: drawn, as the first update always is
    progress.update(487_500)  # at 0.5 s: 0.25 s after the last redraw, not drawn
    progress.update(0)  # at 0.75 s: exactly 0.5 s after it, drawn
    progress.update(8_512_500)  # at 1 s: not drawn
    progress.close()  # at 2 s
    assert out.getvalue().split("\r") == [
        "",
        "   1.1 / 10.1 MB  10%  4.2 MB/s  2 s left",
        "   1.5 / 10.1 MB  15%  2.1 MB/s  4 s left",
        "  10.1 / 10.1 MB  100%  5.0 MB/s  0 s left\n",
    ]


def test_progress_before_any_byte_and_at_a_trickle():
    times = iter([0.0, 0.0, 4.0])
    out = io.StringIO()
    progress = datasets.DownloadProgress(4_000_000, stream=out, clock=lambda: next(times))
    progress.update(0)  # nothing yet: no rate, no estimate
    progress.update(2)  # 2 bytes in 4 s: a long estimate, but one
    assert out.getvalue().split("\r")[1:] == [
        "   0.0 / 4.0 MB  0%  0.0 MB/s  inf s left",
        "   0.0 / 4.0 MB  0%  0.0 MB/s  7999996 s left",
    ]


@pytest.mark.parametrize(
    ("total", "shown"), [(0, "0%  0.0 MB/s  inf s left"), (1, "100%  0.0 MB/s  0 s left")]
)
def test_progress_of_an_empty_or_one_byte_total(total, shown):
    """A Content-Length of 0 divides by nothing; 1 byte of 1 is all of it."""
    times = iter([0.0, 1.0])
    out = io.StringIO()
    progress = datasets.DownloadProgress(total, stream=out, clock=lambda: next(times))
    progress.update(total)
    assert out.getvalue() == "\r   0.0 / 0.0 MB  " + shown


def test_progress_redraws_at_most_every_half_second():
    import io

    clock = iter(np.arange(0, 10, 0.1))
    out = io.StringIO()
    progress = datasets.DownloadProgress(100, stream=out, clock=lambda: next(clock))
    for _ in range(50):  # 5 seconds of 1-byte chunks
        progress.update(1)
    progress.close()
    assert 9 <= out.getvalue().count("\r") <= 12 and out.getvalue().endswith("\n")
    assert out.getvalue().count("\n") == 1


def test_failed_download_leaves_no_file(monkeypatch, binary_copy, tmp_path):
    folder, _ = binary_copy
    archive = published(monkeypatch, archive_of(folder, tmp_path / "served.tar.gz"))
    missing = dataclasses.replace(archive, url=(tmp_path / "missing.tar.gz").as_uri())
    monkeypatch.setattr(datasets, "CIFAR10_ARCHIVE", missing)
    allow_download(monkeypatch)
    with pytest.raises(DatasetNotFoundError, match="the download failed") as error:
        load_cifar10()
    assert "To work offline" in str(error.value)
    assert list((tmp_path / "cache" / "cnnbook").iterdir()) == []


def test_download_that_does_not_match_leaves_no_file(monkeypatch, binary_copy, tmp_path):
    folder, _ = binary_copy
    served = archive_of(folder, tmp_path / "served.tar.gz")
    archive = published(monkeypatch, served)
    monkeypatch.setattr(datasets, "CIFAR10_ARCHIVE", dataclasses.replace(archive, sha256="0" * 64))
    allow_download(monkeypatch)
    with pytest.raises(DatasetNotFoundError, match="does not match the published checksum"):
        load_cifar10()
    assert list((tmp_path / "cache" / "cnnbook").iterdir()) == []


# ---- malformed files -------------------------------------------------------------------------


def test_truncated_batch_file_is_named(binary_copy):
    folder, _ = binary_copy
    path = folder / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match=r"data_batch_3.bin' is truncated or malformed"):
        load_cifar10(folder)


def test_empty_batch_file_is_named(binary_copy):
    folder, _ = binary_copy
    (folder / "test_batch.bin").write_bytes(b"")
    with pytest.raises(DatasetError, match="test_batch.bin' is truncated"):
        load_cifar10(folder)


@pytest.mark.parametrize("label", [10, 12])
def test_bad_label_is_reported(binary_copy, label):
    folder, _ = binary_copy
    data = bytearray((folder / "data_batch_1.bin").read_bytes())
    data[0] = label
    (folder / "data_batch_1.bin").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=f"label {label} found"):
        load_cifar10(folder)


@pytest.mark.parametrize("name", ["data_batch_2.bin", "data_batch_5.bin", "test_batch.bin"])
def test_missing_batch_file_is_named(binary_copy, name):
    folder, _ = binary_copy
    (folder / name).unlink()
    with pytest.raises(DatasetError, match=re.escape(f"{str(folder)!r} has no {name}")):
        load_cifar10(folder)


def test_official_archive_lacking_batches_names_them(monkeypatch, binary_copy, tmp_path):
    folder, _ = binary_copy
    (folder / "data_batch_2.bin").unlink()
    (folder / "test_batch.bin").unlink()
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    published(monkeypatch, archive)
    message = f"{str(archive)!r} lacks data_batch_2.bin, test_batch.bin"
    with pytest.raises(DatasetError, match=re.escape(message) + "$"):
        load_cifar10(archive)


def test_truncated_batch_in_the_official_archive_is_named(monkeypatch, binary_copy, tmp_path):
    folder, _ = binary_copy
    path = folder / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-10])
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    published(monkeypatch, archive)
    message = f"data_batch_2.bin in {str(archive)!r} is truncated or malformed"
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_cifar10(archive)


def test_truncated_archive_is_an_error(monkeypatch, binary_copy, tmp_path):
    folder, _ = binary_copy
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    archive.write_bytes(archive.read_bytes()[:-200])
    published(monkeypatch, archive)
    with pytest.raises(DatasetError, match="cifar-10-binary.tar.gz"):
        load_cifar10(archive)


def test_truncated_class_folder_archive_is_named(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path / "cifar10", rng, per_class=1)
    archive = archive_of(tmp_path / "cifar10", tmp_path / "cifar10.tar.gz")
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(DatasetError, match=re.escape(repr(str(archive)))):
        load_cifar10(archive)


def test_hard_linked_image_in_a_class_folder_archive_is_read(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path / "cifar10", rng)
    cat = tmp_path / "cifar10" / "train" / "cat"
    (cat / "0001.png").unlink()
    os.link(cat / "0000.png", cat / "0001.png")  # the same image twice, as tar then stores it
    archive = archive_of(tmp_path / "cifar10", tmp_path / "cifar10.tar.gz")
    assert_same(load_cifar10(archive), load_cifar10(tmp_path / "cifar10"))


def test_archive_tree_names_an_unreadable_archive(tmp_path):
    path = tmp_path / "bad.tar.gz"
    path.write_bytes(b"junk")
    with pytest.raises(DatasetError, match=re.escape(f"{str(path)!r} is not a readable archive")):
        datasets._ArchiveTree(path)


def test_hard_link_to_a_file_missing_from_the_archive_is_named(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path / "cifar10", rng, per_class=1)
    archive = tmp_path / "cifar10.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "cifar10", arcname="cifar10")
        link = tarfile.TarInfo("cifar10/train/cat/9999.png")
        link.type, link.linkname = tarfile.LNKTYPE, "cifar10/train/cat/gone.png"
        tar.addfile(link)
    named = re.escape(f"{str(archive)!r} is not a readable archive: ") + ".*gone\\.png"
    with pytest.raises(DatasetError, match=named):
        load_cifar10(archive)


def test_file_that_is_not_an_archive(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(DatasetError, match="notes.txt' is not a tar archive"):
        load_cifar10(path)


def test_corrupt_image_is_named(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path, rng, per_class=1)
    (tmp_path / "test" / "cat" / "0000.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"test/cat/0000.png' is not a readable image"):
        load_cifar10(tmp_path)


def test_image_of_wrong_size_is_named(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path, rng, per_class=1)
    Image.new("RGB", (64, 48)).save(tmp_path / "train" / "dog" / "0000.png")
    with pytest.raises(DatasetError, match=r"dog/0000.png' is 64x48 pixels"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "archive"])
def test_missing_class_folder_is_named(tmp_path, rng, make_image_tree, packed):
    source = tmp_path / "cifar10"
    make_image_tree(source, rng, per_class=1, classes=CIFAR10_CLASSES[:-1])
    if packed:
        source = archive_of(source, tmp_path / "cifar10.tar.gz")
    message = (
        f"no images in train/truck/ of {str(source)!r}: a class-folder copy needs all ten "
        "classes (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck)"
    )
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_cifar10(source)


@pytest.mark.parametrize("missing", ["train", "test"])
def test_archive_without_train_or_test_names_what_is_missing(
    tmp_path, rng, make_image_tree, missing
):
    make_image_tree(tmp_path / "cifar10", rng, per_class=1)
    shutil.rmtree(tmp_path / "cifar10" / missing)
    archive = archive_of(tmp_path / "cifar10", tmp_path / "cifar10.tar.gz")
    with pytest.raises(DatasetError, match=f"no images in {missing}/airplane/ of"):
        load_cifar10(archive)


# ---- which copy ------------------------------------------------------------------------


def test_cifar10_copy_names_each_kind_of_copy(
    monkeypatch, binary_copy, tmp_path, rng, make_image_tree
):
    folder, _ = binary_copy
    assert cifar10_copy(folder) == "official binary files"
    assert cifar10_copy(folder.parent) == "official binary files"
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    assert cifar10_copy(archive) == "official archive"
    make_image_tree(tmp_path / "jpeg", rng, per_class=1, suffix=".jpg")
    assert cifar10_copy(tmp_path / "jpeg") == "JPEG copy (class folders)"
    make_image_tree(tmp_path / "png", rng, per_class=1)
    assert cifar10_copy(archive_of(tmp_path / "png", tmp_path / "png.tar.gz")) == (
        "PNG copy (class folders)"
    )
    monkeypatch.setenv("CNNBOOK_DATA_DIR", str(tmp_path / "jpeg"))
    assert cifar10_copy() == "JPEG copy (class folders)"


def test_cifar10_copy_of_class_folders_without_jpeg_or_png(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path, rng, per_class=1, suffix=".bmp")
    assert cifar10_copy(tmp_path) == "image copy (class folders)"
    with pytest.raises(DatasetError, match="no images in"):  # load_cifar10 reads none
        load_cifar10(tmp_path)


def test_cifar10_copy_without_a_copy_reads_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "_download", lambda *args: pytest.fail("downloaded"))
    assert cifar10_copy().startswith("none found")
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        cifar10_copy(tmp_path / "nowhere")


def test_digits_split_is_stratified_and_checked():
    (x_train, y_train), (x_test, y_test) = load_digits(test_fraction=0.5, seed=1)
    assert len(x_train) + len(x_test) == 1797 and x_train.dtype == np.float32
    assert abs(np.bincount(y_train) - np.bincount(y_test)).max() <= 1
    for fraction in (0, 1.0):
        message = f"test_fraction must be in (0, 1). Received: {fraction!r}"
        with pytest.raises(ValueError, match=re.escape(message)):
            load_digits(test_fraction=fraction)


def test_digits_by_default_hold_out_a_quarter_scaled_to_0_1():
    (x_train, y_train), (x_test, y_test) = load_digits()
    assert x_train.shape == (1347, 8, 8, 1) and x_test.shape == (450, 8, 8, 1)
    assert x_train.min() == 0.0 and x_train.max() == 1.0  # 16 ink levels over 16
    np.testing.assert_array_equal(x_train * 16, np.round(x_train * 16))
    assert y_train.dtype == np.int64 and set(y_test) == set(range(10))
    (same_x, same_y), _ = load_digits(test_fraction=0.25, seed=0)
    np.testing.assert_array_equal(same_x, x_train)
    np.testing.assert_array_equal(same_y, y_train)


def test_digits_seed_chooses_the_split():
    (_, first), _ = load_digits(seed=1)
    (_, again), _ = load_digits(seed=1)
    (_, other), _ = load_digits(seed=2)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_digits_without_scikit_learn_name_the_extra_to_install(monkeypatch):
    # None in sys.modules makes an import fail, as if scikit-learn were not installed.
    for name in ("sklearn", "sklearn.datasets", "sklearn.model_selection"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError) as error:
        load_digits()
    assert str(error.value) == (
        "load_digits reads the digits that ship with scikit-learn, which is not installed: "
        "pip install 'cnnbook[book]' (or pip install scikit-learn)"
    )


# ---- validation_split -----------------------------------------------------------------


def paired(count):
    """``count`` rows of features ``(i, -i)`` and labels ``i``: a split must keep them paired."""
    labels = np.arange(count)
    return np.stack([labels, -labels], axis=1), labels


def test_validation_split_holds_out_a_random_fraction_keeping_pairs():
    x, y = paired(100)
    (x_train, y_train), (x_validation, y_validation) = validation_split(x, y, 0.25, seed=3)
    assert x_train.shape == (75, 2) and x_validation.shape == (25, 2)
    np.testing.assert_array_equal(x_train[:, 0], y_train)
    np.testing.assert_array_equal(x_validation[:, 0], y_validation)
    assert sorted([*y_train, *y_validation]) == list(range(100))  # each example once
    assert not set(y_validation) <= set(range(25)) and not set(y_validation) <= set(range(75, 100))


def test_validation_split_defaults_to_a_tenth_with_seed_0():
    x, y = paired(50)
    (_, y_train), (_, y_validation) = validation_split(x, y)
    assert len(y_train) == 45 and len(y_validation) == 5
    (_, same), _ = validation_split(x, y, fraction=0.1, seed=0)
    np.testing.assert_array_equal(same, y_train)


def test_validation_split_seed_chooses_the_split():
    x, y = paired(50)
    (_, first), _ = validation_split(x, y, seed=7)
    (_, again), _ = validation_split(x, y, seed=7)
    (_, other), _ = validation_split(x, y, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("fraction", [0, 0.0, 1, 1.5, -0.1])
def test_validation_split_fraction_must_be_between_0_and_1(fraction):
    x, y = paired(10)
    message = f"fraction must be in (0, 1). Received: fraction={fraction!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        validation_split(x, y, fraction)
