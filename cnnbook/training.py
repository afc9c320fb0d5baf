"""Helpers for the book's Keras experiments: data subsets and seeded, timed training runs."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["cifar10_subsets", "train_and_evaluate"]


def cifar10_subsets(train_size, validation_size, test_size, seed=0, source=None):
    """Stratification-free random subsets of CIFAR-10, scaled to [0, 1] float32.

    The validation images come from the *training* set (the test set is kept for the
    final measurement, which the tutorial this book grew from did not do).

    Parameters
    ----------
    train_size, validation_size : int
        Images drawn, without overlap, from the 50,000 training images.
    test_size : int
        Images drawn from the 10,000 test images.
    seed : int, default 0
    source : optional
        Passed to :func:`cnnbook.datasets.load_cifar10`.

    Returns
    -------
    dict
        ``{"train": (x, y), "validation": (x, y), "test": (x, y)}``.
    """
    from cnnbook.datasets import load_cifar10

    (x_train, y_train), (x_test, y_test) = load_cifar10(source)
    if train_size + validation_size > len(x_train) or test_size > len(x_test):
        raise ValueError(
            f"asked for {train_size} + {validation_size} training and {test_size} test images; "
            f"there are {len(x_train)} and {len(x_test)}"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    train, validation = order[:train_size], order[train_size : train_size + validation_size]
    test = rng.permutation(len(x_test))[:test_size]

    def scaled(images, labels, chosen):
        return images[chosen].astype(np.float32) / 255.0, labels[chosen]

    return {
        "train": scaled(x_train, y_train, train),
        "validation": scaled(x_train, y_train, validation),
        "test": scaled(x_test, y_test, test),
    }


def train_and_evaluate(model, data, epochs, batch_size=64, callbacks=(), seed=0):
    """Train a compiled Keras model on ``data["train"]``, validating on ``data["validation"]``.

    Parameters
    ----------
    model : keras.Model
        Compiled, with an accuracy metric.
    data : dict
        As returned by :func:`cifar10_subsets`.
    epochs, batch_size : int
    callbacks : sequence of keras.callbacks.Callback
    seed : int, default 0
        Seeds Keras's shuffling and dropout masks for this run.

    Returns
    -------
    dict
        ``history`` (per-epoch loss and accuracy, training and validation),
        ``epochs_run``, ``test_accuracy``, ``parameters`` and ``seconds``.
    """
    import keras

    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    history = model.fit(
        *data["train"],
        validation_data=data["validation"],
        epochs=epochs,
        batch_size=batch_size,
        callbacks=list(callbacks),
        verbose=0,
    )
    seconds = time.perf_counter() - started
    _, test_accuracy = model.evaluate(*data["test"], verbose=0)
    return {
        "history": history.history,
        "epochs_run": len(history.history["loss"]),
        "test_accuracy": float(test_accuracy),
        "parameters": model.count_params(),
        "seconds": seconds,
    }
