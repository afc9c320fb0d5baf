"""The fast recipe's network (chapter 9d, sections 1 and 2): whitening, then three blocks.

:func:`normalize` scales the images as the network expects them, :func:`whitening_kernel`
computes the first, frozen convolution, and :func:`fast_cnn` builds airbench94's network,
its 3x3 convolutions started as partly the identity (:class:`PartialIdentity`) and every
kernel in PyTorch's range (:func:`torch_uniform`). Its :func:`gelu` and :class:`BatchNorm`
compute what Keras's do, in fewer passes over memory on TensorFlow.
"""

import functools

import numpy as np

from cnnbook._arguments import whole_number
from cnnbook.datasets import CIFAR10_MEAN, CIFAR10_STD
from cnnbook.keras.fast_training.recipe import FastRecipe
from cnnbook.runtime import backend, import_keras, import_tensorflow

keras = import_keras()
ops = keras.ops


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
    decreasing eigenvalue (the smooth color patterns first, the fine checkerboards
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


@keras.saving.register_keras_serializable(package="cnnbook")
def gelu(x):
    """GELU in its exact form, ``x * Phi(x)``: ``keras.activations.gelu(x, approximate=False)``.

    On TensorFlow it runs as one fused kernel forward and one backward (compiled by XLA),
    with the derivative written out, ``Phi(x) + x * phi(x)`` (``Phi`` and ``phi`` are the
    standard normal's distribution and density). TensorFlow's own GELU makes five passes
    over the activations forward, and its gradient more, each reading and writing the
    whole tensor: on two CPU cores, memory rather than arithmetic sets their pace. JAX
    fuses them itself and PyTorch has one kernel: there this is Keras's GELU.
    """
    if backend() == "tensorflow":
        return _tensorflow_gelu()(x)
    return keras.activations.gelu(x, approximate=False)


@functools.cache
def _tensorflow_gelu():
    tf = import_tensorflow()
    sqrt_half, inverse_sqrt_two_pi = 0.5**0.5, (2 * np.pi) ** -0.5

    @tf.function(jit_compile=True)
    def forward(x):
        return 0.5 * x * (1.0 + tf.math.erf(x * sqrt_half))

    @tf.function(jit_compile=True)
    def backward(x, upstream):
        cdf = 0.5 * (1.0 + tf.math.erf(x * sqrt_half))
        return upstream * (cdf + x * inverse_sqrt_two_pi * tf.exp(-0.5 * x * x))

    @tf.custom_gradient
    def fused_gelu(x):
        return forward(x), lambda upstream: backward(x, upstream)

    return fused_gelu


@keras.saving.register_keras_serializable(package="cnnbook")
class BatchNorm(keras.layers.BatchNormalization):
    """Keras's batch normalization; in training on TensorFlow on a CPU, its fused kernel.

    The same layer, weights and results as ``keras.layers.BatchNormalization`` (tested
    to float32 rounding, and to bfloat16's under ``mixed_bfloat16``). In training, on
    the TensorFlow backend without a GPU, with float32 or bfloat16 inputs on the last
    axis and one replica, it calls TensorFlow's ``FusedBatchNormV3``, which computes the
    batch's statistics and normalizes in one kernel, and its gradient in one more, where
    Keras's composite version makes about five passes over the activations each way. (In
    bfloat16 the kernel keeps the statistics in float32, as Keras's layer does, and its
    output is bfloat16.) Elsewhere it is Keras's layer unchanged (under
    ``tf.distribute`` with several replicas, Keras's synchronized statistics).
    """

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable and mask is None and self._fuses(inputs):
            return self._fused_call(inputs)
        return super().call(inputs, training=training, mask=mask)

    def _fuses(self, inputs):
        if backend() != "tensorflow" or getattr(self, "renorm", False):  # Keras >= 3.11
            return False
        tf = import_tensorflow()
        replicas = tf.distribute.get_replica_context()  # None across replicas
        return (
            len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and inputs.dtype in (tf.float32, tf.bfloat16)
            and replicas is not None
            and replicas.num_replicas_in_sync == 1
            and not tf.config.list_logical_devices("GPU")
        )

    def _fused_call(self, inputs):
        tf = import_tensorflow()
        channels = inputs.shape[-1]
        ones, zeros = tf.ones([channels]), tf.zeros([channels])
        outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs,
            scale=self.gamma.value if self.scale else ones,
            offset=self.beta.value if self.center else zeros,
            mean=tf.zeros([0]),
            variance=tf.zeros([0]),
            epsilon=self.epsilon,
            exponential_avg_factor=1.0,
            data_format="NHWC",
            is_training=True,
        )
        # The kernel returns the unbiased variance (n / (n - 1)); Keras averages the biased one.
        count = tf.cast(tf.size(inputs) // channels, tf.float32)
        variance = variance * (count - 1.0) / count
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return outputs


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
    Dirac filters: filter ``j`` passes input channel ``j`` through its center tap
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
        whole_number(seed, "seed")
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
        return BatchNorm(
            momentum=recipe.batchnorm_momentum,
            epsilon=1e-12,
            scale=False,
            # Under tf.distribute, one set of batch statistics over all devices (JAX's
            # data parallelism always computes them over the whole batch).
            synchronized=backend() == "tensorflow",
        )

    stack = [keras.Input(shape=(32, 32, 3)), conv(24, 2, name="whiten"), layers.Activation(gelu)]
    for width in recipe.widths:
        stack += [
            conv(width, padding="same", use_bias=False),
            layers.MaxPooling2D(2),
            norm(),
            layers.Activation(gelu),
            conv(width, padding="same", use_bias=False),
            norm(),
            layers.Activation(gelu),
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
