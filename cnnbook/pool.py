"""Pooling: max and average over windows, with their backward passes.

A pooling layer has no weights. It slides a window (usually 2x2, moving 2 cells at a
time) over each channel separately and keeps one number per window: the largest
(max pooling) or the mean (average pooling). The maps get smaller, and so do the
layers after them.

Arrays are channels last, like :mod:`cnnbook.conv`: (batch, length, channels) in 1-D
and (batch, height, width, channels) in 2-D. Padding is "valid" (windows stay
inside) or "same" (``ceil(n / stride)`` windows per axis, zeros split as
TensorFlow splits them; padded cells never win a max and are not counted in an
average, as in TensorFlow and Keras).

The forward poolings reduce the windows one axis at a time: along each axis, every
offset of the window (2 for 2x2) gives the strided view of the input that holds that
offset of every window, and ``np.maximum`` (or ``np.add``) combines the views. The
backward passes take, for each cell of a window, the strided view that holds that cell
of every window. Either way, a handful of whole-array NumPy operations, whatever the
image size.

Used by chapters 5, 8b and 10.
"""

import numpy as np

from cnnbook._arguments import check_grad_output
from cnnbook._pooling import prepare_pool, scatter_to_input
from cnnbook._windows import pad, tap_slices

__all__ = [
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool2d_backward",
    "max_pool1d",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool2d_reference",
]


def _counts(x, pool_sizes, strides, pads, out_shape):
    """How many real (not padding) cells each window holds, shaped to broadcast."""
    ones = pad(np.ones((1, *x.shape[1:-1], 1)), pads, 0.0)
    return sum(ones[cells] for _, cells in tap_slices(pool_sizes, strides, out_shape))


def _reduce_windows(padded, pool_sizes, strides, out_shape, combine):
    """Combine (``np.maximum`` or ``np.add``) the cells of every window.

    Both are separable: the maximum (or sum) over a 3x3 window is the maximum over
    its 3 rows of the maxima along each row. So the windows are reduced one axis
    at a time, 3 + 3 operations instead of 3 x 3, the second on a smaller array.
    """
    result = padded
    for axis, size, stride, count in zip(range(1, result.ndim - 1), pool_sizes, strides, out_shape):
        cells = _cells_along(result, axis, size, stride, count)
        reduced = next(cells).copy()
        for cell in cells:
            combine(reduced, cell, out=reduced)
        result = reduced
    return result


def _cells_along(array, axis, size, stride, count):
    """For each offset in a window of ``size`` along ``axis``, the view of ``array`` that
    holds that cell of each of the ``count`` windows (``stride`` apart)."""
    index = [slice(None)] * array.ndim
    for _, (_, cells, _) in tap_slices((size,), (stride,), (count,)):  # a 1-D window
        index[axis] = cells
        yield array[tuple(index)]


def _max_pool(x, pool_size, stride, padding, ndim):
    x, pool_sizes, strides, pads, out_shape = prepare_pool(x, pool_size, stride, padding, ndim)
    padded = pad(x, pads, -np.inf)
    return _reduce_windows(padded, pool_sizes, strides, out_shape, np.maximum)


def _avg_pool(x, pool_size, stride, padding, ndim):
    x, pool_sizes, strides, pads, out_shape = prepare_pool(x, pool_size, stride, padding, ndim)
    total = _reduce_windows(pad(x, pads, 0.0), pool_sizes, strides, out_shape, np.add)
    if padding == "valid":
        return total / np.prod(pool_sizes, dtype=x.dtype)
    return total / _counts(x, pool_sizes, strides, pads, out_shape).astype(x.dtype)


def max_pool2d_reference(x, pool_size=2, stride=None, padding="valid"):
    """:func:`max_pool2d` written as loops: slow, short, and obviously right.

    Same arguments, checks and result as :func:`max_pool2d`; use it to read what max
    pooling does, and to test faster code against.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 5, 3))
    >>> np.array_equal(max_pool2d_reference(x, 3, 2, "same"), max_pool2d(x, 3, 2, "same"))
    True
    """
    x, (pool_height, pool_width), (stride_h, stride_w), pads, (out_height, out_width) = (
        prepare_pool(x, pool_size, stride, padding, ndim=2)
    )
    padded = pad(x, pads, -np.inf)  # padded cells never win
    output = np.empty((x.shape[0], out_height, out_width, x.shape[-1]), dtype=x.dtype)
    for i in range(out_height):
        for j in range(out_width):
            top, left = i * stride_h, j * stride_w
            window = padded[:, top : top + pool_height, left : left + pool_width, :]
            output[:, i, j, :] = window.max(axis=(1, 2))
    return output


def max_pool2d(x, pool_size=2, stride=None, padding="valid"):
    """Max pooling: the largest value of each window, channel by channel.

    Equal to ``keras.layers.MaxPooling2D`` and ``tf.nn.max_pool2d``.

    Parameters
    ----------
    x : array_like, shape (batch, height, width, channels)
        Feature maps, channels last.
    pool_size : int or (int, int), default 2
        Window height and width.
    stride : int or (int, int), optional
        Step of the window; defaults to ``pool_size`` (windows side by side).
        A stride smaller than the window makes overlapping windows.
    padding : {"valid", "same"}, default "valid"
        ``"same"`` gives ``ceil(n / stride)`` windows per axis; padded cells never win.

    Returns
    -------
    numpy.ndarray, shape (batch, out_height, out_width, channels)

    Raises
    ------
    ValueError
        Wrong number of dimensions, non-positive sizes, unknown padding, or a window
        larger than the input.
    TypeError
        A size or stride that is not an int or a pair of ints.

    See Also
    --------
    max_pool2d_backward : its gradient.

    Examples
    --------
    >>> x = np.array([[1, 3, 2, 0], [4, 2, 1, 1], [0, 1, 5, 6], [2, 2, 7, 1]])
    >>> max_pool2d(x.reshape(1, 4, 4, 1))[0, :, :, 0]
    array([[4., 2.],
           [2., 7.]])
    """
    return _max_pool(x, pool_size, stride, padding, ndim=2)


def max_pool2d_backward(grad_output, x, pool_size=2, stride=None, padding="valid"):
    """Gradient of :func:`max_pool2d` with respect to its input.

    Each window passes its gradient to the one cell that held its maximum, and
    nothing to the others (they did not affect the output). Overlapping windows
    add up at a cell that wins several of them.

    **Ties.** When several cells of a window hold the same maximum, the whole
    gradient goes to the first of them in row-major order (top row first, then
    left to right), as TensorFlow's CPU kernel does. Any choice that gives each
    window's gradient to exactly one maximal cell is a valid subgradient; this one
    matches ``tf.GradientTape``.

    Parameters
    ----------
    grad_output : array_like, shape (batch, out_height, out_width, channels)
        Gradient of the loss with respect to the pooled output.
    x, pool_size, stride, padding
        As given to :func:`max_pool2d`.

    Returns
    -------
    numpy.ndarray
        Gradient with respect to ``x``, shaped like ``x``.

    Examples
    --------
    >>> x = np.array([[1.0, 3.0], [3.0, 0.0]]).reshape(1, 2, 2, 1)   # a tie: two 3s
    >>> max_pool2d_backward(np.ones((1, 1, 1, 1)), x)[0, :, :, 0]
    array([[0., 1.],
           [0., 0.]])
    """
    x, pool_sizes, strides, pads, out_shape = prepare_pool(x, pool_size, stride, padding, 2)
    grad_output = check_grad_output(grad_output, (x.shape[0], *out_shape, x.shape[-1]), x.dtype)
    padded = pad(x, pads, -np.inf)
    # Find each window's winning cell: the first cell whose value beats all before it.
    best = np.full(grad_output.shape, -np.inf, dtype=x.dtype)
    winner = np.zeros(grad_output.shape, dtype=np.intp)
    cells = [cell for _, cell in tap_slices(pool_sizes, strides, out_shape)]
    for index, cell in enumerate(cells):
        better = padded[cell] > best
        best[better] = padded[cell][better]
        winner[better] = index
    return scatter_to_input(
        lambda index: np.where(winner == index, grad_output, 0.0),
        x,
        pool_sizes,
        strides,
        pads,
        out_shape,
    )


def avg_pool2d(x, pool_size=2, stride=None, padding="valid"):
    """Average pooling: the mean of each window, channel by channel.

    Equal to ``keras.layers.AveragePooling2D`` and ``tf.nn.avg_pool2d``. With
    ``padding="same"``, a window that hangs over the border averages only its real
    cells (the padded zeros are not counted), as TensorFlow does.

    Parameters
    ----------
    x, pool_size, stride, padding
        As in :func:`max_pool2d`.

    Returns
    -------
    numpy.ndarray, shape (batch, out_height, out_width, channels)

    Raises
    ------
    ValueError, TypeError
        As :func:`max_pool2d`.

    Examples
    --------
    >>> x = np.array([[1, 3, 2, 0], [4, 2, 1, 1], [0, 1, 5, 6], [2, 2, 7, 1]])
    >>> avg_pool2d(x.reshape(1, 4, 4, 1))[0, :, :, 0]
    array([[2.5 , 1.  ],
           [1.25, 4.75]])
    >>> avg_pool2d(np.ones((1, 3, 3, 1)), padding="same")[0, :, :, 0]  # not diluted by padding
    array([[1., 1.],
           [1., 1.]])
    """
    return _avg_pool(x, pool_size, stride, padding, ndim=2)


def avg_pool2d_backward(grad_output, x, pool_size=2, stride=None, padding="valid"):
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Each window's output is the mean of its real cells, so each of those cells gets
    the window's gradient divided by their number; overlapping windows add up. The
    arguments and the result are those of :func:`max_pool2d_backward`, with ``x``,
    ``pool_size``, ``stride`` and ``padding`` as given to :func:`avg_pool2d`.

    Examples
    --------
    >>> avg_pool2d_backward(np.ones((1, 1, 1, 1)), np.zeros((1, 2, 2, 1)))[0, :, :, 0]
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    x, pool_sizes, strides, pads, out_shape = prepare_pool(x, pool_size, stride, padding, 2)
    grad_output = check_grad_output(grad_output, (x.shape[0], *out_shape, x.shape[-1]), x.dtype)
    share = grad_output / _counts(x, pool_sizes, strides, pads, out_shape)
    return scatter_to_input(lambda index: share, x, pool_sizes, strides, pads, out_shape)


def max_pool1d(x, pool_size=2, stride=None, padding="valid"):
    """1-D max pooling of (batch, length, channels), like ``keras.layers.MaxPooling1D``.

    Examples
    --------
    >>> max_pool1d(np.array([1, 5, 2, 2, 0, 3]).reshape(1, 6, 1))[0, :, 0]
    array([5., 2., 3.])
    """
    return _max_pool(x, pool_size, stride, padding, ndim=1)


def avg_pool1d(x, pool_size=2, stride=None, padding="valid"):
    """1-D average pooling of (batch, length, channels), like ``AveragePooling1D``.

    Examples
    --------
    >>> avg_pool1d(np.array([1, 5, 2, 2, 0, 3]).reshape(1, 6, 1))[0, :, 0]
    array([3. , 2. , 1.5])
    """
    return _avg_pool(x, pool_size, stride, padding, ndim=1)
