"""A small convolutional network library in NumPy, trained by backpropagation.

Everything a CNN needs to learn, with nothing hidden: layers with their forward and
backward passes (``cnnbook.nn.layers``), a :class:`Sequential` model with softmax
cross-entropy and a training loop, and optimizers (SGD with momentum or Nesterov
momentum, Adam, AdamW) with learning-rate schedules (``cnnbook.nn.optimizers``).
:meth:`Sequential.from_keras` builds the NumPy twin of a Keras model, so the two can be
compared number by number.

Used by chapters 7, 8, 8b, 8c, 9c and 11.
"""

from cnnbook.nn import layers, model, optimizers
from cnnbook.nn.layers import *  # noqa: F403  (the names each module lists in __all__)
from cnnbook.nn.model import *  # noqa: F403
from cnnbook.nn.optimizers import *  # noqa: F403

__all__ = layers.__all__ + model.__all__ + optimizers.__all__
