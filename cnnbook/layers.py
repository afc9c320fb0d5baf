"""Deprecated: moved to :mod:`cnnbook.keras.layers` (the Keras engine); importing this warns."""

from cnnbook._moved import moved

globals().update(moved(__name__, "cnnbook.keras.layers"))
