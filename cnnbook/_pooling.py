"""What every pooling shares: its arguments checked and the geometry of its windows
before it computes, and the way its gradient goes back to the input.

Max and average pooling (:mod:`cnnbook.pool`) and stochastic pooling
(:mod:`cnnbook.regularization`) start from :func:`prepare_pool`; their backward passes
end with :func:`scatter_to_input`.
"""

import numpy as np

from cnnbook._arguments import one_of, positive_ints
from cnnbook._windows import AXIS_NAMES, padded_shape, tap_slices, unpad
from cnnbook.conv import conv_output_size, padding_amounts

__all__ = ["prepare_pool", "scatter_to_input"]


def prepare_pool(x, pool_size, stride, padding, ndim):
    """Check pooling arguments; return x (floating), pool sizes, strides, pads, output shape."""
    x = np.asarray(x)
    if x.ndim != ndim + 2:
        raise ValueError(
            f"x must be {ndim + 2}-D (batch, {', '.join(AXIS_NAMES[ndim])}, channels). "
            f"Received: x.shape={x.shape}"
        )
    pool_sizes = positive_ints(pool_size, "pool_size", ndim)
    strides = pool_sizes if stride is None else positive_ints(stride, "stride", ndim)
    one_of(padding, ("valid", "same"), "padding")
    # A pooling window is a convolution's window without weights: the same arithmetic.
    spatial = list(zip(AXIS_NAMES[ndim], x.shape[1:-1], pool_sizes, strides))
    pads = tuple(padding_amounts(n, k, s, padding) for _, n, k, s in spatial)
    out_shape = tuple(conv_output_size(n, k, s, padding) for _, n, k, s in spatial)
    for (name, n, k, _), count in zip(spatial, out_shape):
        if count == 0:
            raise ValueError(
                f"pool {name} {k} is larger than the input {name} {n} "
                f"(x.shape={x.shape}, pool_size={pool_size!r}, padding={padding!r})"
            )
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x, pool_sizes, strides, pads, out_shape


def scatter_to_input(tap_gradient, x, pool_sizes, strides, pads, out_shape):
    """The gradient with respect to ``x``, from what each window passes to each of its cells.

    ``tap_gradient(index)`` is the gradient that every window passes to its cell at tap
    ``index`` (row-major over the window), shaped like the pooled output. Each tap's
    share is added to the cells it read: overlapping windows add up, and what falls on
    the padding is dropped. The other arguments are :func:`prepare_pool`'s results.
    """
    grad_padded = np.zeros(padded_shape(x.shape, pads), dtype=x.dtype)
    for index, (_, cells) in enumerate(tap_slices(pool_sizes, strides, out_shape)):
        grad_padded[cells] += tap_gradient(index)
    return unpad(grad_padded, pads, x.shape)
