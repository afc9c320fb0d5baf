"""Helpers for the book's Keras experiments: data subsets and seeded, timed training runs,
the CIFAR-10 input pipeline, schedules and test-time augmentation.

Every helper runs on each Keras backend. The input pipeline is ``tf.data`` on TensorFlow
and a ``keras.utils.PyDataset`` of NumPy batches on JAX and PyTorch, so TensorFlow need
not be installed there. Device and precision detection live in :mod:`cnnbook.runtime`.

Used by chapters 4, 9a, 9b, 10 and 11.
"""

import functools
import time

import numpy as np

from cnnbook._arguments import positive_int, whole_number
from cnnbook.runtime import backend, import_keras, import_tensorflow, without_autotuning

keras = import_keras()

__all__ = [
    "cifar10_subsets",
    "epoch_logger",
    "make_dataset",
    "predict_with_flip",
    "random_batch_step",
    "schedule_values",
    "sgd_warmup_cosine",
    "train_and_evaluate",
    "warmup_cosine_schedule",
]


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

    Compare settings by their validation accuracy; measure the test accuracy once, for
    the setting chosen. Without a ``"test"`` entry in ``data``, nothing is measured on
    test images (``test_accuracy`` is None): evaluate the returned model on them at the
    end instead.

    Parameters
    ----------
    model : keras.Model
        Compiled, with an ``"accuracy"`` metric (other metrics may follow it).
    data : dict
        As returned by :func:`cifar10_subsets`: ``"train"`` and ``"validation"`` pairs
        of (images, labels), and optionally ``"test"``.
    epochs, batch_size : int
    callbacks : sequence of keras.callbacks.Callback
    seed : int, default 0
        Seeds Keras's shuffling and dropout masks for this run.

    Returns
    -------
    dict
        ``history`` (per-epoch loss and accuracy, training and validation),
        ``epochs_run``, ``test_accuracy`` (None without test data), ``parameters``,
        ``seconds`` and the trained ``model``.
    """
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
    test_accuracy = None
    if "test" in data:
        scores = model.evaluate(*data["test"], verbose=0, return_dict=True)
        test_accuracy = float(scores["accuracy"])
    return {
        "history": history.history,
        "epochs_run": len(history.history["loss"]),
        "test_accuracy": test_accuracy,
        "parameters": model.count_params(),
        "seconds": seconds,
        "model": model,
    }


def random_batch_step(model, batch_size, one_hot=False, seed=0):
    """One training step of a compiled classifier on a fixed batch of random data, to time.

    What a chapter passes to :func:`cnnbook.runtime.use_precision` as ``cpu_bfloat16``
    (inside a function that builds the model, so that it is built under each policy):
    the time of a step depends on the shapes and the layers, not on the values, so
    random images stand in for the data.

    Parameters
    ----------
    model : keras.Model
        Compiled, with a known input shape and one output per class.
    batch_size : int
        The batch size the chapter trains with.
    one_hot : bool, default False
        Labels as one-hot rows (for ``categorical_crossentropy``) instead of integers
        (``sparse_categorical_crossentropy``).
    seed : int, default 0
        Seeds the random inputs and labels.

    Returns
    -------
    functools.partial
        With no arguments: ``model.train_on_batch`` on the same batch, inputs uniform in
        [0, 1) and random labels, at each call. Its ``trainer`` attribute is ``model``
        (as for :func:`cnnbook.keras.fast_training.training_step`).

    Raises
    ------
    ValueError
        For a model that is not a compiled Keras model, a batch size below 1 or a
        negative seed.

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "softmax")])
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> step = random_batch_step(model, batch_size=8)
    >>> loss = step()
    """
    batch_size = positive_int(batch_size, "batch_size")
    rng = np.random.default_rng(whole_number(seed, "seed"))
    if not getattr(model, "compiled", False):
        raise ValueError(
            "model must be a Keras model compiled with the optimizer and the loss the "
            f"chapter trains with. Received: model={model!r}"
        )
    inputs = rng.random((batch_size, *model.input_shape[1:]), dtype=np.float32)
    classes = model.output_shape[-1]
    labels = rng.integers(0, classes, batch_size)
    if one_hot:
        labels = np.eye(classes, dtype=np.float32)[labels]
    step = functools.partial(model.train_on_batch, inputs, labels)
    step.trainer = model
    return step


# --------------------------------------------------------------------------------------
# Input pipeline
# --------------------------------------------------------------------------------------


def make_dataset(images, labels, batch_size, shuffle=False, seed=0, num_classes=None):
    """Batches of uint8 images scaled to [0, 1] on the fly, for ``model.fit``.

    Keeping the images as uint8 in memory takes a quarter of the space of float32;
    the scaling happens batch by batch. On the TensorFlow backend this is a ``tf.data``
    pipeline (scaled in parallel with training, prefetched, with autotuning off:
    :func:`cnnbook.runtime.without_autotuning`); on JAX and PyTorch, where
    TensorFlow may not be installed, a ``keras.utils.PyDataset`` of NumPy batches.

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (N, height, width, channels)
    labels : numpy.ndarray of int, shape (N,)
    batch_size : int
    shuffle : bool, default False
        Reshuffle every epoch, with a seeded order (the same sequence each run).
    seed : int, default 0
    num_classes : int, optional
        One-hot encode the labels (for ``categorical_crossentropy``).

    Returns
    -------
    tf.data.Dataset or keras.utils.PyDataset
        Batches of (float32 images, labels).
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0-255). Received: dtype={images.dtype}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    batch_size = positive_int(batch_size, "batch_size")
    if backend() != "tensorflow":
        return _array_batches(images, labels, batch_size, shuffle, seed, num_classes)

    tf = import_tensorflow()
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)

    def scale(batch_images, batch_labels):
        batch_images = tf.cast(batch_images, tf.float32) / 255.0
        if num_classes is not None:
            batch_labels = tf.one_hot(batch_labels, num_classes)
        return batch_images, batch_labels

    # Without autotuning, the parallel map runs on every core.
    dataset = dataset.batch(batch_size).map(scale, num_parallel_calls=tf.data.AUTOTUNE)
    return without_autotuning(dataset.prefetch(tf.data.AUTOTUNE))


def _array_batches(images, labels, batch_size, shuffle, seed, num_classes):
    """:func:`make_dataset` without TensorFlow: a ``keras.utils.PyDataset``."""

    class ArrayBatches(keras.utils.PyDataset):
        """Batches of (images / 255 as float32, labels), in a seeded order per epoch."""

        def __init__(self):
            super().__init__()
            self.images, self.labels, self.batch_size = images, labels, batch_size
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(images)) if shuffle else np.arange(len(images))

        def __len__(self):
            return -(-len(self.images) // self.batch_size)

        def __getitem__(self, index):
            chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
            batch_labels = self.labels[chosen]
            if num_classes is not None:
                batch_labels = np.eye(num_classes, dtype=np.float32)[batch_labels]
            return self.images[chosen].astype(np.float32) / 255.0, batch_labels

        def on_epoch_end(self):
            if shuffle:
                self.order = self.rng.permutation(len(self.images))

    return ArrayBatches()


def epoch_logger(epochs, every=1):
    """A Keras callback that prints one short line per epoch (or every ``every`` epochs).

    Keras's own ``verbose=1`` redraws a progress bar many times per epoch, which a
    notebook stores as hundreds of lines; this prints, at the end of an epoch,
    ``epoch 3/25  loss 1.2345  accuracy 0.5678  val_loss ...  (85 s)``.

    Parameters
    ----------
    epochs : int
        The total, for the "3/25" display; the last epoch is always printed.
    every : int, default 1

    Returns
    -------
    keras.callbacks.Callback
    """
    if every < 1:
        raise ValueError(f"every must be >= 1. Received: every={every!r}")
    started = {}

    def begin(epoch, logs=None):
        started["time"] = time.perf_counter()

    def end(epoch, logs=None):
        if (epoch + 1) % every and epoch + 1 != epochs:
            return
        values = "  ".join(f"{key} {value:.4f}" for key, value in (logs or {}).items()
                           if key != "learning_rate")  # fmt: skip
        seconds = time.perf_counter() - started["time"]
        print(f"epoch {epoch + 1}/{epochs}  {values}  ({seconds:.0f} s)", flush=True)

    return keras.callbacks.LambdaCallback(on_epoch_begin=begin, on_epoch_end=end)


# --------------------------------------------------------------------------------------
# A better optimizer and schedule, and test-time augmentation
# --------------------------------------------------------------------------------------


def warmup_cosine_schedule(peak_learning_rate, total_steps, warmup_fraction=0.2):
    """A learning rate that rises linearly from 0, then falls as half a cosine to 0.

    The rate rises to ``peak_learning_rate`` over the first ``warmup_fraction`` of the
    steps (large steps on random weights would throw the network into a bad region),
    then follows half a cosine down to 0 at ``total_steps``, so that the last epochs
    take small, careful steps.

    Parameters
    ----------
    peak_learning_rate : float
    total_steps : int
        Epochs times batches per epoch.
    warmup_fraction : float, default 0.2

    Returns
    -------
    keras.optimizers.schedules.CosineDecay

    Examples
    --------
    >>> schedule = warmup_cosine_schedule(0.2, total_steps=100)
    >>> [round(float(schedule(step)), 3) for step in (0, 10, 20, 60, 100)]
    [0.0, 0.1, 0.2, 0.1, 0.0]
    """
    if not peak_learning_rate > 0:
        raise ValueError(f"peak_learning_rate must be positive. Received: {peak_learning_rate!r}")
    if int(total_steps) < 1:
        raise ValueError(f"total_steps must be >= 1. Received: total_steps={total_steps!r}")
    if not 0 <= warmup_fraction < 1:
        raise ValueError(
            f"warmup_fraction must be in [0, 1). Received: warmup_fraction={warmup_fraction!r}"
        )
    warmup_steps = int(total_steps * warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(int(total_steps) - warmup_steps, 1),
        alpha=0.0,
        warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps,
    )


def schedule_values(schedule, steps):
    """A learning-rate schedule's value at each step, computed in one vectorized call.

    To plot a schedule: ``[float(schedule(step)) for step in range(steps)]`` gives the
    same values, but on JAX each call of Keras's ``CosineDecay`` traces and compiles its
    ``keras.ops.cond`` anew (40 to 60 ms on a CPU, 100 ms on a GPU: minutes for a few
    thousand steps). On TensorFlow and JAX, ``keras.ops.vectorized_map`` calls the
    schedule once, on every step at the same time (under a second for 2,640 steps); on
    PyTorch, whose ``torch.vmap`` cannot map a data-dependent ``cond``, the steps are
    computed one by one, which eager PyTorch does fast.

    Parameters
    ----------
    schedule : callable
        A ``keras.optimizers.schedules.LearningRateSchedule``, or any function of a step
        number written with ``keras.ops``.
    steps : int or array_like of int
        A number of steps ``n`` (the steps 0, 1, ..., n - 1), or the step numbers
        themselves: a 1-D array of ints >= 0.

    Returns
    -------
    numpy.ndarray of float64, shape (len(steps),)
        ``schedule(step)`` for each step (in float32 from a Keras schedule: the compiled
        call may round the last digit otherwise than a call per step does).

    Raises
    ------
    TypeError
        For a schedule that is not callable.
    ValueError
        For a number of steps below 1, or step numbers that are not a non-empty 1-D
        array of ints >= 0.

    Examples
    --------
    >>> schedule = warmup_cosine_schedule(0.2, total_steps=100)
    >>> schedule_values(schedule, [0, 10, 20, 60, 100]).round(3)
    array([0. , 0.1, 0.2, 0.1, 0. ])
    >>> schedule_values(schedule, 100).shape
    (100,)
    """
    if not callable(schedule):
        raise TypeError(
            "schedule must be callable, such as a keras.optimizers.schedules."
            f"LearningRateSchedule. Received: schedule={schedule!r}"
        )
    if np.ndim(steps) == 0:
        steps = np.arange(positive_int(steps, "steps"))
    steps = np.asarray(steps)
    if (
        steps.ndim != 1
        or steps.size == 0
        or not np.issubdtype(steps.dtype, np.integer)
        or steps.min() < 0
    ):
        raise ValueError(
            "steps must be a positive int or a non-empty 1-D array of ints >= 0. "
            f"Received: steps={steps!r}"
        )
    if backend() == "torch":
        return np.array([float(schedule(step)) for step in steps.tolist()])
    values = keras.ops.vectorized_map(schedule, steps)
    return keras.ops.convert_to_numpy(values).astype(np.float64)


def sgd_warmup_cosine(peak_learning_rate, total_steps, warmup_fraction=0.2, weight_decay=5e-3):
    """SGD with Nesterov momentum 0.9 on a :func:`warmup_cosine_schedule`, with weight decay.

    Parameters
    ----------
    peak_learning_rate, total_steps, warmup_fraction
        As for :func:`warmup_cosine_schedule`.
    weight_decay : float, default 5e-3
        Decoupled weight decay (each step multiplies the weights by ``1 - learning_rate
        * weight_decay``), applied to the kernels only: batch normalization's scale and
        shift and the biases are left alone.

    Returns
    -------
    keras.optimizers.SGD
    """
    schedule = warmup_cosine_schedule(peak_learning_rate, total_steps, warmup_fraction)
    optimizer = keras.optimizers.SGD(
        learning_rate=schedule, momentum=0.9, nesterov=True, weight_decay=weight_decay
    )
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def predict_with_flip(model, dataset):
    """Class probabilities averaged over each image and its mirror image.

    A network trained with random horizontal flips has learned that a mirrored
    horse is still a horse; asking it about both views and averaging is a cheap
    ensemble (*test-time augmentation*) that costs one more forward pass. This is level 1
    of :func:`cnnbook.keras.fast_training.predict_tta`, the package's one test-time
    augmentation, applied batch by batch to a dataset.

    Parameters
    ----------
    model : keras.Model
    dataset : tf.data.Dataset or keras.utils.PyDataset
        As made by :func:`make_dataset`: batches of ``(images, labels)``, channels last.

    Returns
    -------
    numpy.ndarray, shape (N, classes)
        The model's outputs (probabilities, for a softmax output) averaged over the two
        views, in float64.
    """
    from cnnbook.keras.fast_training import predict_tta

    if isinstance(dataset, keras.utils.PyDataset):
        batches = (dataset[index][0] for index in range(len(dataset)))
    else:
        batches = (batch[0] for batch in dataset)
    return np.concatenate([predict_tta(model, np.asarray(images), level=1) for images in batches])
