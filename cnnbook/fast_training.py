"""Deprecated: moved to :mod:`cnnbook.keras.fast_training`; importing this warns."""

from cnnbook._moved import moved

globals().update(moved(__name__, "cnnbook.keras.fast_training"))
