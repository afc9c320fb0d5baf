"""cnnbook.pool against Keras, tf.nn and tf.GradientTape, and finite differences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnbook import (
    avg_pool1d,
    avg_pool2d,
    avg_pool2d_backward,
    gradient_check,
    max_pool1d,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_reference,
)

CASES = [
    # (input height x width, pool_size, stride, padding)
    ((8, 8), 2, None, "valid"),
    ((9, 7), 2, None, "valid"),  # odd sizes: the last row/column is dropped
    ((9, 7), 2, None, "same"),  # ... or padded, and the padding is not counted
    ((8, 8), 3, 1, "valid"),  # overlapping windows
    ((7, 7), 3, 2, "same"),
    ((10, 9), (2, 3), (1, 2), "same"),
    ((5, 5), 4, 1, "same"),  # padding before and after
]


@pytest.mark.parametrize(("size", "pool_size", "stride", "padding"), CASES)
def test_pool2d_equals_keras_and_tf_nn(tf, rng, size, pool_size, stride, padding):
    import keras

    x = rng.normal(size=(2, *size, 3)).astype(np.float32)
    layers = [
        (max_pool2d, keras.layers.MaxPooling2D, tf.nn.max_pool2d),
        (avg_pool2d, keras.layers.AveragePooling2D, tf.nn.avg_pool2d),
    ]
    for ours, keras_layer, tf_function in layers:
        result = ours(x, pool_size, stride, padding)
        layer = keras_layer(pool_size=pool_size, strides=stride, padding=padding)
        np.testing.assert_allclose(result, layer(x).numpy(), rtol=1e-6, atol=1e-6)
        tf_result = tf_function(x, pool_size, stride or pool_size, padding.upper()).numpy()
        np.testing.assert_allclose(result, tf_result, rtol=1e-6, atol=1e-6)
        assert result.dtype == np.float32


@pytest.mark.parametrize(("size", "pool_size", "stride", "padding"), CASES)
def test_pool2d_backward_equals_gradient_tape(tf, rng, size, pool_size, stride, padding):
    x = rng.normal(size=(2, *size, 3))
    pairs = [
        (max_pool2d, max_pool2d_backward, tf.nn.max_pool2d),
        (avg_pool2d, avg_pool2d_backward, tf.nn.avg_pool2d),
    ]
    for forward, backward, tf_function in pairs:
        grad_output = rng.normal(size=forward(x, pool_size, stride, padding).shape)
        x_tf = tf.Variable(x.astype(np.float32))
        with tf.GradientTape() as tape:
            y = tf_function(x_tf, pool_size, stride or pool_size, padding.upper())
            loss = tf.reduce_sum(y * grad_output.astype(np.float32))
        expected = tape.gradient(loss, x_tf).numpy()
        result = backward(grad_output, x, pool_size, stride, padding)
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_like_tensorflow(tf):
    x = np.array(
        [[5.0, 5.0, 1.0, 2.0], [5.0, 5.0, 2.0, 2.0], [0.0, 3.0, 4.0, 0.0], [3.0, 1.0, 0.0, 4.0]]
    ).reshape(1, 4, 4, 1)
    grad = max_pool2d_backward(np.ones((1, 2, 2, 1)), x)[0, :, :, 0]
    expected = np.array([[1, 0, 0, 1], [0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(grad, expected)
    x_tf = tf.Variable(x.astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.max_pool2d(x_tf, 2, 2, "VALID"))
    np.testing.assert_array_equal(tape.gradient(loss, x_tf).numpy()[0, :, :, 0], expected)


@given(
    size=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    pool_size=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
    padding=st.sampled_from(["valid", "same"]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=60, deadline=None)
def test_pool2d_backward_property_finite_differences(size, pool_size, stride, padding, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, *size, 2))  # continuous values: no ties, so max is differentiable
    for forward, backward in [(max_pool2d, max_pool2d_backward), (avg_pool2d, avg_pool2d_backward)]:
        try:
            y = forward(x, pool_size, stride, padding)
        except ValueError as error:
            assert "larger than the input" in str(error)
            return
        weights = rng.normal(size=y.shape)
        gradient = backward(weights, x, pool_size, stride, padding)

        def loss(v, weights=weights, forward=forward):
            return np.sum(weights * forward(v, pool_size, stride, padding))

        assert gradient_check(loss, x, gradient) < 1e-6


@pytest.mark.parametrize(("pool_size", "stride", "padding"), [(2, None, "valid"), (3, 2, "same")])
def test_pool1d_equals_keras(tf, rng, pool_size, stride, padding):
    import keras

    x = rng.normal(size=(2, 11, 3)).astype(np.float32)
    for ours, keras_layer in [
        (max_pool1d, keras.layers.MaxPooling1D),
        (avg_pool1d, keras.layers.AveragePooling1D),
    ]:
        layer = keras_layer(pool_size=pool_size, strides=stride, padding=padding)
        np.testing.assert_allclose(
            ours(x, pool_size, stride, padding), layer(x).numpy(), rtol=1e-6, atol=1e-6
        )


def test_pooling_has_no_parameters_and_keeps_channels_apart():
    x = np.zeros((1, 4, 4, 2))
    x[0, 0, 0, 0] = 9.0
    pooled = max_pool2d(x)
    assert pooled[0, 0, 0, 0] == 9.0 and pooled[0, 0, 0, 1] == 0.0


def test_integer_input_is_pooled_as_floats():
    result = avg_pool2d(np.arange(16).reshape(1, 4, 4, 1))
    assert result.dtype == np.float64
    np.testing.assert_allclose(result[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    result = max_pool2d(np.arange(16).reshape(1, 4, 4, 1))
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result[0, :, :, 0], [[5.0, 7.0], [13.0, 15.0]])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": np.zeros((4, 4, 1))}, ValueError, r"x must be 4-D .* x.shape=\(4, 4, 1\)"),
        ({"pool_size": 0}, ValueError, r"pool_size must be positive. Received: pool_size=0"),
        ({"stride": -1}, ValueError, r"stride must be positive. Received: stride=-1"),
        ({"pool_size": 2.5}, TypeError, r"pool_size must be an int or a sequence of 2 ints"),
        ({"padding": "full"}, ValueError, r"padding must be 'valid' or 'same'"),
        ({"pool_size": 5}, ValueError, r"pool height 5 is larger than the input height 4"),
    ],
)
def test_pool2d_bad_input(kwargs, error, match):
    arguments = {"x": np.zeros((1, 4, 4, 1))} | kwargs
    for function in (max_pool2d, avg_pool2d):
        with pytest.raises(error, match=match):
            function(**arguments)


def test_backward_rejects_grad_output_of_wrong_shape():
    x = np.zeros((1, 4, 4, 1))
    for backward in (max_pool2d_backward, avg_pool2d_backward):
        with pytest.raises(ValueError, match=r"forward output's shape \(1, 2, 2, 1\)"):
            backward(np.zeros((1, 4, 4, 1)), x)


@pytest.mark.parametrize(
    ("pool_size", "stride", "padding"),
    [(2, None, "valid"), (3, 2, "same"), ((2, 3), 1, "valid"), (3, 3, "same"), (2, (1, 2), "same")],
)
def test_max_pool2d_equals_its_loop_reference(rng, pool_size, stride, padding):
    x = rng.normal(size=(2, 7, 6, 3))
    np.testing.assert_array_equal(
        max_pool2d(x, pool_size, stride, padding),
        max_pool2d_reference(x, pool_size, stride, padding),
    )


def test_max_pool2d_reference_defaults_and_dtype(rng):
    x = rng.normal(size=(1, 5, 5, 2)).astype(np.float32)
    result = max_pool2d_reference(x)  # 2x2 windows side by side, "valid"
    assert result.shape == (1, 2, 2, 2) and result.dtype == np.float32
    np.testing.assert_array_equal(result, max_pool2d(x, 2, 2, "valid"))


def test_pool1d_defaults_are_windows_of_two_side_by_side():
    x = np.array([1.0, 5.0, 2.0, 2.0, 0.0, 3.0, 9.0]).reshape(1, 7, 1)
    assert max_pool1d(x)[0, :, 0].tolist() == [5.0, 2.0, 3.0]
    assert avg_pool1d(x)[0, :, 0].tolist() == [3.0, 2.0, 1.5]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: max_pool2d(np.zeros((4, 4, 1))), ValueError,
         "x must be 4-D (batch, height, width, channels). Received: x.shape=(4, 4, 1)"),
        (lambda: max_pool1d(np.zeros((4, 1))), ValueError,
         "x must be 3-D (batch, width, channels). Received: x.shape=(4, 1)"),
        (lambda: avg_pool2d(np.zeros((1, 4, 4, 1)), padding="full"), ValueError,
         "padding must be 'valid' or 'same'. Received: padding='full'"),
        (lambda: avg_pool2d(np.zeros((1, 4, 6, 1)), (2, 7)), ValueError,
         "pool width 7 is larger than the input width 6 "
         "(x.shape=(1, 4, 6, 1), pool_size=(2, 7), padding='valid')"),
        (lambda: max_pool2d(np.zeros((1, 4, 4, 1)), 0), ValueError,
         "pool_size must be positive. Received: pool_size=0"),
        (lambda: max_pool2d(np.zeros((1, 4, 4, 1)), 2, (2, 2, 2)), TypeError,
         "stride must be an int or a sequence of 2 ints. Received: stride=(2, 2, 2)"),
        (lambda: max_pool2d_backward(np.zeros((1, 4, 4, 1)), np.zeros((1, 4, 4, 1))), ValueError,
         "grad_output must have the forward output's shape (1, 2, 2, 1). "
         "Received: grad_output.shape=(1, 4, 4, 1)"),
        (lambda: avg_pool2d_backward(np.zeros((1, 1, 1, 1)), np.zeros((1, 4, 4, 1))), ValueError,
         "grad_output must have the forward output's shape (1, 2, 2, 1). "
         "Received: grad_output.shape=(1, 1, 1, 1)"),
    ],
)  # fmt: skip
def test_pool_error_messages_word_for_word(call, error, message):
    with pytest.raises(error) as raised:
        call()
    assert str(raised.value) == message


def test_pool2d_backward_keeps_float32():
    x = np.ones((1, 4, 4, 1), dtype=np.float32)
    grad_output = np.ones((1, 2, 2, 1), dtype=np.float32)
    for backward in (max_pool2d_backward, avg_pool2d_backward):
        assert backward(grad_output, x).dtype == np.float32


def test_pool2d_defaults_are_2x2_windows_side_by_side(rng):
    x = rng.normal(size=(1, 5, 4, 2))
    for pool, backward in [(max_pool2d, max_pool2d_backward), (avg_pool2d, avg_pool2d_backward)]:
        np.testing.assert_array_equal(pool(x), pool(x, 2, 2, "valid"))
        grad_output = rng.normal(size=(1, 2, 2, 2))
        np.testing.assert_array_equal(
            backward(grad_output, x), backward(grad_output, x, 2, 2, "valid")
        )
