"""Classic image-filter kernels, and the photograph the book filters with them.

Each function returns a small float64 array to pass to :func:`~cnnbook.conv.convolve2d`
or :func:`~cnnbook.conv.correlate2d`. The smoothing kernels sum to 1, so a flat region
keeps its brightness; the edge kernels sum to 0, so a flat region becomes 0.

Used by chapters 3, 4 and 5.
"""

import numpy as np

from cnnbook._arguments import is_int, one_of, positive_int

__all__ = [
    "box_blur",
    "gaussian",
    "laplacian",
    "sample_photograph",
    "sharpen",
    "sobel",
]


def _odd_size(size, name="size"):
    if not is_int(size) or size < 1 or size % 2 == 0:
        raise ValueError(f"{name} must be a positive odd int. Received: {name}={size!r}")
    return size


def box_blur(size=3):
    """Average of a ``size`` x ``size`` neighborhood.

    Examples
    --------
    >>> box_blur(3)
    array([[0.1111, 0.1111, 0.1111],
           [0.1111, 0.1111, 0.1111],
           [0.1111, 0.1111, 0.1111]])
    """
    size = positive_int(size, "size")
    return np.full((size, size), 1.0 / size**2)


def gaussian(size=5, sigma=1.0):
    """Gaussian blur: weights ``exp(-(x^2 + y^2) / (2 sigma^2))``, normalized to sum 1.

    Parameters
    ----------
    size : int, default 5
        Odd side length, so the kernel has a center.
    sigma : float, default 1.0
        Standard deviation in pixels; larger blurs more.

    Examples
    --------
    >>> np.round(gaussian(3, sigma=1.0), 3)
    array([[0.075, 0.124, 0.075],
           [0.124, 0.204, 0.124],
           [0.075, 0.124, 0.075]])
    """
    _odd_size(size)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive. Received: sigma={sigma!r}")
    offsets = np.arange(size) - size // 2
    profile = np.exp(-(offsets**2) / (2.0 * sigma**2))
    kernel = np.outer(profile, profile)
    return kernel / kernel.sum()


def sharpen(amount=1.0):
    """The image plus ``amount`` times its difference from the 4-neighbor average.

    Examples
    --------
    >>> sharpen()
    array([[ 0., -1.,  0.],
           [-1.,  5., -1.],
           [ 0., -1.,  0.]])
    """
    identity = np.zeros((3, 3))
    identity[1, 1] = 1.0
    return identity - amount * laplacian()


def laplacian():
    """Discrete Laplacian (4-neighbor): responds to spots and edges in any direction.

    Examples
    --------
    >>> laplacian()
    array([[ 0.,  1.,  0.],
           [ 1., -4.,  1.],
           [ 0.,  1.,  0.]])
    """
    return np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def sobel(direction="x"):
    """Sobel kernel: a smoothed derivative across ``"x"`` (columns) or ``"y"`` (rows).

    Written for :func:`~cnnbook.conv.correlate2d` (positive where brightness increases to
    the right, or downwards); convolution flips it and so the sign.

    Examples
    --------
    >>> sobel("x")
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    """
    one_of(direction, ("x", "y"), "direction")
    kernel = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
    return kernel if direction == "x" else kernel.T


def sample_photograph(grayscale=True):
    """Grace Hopper's portrait from matplotlib's sample data, as floats in [0, 1].

    The photograph ships with matplotlib, so it needs no download.

    Parameters
    ----------
    grayscale : bool, default True
        Return luminance, shape (600, 512); else RGB, shape (600, 512, 3).

    Examples
    --------
    >>> sample_photograph().shape
    (600, 512)
    """
    from matplotlib import cbook
    from matplotlib import image as mpimg

    with cbook.get_sample_data("grace_hopper.jpg") as file:
        rgb = mpimg.imread(file, format="jpg").astype(np.float64) / 255.0
    if not grayscale:
        return rgb
    # ITU-R BT.601 luma weights, as most image libraries use.
    return rgb @ np.array([0.299, 0.587, 0.114])
