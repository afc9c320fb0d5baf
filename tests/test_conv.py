"""cnnbook.conv against SciPy, TensorFlow and its own loop reference."""

import itertools

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnbook
from cnnbook import (
    conv1d,
    conv2d,
    conv2d_backward,
    conv2d_reference,
    conv3d,
    conv_output_size,
    convolve2d,
    correlate2d,
    padding_amounts,
)
from cnnbook._windows import extent, window_view

MODES = ("valid", "same", "full")


# ---- one 2-D image: equal to scipy.signal -------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kernel_shape", [(1, 1), (2, 2), (3, 3), (2, 5), (4, 3), (5, 5)])
def test_correlate2d_and_convolve2d_equal_scipy(rng, mode, kernel_shape):
    image = rng.normal(size=(7, 8))
    kernel = rng.normal(size=kernel_shape)
    np.testing.assert_allclose(
        correlate2d(image, kernel, mode), scipy.signal.correlate2d(image, kernel, mode)
    )
    np.testing.assert_allclose(
        convolve2d(image, kernel, mode), scipy.signal.convolve2d(image, kernel, mode)
    )


def test_a_kernel_as_large_as_the_image_fits_in_valid_mode(rng):
    image, kernel = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(correlate2d(image, kernel), [[np.sum(image * kernel)]])


@pytest.mark.parametrize("mode", ["same", "full"])
def test_kernel_larger_than_image_in_same_and_full(rng, mode):
    image, kernel = rng.normal(size=(3, 4)), rng.normal(size=(5, 6))
    np.testing.assert_allclose(
        convolve2d(image, kernel, mode), scipy.signal.convolve2d(image, kernel, mode)
    )


def test_convolution_is_correlation_with_the_flipped_kernel(rng):
    image, kernel = rng.normal(size=(6, 6)), rng.normal(size=(3, 3))
    np.testing.assert_allclose(convolve2d(image, kernel), correlate2d(image, kernel[::-1, ::-1]))


def test_worked_example_of_the_book():
    image = np.array(
        [[3, 0, 1, 2, 7], [1, 5, 8, 9, 3], [2, 7, 2, 5, 1], [0, 1, 3, 1, 7], [4, 2, 1, 6, 2]]
    )
    kernel = np.array([[1, 0, 2], [-1, 1, 0], [0, 3, -2]])
    assert convolve2d(image, kernel)[0, 0] == -3
    assert correlate2d(image, kernel)[0, 0] == 26


@pytest.mark.parametrize(
    ("image", "kernel", "mode", "match"),
    [
        (np.ones((3, 3, 1)), np.ones((2, 2)), "valid", "image must be a 2-D array"),
        (np.ones((3, 3)), np.ones(2), "valid", "kernel must be a 2-D array"),
        (np.ones((3, 3)), np.ones((2, 2)), "wrap", "mode must be 'valid', 'same' or 'full'"),
        (np.ones((3, 3)), np.ones((4, 2)), "valid", "kernel must fit inside the image"),
        (np.ones((0, 3)), np.ones((1, 1)), "valid", "image must not be empty"),
    ],
)
def test_2d_bad_input(image, kernel, mode, match):
    with pytest.raises(ValueError, match=match):
        correlate2d(image, kernel, mode)


# ---- conv2d: equal to tf.nn.conv2d for every combination ----------------------------


def tf_conv2d(tf, x, kernel, stride, padding, dilation):
    """tf.nn.conv2d with cnnbook's argument conventions."""
    if not isinstance(padding, str):
        pads = cnnbook.conv._explicit_padding(padding, 2)
        padding = [[0, 0], list(pads[0]), list(pads[1]), [0, 0]]
    else:
        padding = padding.upper()
    return tf.nn.conv2d(x, kernel, strides=stride, padding=padding, dilations=dilation).numpy()


CASES = [
    (size, kernel_size, stride, padding, dilation)
    for size, kernel_size, stride, padding, dilation in itertools.product(
        [(9, 9), (10, 7)],  # input size: odd and even, so "same" splits unevenly
        [(3, 3), (2, 4), (1, 1)],  # kernel size
        [1, 2, (3, 2)],  # stride
        ["valid", "same", 1, (2, 0), ((0, 2), (1, 3))],  # padding
        [1, 2],  # dilation
    )
    # tf.nn.conv2d refuses a stride and a dilation both above 1 (cnnbook allows it,
    # and test_conv2d_equals_reference_loops covers it).
    if stride == 1 or dilation == 1
]


@pytest.mark.parametrize(("size", "kernel_size", "stride", "padding", "dilation"), CASES)
def test_conv2d_equals_tensorflow(tf, rng, size, kernel_size, stride, padding, dilation):
    x = rng.normal(size=(2, *size, 3)).astype(np.float32)
    kernel = rng.normal(size=(*kernel_size, 3, 4)).astype(np.float32)
    expected = tf_conv2d(tf, x, kernel, stride, padding, dilation)
    result = conv2d(x, kernel, stride=stride, padding=padding, dilation=dilation)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [1, 2, (1, 3)])
@pytest.mark.parametrize("padding", ["valid", "same", "full", 2])
@pytest.mark.parametrize("dilation", [1, 2, (2, 1)])
def test_conv2d_equals_reference_loops(rng, stride, padding, dilation):
    x = rng.normal(size=(2, 9, 8, 2))
    kernel = rng.normal(size=(3, 2, 2, 3))
    bias = rng.normal(size=3)
    np.testing.assert_allclose(
        conv2d(x, kernel, bias, stride, padding, dilation),
        conv2d_reference(x, kernel, bias, stride, padding, dilation),
    )


def test_conv2d_reference_defaults_are_those_of_conv2d(rng):
    x, kernel = rng.normal(size=(1, 6, 5, 2)), rng.normal(size=(3, 2, 2, 3))
    reference = conv2d_reference(x, kernel)  # no bias, stride 1, "valid", no dilation
    assert reference.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(reference, conv2d(x, kernel))
    assert conv2d_reference(x.astype(np.float32), kernel).dtype == np.float64  # as conv2d
    single = conv2d_reference(x.astype(np.float32), kernel.astype(np.float32))
    assert single.dtype == np.float32


def test_conv2d_with_bias_equals_keras_conv2d_layer(tf, rng):
    import keras

    layer = keras.layers.Conv2D(5, (3, 3), strides=2, padding="same")
    x = rng.normal(size=(3, 11, 11, 4)).astype(np.float32)
    expected = layer(x).numpy()
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(
        conv2d(x, kernel, bias, stride=2, padding="same"), expected, rtol=1e-5, atol=1e-5
    )


def test_conv2d_large_input_uses_row_blocks_and_stays_exact(tf, rng):
    # 2 x 130 x 130 x 16 with a 3x3 kernel: one image's patches exceed the block
    # size, so the output is computed a few rows at a time.
    x = rng.normal(size=(2, 130, 130, 16)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 16, 8)).astype(np.float32)
    np.testing.assert_allclose(
        conv2d(x, kernel, padding="same"),
        tf_conv2d(tf, x, kernel, 1, "same", 1),
        rtol=1e-4,
        atol=1e-3,
    )


def test_conv2d_dtypes(rng):
    kernel = np.ones((2, 2, 1, 1))
    assert conv2d(np.ones((1, 3, 3, 1), dtype=np.float32), kernel.astype(np.float32)).dtype == (
        np.float32
    )
    assert conv2d(np.ones((1, 3, 3, 1), dtype=np.int64), kernel.astype(int)).dtype == np.float64
    assert conv2d(np.ones((1, 3, 3, 1)), kernel).dtype == np.float64


@pytest.mark.parametrize(
    ("x_dtype", "kernel_dtype", "bias_dtype", "expected"),
    [
        (np.float32, np.float32, None, np.float32),
        (np.float64, np.float32, None, np.float64),
        (np.int64, np.float32, None, np.float64),
        (np.float32, np.float32, np.float32, np.float32),
        (np.float32, np.float32, np.float64, np.float64),
        (np.float64, np.float64, np.float32, np.float64),
        (np.float32, np.float32, np.int64, np.float64),
    ],
)
def test_conv2d_computes_in_the_dtype_that_x_kernel_and_bias_promote_to(
    rng, x_dtype, kernel_dtype, bias_dtype, expected
):
    x = rng.integers(-3, 4, size=(2, 5, 6, 2)).astype(x_dtype)
    kernel = rng.normal(size=(3, 2, 2, 4)).astype(kernel_dtype)
    bias = None if bias_dtype is None else rng.integers(-3, 4, size=4).astype(bias_dtype)
    result = conv2d(x, kernel, bias)
    assert result.dtype == expected
    # Every window times the kernel, in float64.
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(float), (3, 2), axis=(1, 2))
    want = np.einsum("bijcmn,mnco->bijo", windows, kernel.astype(float))
    if bias is not None:
        want += bias
    np.testing.assert_allclose(result, want, rtol=1e-5, atol=1e-5)


def test_nan_reaches_exactly_the_outputs_whose_window_holds_it():
    x = np.zeros((1, 6, 6, 1))
    x[0, 2, 3, 0] = np.nan
    result = conv2d(x, np.ones((3, 3, 1, 1)))[0, :, :, 0]
    touched = np.zeros((4, 4), dtype=bool)
    touched[0:3, 1:4] = True  # outputs (i, j) with i <= 2 <= i + 2 and j <= 3 <= j + 2
    np.testing.assert_array_equal(np.isnan(result), touched)


@given(
    batch=st.integers(1, 2),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    in_channels=st.integers(1, 3),
    out_channels=st.integers(1, 3),
    kernel_height=st.integers(1, 4),
    kernel_width=st.integers(1, 4),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.one_of(
        st.sampled_from(["valid", "same", "full"]),
        st.tuples(
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
        ),
    ),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=150, deadline=None)
def test_conv2d_property_fast_equals_reference(
    batch, height, width, in_channels, out_channels, kernel_height, kernel_width, stride,
    dilation, padding, seed,
):  # fmt: skip
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, height, width, in_channels))
    kernel = rng.normal(size=(kernel_height, kernel_width, in_channels, out_channels))
    try:
        expected = conv2d_reference(x, kernel, None, stride, padding, dilation)
    except ValueError as error:
        assert "larger than the padded input" in str(error)
        with pytest.raises(ValueError, match="larger than the padded input"):
            conv2d(x, kernel, None, stride, padding, dilation)
        return
    result = conv2d(x, kernel, None, stride, padding, dilation)
    np.testing.assert_allclose(result, expected, atol=1e-10)
    assert result.shape[1:3] == tuple(
        conv_output_size(n, k, s, p, d)
        for n, k, s, p, d in zip(
            (height, width),
            (kernel_height, kernel_width),
            stride,
            padding if not isinstance(padding, str) else (padding, padding),
            dilation,
        )
    )


# ---- conv2d: bad input is reported in terms of the arguments ------------------------

X = np.zeros((2, 8, 8, 3))
KERNEL = np.zeros((3, 3, 3, 4))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": np.zeros((8, 8, 3))}, ValueError, r"x must be 4-D .* x.shape=\(8, 8, 3\)"),
        ({"kernel": np.zeros((3, 3, 3))}, ValueError, r"kernel must be 4-D"),
        (
            {"kernel": np.zeros((3, 3, 4, 4))},
            ValueError,
            r"kernel has 4 input channels but x has 3 \(x.shape=\(2, 8, 8, 3\)",
        ),
        ({"kernel": np.zeros((9, 3, 3, 4))}, ValueError, r"kernel height 9 .* larger than"),
        ({"dilation": 4}, ValueError, r"kernel height 3 \(dilated extent 9\) is larger"),
        ({"stride": 0}, ValueError, r"stride must be positive. Received: stride=0"),
        ({"stride": (1, -2)}, ValueError, r"Received: stride=\(1, -2\)"),
        ({"dilation": 0}, ValueError, r"dilation must be positive. Received: dilation=0"),
        ({"stride": 1.5}, TypeError, r"stride must be an int or a sequence of 2 ints"),
        ({"stride": (1, 2, 3)}, TypeError, r"Received: stride=\(1, 2, 3\)"),
        ({"padding": "SAME"}, ValueError, r"padding must be one of .* Received: padding='SAME'"),
        ({"padding": -1}, ValueError, r"padding must not be negative"),
        ({"padding": (1, 2, 3)}, ValueError, r"Received: padding=\(1, 2, 3\)"),
        ({"padding": 1.0}, ValueError, r"Received: padding=1.0"),
        ({"bias": np.zeros(3)}, ValueError, r"bias must have shape \(4,\).* bias.shape=\(3,\)"),
    ],
)
def test_conv2d_bad_input(kwargs, error, match):
    arguments = {"x": X, "kernel": KERNEL} | kwargs
    with pytest.raises(error, match=match):
        conv2d(**arguments)
    with pytest.raises(error, match=match):
        conv2d_reference(**arguments)


# ---- conv_output_size ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ((5, 3), 3),
        ((5, 3, 2), 2),
        ((5, 3, 3), 1),
        ((5, 3, 3, 1), 2),
        ((5, 3, 3, "full"), 3),
        ((32, 3, 1, "same"), 32),
        ((32, 3, 2, "same"), 16),
        ((7, 3, 1, "valid", 2), 3),
        ((7, 3, 1, (0, 2)), 7),
        ((2, 3), 0),
    ],
)
def test_conv_output_size(arguments, expected):
    assert conv_output_size(*arguments) == expected


@pytest.mark.parametrize("size", range(1, 12))
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_output_size_equals_tensorflow_shapes(tf, size, kernel_size, stride, padding):
    x = np.zeros((1, size, 1, 1), np.float32)
    if padding == "valid" and kernel_size > size:
        # No window fits: 0 outputs, and conv2d refuses. TensorFlow is no oracle here (its
        # oneDNN CPU kernel returns the input's shape when the output would be empty).
        assert conv_output_size(size, kernel_size, stride, padding) == 0
        with pytest.raises(ValueError, match="larger than the padded input"):
            conv2d(x, np.zeros((kernel_size, 1, 1, 1)), stride=stride, padding=padding)
        return
    kernel = np.zeros((kernel_size, 1, 1, 1), np.float32)
    shape = tf.nn.conv2d(x, kernel, strides=stride, padding=padding.upper()).shape
    assert conv_output_size(size, kernel_size, stride, padding) == shape[1]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [((0, 3), ValueError), ((5, 3, 0), ValueError), ((5, 3, 1, "half"), ValueError),
     ((5.0, 3), TypeError), ((5, 3, 1, "valid", -1), ValueError)],
)  # fmt: skip
def test_conv_output_size_bad_input(arguments, error):
    with pytest.raises(error):
        conv_output_size(*arguments)


def test_padding_amounts_defaults_are_stride_1_no_padding_and_no_dilation():
    assert padding_amounts(6, 3) == (0, 0)  # "valid"
    # "same" at stride 1 keeps 6 outputs: 6 + total - 3 + 1 = 6, so 2 zeros, one each side
    # (stride 2 would need 3 outputs: 1 zero, after).
    assert padding_amounts(6, 3, padding="same") == (1, 1)
    # "full" adds the kernel's extent less one: 3 taps side by side span 3 cells.
    assert padding_amounts(6, 3, padding="full") == (2, 2)


# ---- window arithmetic shared by convolution and pooling (cnnbook._windows) ----------


def test_extent_is_the_span_from_the_first_tap_to_the_last():
    for kernel_size, dilation in [(1, 1), (3, 1), (3, 2), (2, 4)]:
        taps = np.arange(kernel_size) * dilation  # the cells the taps read, from 0
        assert extent(kernel_size, dilation) == taps[-1] + 1
    assert extent(3) == 3  # taps side by side unless dilated


def test_window_view_lists_only_the_windows_of_out_shape(rng):
    padded = rng.normal(size=(2, 7, 6, 3))
    strides, dilations = (1, 2), (2, 1)
    (s_h, s_w), (d_h, d_w) = strides, dilations
    window_shape = (2, 3)  # extents 3 and 3
    out_shape = (2, 1)  # fewer windows than fit: 5 along the height, 2 along the width
    view = window_view(padded, window_shape, strides, out_shape, dilations)
    want = np.empty((2, *out_shape, 3, *window_shape))
    for i, j, m, n in itertools.product(*map(range, out_shape + window_shape)):
        want[:, i, j, :, m, n] = padded[:, s_h * i + d_h * m, s_w * j + d_w * n, :]
    np.testing.assert_array_equal(view, want)


# ---- every error message, word for word: what was received, and what was expected ------

X_8, KERNEL_8 = np.zeros((2, 8, 8, 3)), np.zeros((3, 3, 3, 4))
TWO_PAIRS = "a tuple of 2 ints, or a tuple of 2 (before, after) pairs"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: conv2d(np.zeros((8, 8, 3)), KERNEL_8), ValueError,
         "x must be 4-D (batch, height, width, channels). Received: x.shape=(8, 8, 3)"),
        (lambda: conv2d(X_8, np.zeros((3, 3, 3))), ValueError,
         "kernel must be 4-D (height, width, in_channels, out_channels). "
         "Received: kernel.shape=(3, 3, 3)"),
        (lambda: conv2d(X_8, np.zeros((3, 3, 4, 4))), ValueError,
         "kernel has 4 input channels but x has 3 (x.shape=(2, 8, 8, 3), "
         "kernel.shape=(3, 3, 4, 4))"),
        (lambda: conv2d(X_8, np.zeros((0, 3, 3, 4))), ValueError,
         "kernel must not be empty. Received: kernel.shape=(0, 3, 3, 4)"),
        (lambda: conv2d(X_8, KERNEL_8, bias=np.zeros(3)), ValueError,
         "bias must have shape (4,), one value per output channel. Received: bias.shape=(3,)"),
        (lambda: conv2d(X_8, KERNEL_8, padding="SAME"), ValueError,
         "padding must be one of ('valid', 'same', 'full'), an int or a pair of ints. "
         "Received: padding='SAME'"),
        (lambda: conv2d(X_8, KERNEL_8, padding=-1), ValueError,
         "padding must not be negative. Received: padding=-1"),
        (lambda: conv2d(X_8, KERNEL_8, padding=(1, 2, 3)), ValueError,
         f"padding must be one of ('valid', 'same', 'full'), an int, {TWO_PAIRS}. "
         "Received: padding=(1, 2, 3)"),
        (lambda: conv2d(X_8, KERNEL_8, padding=((1, 2), (1, 2, 3))), ValueError,
         f"padding must be one of ('valid', 'same', 'full'), an int, {TWO_PAIRS}. "
         "Received: padding=((1, 2), (1, 2, 3))"),
        (lambda: conv2d(X_8, KERNEL_8, dilation=4), ValueError,
         "kernel height 3 (dilated extent 9) is larger than the padded input height 8 "
         "(x.shape=(2, 8, 8, 3), kernel.shape=(3, 3, 3, 4), padding='valid', dilation=4)"),
        (lambda: conv2d(X_8, KERNEL_8, stride=1.5), TypeError,
         "stride must be an int or a sequence of 2 ints. Received: stride=1.5"),
        (lambda: conv2d(X_8, KERNEL_8, stride=(1, 0)), ValueError,
         "stride must be positive. Received: stride=(1, 0)"),
        (lambda: conv1d(np.zeros((1, 5, 1)), np.zeros((7, 1, 1)), padding=(0, 1)), ValueError,
         "kernel width 7 (dilated extent 7) is larger than the padded input width 6 "
         "(x.shape=(1, 5, 1), kernel.shape=(7, 1, 1), padding=(0, 1), dilation=1)"),
        (lambda: conv1d(np.zeros((1, 5, 1)), np.zeros((8, 1, 1)), padding=(2, 0)), ValueError,
         "kernel width 8 (dilated extent 8) is larger than the padded input width 7 "
         "(x.shape=(1, 5, 1), kernel.shape=(8, 1, 1), padding=(2, 0), dilation=1)"),
        (lambda: conv1d(np.zeros((1, 5, 3)), np.zeros((2, 4, 6))), ValueError,
         "kernel has 4 input channels but x has 3 (x.shape=(1, 5, 3), kernel.shape=(2, 4, 6))"),
        (lambda: conv3d(np.zeros((1, 4, 4, 4, 1)), np.zeros((5, 1, 1, 1, 1))), ValueError,
         "kernel depth 5 (dilated extent 5) is larger than the padded input depth 4 "
         "(x.shape=(1, 4, 4, 4, 1), kernel.shape=(5, 1, 1, 1, 1), padding='valid', dilation=1)"),
        (lambda: conv_output_size(0, 3), ValueError,
         "size must be positive. Received: size=0"),
        (lambda: conv_output_size(5, 0), ValueError,
         "kernel_size must be positive. Received: kernel_size=0"),
        (lambda: conv_output_size(5, 3, 0), ValueError,
         "stride must be positive. Received: stride=0"),
        (lambda: conv_output_size(5, 3, 1, "valid", 0), ValueError,
         "dilation must be positive. Received: dilation=0"),
        (lambda: padding_amounts(5, 3, 1, "half"), ValueError,
         "padding must be one of ('valid', 'same', 'full'), an int or a pair of ints. "
         "Received: padding='half'"),
        (lambda: correlate2d(np.ones((3, 3, 1)), np.ones((2, 2))), ValueError,
         "image must be a 2-D array. Received: image with shape (3, 3, 1)"),
        (lambda: correlate2d(np.ones((3, 3)), np.ones((0, 2))), ValueError,
         "kernel must not be empty. Received: kernel.shape=(0, 2)"),
        (lambda: convolve2d(np.ones((3, 3, 1)), np.ones((2, 2))), ValueError,
         "image must be a 2-D array. Received: image with shape (3, 3, 1)"),
        (lambda: convolve2d(np.ones((3, 3)), np.ones(2)), ValueError,
         "kernel must be a 2-D array. Received: kernel with shape (2,)"),
        (lambda: convolve2d(np.ones((3, 3)), np.ones((2, 2)), "wrap"), ValueError,
         "mode must be 'valid', 'same' or 'full'. Received: mode='wrap'"),
        (lambda: correlate2d(np.ones((3, 3)), np.ones((4, 2))), ValueError,
         "in 'valid' mode the kernel must fit inside the image. "
         "Received: kernel.shape=(4, 2), image.shape=(3, 3)"),
        (lambda: conv2d_backward(np.zeros((1, 3, 3, 1)), np.zeros((1, 3, 3, 1)),
                                 np.zeros((2, 2, 1, 1))), ValueError,
         "grad_output must have the forward output's shape (1, 2, 2, 1). "
         "Received: grad_output.shape=(1, 3, 3, 1)"),
    ],
)  # fmt: skip
def test_conv_error_messages_word_for_word(call, error, message):
    with pytest.raises(error) as raised:
        call()
    assert str(raised.value) == message
