"""conv1d and conv3d against TensorFlow; conv2d_backward against GradientTape and finite
differences."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnbook import conv1d, conv2d, conv2d_backward, conv3d, gradient_check
from cnnbook.conv import _prepare_conv


@pytest.mark.parametrize(
    ("stride", "padding", "dilation"),
    [(1, "valid", 1), (2, "same", 1), (3, "same", 1), (1, "same", 2), (1, "valid", 3)],
)
def test_conv1d_equals_tensorflow(tf, rng, stride, padding, dilation):
    x = rng.normal(size=(2, 11, 3)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 4)).astype(np.float32)
    expected = tf.nn.conv1d(x, kernel, stride, padding.upper(), dilations=dilation).numpy()
    np.testing.assert_allclose(
        conv1d(x, kernel, stride=stride, padding=padding, dilation=dilation),
        expected,
        rtol=1e-5,
        atol=1e-5,
    )


def test_conv1d_explicit_padding_is_before_and_after(rng):
    x = rng.normal(size=(1, 6, 2))
    kernel = rng.normal(size=(3, 2, 1))
    padded = np.pad(x, ((0, 0), (1, 2), (0, 0)))
    np.testing.assert_allclose(conv1d(x, kernel, padding=(1, 2)), conv1d(padded, kernel))


@pytest.mark.parametrize(
    ("stride", "padding"), [(1, "valid"), (1, "same"), ((2, 1, 2), "same"), (2, "valid")]
)
def test_conv3d_equals_tensorflow(tf, rng, stride, padding):
    x = rng.normal(size=(2, 6, 7, 5, 2)).astype(np.float32)
    kernel = rng.normal(size=(3, 2, 3, 2, 4)).astype(np.float32)
    strides = (1, *(stride if isinstance(stride, tuple) else (stride,) * 3), 1)
    expected = tf.nn.conv3d(x, kernel, strides, padding.upper()).numpy()
    np.testing.assert_allclose(
        conv3d(x, kernel, stride=stride, padding=padding), expected, rtol=1e-5, atol=1e-5
    )


def test_conv3d_dilation_equals_tensorflow(tf, rng):
    # TensorFlow's CPU Conv3D has no dilation: compare with the undilated kernel that
    # has zeros between the taps.
    x = rng.normal(size=(1, 7, 7, 7, 1)).astype(np.float32)
    kernel = rng.normal(size=(2, 2, 2, 1, 2)).astype(np.float32)
    spread = np.zeros((3, 3, 3, 1, 2), np.float32)
    spread[::2, ::2, ::2] = kernel
    expected = tf.nn.conv3d(x, spread, (1,) * 5, "VALID").numpy()
    np.testing.assert_allclose(conv3d(x, kernel, dilation=2), expected, rtol=1e-5, atol=1e-5)


def test_conv1d_and_conv3d_report_bad_input():
    with pytest.raises(ValueError, match=r"x must be 3-D \(batch, width, channels\)"):
        conv1d(np.zeros((2, 5)), np.zeros((3, 1, 1)))
    with pytest.raises(ValueError, match=r"kernel must be 5-D \(depth, height, width"):
        conv3d(np.zeros((1, 4, 4, 4, 1)), np.zeros((3, 3, 1, 1)))
    with pytest.raises(ValueError, match="kernel depth 5 .* larger than the padded input depth 4"):
        conv3d(np.zeros((1, 4, 4, 4, 1)), np.zeros((5, 1, 1, 1, 1)))


# ---- conv2d_backward ------------------------------------------------------------------


def dilate(kernel, dilation):
    """The undilated kernel equal to ``kernel`` at ``dilation``: zeros between the taps."""
    height, width = kernel.shape[:2]
    spread = np.zeros(((height - 1) * dilation + 1, (width - 1) * dilation + 1, *kernel.shape[2:]))
    spread[::dilation, ::dilation] = kernel
    return spread


BACKWARD_CASES = list(
    itertools.product([1, 2, (2, 3)], ["valid", "same", 1, ((0, 2), (1, 0))], [1, 2])
)


@pytest.mark.parametrize(("stride", "padding", "dilation"), BACKWARD_CASES)
def test_conv2d_backward_equals_gradient_tape(tf, rng, stride, padding, dilation):
    x = rng.normal(size=(2, 9, 8, 3))
    kernel = rng.normal(size=(3, 2, 3, 4))
    grad_output = rng.normal(size=conv2d(x, kernel, None, stride, padding, dilation).shape)
    grad_x, grad_kernel, grad_bias = conv2d_backward(
        grad_output, x, kernel, stride, padding, dilation
    )

    # TensorFlow's CPU kernels have no gradient for dilated conv2d: differentiate the
    # equivalent undilated kernel (zeros between the taps) and keep its tap entries.
    # Padding is given to TensorFlow explicitly, as cnnbook resolved it (the forward
    # tests check that resolution against TensorFlow's own).
    pads = _prepare_conv(x, kernel, None, stride, padding, dilation, ndim=2)[4]
    x_tf = tf.Variable(x)
    kernel_tf = tf.Variable(dilate(kernel, dilation))
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(x_tf, kernel_tf, stride, [[0, 0], *map(list, pads), [0, 0]])
        loss = tf.reduce_sum(y * grad_output)
    want_x, want_kernel = tape.gradient(loss, [x_tf, kernel_tf])
    np.testing.assert_allclose(grad_x, want_x.numpy(), atol=1e-10)
    np.testing.assert_allclose(grad_kernel, want_kernel.numpy()[::dilation, ::dilation], atol=1e-10)
    np.testing.assert_allclose(grad_bias, grad_output.sum(axis=(0, 1, 2)))


@given(
    size=st.tuples(st.integers(3, 7), st.integers(3, 7)),
    kernel_size=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.sampled_from(["valid", "same", "full", 1]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_conv2d_backward_property_finite_differences(
    size, kernel_size, stride, dilation, padding, seed
):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(1, *size, 2))
    kernel = rng.normal(size=(*kernel_size, 2, 2))
    bias = rng.normal(size=2)
    try:
        y = conv2d(x, kernel, bias, stride, padding, dilation)
    except ValueError as error:  # the kernel does not fit: nothing to differentiate
        assert "larger than the padded input" in str(error)
        return
    weights = rng.normal(size=y.shape)  # loss = sum(weights * y), so dL/dy = weights
    grad_x, grad_kernel, grad_bias = conv2d_backward(weights, x, kernel, stride, padding, dilation)

    def loss_of(x=x, kernel=kernel, bias=bias):
        return np.sum(weights * conv2d(x, kernel, bias, stride, padding, dilation))

    assert gradient_check(lambda v: loss_of(x=v), x, grad_x) < 1e-6
    assert gradient_check(lambda v: loss_of(kernel=v), kernel, grad_kernel) < 1e-6
    assert gradient_check(lambda v: loss_of(bias=v), bias, grad_bias) < 1e-6


def test_conv2d_backward_rejects_grad_output_of_wrong_shape():
    with pytest.raises(ValueError, match=r"forward output's shape \(1, 2, 2, 1\)"):
        conv2d_backward(np.zeros((1, 3, 3, 1)), np.zeros((1, 3, 3, 1)), np.zeros((2, 2, 1, 1)))


def test_conv2d_backward_can_skip_the_input_gradient(rng):
    # A network's first layer needs no gradient with respect to its input: half the work.
    x, kernel = rng.normal(size=(2, 6, 5, 3)), rng.normal(size=(3, 3, 3, 4))
    grad_output = rng.normal(size=conv2d(x, kernel, stride=2, padding="same").shape)
    full = conv2d_backward(grad_output, x, kernel, 2, "same")
    skipped = conv2d_backward(grad_output, x, kernel, 2, "same", need_input_gradient=False)
    assert skipped[0] is None
    np.testing.assert_array_equal(skipped[1], full[1])
    np.testing.assert_array_equal(skipped[2], full[2])


def test_gradient_check_catches_a_wrong_gradient(rng):
    x = rng.normal(size=(1, 5, 5, 1))
    kernel = rng.normal(size=(3, 3, 1, 1))
    weights = rng.normal(size=(1, 3, 3, 1))
    _, grad_kernel, _ = conv2d_backward(weights, x, kernel)

    def loss(v):
        return np.sum(weights * conv2d(x, v))

    assert gradient_check(loss, kernel, grad_kernel) < 1e-7
    assert gradient_check(loss, kernel, grad_kernel[::-1, ::-1]) > 1e-2  # flipped: wrong
    with pytest.raises(ValueError, match="gradient must be shaped like x"):
        gradient_check(loss, kernel, grad_kernel[0])


def test_conv1d_and_conv3d_defaults_and_bias(rng):
    signal, kernel_1d = rng.normal(size=(2, 9, 3)), rng.normal(size=(3, 3, 4))
    bias = rng.normal(size=4)
    np.testing.assert_allclose(
        conv1d(signal, kernel_1d, bias), conv1d(signal, kernel_1d, None, 1, "valid", 1) + bias
    )
    assert conv1d(signal, kernel_1d).shape == (2, 7, 4)  # stride 1, no dilation
    volume, kernel_3d = rng.normal(size=(1, 4, 4, 4, 2)), rng.normal(size=(2, 2, 2, 2, 4))
    np.testing.assert_allclose(conv3d(volume, kernel_3d, bias), conv3d(volume, kernel_3d) + bias)


def test_conv2d_backward_keeps_float32(rng):
    x = rng.normal(size=(1, 5, 5, 2)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 2, 3)).astype(np.float32)
    grad_output = np.ones((1, 3, 3, 3))  # float64: the gradients follow x and the kernel
    gradients = conv2d_backward(grad_output, x, kernel)
    assert [gradient.dtype for gradient in gradients] == [np.float32] * 3


@pytest.mark.parametrize("shape", [(2, 64, 64, 8), (9, 32, 32, 8)])
def test_conv2d_backward_adds_up_the_kernel_gradient_of_every_block(rng, shape):
    # Over 1 MiB of patches (windows of 3 x 3 x 8 taps), so the kernel's gradient is
    # summed block by block: a few rows of one image at a time (2 x 64 x 64), or two
    # whole images at a time (9 x 32 x 32, the last block one image).
    x = rng.normal(size=shape)
    kernel = rng.normal(size=(3, 3, 8, 4))
    grad_output = rng.normal(size=(shape[0], shape[1] - 2, shape[2] - 2, 4))
    _, grad_kernel, _ = conv2d_backward(grad_output, x, kernel, need_input_gradient=False)
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
    expected = np.einsum("bijcmn,bijo->mnco", windows, grad_output)
    np.testing.assert_allclose(grad_kernel, expected, rtol=1e-10, atol=1e-9)
