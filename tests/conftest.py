"""Shared fixtures: TensorFlow (imported once, quietly) and a seeded random generator."""

import numpy as np
import pytest

import cnnbook


@pytest.fixture(scope="session")
def tf():
    return cnnbook.import_tensorflow()


@pytest.fixture
def rng():
    return np.random.default_rng(seed=1234)
