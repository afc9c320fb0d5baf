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
