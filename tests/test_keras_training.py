"""cnnbook.keras.training: CIFAR-10 subsets and seeded training runs, on small made-up data."""

import numpy as np
import pytest

from cnnbook.keras.training import (
    cifar10_subsets,
    predict_with_flip,
    random_batch_step,
    train_and_evaluate,
)


def test_subsets_are_disjoint_scaled_and_checked(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path, rng, per_class=3)  # 30 training and 30 test images
    data = cifar10_subsets(20, 10, 5, source=tmp_path)
    assert [len(data[part][0]) for part in ("train", "validation", "test")] == [20, 10, 5]
    images, _ = data["train"]
    assert images.dtype == np.float32 and 0.0 <= images.min() and images.max() <= 1.0
    train_rows = {row.tobytes() for row in data["train"][0]}
    assert not any(row.tobytes() in train_rows for row in data["validation"][0])
    with pytest.raises(ValueError, match="asked for 25 \\+ 10 training"):
        cifar10_subsets(25, 10, 5, source=tmp_path)


def tiny_classifier():
    """A compiled softmax classifier of 4x4x3 images into 2 classes, seeded alike."""
    import keras

    keras.utils.set_random_seed(1)
    network = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")]
    )
    network.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return network


def test_train_and_evaluate_is_seeded_and_reports(tf, rng):
    x = rng.random((64, 4, 4, 3)).astype("float32")
    y = rng.integers(0, 2, size=64)
    data = {"train": (x[:40], y[:40]), "validation": (x[40:52], y[40:52]), "test": (x[52:], y[52:])}

    first = train_and_evaluate(tiny_classifier(), data, 3)
    second = train_and_evaluate(tiny_classifier(), data, 3)
    assert first["epochs_run"] == 3 and first["parameters"] == 98
    assert set(first["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert first["history"]["loss"] == second["history"]["loss"]
    assert 0 <= first["test_accuracy"] <= 1 and first["model"].count_params() == 98
    without_test = {name: pair for name, pair in data.items() if name != "test"}
    assert train_and_evaluate(tiny_classifier(), without_test, 1)["test_accuracy"] is None


def test_tf_data_pipeline_scales_shuffles_reproducibly_and_batches(tf, rng):
    from cnnbook.datasets import validation_split
    from cnnbook.keras.training import make_dataset

    images = rng.integers(0, 256, size=(10, 4, 4, 3), dtype=np.uint8)
    labels = np.arange(10)
    batches = list(make_dataset(images, labels, batch_size=4, num_classes=10))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    np.testing.assert_allclose(batches[0][0].numpy(), images[:4] / 255.0, rtol=1e-6)
    assert batches[0][1].shape == (4, 10)
    first = [y.numpy().tolist() for _, y in make_dataset(images, labels, 10, shuffle=True, seed=3)]
    second = [y.numpy().tolist() for _, y in make_dataset(images, labels, 10, shuffle=True, seed=3)]
    assert first == second and sorted(first[0]) == list(range(10)) and first[0] != list(range(10))
    with pytest.raises(ValueError, match="images must be uint8"):
        make_dataset(images.astype("float32"), labels, 4)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        make_dataset(images, labels, 0)
    assert make_dataset(images, labels, 4).options().autotune.enabled is False
    (x_train, _), (x_validation, _) = validation_split(images, labels, 0.3)
    assert len(x_train) == 7 and len(x_validation) == 3
    with pytest.raises(ValueError, match="fraction must be in"):
        validation_split(images, labels, 0)


def test_epoch_logger_prints_one_short_line_per_chosen_epoch(tf, rng, capsys):
    import keras

    from cnnbook.keras.training import epoch_logger

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = rng.random((8, 3)).astype("float32"), rng.integers(0, 2, 8)
    model.fit(x, y, epochs=5, verbose=0, callbacks=[epoch_logger(5, every=2)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["2/5", "4/5", "5/5"]
    assert "loss" in lines[0] and lines[0].endswith("s)")
    with pytest.raises(ValueError, match="every must be >= 1"):
        epoch_logger(5, every=0)


# ---- the "beyond the tutorial" recipe --------------------------------------------------


def test_warmup_cosine_schedule_rises_then_falls_to_zero(tf):
    from cnnbook.keras.training import warmup_cosine_schedule

    schedule = warmup_cosine_schedule(0.4, total_steps=50, warmup_fraction=0.2)
    rates = np.array([float(schedule(step)) for step in range(51)])
    peak = int(np.argmax(rates))
    assert peak == 10 and np.isclose(rates[peak], 0.4)
    assert np.all(np.diff(rates[: peak + 1]) > 0) and np.all(np.diff(rates[peak:]) < 0)
    assert rates[0] == 0 and abs(rates[-1]) < 1e-7
    with pytest.raises(ValueError, match="peak_learning_rate must be positive"):
        warmup_cosine_schedule(0.0, 10)
    with pytest.raises(ValueError, match="warmup_fraction"):
        warmup_cosine_schedule(0.1, 10, warmup_fraction=1.0)


def test_sgd_warmup_cosine_decays_kernels_but_not_batch_norm_or_biases(tf):
    import keras

    from cnnbook.keras.training import sgd_warmup_cosine

    model = keras.Sequential(
        [keras.Input(shape=(3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()]
    )
    for weight in model.trainable_weights:  # biases and beta too: decay would move them
        weight.assign(np.full(weight.shape, 0.5, "float32"))
    before = [weight.numpy().copy() for weight in model.trainable_weights]
    optimizer = sgd_warmup_cosine(0.5, total_steps=4, warmup_fraction=0.0, weight_decay=0.1)
    assert optimizer.nesterov and optimizer.momentum == 0.9
    zeros = [np.zeros_like(weight) for weight in before]
    optimizer.apply_gradients(zip(zeros, model.trainable_weights))  # only the decay acts
    after = [weight.numpy() for weight in model.trainable_weights]
    names = [weight.path for weight in model.trainable_weights]
    for name, old, new in zip(names, before, after):
        if name.endswith("kernel"):
            np.testing.assert_allclose(new, old * (1 - 0.5 * 0.1), rtol=1e-6)
        else:
            np.testing.assert_array_equal(new, old)


def test_predict_with_flip_averages_an_image_and_its_mirror(tf):
    import keras

    # a "model" that reports how bright the left half of the image is
    model = keras.Sequential(
        [keras.Input(shape=(2, 4, 1)), keras.layers.Lambda(lambda x: x[:, 0, :2, 0])]
    )
    images = np.array([[[1, 0, 0, 3], [0, 0, 0, 0]]], dtype=np.float32)[..., None]
    dataset = tf.data.Dataset.from_tensor_slices((images, [0])).batch(1)
    np.testing.assert_allclose(predict_with_flip(model, dataset), [[2.0, 0.0]])


# ---- found by mutation testing (make mutation-keras) -----------------------------------


def test_subsets_default_seed_whole_test_set_and_integer_pixels(tmp_path, rng, make_image_tree):
    make_image_tree(tmp_path, rng, per_class=3)
    default = cifar10_subsets(12, 6, 30, source=tmp_path)  # all 30 test images may be asked
    seeded = cifar10_subsets(12, 6, 30, seed=0, source=tmp_path)
    other = cifar10_subsets(12, 6, 30, seed=1, source=tmp_path)
    for part in ("train", "validation", "test"):
        np.testing.assert_array_equal(default[part][0], seeded[part][0])
    assert not np.array_equal(default["train"][0], other["train"][0])
    pixels = default["train"][0] * 255  # scaled by 255: whole numbers again
    np.testing.assert_allclose(pixels, np.round(pixels), atol=1e-4)
    with pytest.raises(ValueError, match="and 31 test images"):
        cifar10_subsets(12, 6, 31, source=tmp_path)


def test_train_and_evaluate_passes_its_settings_to_keras(tf, rng, capsys):
    import keras

    x = rng.random((96, 4, 4, 3)).astype("float32")
    y = rng.integers(0, 2, size=96)
    data = {"train": (x[:80], y[:80]), "validation": (x[80:88], y[80:88]), "test": (x[88:], y[88:])}

    class Batches(keras.callbacks.Callback):
        count = 0

        def on_train_batch_end(self, batch, logs=None):
            Batches.count += 1

    run = train_and_evaluate(tiny_classifier(), data, 2, batch_size=8, callbacks=[Batches()])
    assert Batches.count == 2 * 80 // 8  # 10 batches of 8 per epoch
    assert 0 < run["seconds"] < 60
    assert capsys.readouterr().out == ""  # fit and evaluate print nothing
    default = train_and_evaluate(tiny_classifier(), data, 2)  # batches of 64 and 16, seed 0
    explicit = train_and_evaluate(tiny_classifier(), data, 2, batch_size=64, seed=0)
    assert default["history"]["loss"] == explicit["history"]["loss"]
    assert default["history"]["loss"] != run["history"]["loss"]


def test_array_batches_without_tensorflow_scale_one_hot_and_reshuffle(rng, monkeypatch):
    """The pipeline JAX and PyTorch get (make_dataset there), run here directly."""
    from cnnbook.keras import training

    images = rng.integers(0, 256, size=(10, 4, 4, 3), dtype=np.uint8)
    labels = np.arange(10)
    monkeypatch.setattr(training, "backend", lambda: "jax")
    batches = training.make_dataset(images, labels, 4, num_classes=10)
    assert len(batches) == 3 and [len(batches[i][0]) for i in range(3)] == [4, 4, 2]
    first_images, first_labels = batches[0]
    assert first_images.dtype == np.float32
    np.testing.assert_allclose(first_images, images[:4] / 255.0, rtol=1e-6)
    assert first_labels.dtype == np.float32
    np.testing.assert_array_equal(first_labels, np.eye(10, dtype=np.float32)[:4])
    plain = training.make_dataset(images, labels, 4)
    np.testing.assert_array_equal(plain[2][1], [8, 9])

    def orders(**options):
        shuffled = training.make_dataset(images, labels, 10, shuffle=True, **options)
        epochs = [shuffled[0][1].tolist()]
        shuffled.on_epoch_end()
        return epochs + [shuffled[0][1].tolist()]

    default, seeded = orders(), orders(seed=0)
    assert default == seeded and default[0] != default[1]  # reshuffled each epoch
    assert sorted(default[0]) == list(range(10)) and default[0] != list(range(10))
    assert orders(seed=1) != default
    with pytest.raises(ValueError, match="^10 images but 9 labels$"):
        training.make_dataset(images, labels[:9], 4)


def test_tf_data_pipeline_reshuffles_each_epoch_from_seed_0(tf, rng):
    from cnnbook.keras.training import make_dataset

    images = rng.integers(0, 256, size=(10, 4, 4, 3), dtype=np.uint8)
    dataset = make_dataset(images, np.arange(10), 10, shuffle=True)
    epochs = [[y.numpy().tolist() for _, y in dataset] for _ in range(2)]
    assert epochs[0] != epochs[1]  # a new order each epoch
    seeded = make_dataset(images, np.arange(10), 10, shuffle=True, seed=0)
    assert [y.numpy().tolist() for _, y in seeded] == epochs[0]


def test_epoch_logger_line_format_defaults_and_bounds(capsys):
    from cnnbook.keras.training import epoch_logger

    logger = epoch_logger(4)  # every epoch by default
    for epoch in range(4):
        logger.on_epoch_begin(epoch)
        logger.on_epoch_end(epoch, {"loss": 1.5, "learning_rate": 0.1, "accuracy": 0.25})
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "epoch 3/4  loss 1.5000  accuracy 0.2500  (0 s)"
    assert len(lines) == 4
    every_third = epoch_logger(5, every=3)
    for epoch in range(5):
        every_third.on_epoch_begin(epoch)
        every_third.on_epoch_end(epoch, {"loss": 1.0})
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["3/5", "5/5"]
    epoch_logger(5, every=1)  # the smallest accepted
    with pytest.raises(ValueError, match="^every must be >= 1"):
        epoch_logger(5, every=0)


def test_warmup_cosine_schedule_defaults_and_shortest(tf):
    from cnnbook.keras.training import sgd_warmup_cosine, warmup_cosine_schedule

    default = warmup_cosine_schedule(0.4, total_steps=50)
    assert default.warmup_steps == 10 and default.alpha == 0.0  # 20% of the steps
    shortest = warmup_cosine_schedule(0.4, total_steps=1, warmup_fraction=0.0)
    assert float(shortest(0)) == pytest.approx(0.4) and float(shortest(1)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="^total_steps must be >= 1"):
        warmup_cosine_schedule(0.4, total_steps=0)
    optimizer = sgd_warmup_cosine(0.4, total_steps=50)
    assert optimizer.weight_decay == pytest.approx(5e-3)
    assert optimizer._learning_rate.warmup_steps == 10  # Keras keeps the schedule here
    half = sgd_warmup_cosine(0.4, total_steps=50, warmup_fraction=0.5)
    assert half._learning_rate.warmup_steps == 25


def test_schedule_values_checks_its_arguments(tf):
    from cnnbook.keras.training import schedule_values, warmup_cosine_schedule

    schedule = warmup_cosine_schedule(0.2, total_steps=10)
    assert schedule_values(schedule, 1).tolist() == [0.0]  # the fewest steps
    assert schedule_values(schedule, [0]).tolist() == [0.0]  # the first step
    with pytest.raises(TypeError, match="^schedule must be callable.*Received: schedule=0.1$"):
        schedule_values(0.1, 10)
    for count in (0, -3, True, 2.0):
        message = f"^steps must be a positive int. Received: steps={count}$"
        with pytest.raises(ValueError, match=message):
            schedule_values(schedule, count)
    for steps in (np.zeros(0, int), [2, -1], [0.0, 1.0], [[0, 1]]):
        message = "^steps must be a positive int or a non-empty 1-D array of ints >= 0"
        with pytest.raises(ValueError, match=message):
            schedule_values(schedule, steps)


def test_predict_with_flip_reads_a_pydataset_too(tf, rng, monkeypatch):
    import keras

    from cnnbook.keras import training

    model = keras.Sequential(
        [keras.Input(shape=(2, 4, 1)), keras.layers.Lambda(lambda x: x[:, 0, :2, 0])]
    )
    images = rng.integers(0, 256, size=(5, 2, 4, 1), dtype=np.uint8)
    expected = predict_with_flip(model, training.make_dataset(images, np.zeros(5, int), 2))
    monkeypatch.setattr(training, "backend", lambda: "jax")
    batches = training.make_dataset(images, np.zeros(5, int), 2)
    np.testing.assert_allclose(predict_with_flip(model, batches), expected)


def test_random_batch_step_trains_on_one_fixed_random_batch(tf):
    network = tiny_classifier()
    step = random_batch_step(network, batch_size=32)
    assert step.trainer is network
    inputs, labels = step.args
    assert inputs.shape == (32, 4, 4, 3) and inputs.dtype == np.float32
    # uniform in [0, 1), from seed 0 by default
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(inputs, rng.random((32, 4, 4, 3), dtype=np.float32))
    assert labels.shape == (32,) and set(labels.tolist()) == {0, 1}  # every class
    before = network.get_weights()[0].copy()
    step()
    assert not np.allclose(network.get_weights()[0], before)  # it trained
    other = random_batch_step(tiny_classifier(), batch_size=32, seed=1)
    assert not np.array_equal(other.args[0], inputs)


def test_random_batch_step_makes_one_hot_labels_and_checks_its_arguments(tf):
    import keras

    network = tiny_classifier()
    network.compile("sgd", "categorical_crossentropy")
    step = random_batch_step(network, batch_size=5, one_hot=True, seed=3)
    labels = step.args[1]
    assert labels.shape == (5, 2) and labels.dtype == np.float32
    sparse = random_batch_step(network, batch_size=5, seed=3).args[1]
    np.testing.assert_array_equal(labels, np.eye(2)[sparse])  # the same labels, one-hot
    step()
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        random_batch_step(network, batch_size=0)
    with pytest.raises(ValueError, match="seed must be a whole number"):
        random_batch_step(network, batch_size=4, seed=-1)
    uncompiled = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    message = (
        "^model must be a Keras model compiled with the optimizer and the loss the chapter "
        "trains with. Received: model=<"
    )
    with pytest.raises(ValueError, match=message):
        random_batch_step(uncompiled, batch_size=4)
    with pytest.raises(ValueError, match=message + "object object"):
        random_batch_step(object(), batch_size=4)  # not a Keras model at all
