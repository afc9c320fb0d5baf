"""Shared fixtures: TensorFlow (imported once, quietly), a seeded random generator, and a
way to run a script under another Keras backend (a backend is chosen once per process)."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import cnnbook

#: The Keras backends a test can run code under, each with the package it needs.
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


@pytest.fixture(scope="session")
def tf():
    return cnnbook.import_tensorflow()


@pytest.fixture
def rng():
    return np.random.default_rng(seed=1234)


def _run_under_backend(backend, script, timeout=600):
    """Run ``script`` in a fresh Python with ``KERAS_BACKEND=backend``; return its stdout.

    On JAX and PyTorch the script runs as if TensorFlow were not installed (importing it
    raises ImportError), as on a GPU machine that has only JAX and PyTorch. Skips the
    test when the backend's package is not installed (torch is not in the test extra);
    fails with the script's stderr when it exits with an error.
    """
    if backend != "tensorflow":
        script = 'import sys\nsys.modules["tensorflow"] = None  # not installed\n' + script
    if importlib.util.find_spec(BACKEND_PACKAGES[backend]) is None:
        pytest.skip(f"the {backend} backend is not installed")
    environment = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "JAX_PLATFORMS": "cpu",
        "CUDA_VISIBLE_DEVICES": "",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def run_under_backend():
    """``run_under_backend(backend, script)``: the script's stdout, run under that backend."""
    return _run_under_backend


@pytest.fixture(params=sorted(BACKEND_PACKAGES))
def backend(request):
    """Each Keras backend in turn (its tests skip where it is not installed)."""
    return request.param
