"""Shared fixtures: TensorFlow (imported once, quietly), Keras and cnnbook.keras.layers on
it, a seeded random generator, and a way to run a script under another Keras backend (a
backend is chosen once per process)."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import cnnbook
from cnnbook.datasets import CIFAR10_CLASSES

#: The Keras backends a test can run code under, each with the package it needs.
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


@pytest.fixture(scope="session")
def tf():
    return cnnbook.import_tensorflow()


@pytest.fixture
def rng():
    return np.random.default_rng(seed=1234)


@pytest.fixture(scope="session")
def keras(tf):
    """Keras on TensorFlow, imported after TensorFlow's quiet import."""
    import keras

    return keras


@pytest.fixture
def restore_policy(keras):
    """Keras's global precision policy, and the float32 products that go with it, put
    back after the test as they were before."""
    from cnnbook.runtime import full_float32_products

    saved = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(saved)
    full_float32_products(saved.name == "float32")


@pytest.fixture
def layers(tf):
    """cnnbook.keras.layers on TensorFlow, imported after TensorFlow's quiet import."""
    from cnnbook.keras import layers

    return layers


def _make_image_tree(root, rng, per_class=2, suffix=".png", classes=CIFAR10_CLASSES):
    """train/<class>/ and test/<class>/ of lossless PNG (or JPEG) files."""
    expected = {}
    for split in ("train", "test"):
        images, labels = [], []
        for label, name in enumerate(CIFAR10_CLASSES):
            if name not in classes:
                continue
            (root / split / name).mkdir(parents=True)
            for index in range(per_class):
                pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{index:04d}{suffix}")
                images.append(pixels)
                labels.append(label)
        expected[split] = (np.stack(images), np.array(labels))
    return expected["train"], expected["test"]


@pytest.fixture
def make_image_tree():
    """``make_image_tree(root, rng, ...)``: a CIFAR-10-like class-folder tree of images."""
    return _make_image_tree


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
