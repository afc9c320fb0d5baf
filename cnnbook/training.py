"""Deprecated: moved to :mod:`cnnbook.keras.training` (the Keras engine); importing this warns.

Chapters 7, 9a and 9b once imported ``validation_split`` and the device detection from
here; they live in :mod:`cnnbook.datasets` and :mod:`cnnbook.runtime`.
"""

from cnnbook._moved import moved

_RUNTIME = ("backend", "choose_precision", "describe_device", "import_tensorflow", "visible_gpus")
_ELSEWHERE = ["cnnbook.datasets:validation_split"] + [f"cnnbook.runtime:{n}" for n in _RUNTIME]
globals().update(moved(__name__, "cnnbook.keras.training", also=_ELSEWHERE))
