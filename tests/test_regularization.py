"""cnnbook.regularization: the NumPy references, and EarlyStopping against Keras's. The
Keras layers, cnnbook.keras.layers, are tested in test_keras_layers.py, but for one test
here that both check a dropconnect rate alike."""

import re

import numpy as np
import pytest

from cnnbook.regularization import (
    EarlyStopping,
    dropconnect_dense,
    l2_gradient,
    l2_penalty,
    max_norm,
    stochastic_pool2d,
    stochastic_pool2d_backward,
)

# ---- NumPy references ---------------------------------------------------------------------


def test_stochastic_pooling_samples_in_proportion_to_the_activations(rng):
    window = np.array([1.0, 0.0, 3.0, 4.0]).reshape(1, 2, 2, 1)
    draws = np.array([stochastic_pool2d(window, rng=rng)[0, 0, 0, 0] for _ in range(4000)])
    frequencies = np.array([np.mean(draws == value) for value in (1.0, 0.0, 3.0, 4.0)])
    expected = np.array([1, 0, 3, 4]) / 8
    bound = 4 * np.sqrt(expected * (1 - expected) / 4000)  # 4 standard errors; 0 for the 0
    assert np.all(np.abs(frequencies - expected) <= bound)
    assert stochastic_pool2d(window, training=False)[0, 0, 0, 0] == pytest.approx(26 / 8)


def test_stochastic_pooling_zero_and_negative_windows():
    x = np.array([[-1.0, -2.0], [0.0, -3.0]]).reshape(1, 2, 2, 1)
    assert stochastic_pool2d(x)[0, 0, 0, 0] == 0.0
    assert stochastic_pool2d(x, training=False)[0, 0, 0, 0] == 0.0


def test_stochastic_pool2d_returns_the_drawn_cells(rng):
    x = rng.uniform(-1.0, 2.0, size=(2, 4, 6, 3))
    output, chosen = stochastic_pool2d(x, rng=rng, return_chosen=True)
    assert chosen.shape == output.shape and chosen.dtype.kind == "i"
    rows, columns = np.divmod(chosen, 2)  # the cell's row and column in its 2x2 window
    b, i, j, c = np.indices(output.shape)
    np.testing.assert_array_equal(output, np.maximum(x[b, 2 * i + rows, 2 * j + columns, c], 0))
    inference, none = stochastic_pool2d(x, training=False, return_chosen=True)
    assert none is None
    np.testing.assert_array_equal(inference, stochastic_pool2d(x, training=False))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(("pool_size", "stride", "padding"), [(2, None, "valid"), (3, 2, "same")])
def test_stochastic_pool2d_backward_passes_a_gradient_check(
    rng, training, pool_size, stride, padding
):
    from cnnbook import gradient_check

    x = rng.uniform(-1.0, 2.0, size=(2, 5, 6, 2))
    grad_output = rng.normal(size=stochastic_pool2d(x, pool_size, stride, padding).shape)

    def pool(values, return_chosen=False):
        # The same draws every time, so that the output is a function of x.
        return stochastic_pool2d(values, pool_size, stride, padding, training,
                                 np.random.default_rng(3), return_chosen)  # fmt: skip

    _, chosen = pool(x, return_chosen=True)
    grad_x = stochastic_pool2d_backward(grad_output, x, chosen, pool_size, stride, padding)
    assert gradient_check(lambda values: np.sum(grad_output * pool(values)), x, grad_x) < 1e-6
    with pytest.raises(ValueError, match="grad_output must have the forward output's shape"):
        stochastic_pool2d_backward(grad_output[:1], x, chosen, pool_size, stride, padding)


def test_dropconnect_keeps_the_expected_output(rng):
    x, kernel = rng.random((1, 50)), rng.random((50, 3))
    runs = np.array([dropconnect_dense(x, kernel, rate=0.3, rng=rng) for _ in range(3000)])
    plain = dropconnect_dense(x, kernel, rate=0.3, training=False)
    np.testing.assert_allclose(plain, x @ kernel)
    np.testing.assert_allclose(runs.mean(axis=0), plain, rtol=0.02)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\). Received: rate=1.5"):
        dropconnect_dense(x, kernel, rate=1.5)


@pytest.mark.parametrize("rate", [1.5, "0.5", None])
def test_dropconnect_rates_are_checked_as_keras_checks_them(layers, rate):
    message = rf"^rate must be in \[0, 1\)\. Received: rate={re.escape(repr(rate))}$"
    with pytest.raises(ValueError, match=message):
        dropconnect_dense(np.ones((1, 2)), np.ones((2, 2)), rate=rate)
    with pytest.raises(ValueError, match=message):
        layers.DropConnectDense(3, rate)


def test_max_norm_and_l2_equal_keras(keras, rng):
    kernel = rng.normal(size=(3, 3, 4, 5)).astype("float32") * 3
    constraint = keras.constraints.MaxNorm(max_value=2.0, axis=[0, 1, 2])
    np.testing.assert_allclose(
        max_norm(kernel, 2.0, axis=(0, 1, 2)), constraint(kernel).numpy(), rtol=1e-5
    )
    assert np.linalg.norm(max_norm(kernel, 2.0, (0, 1, 2))[..., 0]) <= 2.0 + 1e-6
    penalty = keras.regularizers.L2(0.01)(kernel).numpy()
    assert l2_penalty([kernel], 0.01) == pytest.approx(float(penalty), rel=1e-5)
    np.testing.assert_allclose(l2_gradient(kernel, 0.01), 0.02 * kernel)
    with pytest.raises(ValueError, match="max_value must be positive"):
        max_norm(kernel, 0)


@pytest.mark.parametrize(
    ("values", "patience", "min_delta"),
    [
        ([1.0, 0.9, 0.95, 0.96, 0.97, 0.5], 3, 0.0),
        ([1.0, 0.99, 0.985, 0.98, 0.97, 0.96], 2, 0.02),
        ([1.0, 1.0, 1.0], 0, 0.0),
        ([3.0, 2.0, 1.0, 0.5], 1, 0.0),
    ],
)
def test_early_stopping_stops_where_keras_stops(keras, values, patience, min_delta):
    class Model:  # what both callbacks need of a model
        stop_training = False
        weights = [np.zeros(1)]

        def get_weights(self):
            return [w.copy() for w in self.weights]

        def set_weights(self, weights):
            self.weights = weights

    theirs = keras.callbacks.EarlyStopping(
        monitor="val_loss", min_delta=min_delta, patience=patience, restore_best_weights=True
    )
    keras_model = Model()
    theirs.set_model(keras_model)
    theirs.on_train_begin()
    ours = EarlyStopping("val_loss", min_delta, patience, restore_best_weights=True)
    model = Model()
    keras_stop = our_stop = None
    for epoch, value in enumerate(values):
        model.weights = keras_model.weights = [np.full(1, value)]
        theirs.on_epoch_end(epoch, {"val_loss": value})
        if keras_stop is None and keras_model.stop_training:
            keras_stop = epoch
        if our_stop is None and ours(model, epoch, {"val_loss": value}):
            our_stop = epoch
        if keras_stop is not None or our_stop is not None:
            break
    theirs.on_train_end()
    ours.on_train_end(model)
    assert our_stop == keras_stop
    np.testing.assert_array_equal(model.weights, keras_model.weights)  # the best epoch's


def test_early_stopping_with_the_nn_fit_loop(rng):
    from cnnbook import nn

    x = rng.normal(size=(60, 4)).astype("float32")
    y = (x[:, 0] > 0).astype(int)
    model = nn.Sequential([nn.Dense(2, activation="softmax")], (4,))
    stopper = EarlyStopping(monitor="loss", patience=0, min_delta=10.0)  # never improves
    history = model.fit(x, y, epochs=20, verbose=0, callbacks=[stopper])
    assert len(history["loss"]) == 2 and stopper.stopped_epoch == 1
    with pytest.raises(KeyError, match="logs have"):
        EarlyStopping(monitor="val_loss")(model, 0, {"loss": 1.0})


# ---- EarlyStopping's defaults and modes (found untested by tools/mutation.py) --------------


class _Weights:
    """A model as EarlyStopping sees it: weights to get and set."""

    def __init__(self, value=0.0):
        self.weights = [np.full(1, value)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = weights


@pytest.mark.parametrize(
    ("monitor", "mode", "min_delta", "values"),
    [
        ("val_accuracy", "auto", 0.0, [0.5, 0.6, 0.55, 0.7, 0.65, 0.6]),  # "acc": higher
        ("val_loss", "max", 0.02, [1.0, 1.015, 1.03, 1.04, 1.045]),
        ("val_loss", "max", 0.02, [1.0, 1.05, 1.06, 1.2]),
        ("val_loss", "min", 0.0, [0.5, 0.6, 0.4, 0.45, 0.41]),
        ("val_accuracy", "min", 0.0, [0.5, 0.6, 0.4, 0.45, 0.41]),
        ("loss", "auto", 0.0, [0.5, 0.6, 0.4, 0.45, 0.41]),
    ],
)
def test_early_stopping_modes_equal_keras(keras, monitor, mode, min_delta, values):
    # Keras 3 reads "auto" from the model's metric, which this stand-in model lacks: for an
    # accuracy, "auto" is "max" (Keras 2's rule, which cnnbook follows).
    keras_mode = "max" if mode == "auto" and "acc" in monitor else mode
    theirs = keras.callbacks.EarlyStopping(
        monitor=monitor, min_delta=min_delta, patience=1, mode=keras_mode, restore_best_weights=True
    )
    keras_model = _Weights()
    keras_model.stop_training = False
    theirs.set_model(keras_model)
    theirs.on_train_begin()
    ours = EarlyStopping(monitor, min_delta, patience=1, mode=mode, restore_best_weights=True)
    model = _Weights()
    for epoch, value in enumerate(values):
        model.weights = keras_model.weights = [np.full(1, value)]
        theirs.on_epoch_end(epoch, {monitor: value})
        assert ours(model, epoch, {monitor: value}) == keras_model.stop_training, epoch
        if keras_model.stop_training:
            break
    theirs.on_train_end()
    ours.on_train_end(model)
    assert keras_model.stop_training and ours.stopped_epoch == epoch
    np.testing.assert_array_equal(model.weights, keras_model.weights)  # the best epoch's


def test_early_stopping_defaults_watch_val_loss_and_stop_at_the_first_setback(capsys):
    stopper = EarlyStopping()
    assert not stopper(_Weights(1.0), 0, {"val_loss": 1.0})
    assert not stopper(_Weights(2.0), 1, {"val_loss": 0.999})  # any decrease counts
    model = _Weights(3.0)
    assert stopper.stopped_epoch is None
    assert stopper(model, 2, {"val_loss": 0.999})  # patience 0
    stopper.on_train_end(model)
    assert model.weights[0][0] == 3.0 and capsys.readouterr().out == ""  # the last, silent
    with pytest.raises(KeyError, match=r"EarlyStopping monitors 'val_loss', logs have \['loss'\]"):
        EarlyStopping()(model, 0, {"loss": 1.0})


def test_early_stopping_says_why_it_stopped_when_verbose(capsys):
    stopper = EarlyStopping("loss", patience=2, verbose=1)
    for epoch, value in enumerate([1.0, 0.5, 0.6, 0.7]):
        stopped = stopper(_Weights(), epoch, {"loss": value})
    assert stopped and capsys.readouterr().out == (
        "early stopping after epoch 4: no improvement of loss for 2 epochs; best epoch 2\n"
    )


def test_early_stopping_restores_nothing_before_its_first_epoch():
    model = _Weights(3.0)
    EarlyStopping(restore_best_weights=True).on_train_end(model)  # fit(epochs=0)
    assert model.weights[0][0] == 3.0


def test_early_stopping_rejects_an_unknown_mode_and_a_negative_patience():
    for arguments, message in [
        ({"mode": "lowest"}, "mode must be 'auto', 'min' or 'max'. Received: mode='lowest'"),
        ({"patience": -1}, "patience must be >= 0. Received: patience=-1"),
    ]:
        with pytest.raises(ValueError) as error:
            EarlyStopping(**arguments)
        assert str(error.value) == message


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: stochastic_pool2d_backward(np.ones((1, 2, 2, 1)), np.ones((1, 4, 4, 1)),
                                            np.zeros((1, 2, 2))),
         "chosen must have the forward output's shape (1, 2, 2, 1). "
         "Received: chosen.shape=(1, 2, 2)"),
        (lambda: stochastic_pool2d_backward(np.ones((1, 3, 3, 1)), np.ones((1, 4, 4, 1)), None),
         "grad_output must have the forward output's shape (1, 2, 2, 1). "
         "Received: grad_output.shape=(1, 3, 3, 1)"),
        (lambda: max_norm(np.ones((2, 2)), 0.0),
         "max_value must be positive. Received: max_value=0.0"),
        (lambda: dropconnect_dense(np.ones((1, 2)), np.ones((2, 2)), rate=1.0),
         "rate must be in [0, 1). Received: rate=1.0"),
    ],
)  # fmt: skip
def test_regularization_error_messages_word_for_word(call, message):
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_max_norm_defaults_and_what_it_leaves_alone():
    kernel = np.array([[3.0, 0.3, 0.0], [4.0, 0.4, 0.0]])  # norms 5, 0.5 and 0 per unit
    projected = max_norm(kernel)  # at most 3, over axis 0 (a Dense kernel's inputs)
    np.testing.assert_allclose(projected[:, 0], [1.8, 2.4], rtol=1e-6)
    np.testing.assert_allclose(projected[:, 1:], kernel[:, 1:], rtol=1e-6)  # short: kept
    assert max_norm(kernel.astype(np.float32)).dtype == np.float64  # computed in float64
    rows = max_norm(kernel, 0.5, axis=1)  # the norms of the rows instead
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), [0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(max_norm(kernel, 0.25)[:, 1], [0.15, 0.2], rtol=1e-5)


def test_l2_penalty_and_gradient_default_factor():
    weights = [np.array([1.0, 2.0]), np.array([[3.0]])]
    assert l2_penalty(weights) == pytest.approx(0.01 * 14)
    np.testing.assert_allclose(l2_gradient(weights[0]), [0.02, 0.04])


def test_stochastic_pool2d_backward_defaults_are_the_forward_ones(rng):
    backward = stochastic_pool2d_backward
    x = rng.uniform(0.1, 1.0, size=(1, 5, 5, 2))
    output, chosen = stochastic_pool2d(x, rng=rng, return_chosen=True)  # 2x2, "valid"
    grad_output = rng.normal(size=output.shape)
    np.testing.assert_array_equal(
        backward(grad_output, x, chosen), backward(grad_output, x, chosen, 2, 2, "valid")
    )


def test_dropconnect_adds_the_bias_it_never_drops(rng):
    x, kernel, bias = rng.random((2, 5)), rng.random((5, 3)), rng.normal(size=3)
    np.testing.assert_allclose(
        dropconnect_dense(x, kernel, bias, training=False), x @ kernel + bias
    )
    dropped = dropconnect_dense(x, kernel, bias, rate=0.5, rng=np.random.default_rng(1))
    mask = np.random.default_rng(1).random(kernel.shape) >= 0.5
    np.testing.assert_allclose(dropped, x @ (kernel * mask / 0.5) + bias)


def test_stochastic_pool2d_backward_keeps_float32():
    x = np.ones((1, 4, 4, 1), dtype=np.float32)
    grad = stochastic_pool2d_backward(np.ones((1, 2, 2, 1), np.float32), x, None)
    assert grad.dtype == np.float32
