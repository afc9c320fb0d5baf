"""Deprecated alias of :mod:`cnnbook.keras.training`.

The Keras engine moved to :mod:`cnnbook.keras`. ``import cnnbook.training`` keeps
working and warns; import :mod:`cnnbook.keras.training` instead.
"""

import warnings

# Chapters 7, 9a and 9b once imported these from here; they live in datasets and runtime.
from cnnbook.datasets import validation_split  # noqa: F401
from cnnbook.keras.training import *  # noqa: F403
from cnnbook.keras.training import __all__  # noqa: F401
from cnnbook.runtime import (  # noqa: F401
    backend,
    choose_precision,
    describe_device,
    import_tensorflow,
    visible_gpus,
)

warnings.warn(
    "cnnbook.training moved to cnnbook.keras.training; import it from there "
    "(cnnbook.training will be removed in cnnbook 1.0)",
    DeprecationWarning,
    stacklevel=2,
)
