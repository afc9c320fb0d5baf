"""A small convolutional network library in NumPy, trained by backpropagation.

Everything a CNN needs to learn, with nothing hidden: layers with their forward and
backward passes (``cnnbook.nn.layers``), a :class:`Sequential` model with softmax
cross-entropy and a training loop, and SGD with momentum (``cnnbook.nn.optimizers``).
:meth:`Sequential.from_keras` builds the NumPy twin of a Keras model, so the two can be
compared number by number.

Used by chapters 7, 8, 8b, 9c and 11.
"""

from cnnbook.nn.layers import (
    AvgPool2D,
    Conv2D,
    Dense,
    DropConnectDense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    StochasticPool2D,
    Tanh,
)
from cnnbook.nn.model import Sequential
from cnnbook.nn.optimizers import SGD, InverseTimeDecay

__all__ = [
    "SGD",
    "AvgPool2D",
    "Conv2D",
    "Dense",
    "DropConnectDense",
    "Dropout",
    "Flatten",
    "InverseTimeDecay",
    "Layer",
    "MaxPool2D",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "StochasticPool2D",
    "Tanh",
]
