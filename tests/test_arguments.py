"""The shared argument checks of cnnbook._arguments, at their boundaries.

Their users' tests (FastRecipe's, the layers') check that each argument is checked;
these check each bound, open and closed, and what counts as a number.
"""

import math
import re

import numpy as np
import pytest

from cnnbook._arguments import one_of, real_in, whole_number


@pytest.mark.parametrize(
    ("value", "low_open", "high_open", "accepted"),
    [
        (0.0, False, False, True),
        (0.0, True, False, False),
        (1.0, False, False, True),
        (1.0, False, True, False),
        (0.5, True, True, True),
        (-1e-9, False, False, False),
        (1 + 1e-9, False, False, False),
    ],
)
def test_real_in_keeps_closed_ends_and_excludes_open_ones(value, low_open, high_open, accepted):
    def check():
        return real_in(value, "rate", 0.0, 1.0, low_open=low_open, high_open=high_open)

    if accepted:
        assert check() == value and type(check()) is float
    else:
        with pytest.raises(ValueError, match=r"rate must lie in [\[(]0.0, 1.0[\])]"):
            check()


def test_real_in_names_the_range_it_asks_for():
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\)\. Received: momentum=1$"):
        real_in(1, "momentum", 0, 1, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]\. Received: p=2$"):
        real_in(2, "p", 0, 1)
    with pytest.raises(ValueError, match=r"must lie in \[2, inf\)\. Received: x=1$"):
        real_in(1, "x", 2)


def test_real_in_without_a_high_end_takes_any_large_finite_number():
    assert real_in(1e300, "epochs", 0.0, low_open=True) == 1e300
    for value in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError, match="epochs"):
            real_in(value, "epochs", 0.0, low_open=True)


def test_real_in_takes_numpy_numbers_and_refuses_bools_and_strings():
    assert real_in(np.float32(0.5), "rate", 0.0, 1.0) == 0.5
    assert real_in(np.int64(3), "epochs", 0.0) == 3.0
    for value in (True, "0.5", None, [0.5]):
        with pytest.raises(TypeError, match=r"rate must be a number\. Received: rate="):
            real_in(value, "rate", 0.0, 1.0)


def test_whole_number_takes_zero_and_numpy_integers_and_nothing_else():
    assert whole_number(0, "seed") == 0
    assert whole_number(np.int64(7), "seed") == 7 and type(whole_number(np.int64(7), "s")) is int
    for value in (-1, 1.0, True, "3", None):
        with pytest.raises(ValueError, match=r"seed must be a whole number, 0 or more"):
            whole_number(value, "seed")


@pytest.mark.parametrize(
    ("choices", "listed"),
    [
        (("same",), "'same'"),
        (("valid", "same"), "'valid' or 'same'"),
        (("valid", "same", "full"), "'valid', 'same' or 'full'"),
        ((0, 1, 2), "0, 1 or 2"),
    ],
)
def test_one_of_returns_a_choice_and_names_every_choice_otherwise(choices, listed):
    assert one_of(choices[-1], choices, "padding") is choices[-1]
    message = f"padding must be {listed}. Received: padding='wrap'"
    with pytest.raises(ValueError, match=re.escape(message)):
        one_of("wrap", choices, "padding")
