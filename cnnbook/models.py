"""Deprecated alias of :mod:`cnnbook.keras.models`.

The Keras engine moved to :mod:`cnnbook.keras`. ``import cnnbook.models`` keeps
working and warns; import :mod:`cnnbook.keras.models` instead.
"""

import warnings

from cnnbook.keras.models import *  # noqa: F403
from cnnbook.keras.models import __all__  # noqa: F401

warnings.warn(
    "cnnbook.models moved to cnnbook.keras.models; import it from there "
    "(cnnbook.models will be removed in cnnbook 1.0)",
    DeprecationWarning,
    stacklevel=2,
)
