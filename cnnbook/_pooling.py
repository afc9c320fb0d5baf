"""What every pooling shares before it computes: its arguments checked, and the geometry
of its windows.

Max and average pooling (:mod:`cnnbook.pool`) and stochastic pooling
(:mod:`cnnbook.regularization`) start from :func:`prepare_pool`.
"""

import numpy as np

from cnnbook._arguments import one_of, positive_ints
from cnnbook._windows import AXIS_NAMES
from cnnbook.conv import conv_output_size, padding_amounts

__all__ = ["prepare_pool"]


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
