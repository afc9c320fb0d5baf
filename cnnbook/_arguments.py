"""Argument checks that every module shares: one idea of what an integer argument is,
of what a rate is, and of what a backward pass may receive.

An integer argument may be a Python ``int`` or a NumPy integer (``np.int64(3)``, as
array arithmetic returns them); ``True`` and ``False`` are rejected, although Python
counts them as integers, because passing one where a size is expected is a mistake.
Errors are Keras's: they name the argument and what was received.
"""

import math
import numbers

import numpy as np

__all__ = [
    "check_grad_output",
    "fraction",
    "is_int",
    "one_of",
    "positive_int",
    "positive_ints",
    "real_in",
    "whole_number",
]


def is_int(value):
    """Whether ``value`` is an integer argument: an int or NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value, name):
    """``value`` as an int >= 1, or a ValueError that names the argument.

    >>> import numpy as np
    >>> positive_int(np.int64(3), "units")
    3
    >>> positive_int(True, "units")
    Traceback (most recent call last):
    ...
    ValueError: units must be a positive int. Received: units=True
    """
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
    return int(value)


def positive_ints(value, name, ndim):
    """``value`` (an int or a sequence of ``ndim`` ints) as a tuple of ``ndim`` ints >= 1.

    Raises TypeError for anything that is not such an int or sequence, ValueError for
    an int below 1.

    >>> positive_ints(2, "stride", 2)
    (2, 2)
    """
    values = (value,) * ndim if is_int(value) else value
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if values is None or len(values) != ndim or not all(is_int(v) for v in values):
        raise TypeError(
            f"{name} must be an int or a sequence of {ndim} ints. Received: {name}={value!r}"
        )
    if any(v < 1 for v in values):
        raise ValueError(f"{name} must be positive. Received: {name}={value!r}")
    return tuple(int(v) for v in values)


def fraction(value, name):
    """``value`` as a float in [0, 1), such as a dropout rate, or a ValueError naming it.

    >>> fraction(0.25, "rate")
    0.25
    >>> fraction(1.5, "rate")
    Traceback (most recent call last):
    ...
    ValueError: rate must be in [0, 1). Received: rate=1.5
    """
    try:
        return real_in(value, name, 0, 1, high_open=True)
    except (TypeError, ValueError):
        # One kind of error for every bad rate, as Keras's layers raise.
        raise ValueError(f"{name} must be in [0, 1). Received: {name}={value!r}") from None


def whole_number(value, name):
    """``value`` as an int >= 0, such as a seed or a count of epochs, or a ValueError.

    >>> whole_number(0, "seed")
    0
    >>> whole_number(-1, "seed")
    Traceback (most recent call last):
    ...
    ValueError: seed must be a whole number, 0 or more. Received: seed=-1
    """
    if not is_int(value) or value < 0:
        raise ValueError(f"{name} must be a whole number, 0 or more. Received: {name}={value!r}")
    return int(value)


def one_of(value, choices, name):
    """``value`` if it is one of ``choices``, or a ValueError that names the argument.

    >>> one_of("same", ("valid", "same"), "padding")
    'same'
    >>> one_of("full", ("valid", "same"), "padding")
    Traceback (most recent call last):
    ...
    ValueError: padding must be 'valid' or 'same'. Received: padding='full'
    """
    if value not in choices:
        quoted = [repr(choice) for choice in choices]
        listed = f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]
        raise ValueError(f"{name} must be {listed}. Received: {name}={value!r}")
    return value


def real_in(value, name, low, high=None, low_open=False, high_open=False):
    """``value`` as a finite float within [low, high], or an error naming the argument.

    An open end excludes its bound; ``high=None`` leaves the range open above. Raises
    TypeError for what is not a real number (a bool is not), ValueError for NaN, an
    infinity or a value outside the range.

    >>> real_in(0.85, "momentum", 0, 1, low_open=True, high_open=True)
    0.85
    >>> real_in(0, "epochs", 0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: epochs must lie in (0, inf). Received: epochs=0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number. Received: {name}={value!r}")
    below = value <= low if low_open else value < low
    above = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or below or above:
        bounds = f"{'(' if low_open else '['}{low}, {'inf)' if high is None else high}"
        bounds += "" if high is None else (")" if high_open else "]")
        raise ValueError(f"{name} must lie in {bounds}. Received: {name}={value!r}")
    return float(value)


def check_grad_output(grad_output, shape, dtype):
    """``grad_output`` as an array of ``dtype``, if it has the forward output's ``shape``.

    A backward pass receives the gradient of the loss with respect to its forward
    pass's output, so the two must have the same shape.
    """
    grad_output = np.asarray(grad_output, dtype=dtype)
    if grad_output.shape != tuple(shape):
        raise ValueError(
            f"grad_output must have the forward output's shape {tuple(shape)}. "
            f"Received: grad_output.shape={grad_output.shape}"
        )
    return grad_output
