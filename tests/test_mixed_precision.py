"""Every Keras piece of cnnbook in 16 bits, on every backend.

A GPU trains the book's chapters under a mixed precision policy (``mixed_float16`` on
compute capability 7.x, ``mixed_bfloat16`` on 8.0 and newer), where the layers compute
in 16 bits and keep float32 weights. Each check runs in a fresh process per backend
(the policy is global, and a backend is chosen once per process); where PyTorch is not
installed its cases skip here, and ``make test-precision`` runs them in an environment
that has it.
"""

import pytest

POLICIES = ("mixed_float16", "mixed_bfloat16")

HARNESS = """
import keras
import numpy as np
from keras.src.testing import TestCase

from cnnbook.keras.fast_training import PartialIdentity, Scale
from cnnbook.keras.layers import DropConnectDense, StochasticPool2D

# Keras's own layer-test harness: building, shapes, weights, seed generators, a saved and
# reloaded config, a training step, and the layer under a mixed-precision dtype policy.
case = TestCase()
case.run_layer_test(
    StochasticPool2D, {"pool_size": 2, "seed": 1}, input_shape=(2, 8, 8, 3),
    expected_output_shape=(2, 4, 4, 3), expected_num_trainable_weights=0,
    expected_num_non_trainable_weights=0, expected_num_seed_generators=1,
)
case.run_layer_test(
    StochasticPool2D, {"pool_size": 3, "strides": 2, "padding": "same", "seed": 1},
    input_shape=(2, 7, 7, 3), expected_output_shape=(2, 4, 4, 3),
    expected_num_seed_generators=1,
)
case.run_layer_test(
    DropConnectDense, {"units": 4, "rate": 0.5, "activation": "relu", "seed": 2},
    input_shape=(2, 5), expected_output_shape=(2, 4), expected_num_trainable_weights=2,
    expected_num_seed_generators=1,
)
case.run_layer_test(
    Scale, {"factor": 0.125}, input_shape=(2, 10), expected_output_shape=(2, 10),
    expected_num_trainable_weights=0,
)
# The identity start is an initializer: it serializes, and under each policy a Conv2D
# started with it keeps float32 weights and passes the first channels through.
start = keras.initializers.deserialize(keras.initializers.serialize(PartialIdentity(seed=3)))
assert isinstance(start, PartialIdentity) and start.seed == 3
images = np.random.default_rng(0).normal(size=(2, 6, 6, 4)).astype("float32")
for policy in ("float32", "mixed_float16", "mixed_bfloat16"):
    conv = keras.layers.Conv2D(8, 3, padding="same", use_bias=False,
                               kernel_initializer=PartialIdentity(seed=3), dtype=policy)
    output = conv(images)
    assert conv.kernel.dtype == "float32", conv.kernel.dtype
    assert keras.backend.standardize_dtype(output.dtype) == conv.compute_dtype, policy
    kernel = keras.ops.convert_to_numpy(conv.kernel)
    assert np.array_equal(kernel[1, 1, :4, :4], np.eye(4)), policy
print("ok", keras.backend.backend())
"""

STATISTICS = """
import keras
import numpy as np

from cnnbook.keras.layers import DropConnectDense, StochasticPool2D
from cnnbook.regularization import stochastic_pool2d

POLICY = {policy!r}
keras.mixed_precision.set_global_policy(POLICY)
to_numpy = keras.ops.convert_to_numpy
rng = np.random.default_rng(0)


def as_float32(tensor):
    return np.asarray(to_numpy(tensor)).astype(np.float32)


# Stochastic pooling: 16,384 windows of positive activations, each output in the
# compute dtype and always one of its own window's cells (never 0: every cell > 0).
x = (rng.random((64, 16, 16, 4)) + 0.01).astype("float32")
layer = StochasticPool2D(2, seed=1)
drawn = layer(x, training=True)
assert keras.backend.standardize_dtype(drawn.dtype) == layer.compute_dtype, drawn.dtype
cells = as_float32(keras.ops.cast(x, layer.compute_dtype))
windows = cells.reshape(64, 8, 2, 8, 2, 4).transpose(0, 1, 3, 5, 2, 4).reshape(64, 8, 8, 4, 4)
in_window = (windows == as_float32(drawn)[..., None]).any(axis=-1)
assert in_window.all(), f"{{(~in_window).sum()}} outputs are no cell of their window"

# The probabilities a_i / sum(a): one window [[1, 0], [3, 4]] drawn 20,000 times.
window = np.tile(np.array([[1.0, 0.0], [3.0, 4.0]], "float32"), (20_000, 1, 1))[..., None]
values = as_float32(StochasticPool2D(2, seed=2)(window, training=True)).ravel()
shares = {{value: float(np.mean(values == value)) for value in (0.0, 1.0, 3.0, 4.0)}}
expected = {{0.0: 0.0, 1.0: 0.125, 3.0: 0.375, 4.0: 0.5}}
# Standard error of a share over 20,000 draws: at most 0.0036; allow 5 of them.
assert all(abs(shares[v] - expected[v]) < 0.018 for v in expected), shares

# At inference, the expectation sum(a^2) / sum(a), as the NumPy reference computes it.
inference = as_float32(layer(x, training=False))
reference = stochastic_pool2d(cells, training=False)
tolerance = 1e-2 if POLICY == "mixed_bfloat16" else 2e-3
difference = np.abs(inference - reference).max()
assert np.allclose(inference, reference, rtol=tolerance, atol=0), difference

# DropConnect keeps the expected pre-activation: the mean over 400 masks (one per call)
# equals the plain layer's output, within 5 standard errors of that mean.
dense = DropConnectDense(4, rate=0.5, seed=3)
inputs = rng.random((8, 16)).astype("float32")
plain = as_float32(dense(inputs, training=False))
masked = dense(inputs, training=True)
assert keras.backend.standardize_dtype(masked.dtype) == dense.compute_dtype, masked.dtype
samples = np.stack([as_float32(dense(inputs, training=True)) for _ in range(400)])
error = np.abs(samples.mean(axis=0) - plain)
standard_error = samples.std(axis=0) / np.sqrt(len(samples))
assert (error <= 5 * standard_error + 1e-2 * np.abs(plain)).all(), (error / standard_error).max()
print("ok", keras.backend.backend(), POLICY)
"""

TRAJECTORY = """
import dataclasses

import keras
import numpy as np

from cnnbook.keras import fast_training as fast

# The fast recipe (FastSGD with its two learning rates and a variable that stops training,
# Lookahead, the whitening layer, the identity start, predict_tta) on a tiny network:
# 16 steps in float32 and under each mixed policy, from the same start on the same batches.
rng = np.random.default_rng(0)
images = rng.normal(size=(256, 32, 32, 3)).astype("float32")
labels = rng.integers(0, 10, 256)
recipe = dataclasses.replace(
    fast.FastRecipe(), widths=(8, 16, 16), batch_size=32, epochs=2, learning_rate=2.0
)
weights, optimizers = {{}}, {{}}
# Both pipelines: the in-step augmentation and lookahead, and the host reference.
for pipeline in ("device", "host"):
    for policy in ("float32", "mixed_float16", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(policy)
        result = fast.train_fast(images, labels, recipe, seed=0, log=None, pipeline=pipeline)
        keras.mixed_precision.set_global_policy("float32")
        optimizers[policy] = type(result.optimizer).__name__
        assert result.steps == 16, result.steps
        weights[policy] = np.concatenate(
            [np.ravel(keras.ops.convert_to_numpy(w)) for w in result.model.weights]
        )
        logits = fast.predict_tta(result.model, images[:8], level=2)
        assert logits.shape == (8, 10) and np.isfinite(logits).all(), policy

    # Under mixed_float16 Keras scales the loss (its LossScaleOptimizer wraps FastSGD).
    assert optimizers["mixed_float16"] == "LossScaleOptimizer", optimizers
    assert optimizers["mixed_bfloat16"] == "FastSGD", optimizers
    scale = np.linalg.norm(weights["float32"])
    for policy, tolerance in (("mixed_float16", 1e-3), ("mixed_bfloat16", 5e-3)):
        difference = np.linalg.norm(weights[policy] - weights["float32"]) / scale
        assert difference < tolerance, (pipeline, policy, difference)
        print(pipeline, policy, f"{{difference:.1e}}")
print("ok", keras.backend.backend())
"""


def test_each_keras_piece_passes_the_keras_layer_harness(backend, run_under_backend):
    output = run_under_backend(backend, HARNESS)
    assert output.split()[-2:] == ["ok", backend]


@pytest.mark.parametrize("policy", POLICIES)
def test_keras_layers_in_16_bits_keep_their_statistics(backend, policy, run_under_backend):
    output = run_under_backend(backend, STATISTICS.format(policy=policy))
    assert output.split()[-3:] == ["ok", backend, policy]


def test_fast_recipe_follows_the_float32_trajectory_in_16_bits(backend, run_under_backend):
    output = run_under_backend(backend, TRAJECTORY.format())
    assert output.split()[-2:] == ["ok", backend]
