"""cnnbook.nn against Keras (outputs, gradients, optimizer steps) and finite differences."""

import re
import sys

import numpy as np
import pytest

from cnnbook import gradient_check, nn
from cnnbook.nn import (
    SGD,
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    InverseTimeDecay,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)


@pytest.fixture
def keras(keras):
    """conftest's Keras, with its random draws seeded for each test."""
    keras.utils.set_random_seed(0)
    return keras


def architectures(keras):
    layers = keras.layers
    return {
        "digits": [
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ],
        "strides, valid, average pooling, tanh": [
            layers.Conv2D(8, (3, 2), strides=(2, 1), activation="tanh"),
            layers.AveragePooling2D(2, padding="same"),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(12, activation="sigmoid"),
            layers.Dense(5, activation="softmax"),
        ],
        "separate activation layers, no bias": [
            layers.Conv2D(4, 3, use_bias=False),
            layers.ReLU(),
            layers.MaxPooling2D(3, strides=1),
            layers.Flatten(),
            layers.Dense(7),
            layers.Activation("tanh"),
            layers.Dense(3, use_bias=False),
            layers.Softmax(),
        ],
    }


@pytest.mark.parametrize(
    "name",
    ["digits", "strides, valid, average pooling, tanh", "separate activation layers, no bias"],
)
def test_from_keras_predicts_and_differentiates_like_keras(tf, keras, rng, name):
    model = keras.Sequential([keras.Input(shape=(8, 8, 2)), *architectures(keras)[name]])
    ours = Sequential.from_keras(model)
    x = rng.random((12, 8, 8, 2)).astype("float32")
    y = rng.integers(0, model.output_shape[-1], size=12)
    assert ours.count_params() == model.count_params()
    np.testing.assert_allclose(ours.predict(x), model(x).numpy(), atol=1e-6)

    loss, gradients = ours.loss_and_gradients(x, y, training=False)
    with tf.GradientTape() as tape:
        keras_loss = keras.losses.SparseCategoricalCrossentropy()(y, model(x, training=False))
    keras_gradients = tape.gradient(keras_loss, model.trainable_weights)
    assert loss == pytest.approx(float(keras_loss), rel=1e-5)
    assert len(gradients) == len(keras_gradients)
    for ours_gradient, keras_gradient in zip(gradients, keras_gradients):
        np.testing.assert_allclose(ours_gradient, keras_gradient.numpy(), atol=1e-6)


LAYER_CASES = {
    "conv same relu": ([Conv2D(3, 3, padding="same", activation="relu")], (5, 5, 2)),
    "conv stride 2 valid": ([Conv2D(2, (2, 3), strides=2)], (6, 7, 1)),
    "max pool": ([Conv2D(2, 1), MaxPool2D(2)], (6, 6, 1)),
    "avg pool same": ([Conv2D(2, 1), AvgPool2D(3, strides=2, padding="same")], (5, 5, 1)),
    "sigmoid": ([Conv2D(2, 2, activation="sigmoid")], (4, 4, 1)),
    "tanh": ([Conv2D(2, 2), Tanh()], (4, 4, 1)),
    "relu layer": ([Conv2D(2, 2), ReLU()], (4, 4, 1)),
}


@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_every_layer_passes_a_gradient_check(rng, name):
    layers, input_shape = LAYER_CASES[name]
    model = Sequential(
        [*layers, Flatten(), Dense(4, activation="tanh"), Dense(3), Softmax()],
        input_shape,
        seed=1,
        dtype="float64",
    )
    x = rng.normal(size=(3, *input_shape))
    y = np.array([0, 2, 1])
    _, gradients = model.loss_and_gradients(x, y)
    for weight, gradient in zip(model.trainable_weights, gradients):

        def loss(values, weight=weight):
            saved = weight.copy()
            weight[...] = values
            value = model.loss_and_gradients(x, y)[0]
            weight[...] = saved
            return value

        assert gradient_check(loss, weight.copy(), gradient) < 1e-6, name


def test_dropout_is_inverted_and_off_at_inference(rng):
    layer = Dropout(0.25, seed=0)
    x = np.ones((200, 50))
    dropped = layer.forward(x, training=True)
    assert set(np.unique(dropped)) == {0.0, 1 / 0.75}
    assert abs(dropped.mean() - 1.0) < 0.02
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), dropped)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\). Received: rate=1"):
        Dropout(1)


def test_softmax_backward_is_its_jacobian(rng):
    layer = Softmax()
    x = rng.normal(size=(1, 4))
    probabilities = layer.forward(x)[0]
    jacobian = np.diag(probabilities) - np.outer(probabilities, probabilities)
    upstream = rng.normal(size=(1, 4))
    np.testing.assert_allclose(layer.backward(upstream)[0], jacobian @ upstream[0])
    assert Sigmoid().forward(np.array([-1000.0, 0.0, 1000.0])).tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_steps_equal_keras(tf, keras, rng, nesterov):
    weights = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    variables = [keras.Variable(w.astype("float32")) for w in weights]
    schedule = InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5)
    keras_schedule = keras.optimizers.schedules.InverseTimeDecay(0.1, 1, 0.5)
    ours = SGD(schedule, momentum=0.9, nesterov=nesterov)
    theirs = keras.optimizers.SGD(keras_schedule, momentum=0.9, nesterov=nesterov)
    weights = [w.astype("float32") for w in weights]
    for _ in range(4):
        gradients = [rng.normal(size=w.shape).astype("float32") for w in weights]
        ours.apply(weights, gradients)
        theirs.apply_gradients(zip(gradients, variables))
    for mine, variable in zip(weights, variables):
        np.testing.assert_allclose(mine, variable.numpy(), rtol=1e-5)


def test_inverse_time_decay_equals_keras_and_the_old_decay_rule(keras):
    ours = InverseTimeDecay(0.01, decay_steps=1, decay_rate=4e-4)
    theirs = keras.optimizers.schedules.InverseTimeDecay(0.01, 1, 4e-4)
    for step in (0, 1, 10, 1000, 12345):
        old_rule = 0.01 / (1 + 4e-4 * step)  # Keras 2's SGD(lr=0.01, decay=4e-4)
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-6)
        assert ours(step) == pytest.approx(old_rule)
    assert InverseTimeDecay(1.0, 10, 1.0, staircase=True)(19) == 0.5


def blobs(rng, count=300):
    """Three well-separated classes of 4x4 images."""
    y = rng.integers(0, 3, size=count)
    x = rng.normal(scale=0.3, size=(count, 4, 4, 1))
    x[np.arange(count), y, y, 0] += 3.0
    return x.astype("float32"), y


def small_model(seed=0):
    return Sequential(
        [Conv2D(4, 2, activation="relu"), Flatten(), Dense(3, activation="softmax")],
        (4, 4, 1),
        seed=seed,
    )


def test_fit_learns_and_reports_history(rng, capsys):
    x, y = blobs(rng)
    model = small_model()
    history = model.fit(
        x[:200], y[:200], epochs=5, batch_size=16, optimizer=SGD(0.1, momentum=0.9),
        validation_data=(x[200:], y[200:]),
    )  # fmt: skip
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["loss"]) == 5 and history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.95
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines[0].startswith("epoch 1/5  loss ")


def test_fit_is_reproducible_and_callbacks_can_stop_it(rng):
    x, y = blobs(rng)
    first, second = small_model(), small_model()
    run = {"epochs": 2, "optimizer": None, "seed": 3, "verbose": 0}
    first.fit(x, y, **run)
    second.fit(x, y, **run)
    for a, b in zip(first.trainable_weights, second.trainable_weights):
        np.testing.assert_array_equal(a, b)
    history = small_model().fit(x, y, epochs=10, verbose=0, callbacks=[lambda m, e, logs: e == 1])
    assert len(history["loss"]) == 2


def test_bad_input_is_reported(keras):
    with pytest.raises(ValueError, match="must end in a softmax"):
        Sequential([Flatten(), Dense(3)], (2, 2))
    with pytest.raises(ValueError, match="add a Flatten layer first"):
        Sequential([Dense(3, activation="softmax")], (2, 2))
    with pytest.raises(ValueError, match="activation must be one of"):
        Sequential([Flatten(), Dense(3, activation="gelu")], (2, 2))
    model = Sequential([Flatten(), Dense(3, activation="softmax")], (2, 2))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2, 2\)"):
        model.predict(np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        model.loss_and_gradients(np.zeros((2, 2, 2)), np.array([0, 3]))
    unsupported = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.BatchNormalization()])
    with pytest.raises(ValueError, match="does not support BatchNormalization"):
        Sequential.from_keras(unsupported)
    with pytest.raises(ValueError, match="momentum must be in"):
        SGD(momentum=1.0)


def test_an_out_of_range_label_is_reported_by_its_value():
    model = Sequential([Flatten(), Dense(3, activation="softmax")], (2, 2))
    for labels, received in (([-1, 0], -1), ([0, 3], 3), ([4, -2], 4)):
        message = rf"labels must be in \[0, 3\)\. Received: {received}$"
        with pytest.raises(ValueError, match=message):
            model.loss_and_gradients(np.zeros((2, 2, 2)), np.array(labels))


def unrepresentable(layers):
    """{argument: Keras layers whose argument the NumPy twin cannot represent}."""
    head = [layers.Flatten(), layers.Dense(3, activation="softmax")]
    return {
        "data_format": [layers.MaxPooling2D(2, data_format="channels_first"), *head],
        "noise_shape": [layers.Dropout(0.5, noise_shape=(None, 1, 1, 2)), *head],
        "dilation_rate": [layers.Conv2D(2, 2, dilation_rate=2), *head],
        "groups": [layers.Conv2D(2, 2, groups=2), *head],
        "kernel_regularizer": [layers.Flatten(), layers.Dense(3, kernel_regularizer="l2"),
                               layers.Softmax()],
        "bias_constraint": [layers.Flatten(), layers.Dense(3, bias_constraint="non_neg"),
                            layers.Softmax()],
        "max_value": [layers.ReLU(max_value=6.0), *head],
        "negative_slope": [layers.ReLU(negative_slope=0.1), *head],
        "axis": [layers.Flatten(), layers.Dense(3), layers.Softmax(axis=0)],
        "trainable": [layers.Flatten(), layers.Dense(3, activation="softmax", trainable=False)],
    }  # fmt: skip


@pytest.mark.parametrize(
    "argument",
    ["data_format", "noise_shape", "dilation_rate", "groups", "kernel_regularizer",
     "bias_constraint", "max_value", "negative_slope", "axis", "trainable"],
)  # fmt: skip
def test_from_keras_rejects_arguments_it_cannot_represent(keras, argument):
    stack = unrepresentable(keras.layers)[argument]
    model = keras.Sequential([keras.Input((4, 4, 2)), *stack])
    with pytest.raises(ValueError, match=rf"cannot represent .*\b{argument}="):
        Sequential.from_keras(model)


@pytest.mark.parametrize("training", [False, True])
def test_regularizing_layers_pass_a_gradient_check(rng, training):
    from cnnbook.nn import DropConnectDense, StochasticPool2D

    pool = StochasticPool2D(2, seed=0)
    dense = DropConnectDense(4, rate=0.5, activation="tanh", seed=0)
    model = Sequential(
        [Conv2D(3, 2, activation="relu"), pool, Flatten(), dense, Dense(3, activation="softmax")],
        (5, 5, 1),
        seed=2,
        dtype="float64",
    )
    x = rng.normal(size=(4, 5, 5, 1))
    y = np.array([0, 1, 2, 1])

    def loss_and_gradients():
        # The same draws every time, so that the loss is a function of the weights.
        pool.rng, dense.rng = np.random.default_rng(1), np.random.default_rng(2)
        return model.loss_and_gradients(x, y, training=training)

    _, gradients = loss_and_gradients()
    for weight, gradient in zip(model.trainable_weights, gradients):

        def loss(values, weight=weight):
            saved = weight.copy()
            weight[...] = values
            value = loss_and_gradients()[0]
            weight[...] = saved
            return value

        assert gradient_check(loss, weight.copy(), gradient) < 1e-6


def test_dropconnect_layer_equals_its_numpy_reference(rng):
    # StochasticPool2D is tested against loops instead: it calls stochastic_pool2d itself.
    from cnnbook.nn import DropConnectDense
    from cnnbook.regularization import dropconnect_dense

    dense = DropConnectDense(3, rate=0.4, seed=7)
    dense.build((5,), rng)
    inputs = rng.normal(size=(4, 5))
    expected = dropconnect_dense(inputs, *dense.weights, rate=0.4, rng=np.random.default_rng(7))
    np.testing.assert_allclose(dense.forward(inputs, training=True), expected)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        DropConnectDense(3, rate=1.0)


# ---- defects found in review, each with its test ---------------------------------------


@pytest.mark.parametrize("rate", [1.5, -0.1, "0.5", None, True])
def test_rates_are_checked_as_keras_checks_them(rate):
    message = rf"^rate must be in \[0, 1\)\. Received: rate={re.escape(repr(rate))}$"
    for make in (lambda: nn.Dropout(rate), lambda: nn.DropConnectDense(3, rate)):
        with pytest.raises(ValueError, match=message):
            make()
    assert nn.Dropout(np.float32(0.25)).rate == 0.25


def test_dropout_and_dropconnect_keep_float32():
    x = np.ones((4, 6), dtype=np.float32)
    assert nn.Dropout(0.5, seed=0).forward(x, training=True).dtype == np.float32
    layer = nn.DropConnectDense(3, 0.5, seed=0)
    layer.build((6,), np.random.default_rng(0))
    layer.weights = [weight.astype(np.float32) for weight in layer.weights]
    assert layer.forward(x, training=True).dtype == np.float32
    layer.backward(np.ones((4, 3), dtype=np.float32))
    assert all(gradient.dtype == np.float32 for gradient in layer.gradients)


def test_fit_seed_reaches_layers_without_a_seed_of_their_own(rng):
    x, y = rng.random((32, 4, 4, 1)), rng.integers(0, 2, 32)

    def train():
        model = nn.Sequential(
            [nn.Flatten(), nn.Dense(8, "relu"), nn.Dropout(0.5), nn.Dense(2, "softmax")],
            input_shape=(4, 4, 1),
        )
        return model.fit(x, y, epochs=2, batch_size=8, seed=3, verbose=0)["loss"]

    assert train() == train()


def test_fit_calls_every_callback_even_after_one_asks_to_stop(rng):
    model = nn.Sequential([nn.Flatten(), nn.Dense(2, "softmax")], input_shape=(2, 2))
    calls = []

    def stop(model, epoch, logs):
        calls.append(("stop", epoch))
        return True

    def record(model, epoch, logs):
        calls.append(("record", epoch))

    model.fit(rng.random((8, 2, 2)), np.arange(8) % 2, epochs=3, verbose=0,
              callbacks=[stop, record])  # fmt: skip
    assert calls == [("stop", 0), ("record", 0)]


def test_summary_leaves_the_cached_activations_alone(rng):
    model = nn.Sequential(
        [nn.Conv2D(2, (3, 3), activation="relu"), nn.Flatten(), nn.Dense(2, "softmax")],
        input_shape=(5, 5, 1),
    )
    model.loss_and_gradients(rng.random((4, 5, 5, 1)), np.array([0, 1, 0, 1]))
    cached = [step.input for step in model.layers if hasattr(step, "input")]
    model.summary()
    assert all(
        now is before
        for now, before in zip([s.input for s in model.layers if hasattr(s, "input")], cached)
    )


def _stochastic_pool_loops(x, pool_size, stride, padding):
    """{(b, i, j, c): the window's cells, negatives as 0}, window by window, written out
    without cnnbook ("same" pads as TensorFlow: the odd zero after)."""
    pool_size = (pool_size, pool_size) if isinstance(pool_size, int) else pool_size
    stride = (stride, stride) if isinstance(stride, int) else stride or pool_size
    starts, out = [], []
    for n, k, s in zip(x.shape[1:3], pool_size, stride):
        count = -(-n // s) if padding == "same" else (n - k) // s + 1
        before = max((count - 1) * s + k - n, 0) // 2 if padding == "same" else 0
        starts.append([i * s - before for i in range(count)])
        out.append(count)
    windows = {}
    for b, i, j, c in np.ndindex(x.shape[0], *out, x.shape[-1]):
        top, left = starts[0][i], starts[1][j]
        cells = [
            x[b, row, column, c] if 0 <= row < x.shape[1] and 0 <= column < x.shape[2] else 0.0
            for row in range(top, top + pool_size[0])
            for column in range(left, left + pool_size[1])
        ]  # padding cells are zeros
        windows[b, i, j, c] = np.maximum(cells, 0.0)
    return windows, tuple(out)


@pytest.mark.parametrize(
    ("pool_size", "stride", "padding"), [(2, None, "valid"), ((2, 3), 2, "same"), (3, 1, "valid")]
)
def test_stochastic_pool2d_layer_against_loops(rng, pool_size, stride, padding):
    # An independent reference, window by window (not through cnnbook's own functions):
    # at inference the expectation sum a_i^2 / sum a_j, in training a draw of each cell
    # with probability a_i / sum a_j. The values are distinct, so a drawn value names its cell.
    x = rng.uniform(-1.0, 3.0, size=(2, 5, 6, 2))
    x[0, :3, :3, 0] = -1.0  # windows of negatives only: 0, at inference and in training
    windows, out = _stochastic_pool_loops(x, pool_size, stride, padding)
    pool = nn.StochasticPool2D(pool_size, stride, padding, seed=3)
    inference = pool.forward(x, training=False)
    assert inference.shape == (2, *out, 2)
    draws = 4000
    training = pool.forward(np.repeat(x, draws, axis=0), training=True)
    training = training.reshape(2, draws, *out, 2)
    for (b, i, j, c), cells in windows.items():
        total = cells.sum()
        expected = (cells**2).sum() / total if total > 0 else 0.0
        assert inference[b, i, j, c] == pytest.approx(expected)
        drawn = training[b, :, i, j, c]
        if total == 0:
            assert np.all(drawn == 0.0)
            continue
        probabilities = cells / total
        frequencies = np.array([np.mean(drawn == cell) for cell in cells])
        assert frequencies.sum() == pytest.approx(1.0)  # every draw is one of the cells
        bound = 4.5 * np.sqrt(probabilities * (1 - probabilities) / draws) + 1e-9
        assert np.all(np.abs(frequencies - probabilities) <= bound), (b, i, j, c)


def test_poolings_are_siblings_not_kinds_of_max_pooling():
    assert not issubclass(nn.AvgPool2D, nn.MaxPool2D)
    assert not issubclass(nn.StochasticPool2D, nn.MaxPool2D)
    assert repr(nn.AvgPool2D(3)) == "AvgPool2D(3)"


def test_pooling_layers_default_to_2x2_windows_side_by_side():
    for layer in (nn.MaxPool2D(), nn.AvgPool2D()):
        assert layer.build((5, 4, 3), None) == (2, 2, 3)  # "valid": the last row is left out


def test_integer_arguments_accept_numpy_integers_and_reject_bools():
    import cnnbook

    assert nn.Conv2D(np.int64(3), np.int64(2)).kernel_size == (2, 2)
    assert nn.Dense(np.int64(4)).units == 4
    for make in (lambda: nn.Conv2D(True, 3), lambda: nn.Dense(True)):
        with pytest.raises(ValueError, match="must be a positive int. Received: .*=True"):
            make()
    x = np.ones((1, 5, 5, 1))
    assert cnnbook.conv2d(x, np.ones((3, 3, 1, 1)), stride=np.int64(2)).shape == (1, 2, 2, 1)
    with pytest.raises(TypeError, match="stride must be an int"):
        cnnbook.conv2d(x, np.ones((3, 3, 1, 1)), stride=True)


# ---- what mutation testing (tools/mutation.py) found untested ------------------------------


def test_softmax_backward_is_each_rows_jacobian_whatever_the_batch_shape(rng):
    layer = Softmax()
    x = rng.normal(size=(2, 3, 4))  # a softmax over the channels of a 2-D map, say
    probabilities = layer.forward(x)
    upstream = rng.normal(size=(2, 3, 4))
    result = layer.backward(upstream)
    for index in np.ndindex(2, 3):
        row = probabilities[index]
        jacobian = np.diag(row) - np.outer(row, row)
        np.testing.assert_allclose(result[index], jacobian @ upstream[index])


def test_layers_without_arguments_show_their_name():
    assert [repr(layer) for layer in (ReLU(), Flatten(), Softmax())] == [
        "ReLU()",
        "Flatten()",
        "Softmax()",
    ]


def test_summary_is_a_table_of_steps_shapes_and_parameters():
    model = Sequential(
        [Conv2D(2, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(3, "softmax")],
        (6, 6, 1),
    )
    assert model.summary() == (
        "layer                                 output shape      parameters\n"
        "Conv2D(2, (3, 3), padding='valid')    (4, 4, 2)                 20\n"
        "ReLU()                                (4, 4, 2)                  0\n"
        "MaxPool2D(2)                          (2, 2, 2)                  0\n"
        "Flatten()                             (8,)                       0\n"
        "Dense(3)                              (3,)                      27\n"
        "Softmax()                             (3,)                       0\n"
        "total                                                           47"
    )


def test_fit_draws_a_progress_bar_on_a_terminal(rng, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    model = Sequential([Flatten(), Dense(2, "softmax")], input_shape=(2, 2))
    model.fit(rng.random((8, 2, 2)), np.arange(8) % 2, epochs=2, batch_size=4)
    frames = capsys.readouterr().out.split("\r")
    bar = "=" * 15 + " " * 15
    assert frames[:3] == ["", f"epoch 1/2 [{bar}]", f"epoch 1/2 [{'=' * 30}]"]
    assert frames[3].startswith("epoch 1/2  loss ") and frames[3].endswith(" s)\n")
    assert frames[4:6] == [f"epoch 2/2 [{bar}]", f"epoch 2/2 [{'=' * 30}]"]
    assert frames[6].startswith("epoch 2/2  loss ") and len(frames) == 7


def _flat_model():
    return Sequential([Flatten(), Dense(3, "softmax")], (2, 2))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nn.activation("gelu"),
         "activation must be one of ['relu', 'sigmoid', 'softmax', 'tanh'] or None. "
         "Received: 'gelu'"),
        (lambda: Sequential([Dense(3, "softmax")], (2, 2)),
         "Dense needs flat inputs (add a Flatten layer first). Received: input_shape=(2, 2)"),
        (lambda: Sequential([Flatten(), Dense(3)], (2, 2)),
         "the last layer must end in a softmax (e.g. Dense(10, activation='softmax')): "
         "the loss is softmax cross-entropy"),
        (lambda: _flat_model().set_weights([np.zeros((4, 3))]),
         "expected 2 weight arrays, received 1"),
        (lambda: _flat_model().set_weights([np.zeros((4, 3)), np.zeros(4)]),
         "weight of shape (3,) cannot take shape (4,)"),
        (lambda: _flat_model().predict(np.zeros((1, 3, 3))),
         "x must have shape (batch, 2, 2). Received: x.shape=(1, 3, 3)"),
        (lambda: _flat_model().loss_and_gradients(np.zeros((2, 2, 2)), np.zeros(3, int)),
         "y must have shape (2,). Received: (3,)"),
        (lambda: Conv2D(0, 3), "filters must be a positive int. Received: filters=0"),
        (lambda: Conv2D(2, 2.0), "kernel_size must be an int or a sequence of 2 ints. "
                                 "Received: kernel_size=2.0"),
        (lambda: Dense(2.0), "units must be a positive int. Received: units=2.0"),
        (lambda: Dropout(-0.5), "rate must be in [0, 1). Received: rate=-0.5"),
    ],
)  # fmt: skip
def test_nn_error_messages_word_for_word(call, message):
    with pytest.raises((ValueError, TypeError)) as raised:
        call()
    assert str(raised.value) == message


def test_dropout_is_off_by_default_and_its_seed_fixes_the_mask():
    x = np.ones((4, 50))
    np.testing.assert_array_equal(Dropout(0.5).forward(x), x)  # training=False by default
    first, second = Dropout(0.5, seed=1), Dropout(0.5, seed=1)
    np.testing.assert_array_equal(first.forward(x, True), second.forward(x, True))


def test_evaluate_is_the_mean_cross_entropy_and_the_accuracy(rng):
    model = small_model()
    x, y = blobs(rng, count=40)
    loss, accuracy = model.evaluate(x, y)
    assert loss == pytest.approx(model.loss_and_gradients(x, y, training=False)[0], rel=1e-5)
    assert accuracy == np.mean(model.predict(x).argmax(axis=1) == y)
    # A probability that underflows to 0 costs -log(1e-12), not infinity.
    sure = Sequential([Flatten(), Dense(2, "softmax")], (1, 1), dtype="float32")
    sure.set_weights([np.array([[1e4, -1e4]]), np.zeros(2)])
    loss, accuracy = sure.evaluate(np.ones((1, 1, 1)), np.array([1]))
    assert loss == pytest.approx(-np.log(1e-12)) and accuracy == 0.0


def test_fit_defaults_one_epoch_of_batches_of_32_and_a_line_per_epoch(rng, capsys):
    x, y = blobs(rng, count=65)
    optimizer = SGD(0.01)
    history = small_model().fit(x, y, optimizer=optimizer)
    assert len(history["loss"]) == 1 and optimizer.iterations == 3  # 32 + 32 + 1
    line = capsys.readouterr().out
    pattern = r"epoch 1/1  loss \d\.\d{4}  accuracy \d\.\d{4}  \((\d+\.\d) s\)\n"
    assert float(re.fullmatch(pattern, line).group(1)) < 60  # the epoch's own duration


def test_from_keras_builds_a_float32_twin_by_default(keras):
    layers = keras.layers
    model = keras.Sequential([keras.Input((2, 2)), layers.Flatten(), layers.Dense(3, "softmax")])
    twin = Sequential.from_keras(model)
    assert twin.dtype == np.float32 and twin.trainable_weights[0].dtype == np.float32


def test_representable_arguments_read_from_any_keras_config():
    from types import SimpleNamespace

    from cnnbook.nn.model import _check_representable

    layer = SimpleNamespace(name="conv", trainable=True, weights=[])
    _check_representable(layer, "Conv2D", {})  # an argument this Keras lacks: its default
    _check_representable(layer, "Conv2D", {"dilation_rate": [1, 1]})  # lists read as tuples
    with pytest.raises(ValueError) as error:
        _check_representable(layer, "Conv2D", {"dilation_rate": [2, 2]})
    assert str(error.value) == (
        "Sequential.from_keras cannot represent Conv2D layer 'conv' with dilation_rate=(2, 2): "
        "its NumPy layer supports only dilation_rate=(1, 1)"
    )
    frozen = SimpleNamespace(name="dense", trainable=False, weights=[np.zeros(1)])
    with pytest.raises(ValueError) as error:
        _check_representable(frozen, "Dense", {})
    assert str(error.value) == (
        "Sequential.from_keras cannot represent Dense layer 'dense' with trainable=False: "
        "every weight of the NumPy twin trains"
    )


def test_dropconnect_dense_arguments_and_inference(rng):
    from cnnbook.nn import DropConnectDense

    layer = DropConnectDense(3, 0.5, seed=0)
    layer.build((4,), rng)
    assert len(layer.weights) == 2  # a bias by default
    layer.weights[1] = rng.normal(size=3)
    x = rng.normal(size=(2, 4))
    plain = x @ layer.weights[0] + layer.weights[1]
    np.testing.assert_allclose(layer.forward(x), plain)  # inference by default: all weights
    grad_output = rng.normal(size=(2, 3))
    np.testing.assert_allclose(layer.backward(grad_output), grad_output @ layer.weights[0].T)
    assert layer.backward(grad_output, need_input_gradient=False) is None
    no_bias = DropConnectDense(3, 0.5, use_bias=False)
    no_bias.build((4,), rng)
    assert len(no_bias.weights) == 1
    np.testing.assert_allclose(no_bias.forward(x), x @ no_bias.weights[0])
    model = Sequential([DropConnectDense(3, 0.5, "softmax")], (4,))
    assert [type(step).__name__ for step in model.steps] == ["DropConnectDense", "Softmax"]


@pytest.mark.parametrize(("strides", "padding"), [(1, "valid"), (2, "same")])
def test_stochastic_pool2d_layer_passes_its_arguments_backward(rng, strides, padding):
    from cnnbook.nn import StochasticPool2D
    from cnnbook.regularization import stochastic_pool2d_backward

    layer = StochasticPool2D(3, strides, padding, seed=0)
    x = rng.uniform(0.1, 1.0, size=(2, 7, 7, 2))
    output = layer.forward(x, training=True)
    grad_output = rng.normal(size=output.shape)
    expected = stochastic_pool2d_backward(grad_output, x, layer.chosen, 3, strides, padding)
    np.testing.assert_array_equal(layer.backward(grad_output), expected)


def test_from_keras_keeps_the_dropout_seed_and_a_linear_activation(keras):
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((2, 2)), layers.Flatten(), layers.Dropout(0.5, seed=3),
        layers.Activation("linear"), layers.Dense(3, "softmax"),
    ])  # fmt: skip
    twin = Sequential.from_keras(model)
    assert twin.layers[1].seed == 3
    assert type(twin.layers[2]) is nn.Layer  # "linear": passes its input through


def test_stochastic_pool2d_layer_defaults_and_seed(rng):
    from cnnbook.nn import StochasticPool2D
    from cnnbook.regularization import stochastic_pool2d

    x = rng.uniform(0.1, 1.0, size=(2, 4, 4, 3))
    layer = StochasticPool2D(seed=5)  # 2x2 windows side by side; inference by default
    np.testing.assert_allclose(layer.forward(x), stochastic_pool2d(x, 2, training=False))
    assert layer.seed == 5
    first, second = StochasticPool2D(seed=5), StochasticPool2D(seed=5)
    np.testing.assert_array_equal(first.forward(x, True), second.forward(x, True))


def test_conv2d_layer_defaults_stride_1_and_a_bias(rng):
    layer = Conv2D(2, 3)
    assert layer.build((5, 5, 1), rng) == (3, 3, 2) and len(layer.weights) == 2


def test_relu_passes_no_gradient_at_zero_as_keras():
    layer = ReLU()
    np.testing.assert_array_equal(layer.forward(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(layer.backward(np.ones(3)), [0.0, 0.0, 1.0])


def test_layers_return_the_input_gradient_unless_told_not_to(rng):
    x = rng.normal(size=(2, 5, 5, 1))
    conv = Conv2D(2, 3)
    conv.build((5, 5, 1), rng)
    grad_output = rng.normal(size=conv.forward(x).shape)
    assert conv.backward(grad_output).shape == x.shape
    assert conv.backward(grad_output, need_input_gradient=False) is None
    dense = Dense(3)
    dense.build((4,), rng)
    dense.forward(rng.normal(size=(2, 4)))
    grad_output = rng.normal(size=(2, 3))
    np.testing.assert_allclose(dense.backward(grad_output), grad_output @ dense.weights[0].T)
    assert dense.backward(grad_output, need_input_gradient=False) is None


def test_conv2d_layer_initialises_its_kernel_glorot_uniform_as_keras(rng):
    layer = Conv2D(32, (3, 2))
    layer.build((8, 8, 16), rng)
    limit = np.sqrt(6 / (3 * 2 * 16 + 3 * 2 * 32))  # fans: taps times channels, in and out
    kernel = np.abs(layer.weights[0])
    assert kernel.max() <= limit and kernel.max() > 0.99 * limit


def test_loss_and_gradients_run_the_training_pass_by_default(rng):
    model = Sequential([Flatten(), Dropout(0.5, seed=0), Dense(3, "softmax")], (4, 4))
    x, y = rng.normal(size=(8, 4, 4)), rng.integers(0, 3, size=8)
    assert model.loss_and_gradients(x, y)[0] != model.loss_and_gradients(x, y, False)[0]


def test_the_model_computes_in_its_own_dtype_and_knows_its_output_shape():
    model = Sequential([Flatten(), Dense(3, "softmax")], (2, 2))  # float32 by default
    assert model.output_shape == (3,)
    assert model.predict(np.zeros((1, 2, 2), dtype=np.float64)).dtype == np.float32


def test_the_smallest_arguments_are_accepted():
    assert Dense(1).units == 1 and Conv2D(1, 1).kernel_size == (1, 1)
    x = np.ones((2, 3))
    np.testing.assert_array_equal(Dropout(0.0).forward(x, training=True), x)  # rate 0: none


def test_softmax_normalizes_each_row_of_the_last_axis_without_overflow():
    x = np.array([[[0.0, 1.0], [1000.0, 1001.0]], [[-5.0, 5.0], [2.0, 2.0]]])
    expected = np.exp(x - x.max(axis=-1, keepdims=True))
    expected /= expected.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(Softmax().forward(x), expected)
    assert np.isfinite(Softmax().forward(x)).all()


def test_the_loss_stays_finite_for_logits_far_apart(rng):
    model = Sequential([Flatten(), Dense(2, "softmax")], (1, 1), dtype="float64")
    model.set_weights([np.array([[1000.0, 0.0]]), np.zeros(2)])
    x = np.array([[[1.0]], [[-0.001]]])  # logits (1000, 0) and (-1, 0): rows far apart
    loss, gradients = model.loss_and_gradients(x, np.array([0, 1]))
    expected = (np.log1p(np.exp(-1000.0)) + np.log1p(np.exp(-1.0))) / 2
    assert loss == pytest.approx(expected) and all(np.isfinite(g).all() for g in gradients)


def test_fit_reports_the_running_mean_of_its_training_batches(rng):
    x, y = rng.normal(size=(8, 2, 2)), rng.integers(0, 2, size=8)
    model = Sequential([Flatten(), Dropout(0.5, seed=7), Dense(2, "softmax")], (2, 2), seed=1)
    expected_losses, correct = [], 0
    for batch in (slice(0, 4), slice(4, 8)):  # in order: shuffle=False; dropout active
        loss, _, probabilities = model._step(x[batch], y[batch], True)
        expected_losses.append(loss)
        correct += np.sum(probabilities.argmax(axis=1) == y[batch])
    model.steps[1].rng = np.random.default_rng(7)  # the same masks again
    history = model.fit(x, y, batch_size=4, optimizer=SGD(1e-12), shuffle=False, verbose=0)
    assert history["loss"] == [pytest.approx(np.mean(expected_losses), rel=1e-6)]
    assert history["accuracy"] == [correct / 8]
    runs = [
        Sequential([Flatten(), Dense(2, "softmax")], (2, 2)).fit(
            x, y, epochs=2, batch_size=4, optimizer=SGD(0.5), shuffle=False, seed=seed, verbose=0
        )["loss"]
        for seed in (0, 1)
    ]
    assert runs[0] == runs[1]  # no shuffling: the seed changes nothing


def test_fit_passes_the_model_to_its_callbacks_and_ends_them(rng):
    from cnnbook.regularization import EarlyStopping

    x, y = blobs(rng, count=40)
    model = small_model()
    seen = []
    stopper = EarlyStopping("loss", patience=1, min_delta=100.0, restore_best_weights=True)
    model.fit(x, y, epochs=5, verbose=0, callbacks=[lambda m, e, logs: seen.append(m), stopper])
    assert seen and all(m is model for m in seen)
    for weight, best in zip(model.trainable_weights, stopper.best_weights):
        np.testing.assert_array_equal(weight, best)  # on_train_end put back epoch 1's
    assert stopper.stopped_epoch == 1


def test_default_optimizers_learning_rate_and_a_float64_twin(keras):
    weights = [np.zeros(2)]
    SGD().apply(weights, [np.array([1.0, -2.0])])
    np.testing.assert_allclose(weights[0], [-0.01, 0.02])
    layers = keras.layers
    model = keras.Sequential([keras.Input((2, 2)), layers.Flatten(), layers.Dense(3, "softmax")])
    assert Sequential.from_keras(model, dtype="float64").trainable_weights[0].dtype == np.float64
