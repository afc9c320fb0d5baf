"""tools/readers_cifar.py: the readers' stand-in for the official CIFAR-10 files."""

import json

import numpy as np
import pytest

from cnnbook.datasets import BINARY_FOLDER, cifar10_copy, load_cifar10
from tools import readers_cifar


def small_copy(tmp_path, count=40, seed=1):
    """A tiny CIFAR-10 in the official binary format, sorted by class like the JPEG copy."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    labels = np.sort(rng.integers(0, 10, count))
    train = (images, labels)
    test = (images[: count // 4], labels[: count // 4])
    readers_cifar.write(tmp_path / "original", train, test, {})
    return tmp_path / "original", train, test


def test_the_copy_is_read_as_the_official_files(tmp_path):
    source, train, test = small_copy(tmp_path)
    folder = readers_cifar.build(tmp_path / "readers", source, noise=0.0, seed=3)
    assert folder == tmp_path / "readers" / BINARY_FOLDER
    assert cifar10_copy(tmp_path / "readers") == "official binary files"
    (x_train, y_train), (x_test, y_test) = load_cifar10(tmp_path / "readers", download=False)
    # Without noise: the same images and labels, in the order the seed draws.
    order = np.random.default_rng(3).permutation(len(train[0]))
    np.testing.assert_array_equal(x_train, train[0][order])
    np.testing.assert_array_equal(y_train, train[1][order])
    assert not np.array_equal(y_train, train[1]), "the order must change"
    assert len(x_test) == len(test[0]) and sorted(y_test) == sorted(test[1])
    provenance = json.loads((folder / "PROVENANCE.json").read_text())
    assert provenance["noise_levels"] == 0.0 and provenance["train_images"] == len(x_train)


def test_the_noise_moves_pixels_by_a_few_levels(tmp_path):
    source, train, _ = small_copy(tmp_path, count=200)
    readers_cifar.build(tmp_path / "readers", source, noise=3.0, seed=3)
    (x_train, y_train), _ = load_cifar10(tmp_path / "readers", download=False)
    order = np.random.default_rng(3).permutation(len(train[0]))
    difference = x_train.astype(int) - train[0][order].astype(int)
    np.testing.assert_array_equal(y_train, train[1][order])
    # Gaussian noise of 3 levels, rounded: about 2.4 levels on average; clipping at 0
    # and 255 only lowers it.
    assert 1.8 < np.abs(difference).mean() < 2.6
    assert np.abs(difference).max() <= 20


def test_negative_noise_is_an_error():
    rng = np.random.default_rng(0)
    images = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="noise"):
        readers_cifar.perturb(images, np.zeros(2), rng, noise=-1)
