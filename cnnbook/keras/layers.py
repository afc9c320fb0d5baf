"""Keras 3 layers for regularizers that Keras lacks: DropConnect and stochastic pooling.

Written with ``keras.ops`` and ``keras.random`` only, so they run on every Keras
backend (TensorFlow, JAX, PyTorch); seeded with a ``keras.random.SeedGenerator``; and
registered as serializable, so a saved model loads back with them. Their NumPy
references are :func:`cnnbook.regularization.dropconnect_dense` and
:func:`cnnbook.regularization.stochastic_pool2d`.

Used by chapter 11.
"""

from cnnbook._arguments import fraction, one_of, positive_int, positive_ints
from cnnbook.conv import conv_output_size
from cnnbook.runtime import import_keras

keras = import_keras()
ops = keras.ops

__all__ = ["DropConnectDense", "StochasticPool2D"]


@keras.saving.register_keras_serializable(package="cnnbook")
class DropConnectDense(keras.layers.Layer):
    """A dense layer that drops random *weights* in training (Wan et al., 2013).

    In training, every weight of the kernel is kept with probability ``1 - rate``,
    with one fresh mask per batch (per call), and the kept weights are scaled by
    ``1 / (1 - rate)`` so that the expected pre-activation equals the plain layer's.
    The bias is not dropped. At inference it is the plain dense layer. (The paper
    draws a mask per example, drops biases too, and at inference samples each unit's
    input from a Gaussian of the same mean and variance: this is a cheaper variant.)

    Parameters
    ----------
    units : int
        Number of outputs.
    rate : float in [0, 1)
        Probability of dropping each weight.
    activation : str or callable, optional
        As in ``keras.layers.Dense``.
    use_bias : bool, default True
    seed : int, optional
        Seed of the masks.
    **kwargs
        Standard layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, units, rate, activation=None, use_bias=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        units = positive_int(units, "units")
        rate = fraction(rate, "rate")
        self.units, self.rate, self.use_bias, self.seed = units, float(rate), use_bias, seed
        self.activation = keras.activations.get(activation)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel"
        )
        self.bias = (
            self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
            if self.use_bias
            else None
        )

    def call(self, inputs, training=False):
        kernel = ops.convert_to_tensor(self.kernel)
        if training and self.rate > 0:
            keep = keras.random.uniform(ops.shape(kernel), seed=self.seed_generator) >= self.rate
            kernel = kernel * ops.cast(keep, kernel.dtype) / (1.0 - self.rate)
        outputs = ops.matmul(inputs, kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "rate": self.rate,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="cnnbook")
class StochasticPool2D(keras.layers.Layer):
    """Stochastic pooling (Zeiler and Fergus, 2013), for channels-last inputs.

    In each window, cell ``i`` has probability ``a_i / sum_j a_j`` (negative
    activations count as 0). In training one cell is drawn per window and channel and
    its value is the output; at inference the output is the probability-weighted
    average ``sum_i a_i^2 / sum_j a_j``. A window of zeros gives 0.

    Parameters
    ----------
    pool_size : int or (int, int), default 2
    strides : int or (int, int), optional
        Defaults to ``pool_size``.
    padding : {"valid", "same"}, default "valid"
        Padded cells are zeros, so they are never drawn.
    seed : int, optional
        Seed of the draws.
    **kwargs
        Standard layer arguments.
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = positive_ints(pool_size, "pool_size", 2)
        self.strides = self.pool_size if strides is None else positive_ints(strides, "strides", 2)
        self.padding = one_of(padding, ("valid", "same"), "padding")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "StochasticPool2D expects inputs of shape (batch, height, width, channels) "
                f"with a known number of channels. Received: input_shape={input_shape}"
            )

    def _windows(self, inputs):
        """(batch, out_h, out_w, cells, channels) of the non-negative activations."""
        patches = keras.ops.image.extract_patches(
            ops.relu(inputs), self.pool_size, strides=self.strides, padding=self.padding
        )  # (batch, out_h, out_w, pool_h * pool_w * channels), cells before channels
        # Sizes known before the data (all but the batch) are passed as numbers, so the
        # output keeps a static shape: some Keras versions (3.10, on Colab) cannot flatten
        # an output whose batch size and channels are both unknown.
        dynamic = ops.shape(patches)
        height, width = (patches.shape[i] or dynamic[i] for i in (1, 2))
        cells = self.pool_size[0] * self.pool_size[1]
        return ops.reshape(patches, (-1, height, width, cells, inputs.shape[-1]))

    def call(self, inputs, training=False):
        windows = self._windows(inputs)
        # The probabilities are computed in float32 whatever the compute dtype: in 16 bits
        # a cumulative sum rounds so coarsely that its cells' shares would be off, and
        # sum(a^2) overflows float16 from activations of about 256.
        exact = ops.cast(windows, "float32")
        cumulative = ops.cumsum(exact, axis=3)
        # The total is the cumulative sum's own last entry, not a separately rounded sum:
        # then a draw below the total always reaches a cell.
        total = cumulative[:, :, :, -1:]
        if not training:
            safe = ops.where(total > 0, total, ops.ones_like(total))
            expectation = ops.sum(exact * exact, axis=3) / ops.squeeze(safe, axis=3)
            return ops.cast(expectation, self.compute_dtype)
        draw = keras.random.uniform(ops.shape(total), dtype="float32", seed=self.seed_generator)
        reached = ops.cast(cumulative >= draw * total, windows.dtype)
        # The first cell whose cumulative sum reaches the draw: a one-hot choice, which
        # picks the cell's value exactly, in the compute dtype.
        before = ops.concatenate([ops.zeros_like(reached[:, :, :, :1]), reached[:, :, :, :-1]], 3)
        chosen = reached * (1 - before)
        return ops.sum(chosen * windows, axis=3)

    def compute_output_shape(self, input_shape):
        sizes = [
            conv_output_size(n, k, s, self.padding) if n is not None else None
            for n, k, s in zip(input_shape[1:3], self.pool_size, self.strides)
        ]
        return (input_shape[0], *sizes, input_shape[3])

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "seed": self.seed,
        }
