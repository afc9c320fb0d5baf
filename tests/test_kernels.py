"""cnnbook.kernels: the classic image filters."""

import numpy as np
import pytest

from cnnbook import kernels


def test_kernels():
    assert kernels.gaussian(5, 2.0).sum() == pytest.approx(1.0)
    assert kernels.sharpen().sum() == pytest.approx(1.0)
    assert kernels.laplacian().sum() == 0 and kernels.sobel("y").sum() == 0
    np.testing.assert_array_equal(kernels.sobel("y"), kernels.sobel("x").T)
    for call, match in [
        (lambda: kernels.gaussian(4), "size must be a positive odd int"),
        (lambda: kernels.gaussian(3, sigma=0), "sigma must be positive"),
        (lambda: kernels.box_blur(0), "size must be a positive int"),
        (lambda: kernels.sobel("z"), "direction must be 'x' or 'y'"),
    ]:
        with pytest.raises(ValueError, match=match):
            call()
    photo = kernels.sample_photograph(grayscale=False)
    assert photo.shape == (600, 512, 3) and 0 <= photo.min() and photo.max() <= 1


def test_box_blur_averages_the_neighborhood():
    np.testing.assert_array_equal(kernels.box_blur(), np.full((3, 3), 1 / 9))
    blur = kernels.box_blur(5)
    assert blur.shape == (5, 5) and blur.dtype == np.float64
    np.testing.assert_allclose(blur, np.full((5, 5), 1 / 25), rtol=1e-15)
    assert blur.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(kernels.box_blur(1), [[1.0]])


def test_gaussian_values_follow_the_documented_formula():
    np.testing.assert_allclose(
        np.round(kernels.gaussian(3, sigma=1.0), 3),
        [[0.075, 0.124, 0.075], [0.124, 0.204, 0.124], [0.075, 0.124, 0.075]],
    )
    for size, sigma in [(5, 1.0), (5, 1.5), (7, 0.5), (3, 3.0)]:
        y, x = np.mgrid[:size, :size] - size // 2
        expected = np.exp(-(x**2 + y**2) / (2 * sigma**2))
        kernel = kernels.gaussian(size, sigma=sigma)
        assert kernel.shape == (size, size)
        np.testing.assert_allclose(kernel, expected / expected.sum(), rtol=1e-12)
        np.testing.assert_allclose(kernel, kernel.T, rtol=1e-12)
        np.testing.assert_allclose(kernel, kernel[::-1, ::-1], rtol=1e-12)
        assert kernel.argmax() == (size * size) // 2


def test_gaussian_defaults_and_sigma_dependence():
    np.testing.assert_array_equal(kernels.gaussian(), kernels.gaussian(5, sigma=1.0))
    assert kernels.gaussian().shape == (5, 5)
    # Larger sigma blurs more: the center weight drops.
    centers = [kernels.gaussian(5, sigma=s)[2, 2] for s in (0.5, 1.0, 2.0)]
    assert centers[0] > centers[1] > centers[2]
    np.testing.assert_array_equal(kernels.gaussian(1), [[1.0]])


def test_gaussian_rejects_bad_size_and_sigma():
    for size in (-1, -3, 0, 2, 4, 3.0, True, "5"):
        with pytest.raises(ValueError, match=r"size must be a positive odd int\. Received: size="):
            kernels.gaussian(size)
    for sigma in (0, -1.0):
        with pytest.raises(ValueError, match=r"sigma must be positive\. Received: sigma="):
            kernels.gaussian(3, sigma=sigma)


def test_odd_size_accepts_odd_ints_and_names_the_argument():
    assert kernels._odd_size(1) == 1 and kernels._odd_size(7) == 7
    assert kernels._odd_size(np.int64(3)) == 3
    with pytest.raises(
        ValueError, match=r"^width must be a positive odd int\. Received: width=-1$"
    ):
        kernels._odd_size(-1, "width")


def test_sharpen_adds_amount_times_the_negative_laplacian():
    expected = [[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]
    np.testing.assert_array_equal(kernels.sharpen(), expected)
    np.testing.assert_array_equal(
        kernels.sharpen(2.0), [[0.0, -2.0, 0.0], [-2.0, 9.0, -2.0], [0.0, -2.0, 0.0]]
    )
    np.testing.assert_array_equal(kernels.sharpen(0.0), [[0, 0, 0], [0, 1, 0], [0, 0, 0]])


def test_laplacian_values():
    np.testing.assert_array_equal(
        kernels.laplacian(), [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]
    )


def test_sobel_x_and_y_forms():
    sobel_x = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    np.testing.assert_array_equal(kernels.sobel(), sobel_x)
    np.testing.assert_array_equal(kernels.sobel("x"), sobel_x)
    np.testing.assert_array_equal(
        kernels.sobel("y"), [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]
    )
    with pytest.raises(
        ValueError, match=r"^direction must be 'x' or 'y'\. Received: direction='X'$"
    ):
        kernels.sobel("X")


def test_sample_photograph_grayscale_and_color():
    gray = kernels.sample_photograph()
    rgb = kernels.sample_photograph(grayscale=False)
    assert gray.shape == (600, 512) and gray.dtype == np.float64
    assert rgb.shape == (600, 512, 3) and rgb.dtype == np.float64
    np.testing.assert_array_equal(kernels.sample_photograph(grayscale=True), gray)
    # Floats in [0, 1] from 8-bit values: k / 255, reaching both ends.
    assert rgb.min() == 0.0 and rgb.max() == 1.0
    np.testing.assert_allclose(rgb * 255, np.round(rgb * 255), atol=1e-9)
    # ITU-R BT.601 luma of the color photograph.
    np.testing.assert_allclose(gray, rgb @ [0.299, 0.587, 0.114], rtol=1e-12)
    assert 0.0 <= gray.min() and gray.max() <= 1.0
