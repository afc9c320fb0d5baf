"""The book's figure style, and plots that several chapters use.

Every figure in the book goes through :func:`use_style` so that fonts, sizes and
colours agree from chapter to chapter.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

__all__ = ["show_array", "show_images", "use_style"]

STYLE = {
    "figure.figsize": (7.0, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "gray",
    "image.interpolation": "nearest",
}


def use_style():
    """Apply the book's matplotlib settings (call once at the top of a chapter)."""
    mpl.rcParams.update(STYLE)


def show_images(images, titles=None, ncols=None, size=2.6, cmap="gray", vmin=None, vmax=None):
    """Show images side by side, without axes, each with its title.

    Parameters
    ----------
    images : sequence of array_like
        2-D (grey) or (height, width, 3) arrays.
    titles : sequence of str, optional
        One per image.
    ncols : int, optional
        Images per row (default: all in one row).
    size : float, default 2.6
        Width of each panel in inches.
    cmap, vmin, vmax
        Passed to :meth:`matplotlib.axes.Axes.imshow` for 2-D images.

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = list(images)
    if not images:
        raise ValueError("images must not be empty")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index < len(images):
            ax.imshow(np.asarray(images[index]), cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[index])
    return fig


def show_array(array, ax=None, title=None, highlight=None, fmt="{:g}", cmap="Blues"):
    """Draw a small 2-D array as a grid of numbers, optionally framing a window.

    Parameters
    ----------
    array : array_like, shape (rows, columns)
        The values to write in the cells.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    title : str, optional
        Axes title.
    highlight : (int, int, int, int), optional
        ``(top, left, height, width)`` of a window to frame in red.
    fmt : str, default "{:g}"
        Format of each number.
    cmap : str, default "Blues"
        Colour map of the cell shading.

    Returns
    -------
    matplotlib.axes.Axes
    """
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"array must be 2-D. Received: array.shape={array.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * array.shape[1] + 0.6, 0.5 * array.shape[0] + 0.6))
    ax.imshow(array, cmap=cmap, alpha=0.6)
    for (row, column), value in np.ndenumerate(array):
        ax.text(column, row, fmt.format(value), ha="center", va="center")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():  # a full frame around the grid
        spine.set_visible(True)
    if title:
        ax.set_title(title)
    if highlight is not None:
        top, left, height, width = highlight
        ax.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5), width, height, fill=False, edgecolor="red", linewidth=2.5
            )
        )
    return ax
