"""Layers of :mod:`cnnbook.nn`: each a forward pass and, next to it, its backward pass.

Every layer has the same small interface:

- ``build(input_shape, rng)`` creates the weights (Keras's default initializers:
  Glorot uniform kernels, zero biases) and returns the output shape;
- ``forward(x, training)`` computes the output and keeps what the backward pass needs;
- ``backward(grad_output)`` returns the gradient with respect to the input, and puts
  the gradients of the layer's weights in ``self.gradients``, in the order of
  ``self.weights`` (kernel, then bias: the order Keras lists them in).

Shapes are channels last and include the batch axis, as in :mod:`cnnbook.conv`.
"""

import numpy as np

from cnnbook._arguments import fraction, positive_int, positive_ints
from cnnbook.conv import conv2d, conv2d_backward
from cnnbook.pool import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from cnnbook.regularization import stochastic_pool2d, stochastic_pool2d_backward

__all__ = [
    "AvgPool2D",
    "Conv2D",
    "Dense",
    "DropConnectDense",
    "Dropout",
    "Flatten",
    "Layer",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "StochasticPool2D",
    "Tanh",
    "activation",
]


class Layer:
    """Base class: a layer without weights that passes its input through."""

    def __init__(self):
        self.weights = []
        self.gradients = []

    def build(self, input_shape, rng):
        """Create weights for inputs of ``input_shape`` (no batch axis); return the output shape."""
        return tuple(input_shape)

    def forward(self, x, training=False):
        return x

    def backward(self, grad_output, need_input_gradient=True):
        """Gradient with respect to the input (None if not needed: the first layer)."""
        return grad_output

    def count_params(self):
        return sum(weight.size for weight in self.weights)

    def __repr__(self):
        return f"{type(self).__name__}()"


def _glorot_uniform(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------


class ReLU(Layer):
    """``max(x, 0)``; its derivative is 1 where ``x > 0`` and 0 elsewhere."""

    def forward(self, x, training=False):
        self.positive = x > 0
        return np.where(self.positive, x, 0.0)

    def backward(self, grad_output, need_input_gradient=True):
        return np.where(self.positive, grad_output, 0.0)


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``, in (0, 1); its derivative is ``s (1 - s)``."""

    def forward(self, x, training=False):
        self.output = 0.5 * (1.0 + np.tanh(0.5 * x))  # the same function, without overflow
        return self.output

    def backward(self, grad_output, need_input_gradient=True):
        return grad_output * self.output * (1.0 - self.output)


class Tanh(Layer):
    """``tanh(x)``, in (-1, 1); its derivative is ``1 - tanh(x)^2``."""

    def forward(self, x, training=False):
        self.output = np.tanh(x)
        return self.output

    def backward(self, grad_output, need_input_gradient=True):
        return grad_output * (1.0 - self.output**2)


class Softmax(Layer):
    """``exp(x_i) / sum_j exp(x_j)`` over the last axis: probabilities that sum to 1.

    Its backward pass is the Jacobian-vector product
    ``s * (g - sum(g * s))``. Followed by cross-entropy, the two together have the
    simple gradient ``s - onehot(y)``, which :class:`cnnbook.nn.Sequential` uses.
    """

    def forward(self, x, training=False):
        shifted = np.exp(x - x.max(axis=-1, keepdims=True))  # same result, no overflow
        self.output = shifted / shifted.sum(axis=-1, keepdims=True)
        return self.output

    def backward(self, grad_output, need_input_gradient=True):
        dot = np.sum(grad_output * self.output, axis=-1, keepdims=True)
        return self.output * (grad_output - dot)


_ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax}


def activation(name):
    """The activation layer called ``name`` (as in Keras), or None for ``None``/"linear"."""
    if name in (None, "linear"):
        return None
    if name not in _ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {sorted(_ACTIVATIONS)} or None. Received: {name!r}"
        )
    return _ACTIVATIONS[name]()


# --------------------------------------------------------------------------------------
# Layers with weights
# --------------------------------------------------------------------------------------


class Conv2D(Layer):
    """2-D convolution with ``filters`` kernels, as ``keras.layers.Conv2D``.

    Parameters
    ----------
    filters : int
        Number of kernels (output channels).
    kernel_size : int or (int, int)
        Kernel height and width.
    strides : int or (int, int), default 1
    padding : {"valid", "same"}, default "valid"
    activation : {"relu", "sigmoid", "tanh", "softmax"}, optional
        Applied after the bias (see :class:`cnnbook.nn.Sequential`).
    use_bias : bool, default True
    """

    def __init__(
        self, filters, kernel_size, strides=1, padding="valid", activation=None, use_bias=True
    ):
        super().__init__()
        self.filters = positive_int(filters, "filters")
        self.kernel_size = positive_ints(kernel_size, "kernel_size", 2)
        self.strides, self.padding = strides, padding
        self.activation, self.use_bias = activation, use_bias

    def build(self, input_shape, rng):
        height, width, channels = input_shape
        kernel_height, kernel_width = self.kernel_size
        shape = (kernel_height, kernel_width, channels, self.filters)
        receptive = kernel_height * kernel_width
        self.weights = [_glorot_uniform(rng, shape, receptive * channels, receptive * self.filters)]
        if self.use_bias:
            self.weights.append(np.zeros(self.filters))
        probe = np.zeros((1, height, width, channels))
        return conv2d(probe, self.weights[0], stride=self.strides, padding=self.padding).shape[1:]

    def forward(self, x, training=False):
        self.input = x
        bias = self.weights[1] if self.use_bias else None
        return conv2d(x, self.weights[0], bias, self.strides, self.padding)

    def backward(self, grad_output, need_input_gradient=True):
        grad_x, grad_kernel, grad_bias = conv2d_backward(
            grad_output, self.input, self.weights[0], self.strides, self.padding,
            need_input_gradient=need_input_gradient,
        )  # fmt: skip
        self.gradients = [grad_kernel, grad_bias] if self.use_bias else [grad_kernel]
        return grad_x

    def __repr__(self):
        return f"Conv2D({self.filters}, {self.kernel_size}, padding={self.padding!r})"


class Dense(Layer):
    """Fully connected layer: ``x @ kernel + bias``, as ``keras.layers.Dense``.

    Parameters
    ----------
    units : int
        Number of outputs.
    activation : {"relu", "sigmoid", "tanh", "softmax"}, optional
    use_bias : bool, default True
    """

    def __init__(self, units, activation=None, use_bias=True):
        super().__init__()
        self.units = positive_int(units, "units")
        self.activation, self.use_bias = activation, use_bias

    def build(self, input_shape, rng):
        if len(input_shape) != 1:
            raise ValueError(
                f"Dense needs flat inputs (add a Flatten layer first). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        (inputs,) = input_shape
        self.weights = [_glorot_uniform(rng, (inputs, self.units), inputs, self.units)]
        if self.use_bias:
            self.weights.append(np.zeros(self.units))
        return (self.units,)

    def forward(self, x, training=False):
        self.input = x
        output = x @ self.weights[0]
        return output + self.weights[1] if self.use_bias else output

    def backward(self, grad_output, need_input_gradient=True):
        self.gradients = [self.input.T @ grad_output]
        if self.use_bias:
            self.gradients.append(grad_output.sum(axis=0))
        return grad_output @ self.weights[0].T if need_input_gradient else None

    def __repr__(self):
        return f"Dense({self.units})"


# --------------------------------------------------------------------------------------
# Layers without weights
# --------------------------------------------------------------------------------------


class _Pool2D(Layer):
    """What every 2-D pooling layer shares: its arguments, its output shape, and a
    forward and backward pass through the functions ``_pool`` and ``_pool_backward``."""

    def __init__(self, pool_size=2, strides=None, padding="valid"):
        super().__init__()
        self.pool_size, self.strides, self.padding = pool_size, strides, padding

    def build(self, input_shape, rng):
        probe = np.zeros((1, *input_shape))
        return self.forward(probe).shape[1:]

    def forward(self, x, training=False):
        self.input = x
        return self._pool(x, self.pool_size, self.strides, self.padding)

    def backward(self, grad_output, need_input_gradient=True):
        return self._pool_backward(
            grad_output, self.input, self.pool_size, self.strides, self.padding
        )

    def __repr__(self):
        return f"{type(self).__name__}({self.pool_size})"


class MaxPool2D(_Pool2D):
    """Max pooling, as ``keras.layers.MaxPooling2D`` (stride defaults to the pool size)."""

    _pool = staticmethod(max_pool2d)
    _pool_backward = staticmethod(max_pool2d_backward)


class AvgPool2D(_Pool2D):
    """Average pooling, as ``keras.layers.AveragePooling2D``."""

    _pool = staticmethod(avg_pool2d)
    _pool_backward = staticmethod(avg_pool2d_backward)


class Flatten(Layer):
    """Reshape each example to a vector (row-major, as Keras)."""

    def build(self, input_shape, rng):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        self.input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_output, need_input_gradient=True):
        return grad_output.reshape(self.input_shape)


class Dropout(Layer):
    """Inverted dropout: in training, zero each value with probability ``rate`` and scale
    the survivors by ``1 / (1 - rate)``, so that the expected output is unchanged; at
    inference, pass the input through.

    Parameters
    ----------
    rate : float in [0, 1)
        Fraction of values dropped.
    seed : int, optional
        Seed of the masks.
    """

    def __init__(self, rate, seed=None):
        super().__init__()
        self.rate, self.seed = fraction(rate, "rate"), seed
        self.rng = np.random.default_rng(seed)

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.scale = None
            return x
        keep = self.rng.random(x.shape) >= self.rate
        self.scale = (keep / (1.0 - self.rate)).astype(x.dtype)  # float32 stays float32
        return x * self.scale

    def backward(self, grad_output, need_input_gradient=True):
        return grad_output if self.scale is None else grad_output * self.scale

    def __repr__(self):
        return f"Dropout({self.rate})"


# --------------------------------------------------------------------------------------
# Regularizing layers (see cnnbook.regularization for the NumPy references)
# --------------------------------------------------------------------------------------


class DropConnectDense(Dense):
    """A dense layer that drops random weights in training (DropConnect).

    One mask per batch keeps each weight with probability ``1 - rate`` and scales the
    kept ones by ``1 / (1 - rate)``; the backward pass sends the gradient through the
    same mask. At inference it is the plain :class:`Dense` layer. The bias is not dropped.
    """

    def __init__(self, units, rate, activation=None, use_bias=True, seed=None):
        super().__init__(units, activation, use_bias)
        self.rate, self.seed = fraction(rate, "rate"), seed
        self.rng = np.random.default_rng(seed)

    def forward(self, x, training=False):
        self.input = x
        self.scale = None
        kernel = self.weights[0]
        if training and self.rate > 0:
            keep = self.rng.random(kernel.shape) >= self.rate
            self.scale = (keep / (1.0 - self.rate)).astype(kernel.dtype)
            kernel = kernel * self.scale
        output = x @ kernel
        return output + self.weights[1] if self.use_bias else output

    def backward(self, grad_output, need_input_gradient=True):
        kernel = self.weights[0] if self.scale is None else self.weights[0] * self.scale
        grad_kernel = self.input.T @ grad_output
        self.gradients = [grad_kernel if self.scale is None else grad_kernel * self.scale]
        if self.use_bias:
            self.gradients.append(grad_output.sum(axis=0))
        return grad_output @ kernel.T if need_input_gradient else None

    def __repr__(self):
        return f"DropConnectDense({self.units}, rate={self.rate})"


class StochasticPool2D(_Pool2D):
    """Stochastic pooling: in training, one cell per window drawn with probability
    proportional to its (non-negative) activation, which also gets the whole gradient;
    at inference the probability-weighted average ``sum a_i^2 / sum a_j``.

    The forward and backward passes are :func:`cnnbook.regularization.stochastic_pool2d`
    and :func:`~cnnbook.regularization.stochastic_pool2d_backward`; the layer keeps the
    drawn cells in between.
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", seed=None):
        super().__init__(pool_size, strides, padding)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def forward(self, x, training=False):
        self.input = x
        output, self.chosen = stochastic_pool2d(
            x, self.pool_size, self.strides, self.padding, training, self.rng, return_chosen=True
        )
        return output

    def backward(self, grad_output, need_input_gradient=True):
        return stochastic_pool2d_backward(
            grad_output, self.input, self.chosen, self.pool_size, self.strides, self.padding
        )
