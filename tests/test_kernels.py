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
