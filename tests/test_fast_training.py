"""cnnbook.keras.fast_training: each idea of the fast recipe against an independent
computation, and a short training run. Data parallelism, cnnbook.runtime.data_parallel, is
tested in test_runtime.py."""

import numpy as np
import pytest

from cnnbook.datasets import CIFAR10_MEAN, CIFAR10_STD
from cnnbook.runtime import backend, import_keras

fast = pytest.importorskip("cnnbook.keras.fast_training")
training = pytest.importorskip("cnnbook.keras.fast_training.training")
keras = import_keras()


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    # Correlated channels and neighboring pixels, like photographs.
    base = rng.normal(size=(64, 16, 16, 1))
    smooth = base + np.roll(base, 1, axis=1) + np.roll(base, 1, axis=2)
    noise = rng.normal(size=(2, *smooth.shape))
    return np.concatenate([smooth, 0.5 * smooth + noise[0], smooth + 0.3 * noise[1]], -1)


def patches_of(images, size=2):
    windows = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, size * size * images.shape[-1])


def test_normalize_gives_float32_in_cifar10s_standard_units():
    images = np.stack([np.full((2, 2, 3), value, np.uint8) for value in (0, 128, 255)])
    out = fast.normalize(images)
    assert out.dtype == np.float32 and out.shape == images.shape
    mean, std = np.array(CIFAR10_MEAN), np.array(CIFAR10_STD)
    for index, value in enumerate((0, 128, 255)):
        np.testing.assert_allclose(
            out[index], np.broadcast_to((value / 255 - mean) / std, (2, 2, 3)), rtol=1e-5
        )
    for wrong in (images[..., :1], images[0], images[..., None]):
        with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
            fast.normalize(wrong)


def test_whitening_kernel_decorrelates_patches(images):
    kernel = fast.whitening_kernel(images, eps=0.0)
    assert kernel.shape == (2, 2, 3, 24) and kernel.dtype == np.float32
    np.testing.assert_array_equal(kernel[..., 12:], -kernel[..., :12])
    # A patch's outputs are a matrix product with the filters, as Conv2D computes them.
    outputs = patches_of(images) @ kernel.reshape(12, 24)[:, :12].astype(np.float64)
    covariance = outputs.T @ outputs / len(outputs)
    np.testing.assert_allclose(covariance, np.eye(12), atol=1e-3)


def test_whitening_kernel_defaults_and_order(images):
    kernel = fast.whitening_kernel(images)
    np.testing.assert_array_equal(kernel, fast.whitening_kernel(images, size=2, eps=5e-4))
    # by decreasing eigenvalue: filter i has norm 1 / sqrt(lambda_i + eps)
    norms = np.linalg.norm(kernel.reshape(12, 24)[:, :12], axis=0)
    assert np.all(np.diff(norms) > 0)


def test_whitening_kernel_equals_a_keras_convolution(images):
    kernel = fast.whitening_kernel(images)
    layer = keras.layers.Conv2D(24, 2, use_bias=False)
    layer.build((None, 16, 16, 3))
    layer.kernel.assign(kernel)
    convolved = keras.ops.convert_to_numpy(layer(images[:2].astype("float32")))
    by_patches = (patches_of(images[:2]) @ kernel.reshape(12, 24)).reshape(2, 15, 15, 24)
    np.testing.assert_allclose(convolved, by_patches, rtol=1e-4, atol=1e-4)


def test_whitening_eps_tames_the_smallest_directions(images):
    variances = []
    for eps in (0.0, 1.0):
        outputs = patches_of(images) @ fast.whitening_kernel(images, eps=eps).reshape(12, 24)
        variances.append(outputs[:, :12].var(axis=0))
    assert np.all(variances[1] < variances[0])
    with pytest.raises(ValueError, match="shape"):
        fast.whitening_kernel(np.zeros((4, 4, 3)))


def test_partial_identity_start():
    weights = keras.ops.convert_to_numpy(fast.PartialIdentity(seed=1)((3, 3, 4, 6)))
    for j in range(4):
        expected = np.zeros((3, 3, 4))
        expected[1, 1, j] = 1
        np.testing.assert_array_equal(weights[..., j], expected)
    bound = 1 / np.sqrt(3 * 3 * 4)
    assert np.abs(weights[..., 4:]).max() <= bound and np.abs(weights[..., 4:]).std() > bound / 4


def test_partial_identity_puts_the_one_at_the_centre_of_any_kernel():
    weights = keras.ops.convert_to_numpy(fast.PartialIdentity(seed=1)((5, 5, 2, 3)))
    assert weights.dtype == np.float32
    half = fast.PartialIdentity(seed=1)((5, 5, 2, 3), dtype="float16")
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    for j in range(2):
        expected = np.zeros((5, 5, 2))
        expected[2, 2, j] = 1
        np.testing.assert_array_equal(weights[..., j], expected)


def test_dirac_switch_changes_the_identity_filters_and_nothing_else():
    recipe = fast.FastRecipe(widths=(8, 16, 16), whiten=False)
    kernels = {}
    for dirac in (True, False):
        model = fast.fast_cnn(fast.FastRecipe(**{**vars(recipe), "dirac": dirac}), seed=3)
        kernels[dirac] = [
            keras.ops.convert_to_numpy(layer.kernel)
            for layer in model.layers
            if isinstance(layer, keras.layers.Conv2D)
        ]
    for with_identity, without in zip(kernels[True], kernels[False]):
        rows, cols, inputs, outputs = without.shape
        bound = 1 / np.sqrt(rows * cols * inputs)  # PyTorch's range, in both
        assert np.abs(without).max() <= bound and np.abs(without).max() > 0.9 * bound
        identity = min(inputs, outputs) if rows == 3 else 0
        # The random filters are the same draws; only the identity ones differ.
        np.testing.assert_array_equal(with_identity[..., identity:], without[..., identity:])
        assert not np.array_equal(with_identity, without) or identity == 0


def test_fast_cnn_seed_none_is_unseeded():
    recipe = fast.FastRecipe(widths=(32, 8, 8), whiten=False)  # 8 random filters first

    def first_kernel(seed):
        model = fast.fast_cnn(recipe, seed=seed)
        return keras.ops.convert_to_numpy(model.layers[2].kernel)

    np.testing.assert_array_equal(first_kernel(0), first_kernel(0))
    assert not np.array_equal(first_kernel(None), first_kernel(0))
    assert not np.array_equal(first_kernel(None), first_kernel(None))
    with pytest.raises(ValueError, match=r"^seed must"):
        fast.fast_cnn(recipe, seed=-1)


def values_and_gradient(function, inputs, weights, variables=()):
    """``function(inputs)`` and the gradient of ``sum(weights * function(inputs))`` with
    respect to ``inputs`` and to ``variables`` (TensorFlow)."""
    import tensorflow as tf

    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = function(inputs)
        total = tf.reduce_sum(outputs * weights)
    gradients = tape.gradient(total, [inputs, *variables])
    return [np.asarray(t) for t in (outputs, *gradients)]


def test_gelu_is_kerass_exact_gelu():
    x = np.linspace(-6, 6, 2001, dtype="float32").reshape(1, 2001)
    expected = keras.activations.gelu(x, approximate=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(fast.gelu(x)), keras.ops.convert_to_numpy(expected), atol=1e-6
    )


@pytest.mark.skipif(backend() != "tensorflow", reason="the fused kernels are TensorFlow's")
def test_gelu_gradient_is_the_derivative_of_kerass_gelu():
    x = np.linspace(-6, 6, 2001, dtype="float32")
    weights = np.random.default_rng(0).normal(size=x.shape).astype("float32")
    ours = values_and_gradient(fast.gelu, x, weights)
    theirs = values_and_gradient(lambda t: keras.activations.gelu(t, approximate=False), x, weights)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-6)


def assert_same_outputs(ours, theirs, inputs, trainings=(True, False), **arguments):
    """Two layers give the same outputs on ``inputs`` (to 1e-5), in training and not."""
    for training in trainings:
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours(inputs, training=training, **arguments)),
            keras.ops.convert_to_numpy(theirs(inputs, training=training, **arguments)),
            rtol=1e-5,
            atol=1e-5,
        )


def batch_norms(**options):
    """fast's BatchNorm and Keras's, built alike with equal, non-trivial weights."""
    layers = [fast.BatchNorm(**options), keras.layers.BatchNormalization(**options)]
    rng = np.random.default_rng(1)
    for layer in layers:
        layer.build((None, 6, 6, 5))
    for weights in zip(*(layer.weights for layer in layers)):
        value = rng.uniform(0.5, 1.5, size=weights[0].shape).astype("float32")
        for weight in weights:
            weight.assign(value)
    return layers


def test_fast_cnn_rebuilds_from_its_config():
    recipe = fast.FastRecipe(widths=(8, 8, 8), whiten=False)
    model = fast.fast_cnn(recipe)
    clone = keras.Sequential.from_config(model.get_config())
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    activations = [layer for layer in clone.layers if isinstance(layer, keras.layers.Activation)]
    assert len(activations) == 7 and all(a.activation is fast.gelu for a in activations)


def test_fast_cnn_is_airbenchs_network(images):
    recipe = fast.FastRecipe(widths=(8, 16, 12))
    whitening = np.resize(images, (8, 32, 32, 3)).astype("float32")
    model = fast.fast_cnn(recipe, whitening_images=whitening)
    assert model.name == "fast_cnn"
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
    # The whitening layer: 2x2, 24 filters, the kernel computed and frozen, a zero bias.
    whiten = model.get_layer("whiten")
    assert whiten.kernel_size == (2, 2) and whiten.padding == "valid"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(whiten.kernel), fast.whitening_kernel(whitening), rtol=1e-6
    )
    assert not whiten.kernel.trainable and whiten.bias.trainable
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(whiten.bias), np.zeros(24))
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)][1:]
    assert [layer.filters for layer in convolutions] == [8, 8, 16, 16, 12, 12]
    for layer in convolutions:
        assert layer.kernel_size == (3, 3) and layer.padding == "same" and not layer.use_bias
    norms = [layer for layer in model.layers if isinstance(layer, fast.BatchNorm)]
    assert len(norms) == 6
    for layer in norms:
        assert (layer.momentum, layer.epsilon) == (recipe.batchnorm_momentum, 1e-12)
        assert layer.center and not layer.scale
        assert layer.synchronized == (backend() == "tensorflow")
    dense, scale = model.layers[-2:]
    assert dense.units == 10 and not dense.use_bias and dense.dtype_policy.name == "float32"
    assert scale.factor == recipe.scaling_factor and scale.dtype_policy.name == "float32"
    # Parameters: whitening (kernel and bias), 3x3 kernels, batch normalization's offset
    # and two running statistics, the dense kernel.
    widths = [24, 8, 16, 12]
    expected = 2 * 2 * 3 * 24 + 24 + 12 * 10
    for inputs, width in zip(widths, widths[1:]):
        expected += 9 * inputs * width + 9 * width * width + 2 * 3 * width
    assert model.count_params() == expected
    # seed=0 by default
    again = fast.fast_cnn(recipe, whitening_images=whitening, seed=0)
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_fast_cnn_keeps_its_logits_in_float32_under_a_mixed_policy():
    recipe = fast.FastRecipe(widths=(8, 8, 8), whiten=False)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = fast.fast_cnn(recipe)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    dense, scale = model.layers[-2:]
    assert model.layers[1].dtype_policy.name == "mixed_bfloat16"
    assert dense.dtype_policy.name == scale.dtype_policy.name == "float32"
    with pytest.raises(ValueError, match="^recipe.whiten needs whitening_images"):
        fast.fast_cnn(fast.FastRecipe())


def test_scale_multiplies_by_its_factor_in_its_dtype():
    inputs = np.array([[1.0, -2.0, 4.0]], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fast.Scale(0.25)(inputs)), inputs / 4)
    half = fast.Scale(0.25, dtype="float16")(inputs)
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(half), inputs / 4)


@pytest.mark.parametrize(
    "options, spread",
    [
        ({"scale": False}, 3.0),
        ({"scale": True}, 3.0),
        ({"scale": False, "center": False}, 3.0),
        # a variance of 1e-4, where an epsilon of 1e-12 and TensorFlow's default differ
        ({"scale": False}, 0.01),
    ],
)
def test_batch_norm_trains_as_kerass(options, spread):
    ours, theirs = batch_norms(momentum=0.6, epsilon=1e-12, **options)
    rng = np.random.default_rng(2)
    inputs = (spread * rng.normal(size=(8, 6, 6, 5)) + 2 * spread / 3).astype("float32")
    for layer in (ours, theirs):
        layer(inputs, training=True)
    for a, b in zip(ours.weights, theirs.weights):  # the moving statistics
        np.testing.assert_allclose(np.asarray(a.value), np.asarray(b.value), rtol=1e-5)
    assert_same_outputs(ours, theirs, inputs)


@pytest.mark.skipif(backend() != "tensorflow", reason="the fused kernels are TensorFlow's")
def test_batch_norm_runs_tensorflows_fused_kernel_with_kerass_gradient():
    import tensorflow as tf

    ours, theirs = batch_norms(momentum=0.6, epsilon=1e-12, scale=False)
    rng = np.random.default_rng(3)
    inputs = (3 * rng.normal(size=(8, 6, 6, 5)) + 2).astype("float32")
    weights = rng.normal(size=inputs.shape).astype("float32")
    results = [
        values_and_gradient(
            lambda t, layer=layer: layer(t, training=True),
            inputs,
            weights,
            layer.trainable_variables,
        )
        for layer in (ours, theirs)
    ]
    assert len(results[0]) == 3
    for a, b in zip(*results):  # outputs, then the gradients to the inputs and to beta
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    graph = tf.function(lambda t: ours(t, training=True)).get_concrete_function(inputs).graph
    assert "FusedBatchNormV3" in {op.type for op in graph.get_operations()}


@pytest.mark.skipif(backend() != "tensorflow", reason="the fused kernels are TensorFlow's")
def test_batch_norm_in_bfloat16_runs_the_fused_kernel_and_computes_kerass_result():
    # Under mixed_bfloat16 (chapter 9d on a CPU where bfloat16 is faster) the kernel takes
    # the bfloat16 activations and keeps its statistics in float32, as Keras's layer does.
    import tensorflow as tf

    ours, theirs = batch_norms(momentum=0.6, epsilon=1e-3, dtype="mixed_bfloat16")
    rng = np.random.default_rng(4)
    inputs = (3 * rng.normal(size=(8, 6, 6, 5)) + 2).astype("float32")
    weights = rng.normal(size=inputs.shape).astype("float32")
    results = [
        values_and_gradient(
            lambda t, layer=layer: tf.cast(layer(t, training=True), "float32"),
            inputs,
            weights,
            layer.trainable_variables,
        )
        for layer in (ours, theirs)
    ]
    assert len(results[0]) == 4
    # The outputs (bfloat16: 8 bits), then the gradients to the inputs, gamma and beta.
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-2, atol=5e-2)
    for a, b in zip(ours.weights, theirs.weights):  # the moving statistics, in float32
        assert a.dtype == b.dtype == "float32"
        np.testing.assert_allclose(np.asarray(a.value), np.asarray(b.value), rtol=1e-5)
    assert ours(inputs, training=True).dtype == "bfloat16"
    graph = tf.function(lambda t: ours(t, training=True)).get_concrete_function(inputs).graph
    fused = [op for op in graph.get_operations() if op.type == "FusedBatchNormV3"]
    assert [op.get_attr("T") for op in fused] == [tf.bfloat16]


def test_batch_norm_with_renorm_is_kerass():
    # Batch renormalization (Keras 3.11 and later) is not what the fused kernel computes.
    if "renorm" not in keras.layers.BatchNormalization.__init__.__code__.co_varnames:
        pytest.skip("this Keras has no batch renormalization")
    ours, theirs = fast.BatchNorm(renorm=True), keras.layers.BatchNormalization(renorm=True)
    inputs = (3 * np.random.default_rng(6).normal(size=(8, 6, 6, 5)) + 2).astype("float32")
    assert_same_outputs(ours, theirs, inputs, trainings=(True,))
    plain = keras.ops.convert_to_numpy(keras.layers.BatchNormalization()(inputs, training=True))
    assert not np.allclose(keras.ops.convert_to_numpy(ours(inputs, training=True)), plain)


@pytest.mark.parametrize("shape, axis", [((16, 5), -1), ((8, 5, 6, 6), 1)])
def test_batch_norm_off_the_fused_path_is_kerass(shape, axis):
    # 2-D inputs, or channels on axis 1: not the fused kernel's case, Keras's layer runs.
    ours, theirs = fast.BatchNorm(axis=axis), keras.layers.BatchNormalization(axis=axis)
    inputs = (3 * np.random.default_rng(6).normal(size=shape) + 2).astype("float32")
    assert_same_outputs(ours, theirs, inputs)
    # With a mask, the statistics of the positions it keeps (never the fused kernel).
    mask = np.arange(shape[0]) % 3 > 0
    mask = np.broadcast_to(mask.reshape(-1, *[1] * (len(shape) - 2)), inputs.shape[:-1])
    assert_same_outputs(ours, theirs, inputs, trainings=(True,), mask=mask)
    # In training, every channel comes out with mean 0.
    trained = keras.ops.convert_to_numpy(ours(inputs, training=True))
    others = tuple(i for i in range(len(shape)) if i != axis % len(shape))
    assert np.abs(trained.mean(axis=others)).max() < 1e-4


def test_sgd_settings_match_airbench():
    # airbench94: lr = 11.5 / kilostep per summed loss, kilostep = 1024 * (1 + 1/0.15);
    # PyTorch weight_decay = wd / lr with wd = 0.0153 * 1024 / kilostep.
    kilostep = 1024 * (1 + 1 / 0.15)
    torch_lr = 11.5 / kilostep
    shrink = 0.0153 * 1024 / kilostep
    settings = fast.FastRecipe().sgd_settings()
    assert settings["learning_rate"] == pytest.approx(torch_lr * 1024)  # mean, not sum
    # shrink per step: lr * l2 (Keras, mean loss) == torch lr * (wd / lr) (summed loss)
    assert settings["learning_rate"] * settings["l2"] == pytest.approx(shrink)
    assert settings["bias_learning_rate"] == pytest.approx(64 * settings["learning_rate"])
    assert settings["bias_learning_rate"] * settings["bias_l2"] == pytest.approx(shrink)


def test_recipe_rejects_bad_settings():
    with pytest.raises(ValueError, match="flip must be 'alternating', 'random' or 'none'"):
        fast.FastRecipe(flip="sometimes")
    for widths in ((8, 8), (8, 2.5, 8)):
        with pytest.raises(TypeError, match="Received: widths"):
            fast.FastRecipe(widths=widths)
    assert fast.FastRecipe(widths=[8, 16, 16]).widths == (8, 16, 16)
    # Each of these once crashed later, in training (momentum 0: no momentum buffer;
    # 1: a division by zero in sgd_settings; translate -1: an empty crop).
    bad = {
        "epochs": [0, -1.0, float("nan"), float("inf")],
        "batch_size": [0, 2.5, True],
        "learning_rate": [0.0, -1.0],
        "momentum": [0.0, 1.0, -0.1, 1.5],
        "weight_decay": [-0.01],
        "bias_scaler": [0.0],
        "label_smoothing": [1.0, -0.1],
        "batchnorm_momentum": [1.0],
        "scaling_factor": [0.0],
        "whiten_bias_epochs": [-1, 1.5],
        "translate": [-1, 1.5],
        "tta_level": [3, -1],
    }
    for name, values in bad.items():
        for value in values:
            with pytest.raises(ValueError, match=rf"^{name} must"):
                fast.FastRecipe(**{name: value})
    # The boundaries of the open ranges, just inside; every test-time augmentation level.
    for name in ("epochs", "learning_rate", "bias_scaler", "scaling_factor"):
        assert getattr(fast.FastRecipe(**{name: 0.5}), name) == 0.5
    assert [fast.FastRecipe(tta_level=level).tta_level for level in (0, 1, 2)] == [0, 1, 2]
    for name in ("whiten", "dirac", "lookahead"):
        with pytest.raises(TypeError, match=name):
            fast.FastRecipe(**{name: "yes"})
    with pytest.raises(TypeError, match="momentum"):
        fast.FastRecipe(momentum="0.9")
    for momentum in (0.0, 1.0):
        with pytest.raises(ValueError, match=r"^momentum must lie in \(0.0, 1.0\)"):
            fast.FastSGD(0.1, momentum=momentum, l2=0.0)
    assert fast.FastSGD(0.1, momentum=0.999, l2=0.0).momentum == 0.999


def test_triangular_schedule():
    schedule = fast.TriangularSchedule(2.0, total_steps=100)
    value = lambda step: float(keras.ops.convert_to_numpy(schedule(step)))  # noqa: E731
    assert value(0) == pytest.approx(0.4)
    assert value(23) == pytest.approx(2.0)
    assert value(100) == pytest.approx(0.14)
    assert value(10) == pytest.approx(0.4 + 1.6 * 10 / 23, rel=1e-5)
    # Past the last step the rate holds its last value, as np.interp would.
    assert [value(101), value(150), value(10_000)] == pytest.approx([0.14] * 3)


def test_triangular_schedule_of_few_steps():
    # 2 steps is the fewest; the warm-up takes at least one step.
    for total in (2, 4):
        schedule = fast.TriangularSchedule(1.0, total)
        rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(total)]
        assert rates[0] == pytest.approx(0.2) and rates[1] == pytest.approx(1.0)


def test_triangular_schedule_settings_and_config():
    schedule = fast.TriangularSchedule(2.0, 100, warmup_fraction=0.3, start=0.1, end=0.05)
    config = schedule.get_config()
    assert config == {
        "peak": 2.0,
        "total_steps": 100,
        "warmup_fraction": 0.3,
        "start": 0.1,
        "end": 0.05,
    }
    clone = fast.TriangularSchedule.from_config(config)
    steps = [0, 15, 30, 65, 100]
    expected = [0.2, 0.2 + 1.8 * 15 / 30, 2.0, 2.0 - 1.9 * 35 / 70, 0.1]
    for rule in (schedule, clone):
        values = [float(keras.ops.convert_to_numpy(rule(step))) for step in steps]
        assert values == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="total_steps"):
        fast.TriangularSchedule(1.0, 1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((1.0, 1), "total_steps must be an int of at least 2. Received: total_steps=1"),
        ((1.0, 10.5), "total_steps must be an int of at least 2. Received: total_steps=10.5"),
        ((0.0, 10), r"peak must lie in \(0, inf\). Received: peak=0.0"),
        ((1.0, 10, 1.0), r"warmup_fraction must lie in \[0, 1\). Received: warmup_fraction=1.0"),
        ((1.0, 10, -0.1), r"warmup_fraction must lie in \[0, 1\)"),
    ],
)
def test_triangular_schedule_checks_its_settings_as_its_numpy_twin(arguments, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        fast.TriangularSchedule(*arguments)
    assert fast.TriangularSchedule(1.0, 2, warmup_fraction=0.0).total_steps == 2


def test_fast_sgd_steps_as_pytorch_nesterov_with_l2():
    weight = keras.Variable(np.array([1.0, -2.0], dtype="float32"))
    scaled = keras.Variable(np.array([0.5], dtype="float32"))
    stopped = keras.Variable(np.array([3.0], dtype="float32"))
    optimizer = fast.FastSGD(
        0.1,
        momentum=0.9,
        l2=0.01,
        scaled_variables=[scaled],
        scale=10.0,
        scaled_l2=0.001,
        stop_after=[(stopped, 2)],
    )
    variables = [weight, scaled, stopped]
    gradient = [
        np.array([0.3, 0.1], "float32"),
        np.array([0.2], "float32"),
        np.array([1.0], "float32"),
    ]
    # PyTorch's SGD(nesterov=True, weight_decay): g += wd * w; b = m * b + g; w -= lr * (g + m * b)
    expected = [keras.ops.convert_to_numpy(v).astype(np.float64) for v in variables]
    buffers = [np.zeros_like(e) for e in expected]
    settings = [(0.1, 0.01), (1.0, 0.001), (0.1, 0.01)]
    for step in range(4):
        optimizer.apply(gradient, variables)
        for i, (lr, l2) in enumerate(settings):
            if i == 2 and step >= 2:
                continue  # stopped after 2 steps
            g = gradient[i] + l2 * expected[i]
            buffers[i] = 0.9 * buffers[i] + g
            expected[i] = expected[i] - lr * (g + 0.9 * buffers[i])
        for variable, value in zip(variables, expected):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), value, rtol=1e-5)


def test_fast_sgd_defaults_give_scaled_variables_the_plain_step():
    plain = keras.Variable(np.array([1.0, -2.0]), dtype="float32")
    scaled = keras.Variable(np.array([1.0, -2.0]), dtype="float32")
    optimizer = fast.FastSGD(0.1, momentum=0.9, l2=0.01, scaled_variables=[scaled], name="fast")
    assert optimizer.name == "fast" and optimizer.get_config()["nesterov"] is True
    gradient = keras.ops.convert_to_tensor(np.array([0.5, 0.25]), "float32")
    for _ in range(3):
        optimizer.apply_gradients([(gradient, plain), (gradient, scaled)])
    # scale 1 and scaled_l2 0 by default: the same learning rate, no L2
    without_l2 = fast.FastSGD(0.1, momentum=0.9, l2=0.0)
    reference = keras.Variable(np.array([1.0, -2.0]), dtype="float32")
    for _ in range(3):
        without_l2.apply_gradients([(gradient, reference)])
    np.testing.assert_allclose(np.asarray(scaled.value), np.asarray(reference.value), rtol=1e-6)
    assert not np.allclose(np.asarray(plain.value), np.asarray(scaled.value))
    before = np.asarray(plain.value).copy()
    optimizer.finish_lookahead()  # without a lookahead: nothing to copy
    np.testing.assert_array_equal(np.asarray(plain.value), before)


def test_fast_sgd_keeps_pytorchs_buffer_under_a_changing_learning_rate():
    """Under airbench's triangular schedule Keras's velocity (v = m v - lr g) and
    PyTorch's buffer (b = m b + g, step lr (g + m b)) differ; FastSGD is PyTorch's."""
    schedule = fast.TriangularSchedule(0.5, total_steps=20)
    rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(20)]
    weight = keras.Variable(np.array([1.0, -2.0, 0.5], dtype="float32"))
    optimizer = fast.FastSGD(schedule, momentum=0.85, l2=0.01)
    gradients = np.random.default_rng(4).normal(size=(20, 3)).astype("float32")
    torch_form = weight.numpy().astype(np.float64)
    keras_form = torch_form.copy()
    buffer, velocity = np.zeros(3), np.zeros(3)
    for lr, gradient in zip(rates, gradients):
        optimizer.apply([gradient], [weight])
        g = gradient + 0.01 * torch_form
        buffer = 0.85 * buffer + g
        torch_form = torch_form - lr * (g + 0.85 * buffer)
        g = gradient + 0.01 * keras_form
        velocity = 0.85 * velocity - lr * g
        keras_form = keras_form + 0.85 * velocity - lr * g
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weight), torch_form, rtol=1e-5)
    assert np.abs(keras_form - torch_form).max() > 1e-3  # the test can tell them apart


def test_lookahead_inside_the_optimizer_equals_the_callback():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(160, 6)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, 160), 3)

    def trained(inside):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
        lookahead = fast.Lookahead(total_steps=20, every=5)
        optimizer = fast.FastSGD(
            0.1, momentum=0.9, l2=0.01, lookahead=lookahead if inside else None
        )
        model.compile(
            optimizer=optimizer,
            loss="categorical_crossentropy",
            steps_per_execution=4 if inside and backend() != "torch" else 1,
        )
        callbacks = [] if inside else [lookahead]
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
        optimizer.finish_lookahead() if inside else lookahead.finish()
        return [keras.ops.convert_to_numpy(w) for w in model.weights]

    inside, callback = trained(True), trained(False)
    for a, b in zip(inside, callback):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_lookahead_decay_grows_as_the_cube_of_progress():
    lookahead = fast.Lookahead(total_steps=200)
    assert lookahead.every == 5 and lookahead.max_decay == pytest.approx(0.95**5)
    for step in (0, 50, 100, 200):
        assert lookahead.decay(step) == pytest.approx(0.95**5 * (step / 200) ** 3)
    for step in (201, 300, 10_000):  # held at the last step's: never above max_decay
        assert float(lookahead.decay(step)) == pytest.approx(0.95**5)
        held = lookahead.decay(keras.ops.convert_to_tensor(float(step)))  # FastSGD's way
        assert float(keras.ops.convert_to_numpy(held)) == pytest.approx(0.95**5)


def test_lookahead_pulls_weights_to_the_average():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign(np.ones((2, 1), "float32"))
    lookahead = fast.Lookahead(total_steps=10, every=5)
    lookahead.set_model(model)
    lookahead.on_train_begin()
    model.layers[0].kernel.assign(np.full((2, 1), 3.0, "float32"))
    lookahead.pull(decay=0.75)  # average: 1 + 0.25 * (3 - 1) = 1.5
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), 1.5)
    model.layers[0].kernel.assign(np.full((2, 1), 5.0, "float32"))
    lookahead.finish()  # decay 1: the weights take the average, untouched by them
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), 1.5)


def test_flips_alternate_between_epochs():
    images = np.random.default_rng(0).random((50, 4, 4, 1))
    augment = fast.FlipTranslate(images, translate=0, flip="alternating", seed=0)
    first, second, third = (augment.epoch(e) for e in range(3))
    np.testing.assert_array_equal(second, first[:, :, ::-1])
    np.testing.assert_array_equal(third, first)
    flipped = [not np.array_equal(f, i) for f, i in zip(first, images)]
    assert 10 < sum(flipped) < 40  # a random half starts flipped
    for f, i in zip(first, images):
        assert np.array_equal(f, i) or np.array_equal(f, i[:, ::-1])


def test_flip_translate_defaults_are_airbenchs_and_keep_the_dtype():
    images = np.random.default_rng(3).random((6, 8, 8, 3)).astype(np.float32)
    default = fast.FlipTranslate(images)
    explicit = fast.FlipTranslate(images, translate=2, flip="alternating", seed=0)
    for epoch in range(3):
        view = default.epoch(epoch)
        assert view.dtype == np.float32 and view.shape == images.shape
        np.testing.assert_array_equal(view, explicit.epoch(epoch))


def test_translations_are_crops_of_the_reflected_image():
    images = np.random.default_rng(1).random((40, 6, 6, 2))
    augment = fast.FlipTranslate(images, translate=2, flip="none", seed=0)
    shifted = augment.epoch(0)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    offsets = set()
    for image, pad in zip(shifted, padded):
        found = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if np.array_equal(image, pad[dy : dy + 6, dx : dx + 6])
        ]
        assert found
        offsets.add(found[0])
    assert len(offsets) > 10


def views_of(method, images, flip, epochs, seed=0):
    """The augmented views of ``images`` in each of ``epochs``, made on the host
    (FlipTranslate) or in the compiled step's layer (AugmentedImages)."""
    if method == "host":
        augment = fast.FlipTranslate(images, translate=2, flip=flip, seed=seed)
        return [augment.epoch(epoch) for epoch in range(epochs)]
    layer = fast.AugmentedImages(images, translate=2, flip=flip, seed=seed)
    views = []
    for epoch in range(epochs):
        layer.start_epoch(epoch)
        indices = np.arange(len(images), dtype="int32")
        views.append(keras.ops.convert_to_numpy(layer(indices, training=True)))
    return views


def identify(view, image):
    """(row shift, column shift, mirrored) of ``view`` as a view of ``image``."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)), mode="reflect")
    found = [
        (dy, dx, mirrored)
        for mirrored in (False, True)
        for dy in range(5)
        for dx in range(5)
        if np.array_equal(
            view, (padded[:, ::-1] if mirrored else padded)[dy : dy + height, dx : dx + width]
        )
    ]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("method", ["host", "device"])
@pytest.mark.parametrize("flip", ["alternating", "random"])
def test_both_pipelines_draw_the_same_distribution_of_views(method, flip):
    """Every view is one crop of the reflected image, mirrored or not; the 25 shifts are
    equally likely; flips alternate (each image both ways round in every two epochs) or
    are fresh coins. The same checks for the NumPy reference and the in-step layer."""
    images = np.random.default_rng(6).normal(size=(400, 8, 8, 2)).astype("float32")
    epochs = 4
    found = np.array(
        [
            [identify(view, image) for view, image in zip(views, images)]
            for views in views_of(method, images, flip, epochs)
        ]
    )  # (epochs, images, 3)
    shifts = found[..., 0] * 5 + found[..., 1]
    counts = np.bincount(shifts.ravel(), minlength=25)
    expected = shifts.size / 25
    chi_square = ((counts - expected) ** 2 / expected).sum()
    assert chi_square < 51.2, counts  # 24 degrees of freedom, p = 0.001
    mirrored = found[..., 2].astype(bool)
    changed = (mirrored[1:] != mirrored[:-1]).mean()
    assert 0.4 < mirrored[0].mean() < 0.6
    if flip == "alternating":
        assert changed == 1.0
    else:
        assert 0.4 < changed < 0.6 and 0.4 < mirrored.mean() < 0.6


@pytest.mark.parametrize("flip", ["alternating", "random", "none"])
def test_both_pipelines_show_the_same_views_for_the_same_seed(flip):
    """Each image's view is drawn per image and epoch, so the in-step layer shows
    FlipTranslate's views exactly, whatever order or batches the indices come in."""
    images = np.random.default_rng(10).normal(size=(50, 8, 8, 3)).astype("float32")
    host = fast.FlipTranslate(images, translate=2, flip=flip, seed=4)
    layer = fast.AugmentedImages(images, translate=2, flip=flip, seed=4)
    order = np.random.default_rng(11).permutation(50)
    for epoch in range(3):
        layer.start_epoch(epoch)
        halves = [
            layer(order[:20].astype("int32"), training=True),
            layer(order[20:].astype("int32"), training=True),
        ]
        device = np.concatenate([keras.ops.convert_to_numpy(half) for half in halves])
        np.testing.assert_array_equal(device, host.epoch(epoch, order))


def test_augmented_images_outside_training_are_the_images():
    images = np.random.default_rng(7).normal(size=(10, 8, 8, 3)).astype("float32")
    layer = fast.AugmentedImages(images, flip="none")
    looked_up = keras.ops.convert_to_numpy(layer(np.array([3, 1], "int32")))
    np.testing.assert_array_equal(looked_up, images[[3, 1]])
    with pytest.raises(ValueError, match="translate"):
        fast.AugmentedImages(images, translate=8)
    with pytest.raises(ValueError, match=r"^translate must"):
        fast.AugmentedImages(images, translate=-1)
    message = r"^flip must be 'alternating', 'random' or 'none'\. Received: flip='sometimes'$"
    for augmentation in (fast.AugmentedImages, fast.FlipTranslate):
        with pytest.raises(ValueError, match=message):
            augmentation(images, flip="sometimes")


def test_augmented_images_shape_and_lookup_after_an_epoch_starts():
    images = np.random.default_rng(7).normal(size=(10, 8, 8, 3)).astype("float32")
    layer = fast.AugmentedImages(images)
    assert layer.compute_output_shape((None,)) == (None, 8, 8, 3)
    layer.start_epoch(0)
    indices = np.array([3, 1, 4], "int32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(indices)), images[indices])
    # call's own default, which Keras passes when no training is given
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.call(indices)), images[indices])
    augmented = keras.ops.convert_to_numpy(layer(indices, training=True))
    assert not np.array_equal(augmented, images[indices])


def shifted_by_hand(images, step):
    """Each pixel (i, j) taken from (i + step, j + step), reflected at the border."""
    size = images.shape[1]

    def reflect(k):
        return -k if k < 0 else 2 * (size - 1) - k if k > size - 1 else k

    out = np.empty_like(images)
    for i in range(size):
        for j in range(size):
            out[:, i, j] = images[:, reflect(i + step), reflect(j + step)]
    return out


def linear_model(outputs):
    """4x4 one-channel images, flattened, times a (16, outputs) kernel: no bias."""
    return keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(outputs, use_bias=False),
        ]
    )


def test_predict_tta_level_2_averages_six_views_in_one_pass():
    # A linear model: its logit is a fixed weighting of the pixels, so that every view
    # (mirror, shift) changes it in a known way.
    weights = np.random.default_rng(8).normal(size=(16, 2)).astype("float32")
    model = linear_model(2)
    model.layers[-1].kernel.assign(weights)
    images = np.random.default_rng(9).random((5, 4, 4, 1)).astype("float32")

    def logits(views):
        return views.reshape(len(views), 16).astype(np.float64) @ weights

    def mirror_mean(views):
        return 0.5 * (logits(views) + logits(views[:, :, ::-1]))

    expected = 0.5 * mirror_mean(images) + 0.25 * (
        mirror_mean(shifted_by_hand(images, -1)) + mirror_mean(shifted_by_hand(images, 1))
    )
    calls = []
    predict = model.predict
    model.predict = lambda *args, **kwargs: calls.append(1) or predict(*args, **kwargs)
    levels = fast.predict_tta_levels(model, images)
    assert len(calls) == 6  # not 1 + 2 + 6
    np.testing.assert_allclose(levels[2], expected, rtol=1e-5)
    np.testing.assert_allclose(levels[1], mirror_mean(images), rtol=1e-5)
    np.testing.assert_allclose(levels[0], logits(images), rtol=1e-5)
    for level in (0, 1, 2):
        np.testing.assert_allclose(fast.predict_tta(model, images, level), levels[level])
    assert not np.allclose(levels[2], levels[1], rtol=1e-3)  # the shifts count


def test_predict_tta_defaults_batches_and_prints_nothing(capsys):
    model = linear_model(2)
    images = np.random.default_rng(3).random((7, 4, 4, 1)).astype("float32")
    sizes = []
    predict = model.predict
    model.predict = lambda views, **options: (
        sizes.append(options["batch_size"]) or predict(views, **options)
    )
    levels = fast.predict_tta_levels(model, images, batch_size=3)
    assert sizes == [3] * 6 and all(z.dtype == np.float64 for z in levels.values())
    default = fast.predict_tta(model, images)
    np.testing.assert_allclose(default, levels[2], rtol=1e-6)  # level 2 by default
    fast.predict_tta_levels(model, images, levels=(0,))
    fast.predict_tta(model, images, 0, batch_size=5)
    assert sizes[6:] == [1000] * 6 + [1000, 5]  # the default batch, and one given
    assert capsys.readouterr().out == ""


def test_predict_tta_levels():
    # A model that sums pixels times a left-right ramp: not mirror-invariant.
    ramp = np.linspace(-1, 1, 4).reshape(1, 4, 1)
    model = linear_model(1)
    model.layers[-1].kernel.assign(
        np.broadcast_to(ramp, (4, 4, 1)).reshape(16, 1).astype("float32")
    )
    images = np.random.default_rng(2).random((3, 4, 4, 1)).astype("float32")
    plain = (images * ramp).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(fast.predict_tta(model, images, 0)[:, 0], plain, rtol=1e-5)
    np.testing.assert_allclose(fast.predict_tta(model, images, 1)[:, 0], 0, atol=1e-5)
    with pytest.raises(ValueError, match="level"):
        fast.predict_tta(model, images, 3)


def test_fast_result_counts_the_right_answers_at_each_level():
    # A linear model that is not mirror-invariant; labels chosen so that level 0 is
    # right on every image and the other levels, which average other views, are not.
    weights = np.random.default_rng(4).normal(size=(16, 3)).astype("float32")
    model = linear_model(3)
    model.layers[-1].kernel.assign(weights)
    images = np.random.default_rng(5).random((40, 4, 4, 1)).astype("float32")
    logits = fast.predict_tta_levels(model, images)
    labels = list(logits[0].argmax(axis=1))
    result = fast.FastResult(model=model, history=[], seconds=0.0, recipe=fast.FastRecipe())
    accuracies = result.accuracies(images, labels)
    assert accuracies == {
        level: pytest.approx(np.mean(z.argmax(axis=1) == labels)) for level, z in logits.items()
    }
    assert accuracies[0] == 1.0 and accuracies[1] < 1.0 and accuracies[2] < 1.0
    assert result.accuracy(images, labels, tta_level=0) == 1.0
    assert result.accuracy(images, labels) == accuracies[2]  # the recipe's level
    assert result.accuracies(images, labels, levels=(1,)) == {1: accuracies[1]}


@pytest.mark.parametrize("pipeline", ["device", "host"])
def test_train_fast_runs_and_learns_a_separable_task(pipeline):
    rng = np.random.default_rng(0)
    labels = np.arange(2048) % 10
    images = rng.normal(size=(2048, 32, 32, 3)).astype("float32") * 0.1
    images[np.arange(2048), 3 * labels + 2, :, 0] += 3.0  # the class sets which row is bright
    recipe = fast.FastRecipe(epochs=3.5, batch_size=256, widths=(8, 16, 16))
    lines = []
    result = fast.train_fast(images, labels, recipe, seed=0, log=lines.append, pipeline=pipeline)
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3, 4]
    assert len(lines) == 4 and lines[0].startswith("epoch  1/4")
    assert result.steps == 28  # 8 steps per epoch, 3.5 epochs
    accuracies = result.accuracies(images[:512], labels[:512])
    assert accuracies[2] == result.accuracy(images[:512], labels[:512]) > 0.3  # 3x chance


@pytest.mark.skipif(backend() != "tensorflow", reason="the freeze is TensorFlow's")
def test_freezing_the_settled_whitening_layer_changes_no_number(monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(1024, 32, 32, 3)).astype("float32")
    labels = np.arange(1024) % 10
    # 4 steps an epoch; the bias stops after 4 and settles at the pull after step 5.
    recipe = fast.FastRecipe(epochs=3, batch_size=256, widths=(8, 8, 8), whiten_bias_epochs=1)
    assert training._whitening_settles(recipe, 4, fast.Lookahead(12)) == 5

    def weights_after_training():
        result = fast.train_fast(images, labels, recipe, log=None, steps_per_execution=2)
        whiten = result.model.get_layer("whiten")
        return whiten.trainable, [keras.ops.convert_to_numpy(w) for w in result.model.weights]

    frozen, weights = weights_after_training()
    monkeypatch.setattr(training, "_whitening_settles", lambda *arguments: None)
    trained, expected = weights_after_training()
    assert (frozen, trained) == (False, True)
    for ours, theirs in zip(weights, expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(backend() == "torch", reason="XLA compiles the JAX and TensorFlow steps")
def test_train_fast_with_and_without_xla_trains_the_same(monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(512, 32, 32, 3)).astype("float32")
    labels = np.arange(512) % 10
    recipe = fast.FastRecipe(epochs=2, batch_size=256, widths=(8, 8, 8), whiten_bias_epochs=1)
    compiled_with = []
    compile_model = keras.Model.compile

    def compile_spy(model, *arguments, **settings):
        compiled_with.append(settings["jit_compile"])
        return compile_model(model, *arguments, **settings)

    monkeypatch.setattr(keras.Model, "compile", compile_spy)
    weights = {}
    for jit_compile in (True, False):
        result = fast.train_fast(images, labels, recipe, log=None, jit_compile=jit_compile)
        weights[jit_compile] = [keras.ops.convert_to_numpy(w) for w in result.model.weights]
    assert compiled_with == [True, False]
    for xla, plain in zip(weights[True], weights[False]):
        np.testing.assert_allclose(xla, plain, rtol=1e-4, atol=1e-5)


def test_training_step_trains_train_fasts_step_on_one_batch():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 32, 32, 3)).astype("float32")
    labels = np.arange(64) % 10
    recipe = fast.FastRecipe(batch_size=16, widths=(8, 8, 8))
    step = fast.training_step(images, labels, recipe)
    trainer = step.trainer
    assert isinstance(trainer.layers[0], fast.AugmentedImages)
    assert isinstance(trainer.optimizer, fast.FastSGD) and trainer.optimizer.lookahead
    assert trainer.optimizer.lookahead.total_steps == 40  # 4 steps an epoch, 9.9 epochs
    np.testing.assert_array_equal(step.args[0], np.arange(16))  # the first batch, each time
    np.testing.assert_array_equal(step.args[1].argmax(axis=1), labels[:16])
    model = trainer.layers[1]
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    loss, accuracy = step()
    step()
    assert int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)) == 2
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))
    with pytest.raises(ValueError, match="at least one batch"):
        fast.training_step(images[:8], labels[:8], recipe)
    with pytest.raises(ValueError, match="^seed must be a whole number"):
        fast.training_step(images, labels, recipe, seed=-1)


def test_training_step_past_its_schedule_trains_at_the_last_rate():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(32, 32, 32, 3)).astype("float32")
    recipe = fast.FastRecipe(batch_size=16, widths=(8, 8, 8))
    step = fast.training_step(images, np.arange(32) % 10, recipe, total_steps=2)
    for _ in range(6):  # 6 steps of a schedule of 2: as a timing loop may run
        loss, _ = step()
    optimizer = step.trainer.optimizer
    last = recipe.sgd_settings()["learning_rate"] * 0.07  # the schedule's end
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    assert rate == pytest.approx(last, rel=1e-5) and np.isfinite(loss)


def test_training_step_whitens_on_the_sample_that_train_fast_draws(monkeypatch):
    from cnnbook.keras.fast_training import training

    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 32, 32, 3)).astype("float32")
    labels = np.arange(64) % 10
    recipe = fast.FastRecipe(batch_size=16, widths=(8, 8, 8), epochs=0.25)
    whitened_on = []

    def network(recipe, whitening_images, seed):
        whitened_on.append(whitening_images)
        return fast.fast_cnn(recipe, whitening_images=whitening_images, seed=seed)

    fast.train_fast(images, labels, recipe, seed=3, log=None, network=network)
    monkeypatch.setattr(training, "fast_cnn", network)
    fast.training_step(images, labels, recipe, seed=3)
    in_train_fast, in_training_step = whitened_on
    np.testing.assert_array_equal(in_training_step, in_train_fast)
    assert not np.array_equal(in_train_fast, images)  # a random sample, not the first ones


def test_train_fast_rejects_bad_input():
    with pytest.raises(ValueError, match="32, 32, 3"):
        fast.train_fast(np.zeros((10, 28, 28, 1)), np.zeros(10))
    with pytest.raises(ValueError, match="at least one batch"):
        fast.train_fast(np.zeros((10, 32, 32, 3)), np.zeros(10))
    with pytest.raises(ValueError, match="whitening_images"):
        fast.fast_cnn(fast.FastRecipe())
    images = np.zeros((1024, 32, 32, 3))
    with pytest.raises(ValueError, match="pipeline"):
        fast.train_fast(images, np.zeros(1024), pipeline="gpu")
    with pytest.raises(ValueError, match="steps_per_execution"):
        fast.train_fast(images, np.zeros(1024), steps_per_execution=0)
    with pytest.raises(ValueError, match="jit_compile"):
        fast.train_fast(images, np.zeros(1024), jit_compile="yes")


def test_recorded_runs_ship_with_the_package():
    runs = fast.recorded_runs()
    studies = ("record", "grid", "ablation")
    assert {run["study"] for run in runs} == set(studies)
    for study in studies:
        chosen = fast.recorded_runs(study)
        assert chosen and all(run["study"] == study for run in chosen)
    assert sum(len(fast.recorded_runs(study)) for study in studies) == len(runs)
    ablation = fast.recorded_runs("ablation")
    assert ablation[0]["label"] == "whole recipe"
    seeds = {}
    for run in ablation:
        seeds.setdefault(run["label"], []).append(run["seed"])
    assert len(seeds) == 8 and all(sorted(s) == [0, 1, 2] for s in seeds.values())  # chapter 9d
    assert fast.recorded_runs("grid")[0]["label"] == "64-256-256, 9.9 epochs"
    assert all(0.85 < run["accuracy"]["tta2"] < 0.95 for run in runs)
    with pytest.raises(FileNotFoundError, match="'nothing'"):
        fast.recorded_runs(name="nothing")


def ablation_runs():
    """Rows as the benchmark writes them, seed by seed: three arms, 3, 2 and 1 seeds."""
    rows = [
        ("whole recipe", 0.90), ("no lookahead", 0.88), ("random flips", 0.905),
        ("whole recipe", 0.91), ("no lookahead", 0.89),
        ("whole recipe", 0.92),
    ]  # fmt: skip
    return [
        {"label": label, "accuracy": {"tta0": accuracy - 0.01, "tta2": accuracy}}
        for label, accuracy in rows
    ]


def test_ablation_summary_averages_each_arm_over_its_seeds():
    whole, lookahead, flips = fast.ablation_summary(ablation_runs())
    assert [whole["label"], lookahead["label"], flips["label"]] == [
        "whole recipe",
        "no lookahead",
        "random flips",
    ]
    assert lookahead["accuracies"] == [0.88, 0.89]
    assert whole["mean"] == pytest.approx(0.91) and lookahead["mean"] == pytest.approx(0.885)
    # One standard error of a mean, in points: stdev / sqrt(seeds).
    assert whole["error"] == pytest.approx(100 * 0.01 / np.sqrt(3))
    assert lookahead["error"] == pytest.approx(0.5)  # 0.707 / sqrt(2)
    assert flips["error"] is None  # a single run has no spread
    assert whole["difference"] == 0 and whole["difference_error"] is None
    assert lookahead["difference"] == pytest.approx(-2.5)
    assert lookahead["difference_error"] == pytest.approx(np.hypot(0.5, whole["error"]))
    assert flips["difference"] == pytest.approx(-0.5) and flips["difference_error"] is None
    tta0 = fast.ablation_summary(ablation_runs(), level="tta0")
    assert [arm["mean"] for arm in tta0] == pytest.approx([0.90, 0.875, 0.895])
    with pytest.raises(ValueError, match="level must be 'tta0', 'tta1' or 'tta2'"):
        fast.ablation_summary(ablation_runs(), level=2)
    with pytest.raises(ValueError, match="no runs"):
        fast.ablation_summary([])


def test_ablation_summary_of_the_recorded_runs_compares_each_with_the_whole_recipe():
    runs = fast.recorded_runs("ablation")
    arms = fast.ablation_summary(runs)
    labels = list(dict.fromkeys(run["label"] for run in runs))
    assert [arm["label"] for arm in arms] == labels and labels[0] == "whole recipe"
    means = {
        label: np.mean([run["accuracy"]["tta2"] for run in runs if run["label"] == label])
        for label in labels
    }
    for arm in arms:
        assert arm["mean"] == pytest.approx(means[arm["label"]])
        assert arm["difference"] == pytest.approx(100 * (arm["mean"] - means["whole recipe"]))


def test_ablation_summary_of_a_single_arm_is_the_reference_alone():
    (arm,) = fast.ablation_summary([{"label": "whole recipe", "accuracy": {"tta2": 0.9}}])
    assert arm["difference"] == 0 and arm["difference_error"] is None and arm["error"] is None
