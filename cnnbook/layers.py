"""Deprecated alias of :mod:`cnnbook.keras.layers`.

The Keras engine moved to :mod:`cnnbook.keras`. ``import cnnbook.layers`` keeps
working and warns; import :mod:`cnnbook.keras.layers` instead.
"""

import warnings

from cnnbook.keras.layers import *  # noqa: F403
from cnnbook.keras.layers import (
    StochasticPooling2D,  # noqa: F401
    __all__,  # noqa: F401
)

warnings.warn(
    "cnnbook.layers moved to cnnbook.keras.layers; import it from there "
    "(cnnbook.layers will be removed in cnnbook 1.0)",
    DeprecationWarning,
    stacklevel=2,
)
