"""Deprecated alias of :mod:`cnnbook.keras.fast_training`.

The Keras engine moved to :mod:`cnnbook.keras`. ``import cnnbook.fast_training`` keeps
working and warns; import :mod:`cnnbook.keras.fast_training` instead.
"""

import warnings

from cnnbook.keras.fast_training import *  # noqa: F403
from cnnbook.keras.fast_training import __all__  # noqa: F401

warnings.warn(
    "cnnbook.fast_training moved to cnnbook.keras.fast_training; import it from there "
    "(cnnbook.fast_training will be removed in cnnbook 1.0)",
    DeprecationWarning,
    stacklevel=2,
)
