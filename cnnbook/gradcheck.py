"""Checking a backward pass against finite differences.

A hand-written gradient is easy to get subtly wrong. The central difference

.. math:: \\frac{\\partial f}{\\partial x_i} \\approx \\frac{f(x + h e_i) - f(x - h e_i)}{2h}

needs nothing but the forward function, and is accurate to ``O(h^2)``: comparing
the two is the standard test of a backward pass.

Used by chapter 8b.
"""

import numpy as np

__all__ = ["gradient_check", "numerical_gradient"]


def numerical_gradient(function, x, step=1e-6, indices=None):
    """Central-difference gradient of a scalar ``function`` at ``x``.

    Parameters
    ----------
    function : callable
        Takes an array shaped like ``x`` and returns a scalar.
    x : array_like
        Where to differentiate (converted to float64).
    step : float, default 1e-6
        The difference ``h``.
    indices : sequence of tuple of int, optional
        Only these entries (default: all). The others are left at 0.

    Returns
    -------
    numpy.ndarray
        Shaped like ``x``.

    Examples
    --------
    >>> numerical_gradient(lambda v: np.sum(v**2), np.array([1.0, -2.0]))
    array([ 2., -4.])
    """
    x = np.array(x, dtype=np.float64)
    gradient = np.zeros_like(x)
    for index in np.ndindex(*x.shape) if indices is None else indices:
        original = x[index]
        x[index] = original + step
        above = function(x)
        x[index] = original - step
        below = function(x)
        x[index] = original
        gradient[index] = (above - below) / (2 * step)
    return gradient


def gradient_check(function, x, gradient, step=1e-6, samples=None, seed=0):
    """Largest relative error between ``gradient`` and finite differences of ``function``.

    Parameters
    ----------
    function : callable
        Takes an array shaped like ``x`` and returns a scalar loss.
    x : array_like
        The point where ``gradient`` was computed.
    gradient : array_like
        The analytic gradient to check, shaped like ``x``.
    step : float, default 1e-6
        Finite-difference step.
    samples : int, optional
        Check only this many entries, drawn at random (default: every entry).
    seed : int, default 0
        Seed of that draw.

    Returns
    -------
    float
        ``max |g - n| / (max |g| + max |n|)`` over the checked entries, where ``g``
        is ``gradient`` and ``n`` the numerical one: the largest disagreement,
        relative to the gradient's size (entry by entry, tiny gradients would make
        rounding look like an error). Below about 1e-6 in float64 means the
        backward pass is right; a mistake typically gives 1e-2 or more.

    Raises
    ------
    ValueError
        If ``gradient`` is not shaped like ``x``.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> gradient_check(lambda v: np.sum(np.sin(v)), x, np.cos(x)) < 1e-8
    True
    >>> gradient_check(lambda v: np.sum(np.sin(v)), x, -np.cos(x))   # a sign error
    1.0
    """
    x = np.asarray(x, dtype=np.float64)
    gradient = np.asarray(gradient, dtype=np.float64)
    if gradient.shape != x.shape:
        raise ValueError(
            f"gradient must be shaped like x {x.shape}. Received: gradient.shape={gradient.shape}"
        )
    indices = list(np.ndindex(*x.shape))
    if samples is not None and samples < len(indices):
        chosen = np.random.default_rng(seed).choice(len(indices), size=samples, replace=False)
        indices = [indices[i] for i in chosen]
    numerical = numerical_gradient(function, x, step, indices)
    rows = tuple(np.array(indices).T)
    difference = np.max(np.abs(gradient[rows] - numerical[rows]))
    scale = np.max(np.abs(gradient[rows])) + np.max(np.abs(numerical[rows]))
    return float(difference / max(scale, 1e-12))
