"""cnnbook: the companion package of the executable book on convolutional networks.

The chapters import it with one line and call into it, so that a notebook shows the
idea and the package holds the reusable, tested code.

Modules
-------
conv
    Convolution and cross-correlation (:func:`conv2d`, :func:`correlate2d`, ...),
    in 1, 2 and 3 dimensions, and the backward pass of :func:`conv2d`.
pool
    Max and average pooling, with their backward passes.
gradcheck
    Finite-difference checks of backward passes (:func:`gradient_check`).
kernels
    Classic image-filter kernels (blur, sharpen, edges).
datasets
    CIFAR-10, read offline from the official binary files or an image-folder copy.
runtime
    Full versus smoke budget (:func:`budget`), the Keras backend (:func:`import_keras`,
    TensorFlow imported quietly), devices and precision.
plots
    The book's figure style and plotting helpers.
architecture
    Shapes and parameter counts of a network, traced layer by layer.
regularization
    DropConnect, stochastic pooling, max-norm, L2 and early stopping in NumPy.
nn
    The NumPy engine: a small CNN library (layers, Sequential, SGD) that trains.
keras
    The Keras engine (imported on demand, as it imports Keras): layers, models,
    training helpers and the fast recipe, in Keras 3 on every backend.
"""

from cnnbook import (
    architecture,
    conv,
    datasets,
    gradcheck,
    kernels,
    nn,
    plots,
    pool,
    regularization,
)
from cnnbook.conv import *  # noqa: F403 (each module lists its public names in __all__)
from cnnbook.gradcheck import *  # noqa: F403
from cnnbook.pool import *  # noqa: F403
from cnnbook.runtime import (
    budget,
    expect_accuracy,
    import_keras,
    import_tensorflow,
    smoke_mode,
    value_and_gradients,
)

__version__ = "0.2.0"

__all__ = [
    "architecture",
    "datasets",
    "kernels",
    "nn",
    "plots",
    "regularization",
    "budget",
    "expect_accuracy",
    "import_keras",
    "import_tensorflow",
    "smoke_mode",
    "value_and_gradients",
]
__all__ += conv.__all__ + gradcheck.__all__ + pool.__all__
