"""Stochastic gradient descent with momentum, and Keras's inverse-time learning-rate decay."""

from __future__ import annotations

import numpy as np

__all__ = ["SGD", "InverseTimeDecay"]


class InverseTimeDecay:
    """Learning rate ``initial / (1 + decay_rate * step / decay_steps)``, as Keras's.

    With ``decay_steps=1`` this is the rule of the old ``SGD(decay=...)`` argument
    that Keras 3 dropped: ``lr / (1 + decay * iterations)``.

    Parameters
    ----------
    initial_learning_rate : float
    decay_steps : float
    decay_rate : float
    staircase : bool, default False
        Decay in whole steps of ``decay_steps`` (``floor(step / decay_steps)``).

    Examples
    --------
    >>> schedule = InverseTimeDecay(0.01, decay_steps=1, decay_rate=4e-4)
    >>> [round(schedule(step), 6) for step in (0, 1, 1000)]
    [0.01, 0.009996, 0.007143]
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be positive. Received: {decay_steps!r}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps, self.decay_rate, self.staircase = decay_steps, decay_rate, staircase

    def __call__(self, step):
        progress = step / self.decay_steps
        if self.staircase:
            progress = np.floor(progress)
        return self.initial_learning_rate / (1.0 + self.decay_rate * progress)


class SGD:
    """Stochastic gradient descent with momentum, updating weights in place as Keras 3 does.

    For each weight ``w`` with gradient ``g`` and velocity ``v`` (starting at 0)::

        v = momentum * v - learning_rate * g
        w = w + v                                  # classic momentum
        w = w + momentum * v - learning_rate * g   # Nesterov momentum

    Parameters
    ----------
    learning_rate : float or callable
        A number, or a schedule called with the step number (0 for the first update),
        such as :class:`InverseTimeDecay`.
    momentum : float in [0, 1), default 0.0
    nesterov : bool, default False
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1). Received: momentum={momentum!r}")
        self.learning_rate, self.momentum, self.nesterov = learning_rate, momentum, nesterov
        self.iterations = 0
        self.velocities = None

    def current_learning_rate(self):
        rate = self.learning_rate
        return rate(self.iterations) if callable(rate) else rate

    def apply(self, weights, gradients):
        """Update every array of ``weights`` in place with its gradient."""
        rate = self.current_learning_rate()
        if self.velocities is None:
            self.velocities = [np.zeros_like(weight) for weight in weights]
        for weight, gradient, velocity in zip(weights, gradients, self.velocities):
            if self.momentum == 0:
                weight -= rate * gradient
                continue
            velocity *= self.momentum
            velocity -= rate * gradient
            if self.nesterov:
                weight += self.momentum * velocity - rate * gradient
            else:
                weight += velocity
        self.iterations += 1
