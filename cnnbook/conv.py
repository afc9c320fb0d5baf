"""Convolution and cross-correlation, from one 2-D image to a batch of feature maps.

Two families live here:

* :func:`correlate2d` and :func:`convolve2d` work on a single 2-D array, the way a
  signal-processing text (or ``scipy.signal``) defines them.
* :func:`conv2d` is what a deep-learning "convolution" layer computes: a
  cross-correlation of a batch of multi-channel images (NHWC) with a bank of
  kernels stored as Keras stores them, ``(height, width, in_channels,
  out_channels)``, with stride, padding and dilation. :func:`conv2d_reference` is
  the same computation as plain loops, kept short so it can be read and trusted;
  the tests prove the fast version equal to it and to TensorFlow.

The two public formulas of window arithmetic live here and nowhere else:
:func:`conv_output_size` (how many windows fit along an axis) and
:func:`padding_amounts` (the zeros "same" and "full" add, split as TensorFlow splits
them). Pooling and the backward passes use them too; the lower-level pieces
(padding an array, the cells each tap reads) are in ``cnnbook._windows``.

Used by chapters 1, 3, 4, 5, 6, 8b and 10.
"""

import numpy as np

from cnnbook._arguments import check_grad_output, is_int, one_of, positive_ints
from cnnbook._windows import AXIS_NAMES, extent, pad, padded_shape, tap_slices, unpad, window_view

__all__ = [
    "conv1d",
    "conv2d",
    "conv2d_backward",
    "conv2d_reference",
    "conv3d",
    "conv_output_size",
    "convolve2d",
    "correlate2d",
    "padding_amounts",
]

_PADDING_MODES = ("valid", "same", "full")


# --------------------------------------------------------------------------------------
# The readable version first: a convolution layer as loops
# --------------------------------------------------------------------------------------


def conv2d_reference(x, kernel, bias=None, stride=1, padding="valid", dilation=1):
    """:func:`conv2d` written as loops: slow, short, and obviously right.

    Same arguments, checks and result as :func:`conv2d`; use it to read what a
    convolution layer does, and to test faster code against.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 5, 3))
    >>> kernel = np.random.default_rng(1).normal(size=(3, 3, 3, 4))
    >>> np.allclose(conv2d_reference(x, kernel, stride=2), conv2d(x, kernel, stride=2))
    True
    """
    x, kernel, bias, (stride_h, stride_w), pads, (dil_h, dil_w) = _prepare_conv(
        x, kernel, bias, stride, padding, dilation, ndim=2
    )
    padded = pad(x, pads)
    kernel_height, kernel_width, _, out_channels = kernel.shape
    out_height = conv_output_size(x.shape[1], kernel_height, stride_h, pads[0], dil_h)
    out_width = conv_output_size(x.shape[2], kernel_width, stride_w, pads[1], dil_w)
    output = np.zeros((x.shape[0], out_height, out_width, out_channels), dtype=x.dtype)
    for i in range(out_height):
        for j in range(out_width):
            top, left = i * stride_h, j * stride_w
            window = padded[
                :,
                top : top + extent(kernel_height, dil_h) : dil_h,
                left : left + extent(kernel_width, dil_w) : dil_w,
                :,
            ]  # (batch, kernel_height, kernel_width, in_channels)
            for o in range(out_channels):
                output[:, i, j, o] = np.sum(window * kernel[:, :, :, o], axis=(1, 2, 3))
    if bias is not None:
        output += bias
    return output


# --------------------------------------------------------------------------------------
# Window arithmetic shared by every function: padding amounts and output sizes
# --------------------------------------------------------------------------------------


def _explicit_padding(padding, ndim):
    """Turn an int, an ``ndim``-tuple of ints or of (before, after) pairs into pairs."""
    if is_int(padding):
        per_axis = (padding,) * ndim
    elif isinstance(padding, (tuple, list)) and len(padding) == ndim:
        per_axis = tuple(padding)
    else:
        per_axis = None
    pairs = []
    for amount in per_axis or ():
        if is_int(amount):
            pairs.append((int(amount), int(amount)))
        elif (
            isinstance(amount, (tuple, list))
            and len(amount) == 2
            and all(is_int(a) for a in amount)
        ):
            pairs.append((int(amount[0]), int(amount[1])))
        else:
            break
    if per_axis is None or len(pairs) != ndim:
        raise ValueError(
            f"padding must be one of {_PADDING_MODES}, an int, a tuple of {ndim} ints, or "
            f"a tuple of {ndim} (before, after) pairs. Received: padding={padding!r}"
        )
    if any(a < 0 for pair in pairs for a in pair):
        raise ValueError(f"padding must not be negative. Received: padding={padding!r}")
    return tuple(pairs)


def padding_amounts(size, kernel_size, stride=1, padding="valid", dilation=1):
    """Zeros added before and after one spatial axis.

    Parameters
    ----------
    size : int
        Length of the input along the axis.
    kernel_size : int
        Length of the kernel along the axis.
    stride : int, default 1
        Step between two windows.
    padding : {"valid", "same", "full"} or int or (int, int), default "valid"
        ``"valid"`` adds nothing; ``"same"`` adds just enough for ``ceil(size /
        stride)`` outputs, splitting an odd total as TensorFlow does (the extra zero
        goes after); ``"full"`` adds ``dilation * (kernel_size - 1)`` on each side, so
        every partial overlap counts. An int pads both sides by that amount, a pair
        gives (before, after).
    dilation : int, default 1
        Spacing between kernel taps.

    Returns
    -------
    tuple of int
        ``(before, after)``.

    Examples
    --------
    >>> padding_amounts(5, 3, padding="same")
    (1, 1)
    >>> padding_amounts(6, 3, stride=2, padding="same")   # 1 zero in all: after
    (0, 1)
    >>> padding_amounts(5, 3, padding="full")
    (2, 2)
    """
    span = extent(kernel_size, dilation)
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0)
        if padding == "same":
            outputs = -(-size // stride)
            total = max((outputs - 1) * stride + span - size, 0)
            return (total // 2, total - total // 2)
        if padding == "full":
            return (span - 1, span - 1)
        raise ValueError(
            f"padding must be one of {_PADDING_MODES}, an int or a pair of ints. "
            f"Received: padding={padding!r}"
        )
    return _explicit_padding((padding,), 1)[0]


def conv_output_size(size, kernel_size, stride=1, padding="valid", dilation=1):
    """Length of a convolution's output along one axis.

    With ``p_before + p_after`` zeros of padding, a kernel of ``k`` taps spaced
    ``d`` apart spans ``d (k - 1) + 1`` cells, and the window moves ``s`` cells at a
    time, so

    .. math:: n_{out} = \\left\\lfloor \\frac{n + p_{before} + p_{after} - d (k - 1) - 1}{s}
              \\right\\rfloor + 1

    which for symmetric padding ``p`` and ``d = 1`` is the familiar
    ``floor((n + 2p - k) / s) + 1``.

    Parameters
    ----------
    size, kernel_size, stride, padding, dilation
        As in :func:`padding_amounts`: the input's and the kernel's length along the
        axis, the step between windows, the padding and the spacing of the taps.

    Returns
    -------
    int
        Number of output positions (0 when the kernel does not fit).

    Raises
    ------
    ValueError
        If a size, stride or dilation is not positive, or padding is unknown.

    Examples
    --------
    >>> conv_output_size(5, 3)             # valid: 5 - 3 + 1
    3
    >>> conv_output_size(5, 3, stride=2)
    2
    >>> conv_output_size(5, 3, stride=3)   # the last window would stick out
    1
    >>> conv_output_size(5, 3, stride=3, padding=1)
    2
    >>> conv_output_size(32, 3, padding="same")
    32
    """
    (size,) = positive_ints(size, "size", 1)
    (kernel_size,) = positive_ints(kernel_size, "kernel_size", 1)
    (stride,) = positive_ints(stride, "stride", 1)
    (dilation,) = positive_ints(dilation, "dilation", 1)
    before, after = padding_amounts(size, kernel_size, stride, padding, dilation)
    return max((size + before + after - extent(kernel_size, dilation)) // stride + 1, 0)


# --------------------------------------------------------------------------------------
# One 2-D image, signal-processing style
# --------------------------------------------------------------------------------------


def _check_2d(array, name):
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array. Received: {name} with shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty. Received: {name}.shape={array.shape}")
    return array


def correlate2d(image, kernel, mode="valid"):
    """Cross-correlate a 2-D image with a 2-D kernel (the kernel is not flipped).

    .. math:: (I \\star K)(i, j) = \\sum_{m} \\sum_{n} I(i + m, j + n)\\, K(m, n)

    Equal to ``scipy.signal.correlate2d`` with its default zero fill.

    Parameters
    ----------
    image : array_like, shape (height, width)
        The input.
    kernel : array_like, shape (kernel_height, kernel_width)
        The weights. Any size; odd sizes have a center, even sizes are allowed.
    mode : {"valid", "same", "full"}, default "valid"
        ``"valid"``: only positions where the kernel lies inside the image.
        ``"full"``: every position where kernel and image overlap at all.
        ``"same"``: the center part of ``"full"``, as large as the image.

    Returns
    -------
    numpy.ndarray
        The correlation, float64 (or the inputs' floating type).

    Raises
    ------
    ValueError
        If an input is not 2-D, ``mode`` is unknown, or in ``"valid"`` mode the
        kernel is larger than the image.

    See Also
    --------
    convolve2d : the same with the kernel flipped.
    conv2d : batches, channels, stride, padding and dilation.

    Examples
    --------
    >>> image = np.arange(16).reshape(4, 4)
    >>> correlate2d(image, [[1, 0], [0, -1]])
    array([[-5., -5., -5.],
           [-5., -5., -5.],
           [-5., -5., -5.]])
    """
    image = _check_2d(image, "image")
    kernel = _check_2d(kernel, "kernel")
    one_of(mode, _PADDING_MODES, "mode")
    if mode == "valid" and any(k > n for k, n in zip(kernel.shape, image.shape)):
        raise ValueError(
            f"in 'valid' mode the kernel must fit inside the image. "
            f"Received: kernel.shape={kernel.shape}, image.shape={image.shape}"
        )
    if mode == "same":
        # The center of the "full" output, as scipy crops it: start at k // 2, which
        # is the same as padding (k - 1) - k // 2 = (k - 1) // 2 zeros before.
        padding = tuple(((k - 1) // 2, k // 2) for k in kernel.shape)
    else:
        padding = mode
    result = conv2d(image[None, :, :, None], kernel[:, :, None, None], padding=padding)
    return result[0, :, :, 0]


def convolve2d(image, kernel, mode="valid"):
    """Convolve a 2-D image with a 2-D kernel: flip the kernel, then correlate.

    .. math:: (I * K)(i, j) = \\sum_{m} \\sum_{n} I(i - m, j - n)\\, K(m, n)

    Equal to ``scipy.signal.convolve2d`` with its default zero fill. Unlike
    correlation, convolution is commutative and associative, which is why the
    mathematics prefers it.

    Parameters
    ----------
    image : array_like, shape (height, width)
        The input.
    kernel : array_like, shape (kernel_height, kernel_width)
        The weights.
    mode : {"valid", "same", "full"}, default "valid"
        As in :func:`correlate2d`.

    Returns
    -------
    numpy.ndarray
        The convolution.

    Raises
    ------
    ValueError
        As :func:`correlate2d`.

    Examples
    --------
    >>> image = np.arange(16).reshape(4, 4)
    >>> convolve2d(image, [[1, 0], [0, -1]])    # the flip changes the sign here
    array([[5., 5., 5.],
           [5., 5., 5.],
           [5., 5., 5.]])
    """
    image = _check_2d(image, "image")
    kernel = _check_2d(kernel, "kernel")
    flipped = kernel[::-1, ::-1]
    if mode != "same":
        return correlate2d(image, flipped, mode)
    # Flipping moves the kernel's center, so crop "full" at (k - 1) // 2 (not at
    # k // 2 as for correlation), as scipy does.
    full = correlate2d(image, flipped, "full")
    top, left = ((k - 1) // 2 for k in kernel.shape)
    return full[top : top + image.shape[0], left : left + image.shape[1]]


# --------------------------------------------------------------------------------------
# Batches of multi-channel images, deep-learning style
# --------------------------------------------------------------------------------------


def _prepare_conv(x, kernel, bias, stride, padding, dilation, ndim):
    """Check the arguments of an ``ndim``-D convolution; return them normalized.

    Returns ``(x, kernel, bias, strides, pads, dilations)`` with arrays in one
    floating dtype, and per-axis tuples of ints (``pads`` holds (before, after)).
    """
    x = np.asarray(x)
    kernel = np.asarray(kernel)
    axes = AXIS_NAMES[ndim]
    if x.ndim != ndim + 2:
        raise ValueError(
            f"x must be {ndim + 2}-D (batch, {', '.join(axes)}, channels). "
            f"Received: x.shape={x.shape}"
        )
    if kernel.ndim != ndim + 2:
        raise ValueError(
            f"kernel must be {ndim + 2}-D ({', '.join(axes)}, in_channels, out_channels). "
            f"Received: kernel.shape={kernel.shape}"
        )
    if kernel.shape[-2] != x.shape[-1]:
        raise ValueError(
            f"kernel has {kernel.shape[-2]} input channels but x has {x.shape[-1]} "
            f"(x.shape={x.shape}, kernel.shape={kernel.shape})"
        )
    if 0 in kernel.shape:
        raise ValueError(f"kernel must not be empty. Received: kernel.shape={kernel.shape}")
    strides = positive_ints(stride, "stride", ndim)
    dilations = positive_ints(dilation, "dilation", ndim)
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (kernel.shape[-1],):
            raise ValueError(
                f"bias must have shape ({kernel.shape[-1]},), one value per output channel. "
                f"Received: bias.shape={bias.shape}"
            )
    spatial = list(zip(x.shape[1:-1], kernel.shape[:-2], strides, dilations))
    if isinstance(padding, str):
        pads = tuple(padding_amounts(n, k, s, padding, d) for n, k, s, d in spatial)
    elif ndim == 1 and isinstance(padding, (tuple, list)) and len(padding) == 2:
        pads = _explicit_padding((tuple(padding),), 1)  # (before, after) of the one axis
    else:
        pads = _explicit_padding(padding, ndim)
    for name, (n, k, _, d), (before, after) in zip(axes, spatial, pads):
        if extent(k, d) > n + before + after:
            raise ValueError(
                f"kernel {name} {k} (dilated extent {extent(k, d)}) is larger than the padded "
                f"input {name} {n + before + after} (x.shape={x.shape}, "
                f"kernel.shape={kernel.shape}, padding={padding!r}, dilation={dilation!r})"
            )
    dtype = np.result_type(x.dtype, kernel.dtype, np.float32)
    if bias is not None:
        dtype = np.result_type(dtype, bias.dtype)
    x, kernel = x.astype(dtype, copy=False), kernel.astype(dtype, copy=False)
    return x, kernel, bias, strides, pads, dilations


def _output_shape(x, kernel, strides, pads, dilations):
    """Spatial output shape, from the normalized arguments."""
    return tuple(
        conv_output_size(n, k, s, pad, d)
        for n, k, s, pad, d in zip(x.shape[1:-1], kernel.shape[:-2], strides, pads, dilations)
    )


def _conv_windows(x, kernel, strides, pads, dilations):
    """Every window of the padded input, as a view of shape (batch, *out, *taps, channels).

    ``windows[b, i, j, m, n, c] = padded[b, s_h i + d_h m, s_w j + d_w n, c]`` in 2-D:
    the taps are ordered like the kernel's first axes, so that a window times the
    kernel, summed over taps and channels, is one output value. Nothing is copied.
    """
    ndim = kernel.ndim - 2
    out_shape = _output_shape(x, kernel, strides, pads, dilations)
    windows = window_view(pad(x, pads), kernel.shape[:-2], strides, out_shape, dilations)
    return windows.transpose(0, *range(1, ndim + 1), *range(ndim + 2, 2 * ndim + 2), ndim + 1)


_BLOCK_BYTES = 1 << 20


def _cache_sized_blocks(windows_shape, itemsize):
    """Split (images, first output axis) into blocks whose patch matrix fits in ~1 MiB.

    Building the whole patch matrix at once copies every input value once per
    kernel tap through main memory; built block by block, each piece is still in
    the CPU cache when the matrix product reads it, which makes the convolution
    several times faster. Each block is a whole number of images, or a run of rows
    of one image, so its slice of the output is contiguous.
    """
    batch, out_rows = windows_shape[:2]
    row_bytes = max(int(np.prod(windows_shape[2:])) * itemsize, 1)
    rows_per_block = max(_BLOCK_BYTES // row_bytes, 1)
    if rows_per_block >= out_rows:
        images_per_block = rows_per_block // out_rows
        for start in range(0, batch, images_per_block):
            yield slice(start, start + images_per_block), slice(None)
    else:
        for image in range(batch):
            for start in range(0, out_rows, rows_per_block):
                yield slice(image, image + 1), slice(start, start + rows_per_block)


def _patch_blocks(windows):
    """Yield ``(block index, patch matrix)``: windows flattened to rows, block by block.

    For speed only: the result is the same as one patch matrix of all the windows
    (see :func:`_cache_sized_blocks`); :func:`conv2d_reference` shows the computation.
    """
    taps = int(np.prod(windows.shape[windows.ndim // 2 :]))  # kernel taps times channels
    for images, rows in _cache_sized_blocks(windows.shape, windows.itemsize):
        yield (images, rows), windows[images, rows].reshape(-1, taps)


def _conv_forward(x, kernel, bias, strides, pads, dilations):
    """The fast "im2col" convolution of any number of spatial axes."""
    windows = _conv_windows(x, kernel, strides, pads, dilations)
    out_channels = kernel.shape[-1]
    weights = kernel.reshape(-1, out_channels)
    output = np.empty(
        (x.shape[0], *_output_shape(x, kernel, strides, pads, dilations), out_channels), x.dtype
    )
    for block, patches in _patch_blocks(windows):
        np.matmul(patches, weights, out=output[block].reshape(-1, out_channels))
    if bias is not None:
        output += bias
    return output


def conv1d(x, kernel, bias=None, stride=1, padding="valid", dilation=1):
    """1-D convolution layer (cross-correlation) on a batch of sequences.

    The kernel slides along one axis: time in a signal, position in a text.

    Parameters
    ----------
    x : array_like, shape (batch, length, in_channels)
        Input sequences, channels last.
    kernel : array_like, shape (kernel_width, in_channels, out_channels)
        Weights, in the layout of a Keras ``Conv1D`` kernel.
    bias : array_like, shape (out_channels,), optional
        Added to every position of each output channel.
    stride, dilation : int, default 1
        Step of the window; spacing between kernel taps.
    padding : {"valid", "same", "full"} or int or (int, int), default "valid"
        As in :func:`conv2d`; a pair is (before, after).

    Returns
    -------
    numpy.ndarray, shape (batch, out_length, out_channels)
        Bad arguments raise the ``ValueError`` or ``TypeError`` that :func:`conv2d` raises.

    Examples
    --------
    >>> signal = np.array([0.0, 1.0, 3.0, 6.0, 10.0]).reshape(1, 5, 1)
    >>> difference = np.array([-1.0, 1.0]).reshape(2, 1, 1)
    >>> conv1d(signal, difference)[0, :, 0]
    array([1., 2., 3., 4.])
    """
    arguments = _prepare_conv(x, kernel, bias, stride, padding, dilation, ndim=1)
    return _conv_forward(*arguments)


def conv2d(x, kernel, bias=None, stride=1, padding="valid", dilation=1):
    """2-D convolution layer (cross-correlation) on a batch of NHWC images.

    For every image ``b``, output position ``(i, j)`` and output channel ``o``:

    .. math:: y_{b,i,j,o} = \\beta_o + \\sum_{m,n,c} x_{b,\\, s_h i + d_h m,\\, s_w j + d_w n,\\, c}
              \\; w_{m,n,c,o}

    where ``x`` is the padded input, ``s`` the stride and ``d`` the dilation. This is
    what ``tf.nn.conv2d`` and ``keras.layers.Conv2D`` compute: the kernel is not
    flipped.

    Parameters
    ----------
    x : array_like, shape (batch, height, width, in_channels)
        Input images, channels last.
    kernel : array_like, shape (kernel_height, kernel_width, in_channels, out_channels)
        Weights, in the layout of a Keras ``Conv2D`` kernel.
    bias : array_like, shape (out_channels,), optional
        Added to every position of each output channel.
    stride : int or (int, int), default 1
        Step of the window (rows, columns).
    padding : {"valid", "same", "full"} or int or (int, int) or ((int, int), (int, int))
        ``"valid"``: no padding. ``"same"``: ``ceil(n / stride)`` outputs, with
        TensorFlow's split (an odd total puts the extra zero at the bottom/right).
        ``"full"``: every partial overlap. An int pads all four sides, a pair pads
        (rows, columns) symmetrically, and ``((top, bottom), (left, right))`` is
        explicit.
    dilation : int or (int, int), default 1
        Spacing between kernel taps ("atrous" convolution).

    Returns
    -------
    numpy.ndarray, shape (batch, out_height, out_width, out_channels)
        Float32 for float32 inputs (as TensorFlow), float64 for float64 or integers.

    Raises
    ------
    ValueError
        Wrong number of dimensions, channel mismatch, kernel larger than the padded
        input, non-positive stride or dilation, unknown padding, or a bias of the
        wrong shape.
    TypeError
        A stride or dilation that is not an int or a pair of ints.

    See Also
    --------
    conv2d_reference : the same computation as plain loops.
    conv_output_size : the output size along one axis.

    Notes
    -----
    The fast path is "im2col": ``numpy.lib.stride_tricks.sliding_window_view``
    lists every window without copying, and one matrix product with the kernel,
    reshaped to ``(kernel_height * kernel_width * in_channels, out_channels)``,
    computes all outputs. NaN in ``x`` reaches exactly the outputs whose windows
    contain it.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> edge = np.array([[1.0, -1.0]]).reshape(1, 2, 1, 1)
    >>> conv2d(x, edge)[0, :, :, 0]
    array([[-1., -1., -1.],
           [-1., -1., -1.],
           [-1., -1., -1.],
           [-1., -1., -1.]])
    >>> conv2d(np.zeros((8, 32, 32, 3)), np.zeros((3, 3, 3, 16)), stride=2, padding="same").shape
    (8, 16, 16, 16)
    """
    arguments = _prepare_conv(x, kernel, bias, stride, padding, dilation, ndim=2)
    return _conv_forward(*arguments)


def conv3d(x, kernel, bias=None, stride=1, padding="valid", dilation=1):
    """3-D convolution layer (cross-correlation) on a batch of volumes or clips.

    The kernel slides along three axes: a CT or MRI volume, or the frames of a video.

    Parameters
    ----------
    x : array_like, shape (batch, depth, height, width, in_channels)
        Input volumes, channels last.
    kernel : array_like, shape (depth, height, width, in_channels, out_channels)
        Weights, in the layout of a Keras ``Conv3D`` kernel.
    bias : array_like, shape (out_channels,), optional
        Added to every position of each output channel.
    stride, dilation : int or (int, int, int), default 1
        Step of the window; spacing between kernel taps.
    padding : {"valid", "same", "full"} or int or tuple, default "valid"
        As in :func:`conv2d`, with three axes.

    Returns
    -------
    numpy.ndarray, shape (batch, out_depth, out_height, out_width, out_channels)
        Bad arguments raise the ``ValueError`` or ``TypeError`` that :func:`conv2d` raises.

    Examples
    --------
    >>> volume = np.ones((1, 4, 4, 4, 1))
    >>> conv3d(volume, np.ones((3, 3, 3, 1, 2)), padding="same").shape
    (1, 4, 4, 4, 2)
    >>> conv3d(volume, np.ones((3, 3, 3, 1, 1)))[0, :, :, :, 0]   # 27 ones in every window
    array([[[27., 27.],
            [27., 27.]],
    <BLANKLINE>
           [[27., 27.],
            [27., 27.]]])
    """
    arguments = _prepare_conv(x, kernel, bias, stride, padding, dilation, ndim=3)
    return _conv_forward(*arguments)


def conv2d_backward(
    grad_output, x, kernel, stride=1, padding="valid", dilation=1, need_input_gradient=True
):
    """Gradients of :func:`conv2d`'s output with respect to its input, kernel and bias.

    Given ``grad_output`` = dL/dy for ``y = conv2d(x, kernel, bias, ...)``, every
    output value ``y[b, i, j, o]`` was a sum of ``window * kernel[..., o]`` plus
    ``bias[o]``, so by the chain rule:

    - dL/dbias[o] sums ``grad_output[..., o]`` over all images and positions;
    - dL/dkernel[m, n, c, o] sums, over the same, the input value that tap (m, n)
      saw times ``grad_output``: the patch matrix transposed times ``grad_output``;
    - dL/dx sends each ``grad_output[b, i, j, :] @ kernel[m, n].T`` back to the
      input cell that tap (m, n) of window (i, j) read ("col2im"), adding where
      windows overlap; padding cells receive gradient too and are cut off.

    Parameters
    ----------
    grad_output : array_like, shape (batch, out_height, out_width, out_channels)
        Gradient of the loss with respect to the convolution's output.
    x, kernel, stride, padding, dilation
        As given to :func:`conv2d` in the forward pass.
    need_input_gradient : bool, default True
        False skips dL/dx, half of the work, and returns None in its place: a
        network's first layer needs no gradient with respect to the images.

    Returns
    -------
    grad_x : numpy.ndarray, shape of ``x`` (None if ``need_input_gradient`` is False)
    grad_kernel : numpy.ndarray, shape of ``kernel``
    grad_bias : numpy.ndarray, shape (out_channels,)

    Raises
    ------
    ValueError
        As :func:`conv2d`, or if ``grad_output`` does not have the output's shape.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> kernel = np.ones((2, 2, 1, 1))
    >>> grad_x, grad_kernel, grad_bias = conv2d_backward(np.ones((1, 2, 2, 1)), x, kernel)
    >>> grad_x[0, :, :, 0]      # how many windows each input cell is in
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> grad_kernel[:, :, 0, 0]  # sum of the inputs each tap saw
    array([[ 8., 12.],
           [20., 24.]])
    """
    x, kernel, _, strides, pads, dilations = _prepare_conv(
        x, kernel, None, stride, padding, dilation, ndim=2
    )
    return _conv_backward(grad_output, x, kernel, strides, pads, dilations, need_input_gradient)


def _conv_backward(grad_output, x, kernel, strides, pads, dilations, need_input_gradient):
    """Input, kernel and bias gradients of :func:`_conv_forward`, any number of axes."""
    out_channels = kernel.shape[-1]
    expected = (x.shape[0], *_output_shape(x, kernel, strides, pads, dilations), out_channels)
    grad_output = check_grad_output(grad_output, expected, x.dtype)
    grad_bias = grad_output.sum(axis=tuple(range(grad_output.ndim - 1)))

    grad_weights = np.zeros((int(np.prod(kernel.shape[:-1])), out_channels), x.dtype)
    for block, patches in _patch_blocks(_conv_windows(x, kernel, strides, pads, dilations)):
        grad_weights += patches.T @ grad_output[block].reshape(-1, out_channels)

    if not need_input_gradient:
        return None, grad_weights.reshape(kernel.shape), grad_bias
    grad_padded = np.zeros(padded_shape(x.shape, pads), x.dtype)
    out_shape = expected[1:-1]
    # Each tap sends its share back to the input cells it read, in every window at once.
    for tap, cells in tap_slices(kernel.shape[:-2], strides, out_shape, dilations):
        grad_padded[cells] += grad_output @ kernel[tap].T
    return unpad(grad_padded, pads, x.shape), grad_weights.reshape(kernel.shape), grad_bias
