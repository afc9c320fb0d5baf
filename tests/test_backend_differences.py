"""Where Keras itself computes otherwise on one backend, and the book says so or undoes it.

Each check runs Keras in a fresh Python under each backend (conftest's
``run_under_backend``; the PyTorch cases skip where PyTorch is not installed, and
``make test-precision`` runs them in `.venv-torch`). A check that fails because Keras has
changed means the book's note must go too: chapter 5's exercise 4 and chapter 1 (the
average pooling), README.md and nbval_sanitize_torch.cfg.
"""

import json

import numpy as np

import cnnbook

#: Chapter 5's 4x4 feature map (one image, one channel).
FEATURE_MAP = np.array(
    [[1, 3, 2, 0], [4, 2, 1, 1], [0, 1, 5, 6], [2, 2, 7, 1]], dtype="float32"
).reshape(1, 4, 4, 1)

#: Chapter 5's exercise 4: Keras's 3x3 average pooling at stride 2, "same" padding (one
#: row and one column of padding, both after the map).
KERAS_POOLING = f"""
import json
import keras
import numpy as np
feature_map = np.array({FEATURE_MAP.tolist()}, dtype="float32")
pool = keras.layers.AveragePooling2D(3, strides=2, padding="same")
print(json.dumps(keras.ops.convert_to_numpy(pool(feature_map)).ravel().tolist()))
"""


def test_average_pooling_with_more_padding_after_the_map_on_each_backend(
    backend, run_under_backend
):
    output = run_under_backend(backend, KERAS_POOLING)
    means = np.array(json.loads(output.splitlines()[-1]))
    if backend == "torch":
        # Keras 3.15 there fills the padding with copies of the edge and divides by 9.
        np.testing.assert_allclose(means, np.array([19, 22, 28, 35]) / 9, rtol=1e-6)
    else:  # the means of the cells inside the map, as cnnbook computes them
        ours = cnnbook.avg_pool2d(FEATURE_MAP, 3, 2, "same").ravel()
        np.testing.assert_allclose(means, ours, rtol=1e-6)
        np.testing.assert_allclose(ours, [19 / 9, 15 / 6, 17 / 6, 19 / 4], rtol=1e-6)


#: What each backend does with float32 products on a GPU since Ampere, read from its own
#: settings (these machines have no GPU): True where they stay float32.
FLOAT32_PRODUCTS = """
import json
import cnnbook
from cnnbook.runtime import apply_policy, backend

keras = cnnbook.import_keras()


def full():
    if backend() == "tensorflow":
        import tensorflow as tf

        return not tf.config.experimental.tensor_float_32_execution_enabled()
    if backend() == "jax":
        import jax

        return jax.config.jax_default_matmul_precision == "float32"
    import torch

    return not (torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)


states = [full()]
apply_policy("mixed_bfloat16")
states.append(full())
keras = cnnbook.import_keras()  # again, as each cnnbook module does: the policy holds
states.append(full())
apply_policy("float32")
states.append(full())
print(json.dumps(states))
"""


def test_float32_products_stay_float32_under_the_float32_policy(backend, run_under_backend):
    """TensorFlow and JAX round float32 products to TensorFloat-32 on recent NVIDIA GPUs
    by default, PyTorch its convolutions (chapter 7's checks to 1e-6 failed on an H200):
    cnnbook turns that off under the float32 policy and leaves it under a mixed one."""
    output = run_under_backend(backend, FLOAT32_PRODUCTS)
    assert json.loads(output.splitlines()[-1]) == [True, False, False, True]
