"""Optimizers and learning-rate schedules in NumPy, each equal to Keras's of the same name.

An optimizer updates a list of weight arrays in place from their gradients,
``optimizer.apply(weights, gradients)``, once per batch (as
:meth:`cnnbook.nn.Sequential.fit` calls it):

- :class:`SGD`: gradient descent, with momentum or Nesterov momentum;
- :class:`Adam`: a step for each weight scaled by running moments of its gradient;
- :class:`AdamW`: Adam with decoupled weight decay.

Each takes a fixed learning rate or a *schedule*, a function of the step number (0 for
the first update): :class:`PiecewiseConstantDecay` (step decay), :class:`InverseTimeDecay`,
:class:`LinearWarmup`, :class:`TriangularSchedule` (one cycle up and down) and
:class:`CosineDecay`. A schedule takes a step number or an array of them.

Chapter 8c (optimizers) derives each update rule and checks it against Keras.
"""

import numbers

import numpy as np

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineDecay",
    "InverseTimeDecay",
    "LinearWarmup",
    "Optimizer",
    "PiecewiseConstantDecay",
    "TriangularSchedule",
]


def _require(name, value, holds, what):
    """``value`` if it is a real number for which ``holds(value)``; else a ValueError.

    >>> _require("momentum", 1.5, lambda m: 0 <= m < 1, "in [0, 1)")
    Traceback (most recent call last):
    ...
    ValueError: momentum must be in [0, 1). Received: momentum=1.5
    """
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (is_number and holds(value)):
        raise ValueError(f"{name} must be {what}. Received: {name}={value!r}")
    return value


def _float_or_array(value):
    """A Python float for a single step, an array of floats for an array of steps."""
    value = np.asarray(value, dtype=float)
    return float(value) if value.ndim == 0 else value


# ---- optimizers ---------------------------------------------------------------------------


class Optimizer:
    """What every optimizer shares: the learning rate, the step count and weight decay.

    A subclass creates what it keeps for each weight array in :meth:`build` and writes
    its update rule for one array in :meth:`update_step`, as Keras's optimizers do.
    ``iterations`` counts the updates applied so far.

    Parameters
    ----------
    learning_rate : float or callable
        A positive number, or a schedule called with the step number (0 for the first
        update), such as :class:`InverseTimeDecay`.
    weight_decay : float, optional
        Decoupled weight decay: before each update, every weight is multiplied by
        ``1 - learning_rate * weight_decay``, apart from its gradient (Keras's
        ``weight_decay`` argument). Default: none.
    """

    def __init__(self, learning_rate, weight_decay=None):
        if not callable(learning_rate):
            _require("learning_rate", learning_rate, lambda r: r > 0, "positive or a schedule")
        if weight_decay is not None:
            _require("weight_decay", weight_decay, lambda d: d >= 0, ">= 0")
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        self.iterations = 0
        self.built = False

    def current_learning_rate(self):
        """The learning rate of the next update."""
        rate = self.learning_rate
        return rate(self.iterations) if callable(rate) else rate

    def build(self, weights):
        """Create the state kept for each array of ``weights`` (called on the first update)."""

    def update_step(self, index, weight, gradient, learning_rate):
        """Update ``weight`` (the array at ``index``) in place; subclasses define it."""
        raise NotImplementedError

    def apply(self, weights, gradients):
        """Update every array of ``weights`` in place with its gradient; count one step.

        Parameters
        ----------
        weights : list of numpy.ndarray
            Updated in place (the same arrays, in the same order, at every call).
        gradients : list of array_like
            One per weight array, of the same shape.
        """
        if len(gradients) != len(weights):
            raise ValueError(
                f"expected one gradient per weight array ({len(weights)}). "
                f"Received: {len(gradients)} gradients"
            )
        if not self.built:
            self.build(weights)
            self.built = True
        rate = self.current_learning_rate()
        for index, (weight, gradient) in enumerate(zip(weights, gradients)):
            if self.weight_decay:
                weight -= rate * self.weight_decay * weight  # decoupled: not in the gradient
            self.update_step(index, weight, np.asarray(gradient), rate)
        self.iterations += 1


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, updating weights in place as Keras 3 does.

    For each weight ``w`` with gradient ``g`` and velocity ``v`` (starting at 0)::

        v = momentum * v - learning_rate * g
        w = w + v                                  # classic momentum
        w = w + momentum * v - learning_rate * g   # Nesterov momentum

    With ``momentum=0`` this is plain gradient descent, ``w = w - learning_rate * g``.

    Parameters
    ----------
    learning_rate : float or callable, default 0.01
        A positive number, or a schedule called with the step number (0 for the first
        update), such as :class:`InverseTimeDecay`.
    momentum : float in [0, 1), default 0.0
    nesterov : bool, default False
        Nesterov momentum in Keras's form: the step also takes the gradient once more,
        as if looking ahead along the velocity.
    weight_decay : float, optional
        Decoupled weight decay, as for :class:`Optimizer`.

    Examples
    --------
    On a constant gradient the velocity approaches ``-learning_rate * g / (1 - momentum)``:

    >>> weight = np.zeros(1)
    >>> optimizer = SGD(learning_rate=0.1, momentum=0.9)
    >>> for _ in range(200):
    ...     before = weight.copy()
    ...     optimizer.apply([weight], [np.ones(1)])
    >>> round(float(before[0] - weight[0]), 6)  # the last step: 0.1 / (1 - 0.9)
    1.0
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None):
        super().__init__(learning_rate, weight_decay)
        self.momentum = _require("momentum", momentum, lambda m: 0 <= m < 1, "in [0, 1)")
        self.nesterov = bool(nesterov)
        self.velocities = None

    def build(self, weights):
        self.velocities = [np.zeros_like(weight) for weight in weights]

    def update_step(self, index, weight, gradient, learning_rate):
        if self.momentum == 0:
            weight -= learning_rate * gradient
            return
        velocity = self.velocities[index]
        velocity *= self.momentum
        velocity -= learning_rate * gradient  # v = momentum * v - lr * g
        if self.nesterov:
            weight += self.momentum * velocity - learning_rate * gradient
        else:
            weight += velocity


class Adam(Optimizer):
    """Adam: each weight's step from running averages of its gradient and squared gradient.

    With ``t`` the step number counted from 1, and ``m`` and ``v`` starting at 0::

        m = beta_1 * m + (1 - beta_1) * g            # first moment (mean) of g
        v = beta_2 * v + (1 - beta_2) * g**2         # second moment of g
        alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        w = w - alpha * m / (sqrt(v) + epsilon)

    ``alpha`` carries the bias correction (``m / (1 - beta_1**t)`` and
    ``v / (1 - beta_2**t)`` undo the averages' pull toward their zero start). As in
    Keras, and in Kingma and Ba's efficient version, ``epsilon`` is added to ``sqrt(v)``
    before the correction, not to the corrected ``sqrt(v / (1 - beta_2**t))``.

    Parameters
    ----------
    learning_rate : float or callable, default 0.001
        A positive number, or a schedule called with the step number.
    beta_1 : float in [0, 1), default 0.9
    beta_2 : float in [0, 1), default 0.999
    epsilon : float, default 1e-7
        Keeps the division finite for weights whose gradients have been 0 (Keras's
        default; the paper and PyTorch use 1e-8).
    weight_decay : float, optional
        Decoupled weight decay, as for :class:`Optimizer` (then this is :class:`AdamW`).

    Examples
    --------
    The first step is about ``learning_rate`` in the direction against the gradient,
    whatever the gradient's size:

    >>> weights = [np.zeros(3)]
    >>> Adam(learning_rate=0.01).apply(weights, [np.array([1e-3, 1.0, -1e3])])
    >>> weights[0].round(6)
    array([-0.009968, -0.01    ,  0.01    ])
    """

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None
    ):
        super().__init__(learning_rate, weight_decay)
        self.beta_1 = _require("beta_1", beta_1, lambda b: 0 <= b < 1, "in [0, 1)")
        self.beta_2 = _require("beta_2", beta_2, lambda b: 0 <= b < 1, "in [0, 1)")
        self.epsilon = _require("epsilon", epsilon, lambda e: e > 0, "positive")
        self.momentums = self.velocities = None

    def build(self, weights):
        self.momentums = [np.zeros_like(weight) for weight in weights]
        self.velocities = [np.zeros_like(weight) for weight in weights]

    def update_step(self, index, weight, gradient, learning_rate):
        m, v = self.momentums[index], self.velocities[index]
        m += (1 - self.beta_1) * (gradient - m)  # m = b1 m + (1 - b1) g
        v += (1 - self.beta_2) * (gradient**2 - v)  # v = b2 v + (1 - b2) g^2
        # The bias correction, in the weights' precision as Keras computes
        # it (1 - 0.999**t is 1e-5 off in float32: it shows in the weights).
        t = self.iterations + 1
        beta_1, beta_2 = np.array([self.beta_1, self.beta_2], weight.dtype)
        alpha = learning_rate * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        weight -= alpha * m / (np.sqrt(v) + self.epsilon)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as Keras's ``AdamW``.

    Before each Adam step, every weight shrinks by the factor
    ``1 - learning_rate * weight_decay``. The decay is kept out of the gradient: added
    to the loss as an L2 penalty instead, it would pass through Adam's division by
    ``sqrt(v)``, and weights with large gradients would hardly decay at all.

    Parameters
    ----------
    learning_rate : float or callable, default 0.001
    weight_decay : float, default 0.004
    beta_1, beta_2, epsilon : float
        As for :class:`Adam`.

    Examples
    --------
    With a zero gradient only the decay acts:

    >>> weights = [np.ones(2)]
    >>> AdamW(learning_rate=0.1, weight_decay=0.5).apply(weights, [np.zeros(2)])
    >>> weights[0]
    array([0.95, 0.95])
    """

    def __init__(
        self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7
    ):
        _require("weight_decay", weight_decay, lambda d: d >= 0, ">= 0")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay)


# ---- learning-rate schedules -------------------------------------------------------------


class PiecewiseConstantDecay:
    """Step decay: ``values[i]`` between ``boundaries[i - 1]`` and ``boundaries[i]``, as Keras's.

    The rate is ``values[0]`` up to and including step ``boundaries[0]``, ``values[1]``
    after it up to ``boundaries[1]``, and so on; ``values[-1]`` after the last boundary.

    Parameters
    ----------
    boundaries : sequence of int
        Increasing step numbers.
    values : sequence of float
        One more than ``boundaries``.

    Examples
    --------
    >>> schedule = PiecewiseConstantDecay([100, 200], [0.1, 0.01, 0.001])
    >>> [schedule(step) for step in (0, 100, 101, 250)]
    [0.1, 0.1, 0.01, 0.001]
    """

    def __init__(self, boundaries, values):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, "
                f"and values={values} of length {len(values)}."
            )
        if np.any(np.diff(boundaries) <= 0):
            raise ValueError(f"boundaries must increase. Received: boundaries={boundaries}")
        self.boundaries, self.values = boundaries, values

    def __call__(self, step):
        # The index i with boundaries[i - 1] < step <= boundaries[i].
        index = np.searchsorted(self.boundaries, step, side="left")
        return _float_or_array(np.asarray(self.values, dtype=float)[index])


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
        _require("decay_steps", decay_steps, lambda s: s > 0, "positive")
        _require("decay_rate", decay_rate, lambda r: r >= 0, ">= 0")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps, self.decay_rate, self.staircase = decay_steps, decay_rate, staircase

    def __call__(self, step):
        progress = np.asarray(step) / self.decay_steps
        if self.staircase:
            progress = np.floor(progress)
        return _float_or_array(self.initial_learning_rate / (1.0 + self.decay_rate * progress))


class LinearWarmup:
    """A linear rise from ``initial_learning_rate`` over ``warmup_steps``, then ``target``.

    ``target`` is a number (kept after the warm-up) or a schedule, which then starts at
    its own step 0 when the warm-up ends. Keras has this warm-up inside ``CosineDecay``:
    ``LinearWarmup(CosineDecay(peak, n), w)`` equals Keras's
    ``CosineDecay(0.0, n, warmup_target=peak, warmup_steps=w)``.

    Parameters
    ----------
    target : float or callable
    warmup_steps : int
    initial_learning_rate : float, default 0.0

    Examples
    --------
    >>> schedule = LinearWarmup(0.1, warmup_steps=10)
    >>> [round(schedule(step), 6) for step in (0, 5, 10, 1000)]
    [0.0, 0.05, 0.1, 0.1]
    """

    def __init__(self, target, warmup_steps, initial_learning_rate=0.0):
        if not callable(target):
            _require("target", target, lambda r: r >= 0, ">= 0 or a schedule")
        _require("warmup_steps", warmup_steps, lambda s: s >= 0, ">= 0")
        self.target, self.warmup_steps = target, warmup_steps
        self.initial_learning_rate = initial_learning_rate

    def __call__(self, step):
        step = np.asarray(step, dtype=float)
        after = np.maximum(step - self.warmup_steps, 0)  # 0 during the warm-up
        target = self.target(after) if callable(self.target) else self.target
        fraction = step / max(self.warmup_steps, 1)
        rising = self.initial_learning_rate + (target - self.initial_learning_rate) * fraction
        return _float_or_array(np.where(step < self.warmup_steps, rising, target))


class TriangularSchedule:
    """One cycle: a linear rise from ``start * peak`` to ``peak``, then a fall to ``end * peak``.

    The rise takes the first ``warmup_fraction`` of ``total_steps``; the fall reaches
    ``end * peak`` at step ``total_steps``, and the rate stays there after it. The NumPy twin of
    :class:`cnnbook.keras.fast_training.TriangularSchedule` (airbench's schedule).

    Parameters
    ----------
    peak : float
    total_steps : int
        At least 2.
    warmup_fraction : float, default 0.23
    start, end : float, default 0.2 and 0.07
        The first and last rates, as fractions of ``peak``.

    Examples
    --------
    >>> schedule = TriangularSchedule(1.0, total_steps=100, warmup_fraction=0.25)
    >>> [round(schedule(step), 4) for step in (0, 25, 100, 150)]
    [0.2, 1.0, 0.07, 0.07]
    """

    def __init__(self, peak, total_steps, warmup_fraction=0.23, start=0.2, end=0.07):
        _require("peak", peak, lambda p: p > 0, "positive")
        _require("total_steps", total_steps, lambda n: n >= 2, "at least 2")
        _require("warmup_fraction", warmup_fraction, lambda f: 0 <= f < 1, "in [0, 1)")
        self.peak, self.total_steps, self.warmup_fraction = peak, int(total_steps), warmup_fraction
        self.start, self.end = start, end

    def __call__(self, step):
        step = np.minimum(np.asarray(step, dtype=float), self.total_steps)
        warmup = max(1, int(self.total_steps * self.warmup_fraction))
        rising = self.start + (1 - self.start) * step / warmup
        falling = 1 + (self.end - 1) * (step - warmup) / (self.total_steps - warmup)
        return _float_or_array(self.peak * np.where(step < warmup, rising, falling))


class CosineDecay:
    """Half a cosine from the initial (or warm-up target) rate down to ``alpha`` times it.

    As Keras's: over ``decay_steps`` steps the rate falls as
    ``rate * (alpha + (1 - alpha) * (1 + cos(pi * step / decay_steps)) / 2)``, and stays
    at ``alpha * rate`` after. Given a ``warmup_target``, the rate first rises linearly
    from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps`` steps
    (as :class:`LinearWarmup`), then decays from ``warmup_target``.

    Parameters
    ----------
    initial_learning_rate : float
    decay_steps : int
    alpha : float, default 0.0
        The final rate, as a fraction of the rate the decay starts from.
    warmup_target : float, optional
    warmup_steps : int, default 0
        Ignored without a ``warmup_target`` (as in Keras).

    Examples
    --------
    >>> schedule = CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10)
    >>> [round(schedule(step), 4) for step in (0, 5, 10, 60, 110)]
    [0.0, 0.05, 0.1, 0.05, 0.0]
    """

    def __init__(
        self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0
    ):
        _require("decay_steps", decay_steps, lambda s: s > 0, "positive")
        _require("alpha", alpha, lambda a: 0 <= a <= 1, "in [0, 1]")
        _require("warmup_steps", warmup_steps, lambda s: s >= 0, ">= 0")
        self.initial_learning_rate, self.decay_steps, self.alpha = (
            initial_learning_rate, decay_steps, alpha,
        )  # fmt: skip
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def decay(self, step, rate):
        """Half a cosine from ``rate`` at step 0 to ``alpha * rate`` at ``decay_steps``."""
        progress = np.minimum(step, self.decay_steps) / self.decay_steps
        return rate * (self.alpha + (1 - self.alpha) * 0.5 * (1 + np.cos(np.pi * progress)))

    def __call__(self, step):
        step = np.asarray(step, dtype=float)
        if self.warmup_target is None:
            return _float_or_array(self.decay(step, self.initial_learning_rate))
        warmup = LinearWarmup(
            lambda after: self.decay(after, self.warmup_target),
            self.warmup_steps,
            self.initial_learning_rate,
        )
        return warmup(step)
