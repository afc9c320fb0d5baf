"""cnnbook.keras.models.tutorial_cnn: the tutorial's network, compiled as it meant."""

import numpy as np
import pytest

from cnnbook.keras.models import tutorial_cnn


def test_tutorial_cnn_has_the_tutorials_layers_and_parameters(tf):
    model = tutorial_cnn()
    assert model.count_params() == 3_702_186
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "Dropout", "Conv2D", "MaxPooling2D", "Flatten", "Dense",
                     "Dropout", "Dense"]  # fmt: skip
    assert model.output_shape == (None, 10)
    assert model.loss == "categorical_crossentropy"
    assert float(model.optimizer.momentum) == 0.5


def test_its_schedule_is_the_old_decay_rule_step_by_step(tf):
    import keras

    config = tutorial_cnn().optimizer.get_config()["learning_rate"]
    schedule = keras.optimizers.schedules.deserialize(config)
    assert type(schedule).__name__ == "InverseTimeDecay"
    for step in range(0, 5000, 250):
        old_rule = 0.01 / (1 + 0.0004 * step)  # Keras 2: SGD(lr=0.01, decay=0.0004)
        assert float(schedule(step)) == pytest.approx(old_rule, rel=1e-6)


def test_the_optimizer_applies_the_decayed_rate(tf):
    import keras

    model = tutorial_cnn()
    x = np.zeros((4, 32, 32, 3), "float32")
    y = keras.utils.to_categorical([0, 1, 2, 3], 10)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 2
    expected = 0.01 / (1 + 0.0004 * 2)
    assert float(model.optimizer.learning_rate) == pytest.approx(expected, rel=1e-6)


def test_improved_cnn_variants_and_argument_checks(tf):

    from cnnbook.keras.models import improved_cnn

    model = improved_cnn()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:3] == ["RandomFlip", "RandomTranslation", "Normalization"]
    assert kinds.count("Conv2D") == 6 and kinds.count("BatchNormalization") == 6
    assert model.count_params() == 289_642
    assert "GlobalAveragePooling2D" in kinds and "Flatten" not in kinds
    plain = improved_cnn(augment=False, batch_norm=False, head="dense")
    plain_kinds = [type(layer).__name__ for layer in plain.layers]
    assert "BatchNormalization" not in plain_kinds and "RandomFlip" not in plain_kinds
    assert plain_kinds[-4:] == ["Flatten", "Dense", "Dense", "Activation"]
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    # augmentation is off at inference: the same images give the same answers
    np.testing.assert_allclose(model(images, training=False), model(images, training=False))
    probabilities = model.predict(images, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    for widths in ((32, 64), (32, 2.5, 128)):
        with pytest.raises(TypeError, match="Received: widths"):
            improved_cnn(widths=widths)
    with pytest.raises(ValueError, match="Received: widths"):
        improved_cnn(widths=(32, 0, 128))
    with pytest.raises(ValueError, match="Received: head"):
        improved_cnn(head="flatten")


def test_improved_cnn_docstring_counts_what_the_model_holds(tf):
    from cnnbook.architecture import trace
    from cnnbook.keras.models import improved_cnn

    model = improved_cnn()
    rows = trace(model)
    # Batch normalization holds four numbers per channel; two are running statistics.
    statistics = sum(row.parameters // 2 for row in rows if row.kind == "BatchNormalization")
    assert statistics == sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    text = " ".join(improved_cnn.__doc__.split())
    parameters = sum(row.parameters for row in rows)
    assert f"{parameters:,} parameters ({statistics:,} of them batch normalization's" in text


def test_augmentation_layers_are_seeded_reproducibly_and_idle_at_inference(tf):
    import keras

    from cnnbook.keras.models import augmentation_layers

    flip, shift = augmentation_layers(seed=1)
    assert (flip.seed, shift.seed) == (1, 2)
    assert (shift.height_factor, shift.fill_mode, shift.interpolation) == (
        2 / 32,
        "reflect",
        "nearest",
    )
    image = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)

    def versions(seed):
        augment = keras.Sequential(augmentation_layers(seed=seed))
        return np.stack([augment(image, training=True)[0] for _ in range(4)])

    np.testing.assert_array_equal(versions(1), versions(1))
    assert not np.array_equal(versions(1)[0], versions(1)[1])  # each call draws anew
    augment = keras.Sequential(augmentation_layers(seed=1))
    np.testing.assert_array_equal(augment(image, training=False), image)


def test_output_layers_stay_float32_under_mixed_precision(tf):
    import keras

    from cnnbook.keras.models import improved_cnn

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        for model in (tutorial_cnn(compile=False), improved_cnn()):
            assert model.layers[1].compute_dtype == "float16"
            assert model.layers[-1].compute_dtype == "float32"
            output = model(np.zeros((1, 32, 32, 3), dtype=np.float32))
            assert output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_tutorial_cnn_layers_have_the_tutorials_settings(tf):
    import keras

    model = tutorial_cnn(compile=False)
    assert model.name == "tutorial_cnn" and model.input_shape == (None, 32, 32, 3)
    conv1, dropout1, conv2, pool, _, dense, dropout2, output = model.layers
    for conv, padding in ((conv1, "same"), (conv2, "valid")):
        assert (conv.filters, conv.kernel_size, conv.padding) == (32, (3, 3), padding)
    assert (dropout1.rate, dropout2.rate) == (0.2, 0.3)
    assert pool.pool_size == (2, 2) and (dense.units, output.units) == (512, 10)
    activations = [keras.activations.serialize(layer.activation)
                   for layer in (conv1, conv2, dense, output)]  # fmt: skip
    assert activations == ["relu", "relu", "relu", "softmax"]
    # 32x32 ("same") -> 30x30 ("valid") -> 15x15 (pooled): 7,200 inputs to Dense(512)
    shapes = [tuple(layer.output.shape)[1:] for layer in model.layers]
    assert shapes == [(32, 32, 32), (32, 32, 32), (30, 30, 32), (15, 15, 32), (7200,), (512,),
                      (512,), (10,)]  # fmt: skip


def test_tutorial_cnn_is_compiled_with_accuracy_only_when_asked(tf):
    config = tutorial_cnn().get_compile_config()
    assert (config["loss"], config["metrics"]) == ("categorical_crossentropy", ["accuracy"])
    assert not tutorial_cnn(compile=False).compiled


def test_augmentation_flips_left_to_right_only_and_shifts_by_2_pixels(tf):
    from cnnbook.keras.models import augmentation_layers

    flip, shift = augmentation_layers(seed=0)
    assert (shift.height_factor, shift.width_factor) == (2 / 32, 2 / 32)
    image = np.arange(4 * 6, dtype=np.float32).reshape(1, 4, 6, 1)  # no symmetry
    mirror = image[:, :, ::-1]
    outputs = [flip(image, training=True).numpy() for _ in range(16)]
    assert all(np.array_equal(out, image) or np.array_equal(out, mirror) for out in outputs)
    assert any(np.array_equal(out, image) for out in outputs)
    assert any(np.array_equal(out, mirror) for out in outputs)


def test_improved_cnn_has_the_blocks_and_head_the_book_describes(tf):
    from cnnbook.keras.models import improved_cnn

    widths = (8, 16, 24)
    for batch_norm, head in ((True, "global"), (False, "dense")):
        model = improved_cnn(widths, augment=False, batch_norm=batch_norm, head=head)
        assert model.name == "improved_cnn" and model.input_shape == (None, 32, 32, 3)
        norm = ["BatchNormalization"] if batch_norm else []
        block = ["Conv2D", "MaxPooling2D", *norm, "ReLU", "Conv2D", *norm, "ReLU"]
        top = ["GlobalAveragePooling2D"] if head == "global" else ["Flatten", "Dense"]
        kinds = [type(layer).__name__ for layer in model.layers]
        assert kinds == ["Normalization", *block * 3, *top, "Dense", "Activation"]
        convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
        assert [conv.filters for conv in convs] == [8, 8, 16, 16, 24, 24]
        for conv in convs:  # batch normalization makes a convolution's bias redundant
            assert conv.kernel_size == (3, 3) and conv.padding == "same"
            assert conv.use_bias == (not batch_norm)
        pools = [layer for layer in model.layers if type(layer).__name__ == "MaxPooling2D"]
        assert all((pool.pool_size, pool.strides) == ((2, 2), (2, 2)) for pool in pools)
        # each block's first convolution is pooled: 32x32 -> 16x16 -> 8x8 -> 4x4
        assert [tuple(pool.output.shape) for pool in pools] == [
            (None, 16, 16, 8),
            (None, 8, 8, 16),
            (None, 4, 4, 24),
        ]
        norms = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
        assert all(layer.momentum == 0.9 for layer in norms)
    hidden, output, softmax = model.layers[-3:]  # the dense head
    assert (hidden.units, hidden.activation.__name__, output.units) == (512, "relu", 10)
    assert softmax.activation.__name__ == "softmax"


def test_improved_cnn_dense_head_parameter_count(tf):
    from cnnbook.keras.models import improved_cnn

    w1, w2, w3 = 8, 16, 24
    model = improved_cnn((w1, w2, w3), augment=False, batch_norm=False, head="dense")
    pairs = [(3, w1), (w1, w1), (w1, w2), (w2, w2), (w2, w3), (w3, w3)]
    convs = sum(3 * 3 * c_in * c_out + c_out for c_in, c_out in pairs)  # with biases
    flat = 4 * 4 * w3  # three 2x2 poolings of 32x32
    assert model.count_params() == convs + (flat * 512 + 512) + (512 * 10 + 10)


def test_improved_cnn_normalizes_with_the_cifar10_mean_and_std(tf):
    from cnnbook.datasets import CIFAR10_MEAN, CIFAR10_STD
    from cnnbook.keras.models import improved_cnn

    model = improved_cnn()
    (normalization,) = [layer for layer in model.layers if type(layer).__name__ == "Normalization"]
    mean, std = np.array(CIFAR10_MEAN, "float32"), np.array(CIFAR10_STD, "float32")
    pixels = np.stack([mean, mean + std, mean - 2 * std]).reshape(1, 1, 3, 3)
    expected = np.array([[0, 0, 0], [1, 1, 1], [-2, -2, -2]], "float32").reshape(1, 1, 3, 3)
    np.testing.assert_allclose(normalization(pixels), expected, atol=1e-5)


def test_improved_cnn_logits_are_float32_under_mixed_precision(tf):
    import keras

    from cnnbook.keras.models import improved_cnn

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = improved_cnn(augment=False)
        logits, softmax = model.layers[-2:]
        assert model.layers[1].compute_dtype == "float16"  # the convolutions: float16
        assert (logits.compute_dtype, softmax.compute_dtype) == ("float32", "float32")
    finally:
        keras.mixed_precision.set_global_policy("float32")
