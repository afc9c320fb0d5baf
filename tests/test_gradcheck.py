"""cnnbook.gradcheck: central differences, which entries get checked, and the relative error."""

import numpy as np
import pytest

from cnnbook.gradcheck import gradient_check, numerical_gradient


def recording(function, x):
    """``function``, logging each call's perturbation of ``x`` as ``(index, x_new - x_old)``."""
    x = np.asarray(x, dtype=np.float64)
    calls = []

    def wrapped(v):
        changed = np.argwhere(v != x)
        assert len(changed) == 1, "exactly one entry is perturbed per evaluation"
        index = tuple(int(i) for i in changed[0])
        calls.append((index, float(v[index] - x[index])))
        return function(v)

    return wrapped, calls


def checked_entries(calls):
    """The entries a list of recorded calls perturbed, in the order they were first perturbed."""
    return list(dict.fromkeys(index for index, _ in calls))


# numerical_gradient


def test_numerical_gradient_is_the_central_difference_with_the_given_step():
    # For v**3 the central difference is exactly 3 v**2 + h**2 (no O(h**3) term).
    x = np.array([[1.0, 2.0], [-1.0, 0.5]])
    gradient = numerical_gradient(lambda v: np.sum(v**3), x, step=0.5)
    np.testing.assert_array_equal(gradient, 3 * x**2 + 0.25)


def test_numerical_gradient_default_step_is_1e_minus_6():
    x = np.array([1.0, 2.0, -3.0])

    def cube(v):
        return np.sum(v**3)

    default = numerical_gradient(cube, x)
    np.testing.assert_array_equal(default, numerical_gradient(cube, x, step=1e-6))
    np.testing.assert_allclose(default, 3 * x**2, rtol=1e-7)


def test_numerical_gradient_docstring_example():
    gradient = numerical_gradient(lambda v: np.sum(v**2), np.array([1.0, -2.0]))
    np.testing.assert_allclose(gradient, [2.0, -4.0], rtol=1e-8)


def test_numerical_gradient_perturbs_each_entry_up_then_down_and_restores_it():
    x = np.arange(6.0).reshape(2, 3)
    function, calls = recording(lambda v: np.sum(v**2), x)
    numerical_gradient(function, x, step=0.25)
    expected = [(index, delta) for index in np.ndindex(2, 3) for delta in (0.25, -0.25)]
    assert calls == expected
    np.testing.assert_array_equal(x, np.arange(6.0).reshape(2, 3))


def test_numerical_gradient_converts_integer_input_to_float64():
    # Integer entries could not hold x +- step: the step would be truncated away.
    x = np.array([1, 2, 3])
    gradient = numerical_gradient(lambda v: np.sum(v**2), x)
    assert gradient.dtype == np.float64
    np.testing.assert_allclose(gradient, [2.0, 4.0, 6.0], rtol=1e-7)
    assert x.dtype.kind == "i"


def test_numerical_gradient_list_input_gives_array_shaped_like_it():
    gradient = numerical_gradient(lambda v: np.sum(v**2), [[1, 2], [3, 4]], step=0.5)
    assert gradient.shape == (2, 2)
    assert gradient.dtype == np.float64
    np.testing.assert_array_equal(gradient, [[2.0, 4.0], [6.0, 8.0]])


def test_numerical_gradient_indices_computes_only_those_entries_and_leaves_others_zero():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    function, calls = recording(lambda v: np.sum(v**2), x)
    gradient = numerical_gradient(function, x, step=0.5, indices=[(1, 2), (0, 0)])
    assert checked_entries(calls) == [(1, 2), (0, 0)]
    np.testing.assert_array_equal(gradient, [[2.0, 0.0, 0.0], [0.0, 0.0, 12.0]])


def test_numerical_gradient_default_computes_every_entry():
    x = np.arange(1.0, 7.0).reshape(3, 2)
    function, calls = recording(lambda v: np.sum(v**2), x)
    gradient = numerical_gradient(function, x, step=0.5)
    assert checked_entries(calls) == list(np.ndindex(3, 2))
    np.testing.assert_array_equal(gradient, 2 * x)


# gradient_check


def test_gradient_check_docstring_examples():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert gradient_check(lambda v: np.sum(np.sin(v)), x, np.cos(x)) < 1e-8
    assert gradient_check(lambda v: np.sum(np.sin(v)), x, -np.cos(x)) == 1.0


def test_gradient_check_is_max_difference_over_sum_of_max_magnitudes():
    # f is linear, so its numerical gradient is the weights up to rounding.
    weights = np.array([[1.0, -2.0], [0.5, 4.0]])
    gradient = np.array([[1.0, -1.0], [0.5, 3.0]])  # off by 1 in two entries
    error = gradient_check(lambda v: np.sum(weights * v), np.ones((2, 2)), gradient, step=0.5)
    assert isinstance(error, float)
    assert error == pytest.approx(1.0 / (3.0 + 4.0), rel=1e-12)


def test_gradient_check_relative_error_with_small_gradients():
    # The error is relative: the same sign error gives 1 whatever the gradient's size.
    weights = np.array([0.01, -0.02, 0.005])
    error = gradient_check(lambda v: np.sum(weights * v), np.zeros(3), -weights, step=0.5)
    assert error == pytest.approx(1.0, rel=1e-12)
    error = gradient_check(lambda v: np.sum(weights * v), np.zeros(3), 0.5 * weights, step=0.5)
    assert error == pytest.approx(0.01 / (0.01 + 0.02), rel=1e-12)


def test_gradient_check_zero_gradient_of_a_constant_is_zero_not_nan():
    assert gradient_check(lambda v: 3.0, np.ones((2, 2)), np.zeros((2, 2))) == 0.0


def test_gradient_check_uses_the_given_step():
    # For v**3 the numerical gradient is 3 v**2 + h**2: with h = 0.5 it exceeds 3 v**2 by 0.25.
    x = np.array([1.0, 2.0])
    error = gradient_check(lambda v: np.sum(v**3), x, 3 * x**2, step=0.5)
    assert error == pytest.approx(0.25 / (12.0 + 12.25), rel=1e-12)
    assert gradient_check(lambda v: np.sum(v**3), x, 3 * x**2) < 1e-9


def test_gradient_check_rejects_a_gradient_not_shaped_like_x():
    with pytest.raises(ValueError, match=r"gradient must be shaped like x \(2, 3\)\. Received: "):
        gradient_check(lambda v: np.sum(v), np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"gradient\.shape=\(6,\)"):
        gradient_check(lambda v: np.sum(v), np.zeros((2, 3)), np.zeros(6))


def test_gradient_check_converts_the_gradient_to_float64():
    # In int8, abs(-128) overflows to -128; as float64 the sign error is measured correctly.
    gradient = np.array([-128], dtype=np.int8)
    assert gradient_check(lambda v: 128 * np.sum(v), np.zeros(1), gradient, step=0.5) == 1.0


def test_gradient_check_accepts_lists_and_integer_inputs():
    error = gradient_check(lambda v: np.sum(v**2), [[1, 2], [3, 4]], [[2, 4], [6, 8]], step=0.5)
    assert error == 0.0


def test_gradient_check_checks_every_entry_by_default():
    x = np.arange(12.0).reshape(3, 4)
    function, calls = recording(lambda v: np.sum(v**2), x)
    gradient_check(function, x, 2 * x)
    assert checked_entries(calls) == list(np.ndindex(3, 4))


def test_gradient_check_samples_checks_that_many_distinct_entries():
    x = np.arange(20.0).reshape(4, 5)
    for samples in (1, 5, 19):
        function, calls = recording(lambda v: np.sum(v**2), x)
        gradient_check(function, x, 2 * x, samples=samples)
        entries = checked_entries(calls)
        assert len(entries) == samples
        assert len(calls) == 2 * samples  # each entry perturbed exactly once up and once down


def test_gradient_check_samples_at_least_the_size_is_the_same_as_checking_everything():
    x = np.arange(6.0).reshape(2, 3)
    everything, expected = recording(lambda v: np.sum(v**2), x)
    gradient_check(everything, x, 2 * x)
    for samples in (6, 7):
        function, calls = recording(lambda v: np.sum(v**2), x)
        gradient_check(function, x, 2 * x, samples=samples)
        assert calls == expected


def test_gradient_check_samples_ignores_the_entries_it_does_not_check():
    # The gradient is right only at the sampled entries: the others must not count.
    x = np.arange(20.0).reshape(4, 5)
    function, calls = recording(lambda v: np.sum(v**2), x)
    gradient_check(function, x, 2 * x, samples=5, seed=3)
    sampled = checked_entries(calls)
    gradient = np.full_like(x, 1000.0)
    for index in sampled:
        gradient[index] = 2 * x[index]
    error = gradient_check(lambda v: np.sum(v**2), x, gradient, samples=5, seed=3)
    assert error < 1e-8
    assert gradient_check(lambda v: np.sum(v**2), x, gradient) > 0.5


def test_gradient_check_seed_makes_the_draw_reproducible_and_defaults_to_0():
    x = np.arange(20.0).reshape(4, 5)

    def entries(**kwargs):
        function, calls = recording(lambda v: np.sum(v**2), x)
        gradient_check(function, x, 2 * x, samples=5, **kwargs)
        return checked_entries(calls)

    assert entries(seed=7) == entries(seed=7)
    assert entries() == entries(seed=0)
    assert entries(seed=0) != entries(seed=1)
