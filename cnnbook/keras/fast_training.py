"""Fast CIFAR-10 training: the ideas of airbench94 (Jordan, 2024) in Keras 3.

Keller Jordan's airbench94 trains a small network to 94% test accuracy on CIFAR-10 in
about 3 seconds on one A100 GPU, in PyTorch. This module writes the same recipe with
Keras 3 and ``keras.ops``, so it runs on every backend, with each idea a switch of
:class:`FastRecipe` that an ablation can turn off:

- a first 2x2 convolution set to *whiten* image patches (:func:`whitening_kernel`)
  and frozen, its bias trained for the first epochs only;
- three blocks ``Conv -> MaxPool -> BatchNorm -> GELU -> Conv -> BatchNorm -> GELU``
  of widths 64, 256 and 256, their convolutions started as partly identity
  (:class:`PartialIdentity`);
- Nesterov SGD at batch size 1024, weight decay added to the gradient, and a 64 times
  larger learning rate for the batch-normalization biases (:class:`FastSGD`), on a
  triangular schedule (:class:`TriangularSchedule`);
- label smoothing; lookahead averaging of the weights (:class:`Lookahead`);
- flips and 2-pixel translations, with the flips alternating between epochs
  (:class:`FlipTranslate` in NumPy, :class:`AugmentedImages` inside the compiled
  training step); test-time augmentation with mirrors and 1-pixel shifts
  (:func:`predict_tta`).

:func:`train_fast` runs the whole recipe: by default with nothing on the host per step
(the images go to the device once, the augmentation and the lookahead run inside the
compiled step, several steps per call), or, with ``pipeline="host"``, the readable
reference (augmentation in NumPy each epoch, lookahead in a callback).
:func:`data_parallel` runs it on several devices. Importing this module imports Keras
(on the backend ``KERAS_BACKEND`` names).

Used by chapter 9d.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from cnnbook._arguments import fraction, is_int, positive_int, positive_ints
from cnnbook.datasets import CIFAR10_MEAN, CIFAR10_STD
from cnnbook.runtime import backend, import_keras, import_tensorflow

keras = import_keras()
ops = keras.ops

FLIPS = ("alternating", "random", "none")
"""The horizontal-flip schemes of :class:`FastRecipe` and :class:`FlipTranslate`."""
PIPELINES = ("device", "host")
"""Where :func:`train_fast` augments the images and runs the lookahead."""

__all__ = [
    "AugmentedImages",
    "FastRecipe",
    "FastResult",
    "FastSGD",
    "FlipTranslate",
    "Lookahead",
    "PartialIdentity",
    "Scale",
    "TriangularSchedule",
    "compile_fast",
    "data_parallel",
    "fast_cnn",
    "normalize",
    "torch_uniform",
    "predict_tta",
    "predict_tta_levels",
    "recorded_runs",
    "train_fast",
    "whitening_kernel",
]


@dataclasses.dataclass(frozen=True)
class FastRecipe:
    """The hyperparameters of the fast recipe: airbench94's, and a switch per idea.

    The optimizer's settings are given as airbench gives them, *decoupled*: the
    learning rate and the weight decay per 1,024 examples, independent of the momentum
    (:meth:`sgd_settings` turns them into plain SGD's). ``dataclasses.replace(recipe,
    label_smoothing=0.0)`` gives a recipe with one idea taken away.

    Parameters
    ----------
    epochs : float
        Passes over the training images; a fraction trains part of the last one.
    batch_size : int
    learning_rate, momentum, weight_decay : float
        Decoupled Nesterov SGD settings (airbench94: 11.5, 0.85, 0.0153).
    bias_scaler : float
        How many times larger the batch-normalization biases' learning rate is.
    label_smoothing : float
    whiten : bool
        Whether the first convolution is set by :func:`whitening_kernel` and frozen
        (else it is an ordinary trained convolution).
    whiten_bias_epochs : int
        Epochs in which the whitening convolution's bias trains.
    dirac : bool
        Whether the block convolutions start as partly identity (:class:`PartialIdentity`).
    lookahead : bool
        Whether the weights are pulled toward their running average (:class:`Lookahead`).
    flip : {"alternating", "random", "none"}
        Horizontal flips: airbench's alternation between epochs, a fresh coin per image
        and epoch, or none.
    translate : int
        Largest shift of the random translations, in pixels (0: none).
    tta_level : int
        Test-time augmentation: 0 none, 1 mirror, 2 mirror and 1-pixel shifts.
    widths : int or tuple of three ints
        The channels of the three blocks (an int: the same for all three).
    batchnorm_momentum : float
        Keras's convention: the weight of the old running statistics.
    scaling_factor : float
        The logits are multiplied by it (a fixed "temperature").
    """

    epochs: float = 9.9
    batch_size: int = 1024
    learning_rate: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0
    label_smoothing: float = 0.2
    whiten: bool = True
    whiten_bias_epochs: int = 3
    dirac: bool = True
    lookahead: bool = True
    flip: str = "alternating"
    translate: int = 2
    tta_level: int = 2
    widths: tuple = (64, 256, 256)
    batchnorm_momentum: float = 0.6
    scaling_factor: float = 1 / 9

    def __post_init__(self):
        # Every setting, so that a bad one fails here and not in the middle of training.
        _check_range("epochs", self.epochs, low=0.0, low_open=True)
        positive_int(self.batch_size, "batch_size")
        _check_range("learning_rate", self.learning_rate, low=0.0, low_open=True)
        # momentum 0 would leave Nesterov SGD without its buffer; 1 makes the
        # decoupled settings divide by zero (sgd_settings).
        _check_range("momentum", self.momentum, low=0.0, high=1.0, low_open=True, high_open=True)
        _check_range("weight_decay", self.weight_decay, low=0.0)
        _check_range("bias_scaler", self.bias_scaler, low=0.0, low_open=True)
        fraction(self.label_smoothing, "label_smoothing")
        fraction(self.batchnorm_momentum, "batchnorm_momentum")
        _check_range("scaling_factor", self.scaling_factor, low=0.0, low_open=True)
        for name in ("whiten", "dirac", "lookahead"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False. Received: {getattr(self, name)!r}")
        _check_count("whiten_bias_epochs", self.whiten_bias_epochs)
        _check_count("translate", self.translate)
        _check_flip(self.flip)
        if self.tta_level not in (0, 1, 2):
            raise ValueError(f"tta_level must be 0, 1 or 2. Received: {self.tta_level!r}")
        # Frozen: the checked widths (a tuple, even if given as a list) go in directly.
        object.__setattr__(self, "widths", positive_ints(self.widths, "widths", 3))

    def sgd_settings(self):
        """Plain SGD settings for a loss averaged over the batch.

        airbench divides its learning rate by ``1024 * (1 + 1 / (1 - momentum))``, the
        size of a Nesterov step relative to one example's gradient, and expresses the
        weight decay as the shrink per step. For a batch-mean loss that gives::

            learning rate  = lr * batch / kilostep
            L2 coefficient = wd * batch / kilostep / learning rate

        (and the bias learning rate ``bias_scaler`` times larger, with the same shrink).

        Returns
        -------
        dict
            ``learning_rate``, ``l2``, ``bias_learning_rate``, ``bias_l2``.
        """
        kilostep = 1024 * (1 + 1 / (1 - self.momentum))
        learning_rate = self.learning_rate * self.batch_size / kilostep
        shrink = self.weight_decay * self.batch_size / kilostep
        bias_learning_rate = learning_rate * self.bias_scaler
        return {
            "learning_rate": learning_rate,
            "l2": shrink / learning_rate,
            "bias_learning_rate": bias_learning_rate,
            "bias_l2": shrink / bias_learning_rate,
        }


def _check_range(name, value, low=None, high=None, low_open=False, high_open=False):
    """A real number within [low, high] (an open end excludes the bound), or an error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number. Received: {name}={value!r}")
    below = value <= low if low_open else value < low
    above = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or below or above:
        bounds = f"{'(' if low_open else '['}{low}, {'inf)' if high is None else high}"
        bounds += "" if high is None else (")" if high_open else "]")
        raise ValueError(f"{name} must lie in {bounds}. Received: {name}={value!r}")


def _check_count(name, value):
    """A whole number, 0 or more."""
    if not is_int(value) or value < 0:
        raise ValueError(f"{name} must be a whole number, 0 or more. Received: {name}={value!r}")


def normalize(images):
    """uint8 images (N, H, W, 3) to float32, per channel zero mean and unit spread."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3). Received: {images.shape}")
    mean = np.asarray(CIFAR10_MEAN, dtype=np.float32)
    std = np.asarray(CIFAR10_STD, dtype=np.float32)
    return (images.astype(np.float32) / 255.0 - mean) / std


def whitening_kernel(images, size=2, eps=5e-4):
    """A convolution kernel that whitens the ``size x size`` patches of ``images``.

    The covariance of all patches (each flattened to ``size * size * channels``
    numbers) is ``V diag(lambda) V^T``. Filter ``i`` is eigenvector ``v_i`` divided by
    ``sqrt(lambda_i + eps)``: its outputs have variance about 1 and are uncorrelated
    with the other filters'. The ``size * size * C`` filters come in order of
    decreasing eigenvalue (the smooth colour patterns first, the fine checkerboards
    last), and then their negatives in the same order (``kernel[..., k + size * size *
    C] == -kernel[..., k]``, as airbench concatenates them), so that a GELU after the
    convolution keeps both signs.

    Parameters
    ----------
    images : numpy.ndarray
        Normalized images, shape (N, H, W, C) (airbench uses 5,000).
    size : int, default 2
    eps : float, default 5e-4
        Keeps the directions of tiny variance from being blown up.

    Returns
    -------
    numpy.ndarray
        Kernel of shape (size, size, C, 2 * size * size * C), float32, as Keras's
        ``Conv2D`` stores it.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C). Received: {images.shape}")
    channels = images.shape[-1]
    windows = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))
    # windows: (N, H-size+1, W-size+1, C, size, size) -> one row per patch, (row, col, C) order.
    patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, size * size * channels)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues = np.maximum(eigenvalues, 0.0)  # rounding can leave tiny negative ones
    order = np.argsort(eigenvalues)[::-1]
    filters = eigenvectors[:, order] / np.sqrt(eigenvalues[order] + eps)
    kernel = filters.reshape(size, size, channels, -1)
    return np.concatenate([kernel, -kernel], axis=-1).astype(np.float32)


@keras.saving.register_keras_serializable(package="cnnbook")
class Scale(keras.layers.Layer):
    """Multiply by a fixed ``factor`` (airbench's scaling of the logits).

    ``keras.layers.Rescaling`` computes the same, but it is a preprocessing layer,
    meant for input pipelines rather than for the middle of a model.
    """

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)

    def call(self, inputs):
        return ops.multiply(inputs, ops.cast(self.factor, inputs.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def torch_uniform(seed=None):
    """PyTorch's default start of a convolution or dense kernel: uniform in
    ``+-1/sqrt(fan_in)`` (Keras's ``VarianceScaling`` with scale 1/3, fan-in, uniform:
    its bound is ``sqrt(3 * scale / fan_in)``)."""
    return keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform", seed=seed)


@keras.saving.register_keras_serializable(package="cnnbook")
class PartialIdentity(keras.initializers.Initializer):
    """PyTorch's default convolution start, with the first filters set to identity.

    Weights are drawn uniformly from ``+-1/sqrt(fan_in)`` (PyTorch's default,
    :func:`torch_uniform`); then the first ``min(in, out)`` filters are replaced by
    Dirac filters: filter ``j`` passes input channel ``j`` through its centre tap
    unchanged. A block so started begins close to the identity on part of its
    channels (airbench's ``dirac_`` start).
    """

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        rows, cols, inputs, outputs = shape
        weights = torch_uniform(self.seed)(shape, dtype=dtype)
        identity = np.zeros(shape, dtype=np.float32)
        keep = np.ones(shape, dtype=bool)
        for channel in range(min(inputs, outputs)):
            keep[..., channel] = False
            identity[rows // 2, cols // 2, channel, channel] = 1.0
        return ops.where(keep, weights, ops.cast(identity, weights.dtype))

    def get_config(self):
        return {"seed": self.seed}


def fast_cnn(recipe=None, whitening_images=None, seed=0):
    """airbench94's network in Keras: a whitening layer and three conv blocks.

    ``Conv2D(24, 2) -> GELU``, then three blocks ``Conv2D -> MaxPool(2) -> BatchNorm
    -> GELU -> Conv2D -> BatchNorm -> GELU`` (widths 64, 256, 256), then ``MaxPool(3)
    -> Dense(10, no bias) -> Scale(scaling_factor)``. Batch normalization learns a bias but
    no scale. The model outputs logits for normalized 32x32 images (:func:`normalize`).

    Parameters
    ----------
    recipe : FastRecipe, optional
        Widths, batch-normalization momentum, the logits' scale and whether to whiten
        and start as identity. Default: ``FastRecipe()``.
    whitening_images : numpy.ndarray, optional
        Normalized training images for :func:`whitening_kernel`; required when
        ``recipe.whiten``.
    seed : int or None, default 0
        Seed of the initial weights; None draws them from Keras's global generator
        (a different start each call, unless ``keras.utils.set_random_seed`` was called).

    Returns
    -------
    keras.Sequential
        Not compiled. When whitening, the first layer's kernel is not trainable.

    Notes
    -----
    Every kernel starts as PyTorch's would (:func:`torch_uniform`), as in airbench;
    ``recipe.dirac`` adds the identity filters to the 3x3 convolutions and changes
    nothing else, so that an ablation without it measures the identity start alone.
    """
    recipe = recipe or FastRecipe()
    if recipe.whiten and whitening_images is None:
        raise ValueError("recipe.whiten needs whitening_images (normalized training images)")
    if seed is not None:
        _check_count("seed", seed)
    layers = keras.layers
    counter = iter(range(100))

    def next_seed():
        return None if seed is None else seed + next(counter)

    def conv(filters, size=3, **options):
        if recipe.dirac and size == 3:
            start = PartialIdentity(seed=next_seed())
        else:
            start = torch_uniform(seed=next_seed())
        return layers.Conv2D(filters, size, kernel_initializer=start, **options)

    def norm():
        return layers.BatchNormalization(
            momentum=recipe.batchnorm_momentum,
            epsilon=1e-12,
            scale=False,
            # Under tf.distribute, one set of batch statistics over all devices (JAX's
            # data parallelism always computes them over the whole batch).
            synchronized=backend() == "tensorflow",
        )

    stack = [keras.Input(shape=(32, 32, 3)), conv(24, 2, name="whiten"), layers.Activation("gelu")]
    for width in recipe.widths:
        stack += [
            conv(width, padding="same", use_bias=False),
            layers.MaxPooling2D(2),
            norm(),
            layers.Activation("gelu"),
            conv(width, padding="same", use_bias=False),
            norm(),
            layers.Activation("gelu"),
        ]
    stack += [
        layers.MaxPooling2D(3),
        layers.Flatten(),
        layers.Dense(
            10, use_bias=False, kernel_initializer=torch_uniform(next_seed()), dtype="float32"
        ),
        Scale(recipe.scaling_factor, dtype="float32"),
    ]
    model = keras.Sequential(stack, name="fast_cnn")
    if recipe.whiten:
        whiten = model.get_layer("whiten")
        whiten.kernel.assign(whitening_kernel(whitening_images))
        whiten.bias.assign(np.zeros(whiten.bias.shape, dtype=np.float32))
        whiten.kernel.trainable = False
    return model


@keras.saving.register_keras_serializable(package="cnnbook")
class TriangularSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``start * peak`` to ``peak``, then linear decay to ``end * peak``.

    airbench94's schedule: the warm-up takes the first 23% of the steps.
    """

    def __init__(self, peak, total_steps, warmup_fraction=0.23, start=0.2, end=0.07):
        if total_steps < 2:
            raise ValueError(f"total_steps must be at least 2. Received: {total_steps!r}")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_fraction = float(warmup_fraction)
        self.start = float(start)
        self.end = float(end)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = max(1, int(self.total_steps * self.warmup_fraction))
        rising = self.start + (1.0 - self.start) * step / warmup
        falling = 1.0 + (self.end - 1.0) * (step - warmup) / (self.total_steps - warmup)
        return self.peak * ops.where(step < warmup, rising, falling)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction,
            "start": self.start,
            "end": self.end,
        }


class FastSGD(keras.optimizers.SGD):
    """PyTorch's Nesterov SGD with L2 added to the gradient, a second learning rate,
    variables that stop training after a number of steps, and an optional lookahead.

    Differs from ``keras.optimizers.SGD`` as airbench (and PyTorch's
    ``SGD(nesterov=True, weight_decay=...)``) does:

    - ``l2 * weight`` is added to each gradient *before* momentum, so the decay is
      carried by the momentum like the gradient (Keras's own ``weight_decay`` is
      decoupled and is not);
    - the momentum buffer is kept in gradient units, as PyTorch keeps it:
      ``b <- momentum * b + g``, ``w <- w - lr * (g + momentum * b)``. Keras's SGD keeps
      a velocity in step units (``v <- momentum * v - lr * g``), which is the same
      only while the learning rate is constant; under a schedule the velocity carries
      the old, different rates;
    - the variables in ``scaled_variables`` (the batch-normalization biases) train
      with the learning rate times ``scale`` and their own ``scaled_l2``;
    - a variable paired with a number of steps in ``stop_after`` (the whitening bias)
      stops changing after that many steps. (Making it untrainable instead would
      change the list of trained variables, which the JAX backend does not allow
      after training starts.)
    - with ``lookahead`` (a :class:`Lookahead`), every ``lookahead.every`` steps each
      trained variable's running average moves toward it and the variable is reset to
      the average, inside the compiled step (the callback does the same on the host,
      between steps). :meth:`finish_lookahead` copies the averages in at the end.

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule
    momentum : float
        In (0, 1).
    l2 : float
    scaled_variables : list of keras.Variable
    scale, scaled_l2 : float
    stop_after : list of (keras.Variable, int) pairs, optional
    lookahead : Lookahead, optional
        Its ``every``, ``total_steps`` and :meth:`Lookahead.decay` are used; only the
        trained variables are averaged (the callback also averages batch
        normalization's running statistics, which an optimizer does not see).
    """

    def __init__(
        self,
        learning_rate,
        momentum,
        l2,
        scaled_variables=(),
        scale=1.0,
        scaled_l2=0.0,
        stop_after=None,
        lookahead=None,
        **kwargs,
    ):
        _check_range("momentum", momentum, low=0.0, high=1.0, low_open=True, high_open=True)
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=True, **kwargs)
        self.l2 = float(l2)
        self.scale = float(scale)
        self.scaled_l2 = float(scaled_l2)
        self.lookahead = lookahead
        # Keys, not the variables: an optimizer attribute holding variables would make
        # them the optimizer's own variables too. _var_key is how Keras's optimizers
        # match a variable on every backend (TensorFlow's update_step receives the
        # tf.Variable inside the Keras variable).
        self._scaled_keys = frozenset(self._var_key(v) for v in scaled_variables)
        self._stop_steps = {self._var_key(v): int(n) for v, n in stop_after or ()}

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.averages = []
        if self.lookahead is not None:
            # Filled at the first step (an assignment here could run inside a traced
            # function, as Keras's own moving averages avoid too).
            self.averages = [
                self.add_variable_from_reference(variable, "lookahead_average")
                for variable in variables
            ]

    def update_step(self, gradient, variable, learning_rate):
        key = self._var_key(variable)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        l2 = self.l2
        if key in self._scaled_keys:
            learning_rate = ops.multiply(learning_rate, self.scale)
            l2 = self.scaled_l2
        before = ops.convert_to_tensor(variable)
        gradient = ops.add(ops.cast(gradient, dtype), ops.multiply(before, l2))
        buffer = self.momentums[index]
        # b <- momentum * b + g;  w <- w - lr * (g + momentum * b)
        new_buffer = ops.add(ops.multiply(buffer, self.momentum), gradient)
        step = ops.multiply(
            ops.add(gradient, ops.multiply(new_buffer, self.momentum)), -learning_rate
        )
        if key in self._stop_steps:
            live = ops.less(self.iterations, self._stop_steps[key])
            new_buffer = ops.where(live, new_buffer, buffer.value)
            step = ops.where(live, step, ops.zeros_like(step))
        self.assign(buffer, new_buffer)
        value = ops.add(before, step)
        if self.lookahead is not None:
            value = self._lookahead_step(self.averages[index], before, value)
        self.assign(variable, value)

    def _lookahead_step(self, average, before, value):
        """:meth:`Lookahead.pull` of one variable, on the steps that pull; ``before``
        and ``value`` are the variable before and after this step."""
        # The average starts at the weights before the first step.
        start = ops.where(ops.equal(self.iterations, 0), before, average.value)
        done = self.iterations + 1  # steps done, this one included
        pull = ops.equal(ops.mod(done, self.lookahead.every), 0)
        decay = ops.cast(self.lookahead.decay(ops.cast(done, "float32")), value.dtype)
        moved = ops.add(start, ops.multiply(1.0 - decay, ops.subtract(value, start)))
        self.assign(average, ops.where(pull, moved, start))
        return ops.where(pull, moved, value)

    def finish_lookahead(self):
        """Copy each running average into its variable (the last step of training)."""
        for variable, average in zip(self._trainable_variables, self.averages):
            variable.assign(average)


class Lookahead(keras.callbacks.Callback):
    """Every ``every`` steps, move a running average toward the weights, then reset the
    weights to it (airbench's lookahead).

    The average moves by ``1 - decay`` of the gap, with ``decay = max_decay * (step /
    total_steps) ** 3``: little averaging early, when the weights move fast, more near
    the end. :meth:`finish` copies the average into the model. All of the model's
    floating-point variables are averaged, batch normalization's statistics included.
    It keeps its state across several ``fit`` calls.
    """

    def __init__(self, total_steps, every=5, max_decay=0.95**5):
        super().__init__()
        self.total_steps = int(total_steps)
        self.every = int(every)
        self.max_decay = float(max_decay)
        self.step = 0
        self.average = None

    def decay(self, step):
        """The decay at ``step`` (of ``total_steps``): ``max_decay * (step / total) ** 3``."""
        return self.max_decay * (step / self.total_steps) ** 3

    def _variables(self):
        return [v for v in self.model.weights if "float" in str(v.dtype)]

    def _sync(self):
        # On JAX, fit keeps the variables' values in its own state between steps.
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()

    def on_train_begin(self, logs=None):
        if self.average is None:
            self._sync()
            self.average = [ops.copy(v.value) for v in self._variables()]

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self.pull(self.decay(self.step))

    def pull(self, decay):
        """Average moves ``1 - decay`` of the way to the weights; weights := average."""
        self._sync()
        for index, variable in enumerate(self._variables()):
            average = self.average[index]
            average = average + (1.0 - decay) * (ops.cast(variable.value, average.dtype) - average)
            self.average[index] = average
            # A copy: on JAX, fit hands the variables' buffers to XLA to reuse.
            variable.assign(ops.copy(average))

    def finish(self):
        """Copy the average into the model (the last step of training)."""
        if self.average is not None:
            self.pull(1.0)


class _Views:
    """Which view of each image an epoch shows: its shift and whether it is mirrored.

    Drawn on the host, once per epoch and per image (a few hundred kilobytes for
    CIFAR-10), from one generator: so the NumPy augmentation and the in-step one show the
    same views for the same seed, and a batch split across devices gets the views the
    whole batch would have had. Shifts are ``0 .. 2 * translate`` (the crop's corner in
    the padded image). With ``flip="alternating"`` (airbench's), a random half of the
    images starts mirrored and every image switches each epoch.
    """

    def __init__(self, count, translate, flip, seed):
        _check_flip(flip)
        _check_count("translate", translate)
        self.rng = np.random.default_rng(seed)
        self.count = int(count)
        self.translate = int(translate)
        self.flip = flip
        self.first_mirrored = self.rng.random(count) < 0.5 if flip == "alternating" else None

    def epoch(self, index):
        """``(shifts, mirrored)`` of epoch ``index``: (N, 2) ints and (N,) booleans."""
        shifts = self.rng.integers(0, 2 * self.translate + 1, size=(self.count, 2))
        if self.flip == "alternating":
            mirrored = self.first_mirrored ^ (index % 2 == 1)
        elif self.flip == "random":
            mirrored = self.rng.random(self.count) < 0.5
        else:
            mirrored = np.zeros(self.count, dtype=bool)
        return shifts, mirrored


class FlipTranslate:
    """Per-epoch augmented copies of a training set, in NumPy: flips and translations.

    The readable reference of the augmentation (:class:`AugmentedImages` computes the
    same views inside the compiled training step). The images are padded once by
    ``translate`` pixels (reflected); each epoch takes a random ``H x W`` crop of every
    image, mirrored or not, grouping images by view so that each group is one slice.
    With ``flip="alternating"`` (airbench's), a random half of the images starts
    mirrored and *every* image switches each epoch: each image is seen both ways round
    in every two epochs, which a fresh coin per epoch does not guarantee.

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W, C) float images.
    translate : int, default 2
    flip : {"alternating", "random", "none"}
    seed : int, default 0
    """

    def __init__(self, images, translate=2, flip="alternating", seed=0):
        self.views = _Views(len(images), translate, flip, seed)
        self.translate = self.views.translate
        self.flip = flip
        self.shape = images.shape
        pad = self.translate
        self.padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")

    def epoch(self, index, order=None):
        """The augmented images of epoch ``index`` (0-based).

        ``order``: the indices of the images wanted, in the order wanted (default:
        all, in order); the views are written once, straight into the result.
        """
        order = np.arange(self.shape[0]) if order is None else np.asarray(order)
        shifts, mirrored = self.views.epoch(index)
        shifts, mirrored = shifts[order], mirrored[order]
        _, height, width, _ = self.shape
        last = 2 * self.translate
        out = np.empty((len(order), *self.shape[1:]), dtype=self.padded.dtype)
        for mirror in (False, True):
            # A mirrored crop is a crop of the mirrored image, its column offset mirrored.
            padded = self.padded[:, :, ::-1] if mirror else self.padded
            for dy in range(last + 1):
                for dx in range(last + 1):
                    chosen = np.flatnonzero(
                        (shifts[:, 0] == dy) & (shifts[:, 1] == dx) & (mirrored == mirror)
                    )
                    column = last - dx if mirror else dx
                    out[chosen] = padded[order[chosen], dy : dy + height, column : column + width]
        return out


class AugmentedImages(keras.layers.Layer):
    """The training images on the device, looked up by index and augmented in the step.

    :class:`FlipTranslate`'s augmentation as a Keras layer, in ``keras.ops`` (every
    backend): the images go to the device once, as a non-trainable variable, and the
    model that trains starts with this layer, so the lookup, the translation and the
    flip run inside the compiled training step. Its input is a batch of indices into
    ``images``; in training it returns their augmented views, otherwise the images as
    they are. Call :meth:`start_epoch` before each epoch: it draws every image's view
    for that epoch on the host (the same views as :class:`FlipTranslate` with the same
    seed) and sends them to the device, a few hundred kilobytes.

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W, C) float images (normalized).
    translate : int, default 2
        Largest shift, in pixels, reflected at the border.
    flip : {"alternating", "random", "none"}
    seed : int, default 0
    """

    def __init__(self, images, translate=2, flip="alternating", seed=0, **kwargs):
        # float32 and not autocast: under a mixed policy the images are looked up in
        # float32 (casting the whole variable to 16 bits every step would cost more
        # than the step's lookup); the model casts the batch.
        super().__init__(dtype="float32", autocast=False, **kwargs)
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, H, W, C). Received: {images.shape}")
        if images.shape[0] * images.shape[1] * images.shape[2] >= 2**31:
            raise ValueError(f"too many pixels to index in int32: {images.shape}")
        self.views = _Views(len(images), translate, flip, seed)
        if self.views.translate >= min(images.shape[1:3]):
            raise ValueError(f"translate must be below the image size. Received: {translate}")
        self.translate = self.views.translate
        self.flip = flip
        self.images = self.add_weight(
            shape=images.shape,
            initializer=lambda shape, dtype=None: images,
            trainable=False,
            name="images",
        )
        self.shifts = self.add_weight(
            shape=(len(images), 2),
            initializer="zeros",
            dtype="int32",
            trainable=False,
            name="shifts",
        )
        self.mirrored = self.add_weight(
            shape=(len(images),),
            initializer="zeros",
            dtype="int32",
            trainable=False,
            name="mirrored",
        )

    def start_epoch(self, index):
        """Draw each image's view for epoch ``index`` and send them to the device."""
        shifts, mirrored = self.views.epoch(index)
        self.shifts.assign(shifts.astype(np.int32))
        self.mirrored.assign(mirrored.astype(np.int32))

    def call(self, indices, training=False):
        indices = ops.cast(indices, "int32")
        if not training:
            return ops.take(self.images, indices, axis=0)
        return self.augment(indices)

    def augment(self, indices):
        """The augmented views of ``images[indices]`` in the current epoch.

        One lookup: each output pixel's source is computed (the image, its row and
        column after the shift, reflected at the border, and mirrored when the view is
        mirrored), and all are gathered at once: the same views as padding, cropping and
        flipping :class:`FlipTranslate`'s way, without the padded copy or a pass per
        shift.
        """
        count = ops.shape(indices)[0]
        _, height, width, channels = self.images.shape
        pad = self.translate
        shifts = ops.take(self.shifts, indices, axis=0) - pad  # -pad .. pad
        mirrored = ops.expand_dims(ops.take(self.mirrored, indices, axis=0), 1)
        rows = ops.expand_dims(ops.arange(height, dtype="int32"), 0)
        cols = ops.expand_dims(ops.arange(width, dtype="int32"), 0)
        # A mirrored view's column j is the crop's column width - 1 - j.
        cols = ops.where(ops.equal(mirrored, 1), width - 1 - cols, cols)
        rows = _reflect(rows + shifts[:, :1], height)
        cols = _reflect(cols + shifts[:, 1:], width)
        # Index of each output pixel among all pixels: (count, height, width).
        source = (
            ops.reshape(indices, (-1, 1, 1)) * (height * width)
            + ops.expand_dims(rows, 2) * width
            + ops.expand_dims(cols, 1)
        )
        pixels = ops.reshape(self.images, (-1, channels))
        views = ops.take(pixels, ops.reshape(source, (-1,)), axis=0)
        return ops.reshape(views, (count, height, width, channels))

    def compute_output_shape(self, input_shape):
        return (*input_shape, *self.images.shape[1:])


def _reflect(position, size):
    """Positions beyond ``[0, size)`` reflected back, as ``numpy.pad(mode="reflect")``
    pads (no edge repeated: -1 -> 1, size -> size - 2); shifts below ``size``."""
    position = ops.abs(position)
    return ops.where(position > size - 1, 2 * (size - 1) - position, position)


def _check_flip(flip):
    if flip not in FLIPS:
        raise ValueError(f"flip must be one of {', '.join(FLIPS)}. Received: flip={flip!r}")


def predict_tta(model, images, level=2, batch_size=1000):
    """Logits averaged over mirrored and shifted views of normalized ``images``.

    ``level`` 0: the images as they are. 1: the mean of the image and its mirror.
    2 (airbench's): half that mean, plus half the mirror-means of the image shifted one
    pixel up-left and one pixel down-right (reflected at the border): 6 views in all.
    """
    return predict_tta_levels(model, images, (level,), batch_size)[level]


def predict_tta_levels(model, images, levels=(0, 1, 2), batch_size=1000):
    """:func:`predict_tta` at several levels, each view predicted once.

    Level 2 needs 6 views, and levels 0 and 1 are made of two of them, so all three
    cost 6 predictions, not 1 + 2 + 6.

    Returns
    -------
    dict
        ``{level: logits}``, float64 logits of shape (N, classes).
    """
    levels = tuple(levels)
    if not levels or any(level not in (0, 1, 2) for level in levels):
        raise ValueError(f"levels must be 0, 1 or 2. Received: {levels!r}")

    def logits(views):
        return model.predict(views, batch_size=batch_size, verbose=0).astype(np.float64)

    def mirror(views):
        return np.ascontiguousarray(views[:, :, ::-1])

    plain = logits(images)
    result = {0: plain}
    if max(levels) >= 1:
        result[1] = 0.5 * (plain + logits(mirror(images)))
    if max(levels) == 2:
        padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        height, width = images.shape[1:3]
        shifted = [padded[:, :height, :width], padded[:, 2:, 2:]]  # up-left, down-right
        mirror_means = [0.5 * (logits(view) + logits(mirror(view))) for view in shifted]
        result[2] = 0.5 * result[1] + 0.25 * sum(mirror_means)
    return {level: result[level] for level in levels}


@dataclasses.dataclass
class FastResult:
    """What :func:`train_fast` returns.

    Parameters
    ----------
    model : keras.Model
        Trained, with the lookahead average copied in.
    history : list of dict
        One entry per epoch: ``epoch``, ``loss``, ``accuracy`` (on the augmented
        training batches) and ``seconds`` (training time so far).
    seconds : float
        Training time, from the whitening to the last step (not the evaluation).
    recipe : FastRecipe
    steps : int
        Optimizer steps taken.
    optimizer : keras.optimizers.Optimizer, optional
        The optimizer trained with: :class:`FastSGD`, or Keras's loss-scaling
        optimizer around it under ``mixed_float16``. (``model.optimizer`` is not set
        when the images were fed through :class:`AugmentedImages`.)
    """

    model: object
    history: list
    seconds: float
    recipe: FastRecipe
    steps: int = 0
    optimizer: object = None

    def accuracy(self, images, labels, tta_level=None):
        """Accuracy on normalized ``images``, with the recipe's test-time augmentation
        unless ``tta_level`` says otherwise."""
        level = self.recipe.tta_level if tta_level is None else tta_level
        return self.accuracies(images, labels, (level,))[level]

    def accuracies(self, images, labels, levels=(0, 1, 2)):
        """``{level: accuracy}`` for several test-time augmentation levels, each view of
        the images predicted once (:func:`predict_tta_levels`)."""
        logits = predict_tta_levels(self.model, images, levels)
        labels = np.asarray(labels)
        return {level: float(np.mean(z.argmax(axis=1) == labels)) for level, z in logits.items()}


def compile_fast(
    trainer, model, recipe, steps_per_epoch, total_steps, lookahead=None, steps_per_execution=1
):
    """Compile ``trainer`` with the recipe's optimizer, loss and metric.

    ``trainer`` is ``model`` itself, or a model that runs ``model`` after an input layer
    (:class:`AugmentedImages`). The optimizer is :class:`FastSGD` on the
    :class:`TriangularSchedule` of ``total_steps``, with the batch-normalization biases
    on the second learning rate and the whitening bias stopped after
    ``recipe.whiten_bias_epochs`` epochs of ``steps_per_epoch`` steps.

    Parameters
    ----------
    lookahead : Lookahead, optional
        Run inside the optimizer's step (see :class:`FastSGD`).
    steps_per_execution : int, default 1
        Training steps per compiled call.

    Returns
    -------
    FastSGD
        The optimizer (Keras wraps it in a loss-scaling optimizer under
        ``mixed_float16``; this is the one inside).
    """
    settings = recipe.sgd_settings()
    biases = [
        layer.beta for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    stop_after = []
    if recipe.whiten:
        stop_after.append(
            (model.get_layer("whiten").bias, recipe.whiten_bias_epochs * steps_per_epoch)
        )
    optimizer = FastSGD(
        TriangularSchedule(settings["learning_rate"], total_steps),
        momentum=recipe.momentum,
        l2=settings["l2"],
        scaled_variables=biases,
        scale=recipe.bias_scaler,
        scaled_l2=settings["bias_l2"],
        stop_after=stop_after,
        lookahead=lookahead,
    )
    trainer.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=recipe.label_smoothing
        ),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return optimizer


def train_fast(
    images,
    labels,
    recipe=None,
    seed=0,
    log=print,
    pipeline="device",
    steps_per_execution=8,
    network=None,
):
    """Train :func:`fast_cnn` with the whole recipe on normalized ``images``.

    Parameters
    ----------
    images : numpy.ndarray
        (N, 32, 32, 3) float32 images from :func:`normalize`.
    labels : numpy.ndarray
        (N,) integer class labels.
    recipe : FastRecipe, optional
    seed : int, default 0
        Seeds the weights, the augmentation and the order of the batches (each from its
        own stream of ``numpy.random.SeedSequence(seed)``).
    log : callable or None, default print
        Called with one line per epoch (loss, accuracy, elapsed time); None for quiet.
    pipeline : {"device", "host"}, default "device"
        ``"device"``: the images go to the device once (:class:`AugmentedImages`), the
        lookahead runs inside the optimizer's step, and ``steps_per_execution`` steps
        run per compiled call: nothing on the host per step but a batch of indices.
        ``"host"``: the readable reference: each epoch's augmented images are made in
        NumPy (:class:`FlipTranslate`) and fed to ``fit``, and the lookahead runs as a
        callback (it also averages batch normalization's running statistics).
    steps_per_execution : int, default 8
        Steps per compiled call (``"device"`` only; Keras runs one step per call on
        the PyTorch backend, whatever this says).
    network : callable, optional
        Builds the model, with :func:`fast_cnn`'s signature ``(recipe,
        whitening_images, seed)``; default :func:`fast_cnn`. (The overhead benchmark
        passes a network that does almost no arithmetic.)

    Returns
    -------
    FastResult
    """
    recipe = recipe or FastRecipe()
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be 'device' or 'host'. Received: pipeline={pipeline!r}")
    positive_int(steps_per_execution, "steps_per_execution")
    if backend() == "torch":
        steps_per_execution = 1  # Keras's PyTorch trainer refuses more
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or len(labels) != len(images):
        raise ValueError(
            "images must be (N, 32, 32, 3) with one label each. Received: "
            f"images {images.shape}, labels {labels.shape}"
        )
    steps_per_epoch = len(images) // recipe.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"need at least one batch of {recipe.batch_size} images")
    total_steps = max(2, math.ceil(steps_per_epoch * recipe.epochs))
    keras.utils.set_random_seed(seed)
    order_seed, augment_seed = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(order_seed)
    augment_seed = int(augment_seed.generate_state(1)[0])
    targets = keras.utils.to_categorical(labels, 10).astype(np.float32)

    start = time.perf_counter()
    # 5,000 images chosen at random: a copy of CIFAR-10 may be sorted by class.
    sample = rng.choice(len(images), size=min(5000, len(images)), replace=False)
    model = (network or fast_cnn)(recipe, whitening_images=images[sample], seed=seed)
    lookahead = Lookahead(total_steps) if recipe.lookahead else None
    if pipeline == "device":
        augment = AugmentedImages(images, recipe.translate, recipe.flip, seed=augment_seed)
        trainer = keras.Sequential([keras.Input((), dtype="int32"), augment, model])
        optimizer = compile_fast(
            trainer, model, recipe, steps_per_epoch, total_steps, lookahead, steps_per_execution
        )
        callbacks = []
    else:
        augment = FlipTranslate(images, recipe.translate, recipe.flip, seed=augment_seed)
        trainer = model
        optimizer = compile_fast(trainer, model, recipe, steps_per_epoch, total_steps)
        callbacks = [lookahead] if lookahead else []
    history = []
    done = 0
    for epoch in range(math.ceil(recipe.epochs)):
        steps = min(steps_per_epoch, total_steps - done)
        chosen = rng.permutation(len(images))[: steps * recipe.batch_size]
        if pipeline == "device":
            augment.start_epoch(epoch)
            inputs = chosen.astype(np.int32)
        else:
            inputs = augment.epoch(epoch, chosen)
        fitted = trainer.fit(
            inputs,
            targets[chosen],
            batch_size=recipe.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=callbacks,
        )
        done += steps
        entry = {
            "epoch": epoch + 1,
            "loss": float(fitted.history["loss"][-1]),
            "accuracy": float(fitted.history["accuracy"][-1]),
            "seconds": time.perf_counter() - start,
        }
        history.append(entry)
        if log is not None:
            log(
                f"epoch {entry['epoch']:2d}/{math.ceil(recipe.epochs)}: loss {entry['loss']:.3f}, "
                f"train accuracy {entry['accuracy']:.1%}, {entry['seconds']:.0f} s"
            )
    if pipeline == "device":
        if lookahead:
            optimizer.finish_lookahead()
    elif lookahead:
        lookahead.finish()
    seconds = time.perf_counter() - start
    steps = int(keras.ops.convert_to_numpy(trainer.optimizer.iterations))
    return FastResult(model, history, seconds, recipe, steps, trainer.optimizer)


@contextlib.contextmanager
def data_parallel(devices=None):
    """Build, compile and train inside this block to train on several devices.

    Data parallelism with each backend's own engine: every device holds a copy of the
    weights and takes an equal share of each batch; the gradients are averaged across
    devices, so a step equals one step on the whole batch.

    - JAX: ``keras.distribution.DataParallel`` (set for the block, unset after it).
    - TensorFlow: ``tf.distribute.MirroredStrategy``'s scope.

    Parameters
    ----------
    devices : list of str, optional
        Device names (JAX: ``"cpu:0"``, ``"gpu:1"``; TensorFlow: ``"/cpu:0"``); by
        default every GPU, or every CPU device when there is no GPU.

    The block receives the number of devices (``with data_parallel() as devices:``).
    """
    name = backend()
    if name == "jax":
        if devices is None:
            devices = keras.distribution.list_devices()  # the GPUs, or else the CPU devices
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
    elif name == "tensorflow":
        tf = import_tensorflow()
        if devices is None:
            found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            devices = [device.name for device in found]
        strategy = tf.distribute.MirroredStrategy(
            devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    else:
        raise NotImplementedError(
            "data_parallel supports the JAX and TensorFlow backends; on PyTorch use "
            "torch.distributed (DistributedDataParallel). Received backend: " + name
        )


def recorded_runs(study=None, name="fast_training_h200"):
    """Runs measured by ``benchmarks/bench_fast_training.py`` and shipped with cnnbook.

    ``fast_training_h200``: on one NVIDIA H200 with Keras 3.15 on JAX; the ``record``
    study in bfloat16 and in float32, the ``grid`` and ``ablation`` studies in
    bfloat16. Each run is a dict as the benchmark writes it (``study``, ``label``,
    ``seed``, ``measured_on``, ``train_seconds``, ``accuracy`` per test-time
    augmentation level ``tta0``/``tta1``/``tta2``, ``device``, ``precision``, ...).

    Parameters
    ----------
    study : {"record", "grid", "ablation"}, optional
        Only that study's runs.
    name : str
        The file under ``cnnbook/results`` (without ``.jsonl``).

    Returns
    -------
    list of dict
    """
    path = Path(__file__).parent.parent / "results" / f"{name}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no recorded runs named {name!r} (looked for {path})")
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [run for run in runs if study is None or run["study"] == study]
