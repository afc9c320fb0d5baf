"""cnnbook.datasets on small files made here: every format, every failure, no network."""

import dataclasses
import hashlib
import io
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


def test_official_archive_with_wrong_checksum_is_refused(monkeypatch, binary_copy, tmp_path):
    folder, _ = binary_copy
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    published(monkeypatch, archive)
    data = bytearray(archive.read_bytes())
    data[100] ^= 0xFF  # same size, different content
    archive.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="does not match the published checksum"):
        load_cifar10(archive)


def test_official_archive_of_wrong_size_is_refused(binary_copy, tmp_path):
    folder, _ = binary_copy
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    shutil.rmtree(folder)  # so that the folder search finds the archive
    with pytest.raises(DatasetError, match="official cifar-10-binary.tar.gz has 170,052,171"):
        load_cifar10(tmp_path)
    with pytest.raises(DatasetError, match="official cifar-10-binary.tar.gz has 170,052,171"):
        load_cifar10(archive)


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


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="no CIFAR-10 copy in"):
        load_cifar10(tmp_path)


def test_nothing_found_and_no_download_tells_what_to_do(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="CNNBOOK_DATA_DIR") as error:
        load_cifar10(download=False)
    assert "downloading is switched off" in str(error.value)
    assert "load_cifar10(source=...)" in str(error.value)


# ---- download ----------------------------------------------------------------------------


def allow_download(monkeypatch):
    """Let the loader "download": the tests' URLs are file:// URLs of files made here."""
    monkeypatch.setattr(datasets.urllib.request, "urlopen", URLOPEN)


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


def test_bad_label_is_reported(binary_copy):
    folder, _ = binary_copy
    data = bytearray((folder / "data_batch_1.bin").read_bytes())
    data[0] = 12
    (folder / "data_batch_1.bin").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="label 12 found"):
        load_cifar10(folder)


def test_missing_batch_file_is_named(binary_copy):
    folder, _ = binary_copy
    (folder / "data_batch_5.bin").unlink()
    with pytest.raises(DatasetError, match="has no data_batch_5.bin"):
        load_cifar10(folder)


def test_truncated_archive_is_an_error(monkeypatch, binary_copy, tmp_path):
    folder, _ = binary_copy
    archive = archive_of(folder, tmp_path / "cifar-10-binary.tar.gz")
    archive.write_bytes(archive.read_bytes()[:-200])
    published(monkeypatch, archive)
    with pytest.raises(DatasetError, match="cifar-10-binary.tar.gz"):
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


def test_missing_class_folder_is_named(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path, rng, per_class=1, classes=CIFAR10_CLASSES[:-1])
    with pytest.raises(DatasetError, match="no images in train/truck/"):
        load_cifar10(tmp_path)


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


def test_cifar10_copy_without_a_copy_reads_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "_download", lambda *args: pytest.fail("downloaded"))
    assert cifar10_copy().startswith("none found")
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        cifar10_copy(tmp_path / "nowhere")


def test_digits_split_is_stratified_and_checked():
    from cnnbook.datasets import load_digits

    (x_train, y_train), (x_test, y_test) = load_digits(test_fraction=0.5, seed=1)
    assert len(x_train) + len(x_test) == 1797 and x_train.dtype == np.float32
    assert abs(np.bincount(y_train) - np.bincount(y_test)).max() <= 1
    with pytest.raises(ValueError, match="test_fraction must be in"):
        load_digits(test_fraction=1.0)


def test_digits_without_scikit_learn_name_the_extra_to_install(monkeypatch):
    from cnnbook.datasets import load_digits

    # None in sys.modules makes an import fail, as if scikit-learn were not installed.
    for name in ("sklearn", "sklearn.datasets", "sklearn.model_selection"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"scikit-learn.*pip install 'cnnbook\[book\]'"):
        load_digits()
