"""cnnbook.training: CIFAR-10 subsets and seeded training runs, on small made-up data."""

import matplotlib
import numpy as np
import pytest

from cnnbook.plots import plot_validation_curves
from cnnbook.training import cifar10_subsets, train_and_evaluate
from tests.test_datasets import make_image_tree

matplotlib.use("Agg")


def test_subsets_are_disjoint_scaled_and_checked(tmp_path, rng):
    make_image_tree(tmp_path, rng, per_class=3)  # 30 training and 30 test images
    data = cifar10_subsets(20, 10, 5, source=tmp_path)
    assert [len(data[part][0]) for part in ("train", "validation", "test")] == [20, 10, 5]
    images, _ = data["train"]
    assert images.dtype == np.float32 and 0.0 <= images.min() and images.max() <= 1.0
    train_rows = {row.tobytes() for row in data["train"][0]}
    assert not any(row.tobytes() in train_rows for row in data["validation"][0])
    with pytest.raises(ValueError, match="asked for 25 \\+ 10 training"):
        cifar10_subsets(25, 10, 5, source=tmp_path)


def test_train_and_evaluate_is_seeded_and_reports(tf, rng):
    import keras

    x = rng.random((64, 4, 4, 3)).astype("float32")
    y = rng.integers(0, 2, size=64)
    data = {"train": (x[:40], y[:40]), "validation": (x[40:52], y[40:52]), "test": (x[52:], y[52:])}

    def model():
        keras.utils.set_random_seed(1)
        network = keras.Sequential(
            [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")]
        )
        network.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return network

    first, second = train_and_evaluate(model(), data, 3), train_and_evaluate(model(), data, 3)
    assert first["epochs_run"] == 3 and first["parameters"] == 98
    assert set(first["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert first["history"]["loss"] == second["history"]["loss"]
    ax = plot_validation_curves({"a": first, "b": second}, "val_loss", title="t")
    assert len(ax.lines) == 2 and ax.get_ylabel() == "val loss"
    matplotlib.pyplot.close("all")
