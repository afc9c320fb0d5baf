"""Window arithmetic, in one place: what convolution, pooling and their backward passes
share.

A window of ``k`` taps spaced ``d`` apart (dilation) spans :func:`extent` cells. Padding
adds ``(before, after)`` zeros on each spatial axis (:func:`padded_shape`, :func:`pad`,
:func:`unpad`). For each tap of the window, :func:`tap_slices` gives the strided slice of
the padded input that holds that tap's cell in *every* window at once, which is how the
backward passes (and average pooling's counts of real cells) stay vectorized;
:func:`window_view` lists every window at once without copying, for convolution and
stochastic pooling. The public formulas built on these,
:func:`cnnbook.conv.padding_amounts` and :func:`cnnbook.conv.conv_output_size`, live in
:mod:`cnnbook.conv`; argument checks live in ``cnnbook._arguments``.
"""

import numpy as np

__all__ = ["AXIS_NAMES", "extent", "pad", "padded_shape", "tap_slices", "unpad", "window_view"]

#: The names of the spatial axes, for error messages, by number of spatial axes.
AXIS_NAMES = {1: ("width",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def extent(kernel_size, dilation=1):
    """Cells a window of ``kernel_size`` taps spaced ``dilation`` apart spans: d (k - 1) + 1.

    >>> extent(3), extent(3, dilation=2)
    (3, 5)
    """
    return dilation * (kernel_size - 1) + 1


def padded_shape(shape, pads):
    """Shape of a (batch, *spatial, channels) array after padding its spatial axes."""
    return (
        shape[0],
        *(n + before + after for n, (before, after) in zip(shape[1:-1], pads)),
        shape[-1],
    )


def pad(x, pads, value=0.0):
    """``x`` with ``pads`` = ((before, after), ...) cells of ``value`` on its spatial axes."""
    if not any(map(any, pads)):
        return x
    return np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=value)


def unpad(padded, pads, shape):
    """The inside of ``padded``: the cells of the original array of ``shape``."""
    inside = tuple(slice(before, before + n) for (before, _), n in zip(pads, shape[1:-1]))
    return padded[(slice(None), *inside)]


def tap_slices(window_shape, strides, out_shape, dilations=None):
    """For each tap of the window, the padded input's cells that tap reads in every window.

    Tap ``t`` of window ``i`` reads padded cell ``s i + d t`` on each axis, so one strided
    slice per tap holds that tap's cell of every window. Yields ``(tap, index)``, where
    ``index`` selects those cells from a (batch, *spatial, channels) array.

    >>> [index[1] for _, index in tap_slices((2,), (2,), (3,))]
    [slice(0, 5, 2), slice(1, 6, 2)]
    """
    dilations = dilations or (1,) * len(window_shape)
    for tap in np.ndindex(*window_shape):
        spatial = (
            slice(t * d, t * d + (o - 1) * s + 1, s)
            for t, d, o, s in zip(tap, dilations, out_shape, strides)
        )
        yield tap, (slice(None), *spatial, slice(None))


def window_view(padded, window_shape, strides, out_shape, dilations=None):
    """Every window of ``padded``, without copying: shape (batch, *out, channels, *taps).

    ``view[b, i, j, c, m, n] = padded[b, s_h i + d_h m, s_w j + d_w n, c]`` in 2-D, for
    the ``out_shape`` windows that step by ``strides`` and the taps that step by
    ``dilations`` (default 1) inside them. The taps come last because that is where
    ``numpy.lib.stride_tricks.sliding_window_view`` puts them; each user orders them as
    its arithmetic needs: convolution moves the taps before the channels, the order of
    the kernel's axes (``cnnbook.conv``), and stochastic pooling flattens them into one
    axis of cells to draw from (``cnnbook.regularization``). The Keras layer of
    stochastic pooling gets its windows from ``keras.ops.image.extract_patches``, cells
    before channels.
    """
    ndim = len(window_shape)
    dilations = dilations or (1,) * ndim
    extents = [extent(k, d) for k, d in zip(window_shape, dilations)]
    view = np.lib.stride_tricks.sliding_window_view(padded, extents, axis=tuple(range(1, ndim + 1)))
    return view[
        (
            slice(None),
            *(slice(None, (o - 1) * s + 1, s) for o, s in zip(out_shape, strides)),
            slice(None),
            *(slice(None, None, d) for d in dilations),
        )
    ]
