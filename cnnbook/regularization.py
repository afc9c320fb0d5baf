"""Regularization in NumPy: DropConnect, stochastic pooling, max-norm, L2, early stopping.

(Inverted dropout is the :class:`cnnbook.nn.Dropout` layer.) Each function here is
the reference that the layers are tested against: :class:`cnnbook.nn.DropConnectDense`
and :class:`cnnbook.nn.StochasticPool2D` for NumPy networks (with backward passes), and
the Keras layers of :mod:`cnnbook.keras.layers`. :class:`EarlyStopping` plugs into
:meth:`cnnbook.nn.Sequential.fit`.

Used by chapter 11 (and by :mod:`cnnbook.nn`'s regularizing layers).
"""

from __future__ import annotations

import numpy as np

from cnnbook._windows import pad, window_view
from cnnbook.pool import _prepare_pool

__all__ = [
    "EarlyStopping",
    "dropconnect_dense",
    "l2_gradient",
    "l2_penalty",
    "max_norm",
    "stochastic_pool2d",
]


def _check_rate(rate):
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1). Received: rate={rate!r}")


def dropconnect_dense(x, kernel, bias=None, rate=0.5, training=True, rng=None):
    """A dense layer with DropConnect: random *weights* dropped, not outputs.

    In training, each weight is kept with probability ``1 - rate`` (one mask for the
    whole batch) and the kept ones are scaled by ``1 / (1 - rate)``, so the expected
    pre-activation is the plain layer's. At inference it is the plain layer. The
    bias is never dropped.

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
    _check_rate(rate)
    x, kernel = np.asarray(x, dtype=float), np.asarray(kernel, dtype=float)
    if training and rate > 0:
        rng = rng or np.random.default_rng()
        kernel = kernel * (rng.random(kernel.shape) >= rate) / (1.0 - rate)
    output = x @ kernel
    return output if bias is None else output + bias


def _pool_windows(x, pool_size, stride, padding):
    """Windows of the non-negative part of ``x``: shape (batch, *out, channels, cells)."""
    x, pool_sizes, strides, pads, out_shape = _prepare_pool(x, pool_size, stride, padding, 2)
    windows = window_view(pad(np.maximum(x, 0), pads, 0.0), pool_sizes, strides, out_shape)
    return windows.reshape(*windows.shape[:4], -1)


def stochastic_pool2d(x, pool_size=2, stride=None, padding="valid", training=True, rng=None):
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

    Returns
    -------
    numpy.ndarray, shape (batch, out_height, out_width, channels)

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [3.0, 0.0]]).reshape(1, 2, 2, 1)
    >>> stochastic_pool2d(x, training=False)[0, 0, 0, 0]   # (1 * 1 + 3 * 3) / 4
    np.float64(2.5)
    """
    windows = _pool_windows(x, pool_size, stride, padding)
    return _stochastic_pool(windows, training, rng or np.random.default_rng())[0]


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
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
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
