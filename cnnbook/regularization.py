"""Regularization in NumPy: DropConnect, stochastic pooling, max-norm, L2, early stopping.

(Inverted dropout is the :class:`cnnbook.nn.Dropout` layer.) The NumPy layers
:class:`cnnbook.nn.DropConnectDense` and :class:`cnnbook.nn.StochasticPool2D` compute
with these functions (stochastic pooling's backward pass, :func:`stochastic_pool2d_backward`,
sits next to its forward pass, as max pooling's does in :mod:`cnnbook.pool`), and the
Keras layers of :mod:`cnnbook.keras.layers` are tested against them.
:class:`EarlyStopping` plugs into :meth:`cnnbook.nn.Sequential.fit`.

Used by chapter 11 (and by :mod:`cnnbook.nn`'s regularizing layers).
"""

import numpy as np

from cnnbook._arguments import check_grad_output, fraction, one_of
from cnnbook._pooling import prepare_pool, scatter_to_input
from cnnbook._windows import pad, window_view

__all__ = [
    "EarlyStopping",
    "dropconnect_dense",
    "l2_gradient",
    "l2_penalty",
    "max_norm",
    "stochastic_pool2d",
    "stochastic_pool2d_backward",
]


def dropconnect_dense(x, kernel, bias=None, rate=0.5, training=True, rng=None):
    """A dense layer with DropConnect: random *weights* dropped, not outputs.

    In training, each weight is kept with probability ``1 - rate`` (one mask for the
    whole batch) and the kept ones are scaled by ``1 / (1 - rate)``, so the expected
    pre-activation is the plain layer's. At inference it is the plain layer. The
    bias is never dropped. (Wan et al. draw a mask per example, drop biases too, and
    at inference sample each unit's input from a Gaussian of the same mean and
    variance; this is the cheaper variant that chapter 11 trains.)

    Parameters
    ----------
    x : array_like, shape (batch, inputs)
    kernel : array_like, shape (inputs, units)
    bias : array_like, shape (units,), optional
    rate : float in [0, 1), default 0.5
        Probability of dropping each weight.
    training : bool, default True
    rng : numpy.random.Generator, optional

    Returns
    -------
    numpy.ndarray, shape (batch, units)

    Examples
    --------
    >>> x, kernel = np.ones((1, 4)), np.ones((4, 2))
    >>> dropconnect_dense(x, kernel, rate=0.5, training=False)
    array([[4., 4.]])
    """
    rate = fraction(rate, "rate")
    x, kernel = np.asarray(x, dtype=float), np.asarray(kernel, dtype=float)
    if training and rate > 0:
        rng = rng or np.random.default_rng()
        kernel = kernel * (rng.random(kernel.shape) >= rate) / (1.0 - rate)
    output = x @ kernel
    return output if bias is None else output + bias


def _pool_windows(x, pool_size, stride, padding):
    """The non-negative part of every window: shape (batch, *out, channels, cells), the
    cells of a window in row-major order; and what :func:`prepare_pool` returns."""
    x, pool_sizes, strides, pads, out_shape = prepare_pool(x, pool_size, stride, padding, 2)
    windows = window_view(pad(np.maximum(x, 0), pads, 0.0), pool_sizes, strides, out_shape)
    return windows.reshape(*windows.shape[:4], -1), (x, pool_sizes, strides, pads, out_shape)


def stochastic_pool2d(
    x, pool_size=2, stride=None, padding="valid", training=True, rng=None, return_chosen=False
):
    """Stochastic pooling (Zeiler and Fergus, 2013).

    Within each window, cell ``i`` with activation ``a_i >= 0`` (negative values count
    as 0) has probability ``p_i = a_i / sum_j a_j``. In training, one cell is drawn
    with those probabilities and its value is the output; at inference the output is
    the expectation ``sum_i p_i a_i``. A window of zeros gives 0.

    Parameters
    ----------
    x : array_like, shape (batch, height, width, channels)
    pool_size, stride, padding
        As in :func:`cnnbook.pool.max_pool2d`; padded cells are zeros, so never drawn.
    training : bool, default True
    rng : numpy.random.Generator, optional
    return_chosen : bool, default False
        Also return the drawn cells, which :func:`stochastic_pool2d_backward` needs.

    Returns
    -------
    output : numpy.ndarray, shape (batch, out_height, out_width, channels)
    chosen : numpy.ndarray of int, shape of ``output``
        Only with ``return_chosen``: the drawn cell of each window, numbered row by
        row inside the window (0 to ``pool_height * pool_width - 1``); None at
        inference, where nothing is drawn.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [3.0, 0.0]]).reshape(1, 2, 2, 1)
    >>> stochastic_pool2d(x, training=False)[0, 0, 0, 0]   # (1 * 1 + 3 * 3) / 4
    np.float64(2.5)
    >>> output, chosen = stochastic_pool2d(x, return_chosen=True)
    >>> int(chosen[0, 0, 0, 0]) in (0, 2)                  # cell 0 (the 1) or 2 (the 3)
    True
    """
    windows, _ = _pool_windows(x, pool_size, stride, padding)
    output, chosen = _stochastic_pool(windows, training, rng or np.random.default_rng())
    return (output, chosen) if return_chosen else output


def _stochastic_pool(windows, training, rng):
    """Pool ``windows`` (..., cells); return the output and the drawn cells (None at inference)."""
    cumulative = np.cumsum(windows, axis=-1)
    # The total is the cumulative sum's own last entry, not a separately rounded sum, so
    # that a threshold below the total always reaches a cell.
    total = cumulative[..., -1]
    if not training:
        return (windows**2).sum(axis=-1) / np.where(total > 0, total, 1.0), None
    threshold = rng.random(total.shape) * total
    # The first cell whose cumulative sum reaches the threshold is drawn with
    # probability a_i / total: the inverse of the cumulative distribution.
    chosen = np.argmax(cumulative >= threshold[..., None], axis=-1)
    return np.take_along_axis(windows, chosen[..., None], axis=-1)[..., 0], chosen


def stochastic_pool2d_backward(grad_output, x, chosen, pool_size=2, stride=None, padding="valid"):
    """Gradient of :func:`stochastic_pool2d` with respect to its input.

    In training the output is the drawn cell's value, so the drawn cell gets the
    window's whole gradient and the others nothing, as in max pooling. At inference
    the output is ``Q / S`` with ``Q = sum a_j^2`` and ``S = sum a_j``, so cell ``i``
    gets ``(2 a_i S - Q) / S^2`` times the window's gradient. Negative inputs were
    counted as 0, so they get nothing; overlapping windows add up.

    The arguments and the result are those of :func:`cnnbook.pool.max_pool2d_backward`
    (``x``, ``pool_size``, ``stride`` and ``padding`` as given to
    :func:`stochastic_pool2d`), and ``chosen``: the drawn cells, as
    :func:`stochastic_pool2d` returns them with ``return_chosen=True``, or None for
    the inference pass.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [3.0, 0.0]]).reshape(1, 2, 2, 1)
    >>> chosen = np.array([2]).reshape(1, 1, 1, 1)       # the draw picked the 3
    >>> stochastic_pool2d_backward(np.ones((1, 1, 1, 1)), x, chosen)[0, :, :, 0]
    array([[0., 0.],
           [1., 0.]])
    >>> stochastic_pool2d_backward(np.ones((1, 1, 1, 1)), x, None)[0, :, :, 0]  # S=4, Q=10
    array([[-0.125,  0.   ],
           [ 0.875,  0.   ]])
    """
    windows, (x, pool_sizes, strides, pads, out_shape) = _pool_windows(
        x, pool_size, stride, padding
    )
    grad_output = check_grad_output(grad_output, windows.shape[:-1], x.dtype)
    if chosen is not None:
        chosen = np.asarray(chosen)
        if chosen.shape != grad_output.shape:
            raise ValueError(
                f"chosen must have the forward output's shape {grad_output.shape}. "
                f"Received: chosen.shape={chosen.shape}"
            )
        # d output / d a_i is 1 for the drawn cell, 0 for the others.
        weights = np.zeros_like(windows)
        np.put_along_axis(weights, chosen[..., None], 1.0, axis=-1)
    else:
        # d/da_i of Q / S, with Q = sum a^2 and S = sum a: (2 a_i S - Q) / S^2.
        total = windows.sum(axis=-1, keepdims=True)
        squares = (windows**2).sum(axis=-1, keepdims=True)
        safe = np.where(total > 0, total, 1.0)
        weights = np.where(total > 0, (2 * windows * safe - squares) / safe**2, 0.0)
    weights = weights * (windows > 0)  # negative inputs were clipped to 0
    share = grad_output[..., None] * weights
    return scatter_to_input(
        lambda index: share[..., index], x, pool_sizes, strides, pads, out_shape
    )


def max_norm(kernel, max_value=3.0, axis=0):
    """Project ``kernel`` so that each unit's incoming weight vector has norm <= ``max_value``.

    Equal to ``keras.constraints.MaxNorm(max_value, axis)``: norms are taken over
    ``axis`` (0 for a Dense kernel; (0, 1, 2) for a Conv2D kernel), and vectors longer
    than ``max_value`` are scaled down to it.

    Examples
    --------
    >>> max_norm(np.array([[3.0, 0.3], [4.0, 0.4]]), max_value=1.0).round(4)
    array([[0.6, 0.3],
           [0.8, 0.4]])
    """
    if not max_value > 0:
        raise ValueError(f"max_value must be positive. Received: max_value={max_value!r}")
    kernel = np.asarray(kernel, dtype=float)
    norms = np.sqrt(np.sum(kernel**2, axis=axis, keepdims=True))
    return kernel * (np.clip(norms, 0, max_value) / (1e-7 + norms))


def l2_penalty(weights, factor=0.01):
    """Weight decay's addition to the loss: ``factor * sum(w ** 2)`` over all arrays.

    Equal to ``keras.regularizers.L2(factor)`` summed over the regularized weights.
    """
    return factor * sum(float(np.sum(np.square(w))) for w in weights)


def l2_gradient(weight, factor=0.01):
    """The gradient of :func:`l2_penalty` with respect to one weight array: ``2 factor w``."""
    return 2.0 * factor * np.asarray(weight)


class EarlyStopping:
    """Stop training when a monitored value stops improving (a callback of ``fit``).

    Pass it to :meth:`cnnbook.nn.Sequential.fit` in ``callbacks``.

    Same rule as ``keras.callbacks.EarlyStopping``.

    Parameters
    ----------
    monitor : str, default "val_loss"
        The entry of the epoch's logs to watch.
    min_delta : float, default 0
        The smallest change that counts as an improvement (not "the monitored value").
    patience : int, default 0
        How many epochs in a row without improvement are tolerated before stopping.
    mode : {"auto", "min", "max"}, default "auto"
        Whether lower or higher is better; "auto": higher for names with "acc".
    restore_best_weights : bool, default False
        At the end of training, put back the weights of the best epoch (otherwise the
        model keeps the weights of its last epoch).
    verbose : int, default 0
        1: say when and why training stopped.
    """

    def __init__(
        self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto",
        restore_best_weights=False, verbose=0,
    ):  # fmt: skip
        one_of(mode, ("auto", "min", "max"), "mode")
        if patience < 0:
            raise ValueError(f"patience must be >= 0. Received: patience={patience!r}")
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.restore_best_weights = restore_best_weights
        higher_is_better = mode == "max" or (mode == "auto" and "acc" in monitor)
        self.sign = 1.0 if higher_is_better else -1.0
        self.min_delta = abs(min_delta)
        self.reset()

    def reset(self):
        self.best = None
        self.best_epoch = None
        self.best_weights = None
        self.wait = 0
        self.stopped_epoch = None

    def __call__(self, model, epoch, logs):
        """Record the epoch; return True to stop the training."""
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r}, logs have {sorted(logs)}")
        current = self.sign * logs[self.monitor]
        if self.best is None or current - self.min_delta > self.best:
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = model.get_weights()
            return False
        self.wait += 1
        if self.wait < self.patience or epoch == 0:
            return False
        self.stopped_epoch = epoch
        if self.verbose:
            print(
                f"early stopping after epoch {epoch + 1}: no improvement of {self.monitor} "
                f"for {self.patience} epochs; best epoch {self.best_epoch + 1}"
            )
        return True

    def on_train_end(self, model):
        """At the end of training (stopped early or not), restore the best weights if asked.

        Keras 3 does the same in its ``on_train_end``.
        """
        if self.restore_best_weights and self.best_weights is not None:
            model.set_weights(self.best_weights)
