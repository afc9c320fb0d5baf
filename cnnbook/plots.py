"""The book's figure style, and plots that several chapters use.

Every figure in the book goes through :func:`use_style` so that fonts, sizes and
colors agree from chapter to chapter.

Used by every chapter.
"""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

__all__ = [
    "confusion_matrix",
    "plot_ablation",
    "plot_architecture",
    "plot_confusion_matrix",
    "plot_history",
    "plot_per_class_accuracy",
    "plot_validation_curves",
    "plot_window_positions",
    "rescale",
    "show_array",
    "show_images",
    "show_misclassified",
    "show_predictions",
    "use_style",
]

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


def _plottable(image):
    """``image`` as a NumPy array that matplotlib can draw.

    A layer computing in bfloat16 (mixed precision) returns ml_dtypes' bfloat16 arrays,
    which ``imshow`` refuses: they, and float16 arrays, become float32. Integer arrays
    and wider floats are left as they are (``imshow`` reads uint8 as 0-255 and floats
    as 0-1).
    """
    image = np.asarray(image)
    narrow_float = image.dtype.kind == "f" and image.dtype.itemsize < 4
    if narrow_float or image.dtype.kind not in "biuf":
        return image.astype(np.float32)
    return image


def show_images(images, titles=None, ncols=None, size=2.6, cmap="gray", vmin=None, vmax=None):
    """Show images side by side, without axes, each with its title.

    Parameters
    ----------
    images : sequence of array_like
        2-D (gray) or (height, width, 3) arrays; bfloat16 arrays (a layer's output under
        mixed precision) are drawn as float32.
    titles : sequence of str, optional
        One per image.
    ncols : int, optional
        Images per row (default: all in one row).
    size : float, default 2.6
        Width of each panel in inches.
    cmap, vmin, vmax
        Passed to ``matplotlib.axes.Axes.imshow`` for 2-D images.

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
            ax.imshow(_plottable(images[index]), cmap=cmap, vmin=vmin, vmax=vmax)
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
        Color map of the cell shading.

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


def rescale(array):
    """Map an array's values linearly onto [0, 1], for showing kernels as images.

    A constant array maps to 0.5.

    Examples
    --------
    >>> rescale(np.array([-2.0, 0.0, 2.0]))
    array([0. , 0.5, 1. ])
    """
    array = np.asarray(array, dtype=np.float64)
    low, high = array.min(), array.max()
    if high == low:
        return np.full_like(array, 0.5)
    return (array - low) / (high - low)


def plot_window_positions(
    input_size, kernel_size, stride=1, padding="valid", max_panels=9, panel_size=1.6
):
    """A figure sequence: where a square kernel sits for each output cell.

    One panel per output position (row by row, up to ``max_panels``): the input's
    cells in blue, padding cells hatched gray, the kernel's window framed in red.

    Parameters
    ----------
    input_size : int
        Side of the square input.
    kernel_size : int
        Side of the square kernel.
    stride : int, default 1
        Step of the window.
    padding : {"valid", "same", "full"} or int, default "valid"
        As in :func:`~cnnbook.conv.conv_output_size`.
    max_panels : int, default 9
        At most this many positions are drawn.
    panel_size : float, default 1.6
        Width of each panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from cnnbook.conv import conv_output_size, padding_amounts

    before, after = padding_amounts(input_size, kernel_size, stride, padding)
    outputs = conv_output_size(input_size, kernel_size, stride, padding)
    positions = [(i, j) for i in range(outputs) for j in range(outputs)][:max_panels]
    if not positions:
        raise ValueError(
            f"a {kernel_size}x{kernel_size} kernel does not fit a {input_size}x{input_size} "
            f"input with padding={padding!r}"
        )
    side = before + input_size + after
    columns = min(len(positions), outputs, 5) if outputs > 1 else 1
    rows = -(-len(positions) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(panel_size * columns, panel_size * rows + 0.3), squeeze=False
    )
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (i, j) in zip(axes.flat, positions):
        for row in range(side):
            for column in range(side):
                real = (
                    before <= row < before + input_size and before <= column < before + input_size
                )
                ax.add_patch(
                    Rectangle(
                        (column, side - 1 - row), 1, 1,
                        facecolor="#c6dbef" if real else "#eeeeee",
                        edgecolor="white" if real else "#bbbbbb",
                        hatch=None if real else "///",
                    )
                )  # fmt: skip
        top, left = i * stride, j * stride
        ax.add_patch(
            Rectangle(
                (left, side - top - kernel_size), kernel_size, kernel_size,
                fill=False, edgecolor="red", linewidth=2,
            )
        )  # fmt: skip
        ax.set_xlim(-0.2, side + 0.2)
        ax.set_ylim(-0.2, side + 0.2)
        ax.set_aspect("equal")
        ax.set_title(f"output ({i}, {j})", fontsize=9)
    shown = (
        ""
        if len(positions) == outputs**2
        else (f"\n(the first {len(positions)} of its {outputs**2} positions)")
    )
    fig.suptitle(
        f"input {input_size}x{input_size}, kernel {kernel_size}x{kernel_size}, stride {stride}, "
        f"padding {padding!r}: output {outputs}x{outputs}{shown}",
        fontsize=10,
    )
    return fig


def plot_architecture(rows, input_shape, ax=None):
    """Draw a network as a row of blocks, one per layer, from :func:`cnnbook.architecture.trace`.

    Each block's height grows with the layer output's spatial size and its width with
    the number of channels (both on a log scale); below it, the layer's kind, output
    shape and parameter count.

    Parameters
    ----------
    rows : list of cnnbook.architecture.LayerInfo
        The traced layers.
    input_shape : tuple of int
        Shape of one input example, drawn as the first block.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
    """
    blocks = [("input", tuple(input_shape), None)] + [
        (row.kind, row.output_shape, row.parameters) for row in rows
    ]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.25 * len(blocks), 3.4))
    colors = {"Conv2D": "#6baed6", "Dense": "#fd8d3c", "input": "#bdbdbd"}
    previous_right = None
    for index, (kind, shape, parameters) in enumerate(blocks):
        if len(shape) == 3:  # a volume: taller for larger maps, wider for more channels
            height = 0.6 + 0.5 * np.log2(shape[0] + 1)
            width = 0.15 + 0.08 * np.log2(shape[-1] + 1)
        else:  # a vector: a thin bar, taller for more units
            height = 0.3 + 0.25 * np.log2(shape[0] + 1)
            width = 0.12
        color = colors.get(kind, "#74c476" if "Pool" in kind else "#d9d9d9")
        ax.add_patch(
            Rectangle((index - width / 2, -height / 2), width, height, facecolor=color,
                      edgecolor="black", linewidth=0.8)
        )  # fmt: skip
        label = f"{kind}\n{'x'.join(map(str, shape))}"
        if parameters is not None:
            label += f"\n{parameters:,} params"
        ax.text(index, -2.0, label, ha="center", va="top", fontsize=8)
        if previous_right is not None:
            ax.annotate("", (index - width / 2, 0), (previous_right, 0),
                        arrowprops={"arrowstyle": "->", "color": "#636363"})  # fmt: skip
        previous_right = index + width / 2
    ax.set_xlim(-0.6, len(blocks) - 0.4)
    ax.set_ylim(-3.3, 2.0)
    ax.set_axis_off()
    return ax


def plot_history(history, title=None):
    """Learning curves: loss and accuracy per epoch, training and validation.

    Parameters
    ----------
    history : dict of str to list of float
        As returned by :meth:`cnnbook.nn.Sequential.fit` (or Keras's ``History.history``):
        ``loss``, ``accuracy`` and optionally ``val_loss``, ``val_accuracy``.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        if metric not in history:
            raise ValueError(f"history has no {metric!r}: it has {sorted(history)}")
        epochs = np.arange(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], marker=".", label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], marker=".", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def show_misclassified(images, labels, predicted, class_names=None, limit=12):
    """The first ``limit`` images whose predicted class is wrong, titled "true -> predicted".

    Parameters
    ----------
    images : array_like, shape (N, height, width) or (N, height, width, channels)
    labels, predicted : array_like of int, shape (N,)
    class_names : sequence of str, optional
        Names of the classes (default: their numbers).
    limit : int, default 12

    Returns
    -------
    matplotlib.figure.Figure or None
        None when every prediction is right.
    """
    images, labels, predicted = np.asarray(images), np.asarray(labels), np.asarray(predicted)
    wrong = np.flatnonzero(labels != predicted)[:limit]
    if wrong.size == 0:
        return None
    names = class_names or [str(label) for label in range(int(labels.max()) + 1)]
    shown = [images[i][..., 0] if images[i].shape[-1] == 1 else images[i] for i in wrong]
    titles = [f"{names[labels[i]]} -> {names[predicted[i]]}" for i in wrong]
    return show_images(shown, titles, ncols=min(len(wrong), 6), size=1.3)


def plot_validation_curves(results, metric="val_accuracy", title=None):
    """One line per run: ``metric`` per epoch, to compare runs of an experiment.

    Parameters
    ----------
    results : dict of str to dict
        Run name to a result holding ``history`` (as returned by
        :func:`cnnbook.keras.training.train_and_evaluate`).
    metric : str, default "val_accuracy"
        Any key of the histories; "loss" and "val_loss" work too.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    _, ax = plt.subplots(figsize=(7, 3.5))
    for name, result in results.items():
        values = result["history"][metric]
        ax.plot(np.arange(1, len(values) + 1), values, marker=".", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend(fontsize=8, ncols=2)
    if title:
        ax.set_title(title)
    return ax


def plot_ablation(arms, band=None, band_label="one standard error", title=None, ax=None):
    """Horizontal bars: each arm's difference in accuracy from the first arm's, in points.

    A bar below zero (the arm scored lower than the reference: what it took away had
    helped) is red, the others green. An arm whose difference has a standard error
    (it and the reference were each run with several seeds) gets an error bar of one
    standard error; the others get none. The first arm, the reference, is not drawn.

    Parameters
    ----------
    arms : list of dict
        As :func:`cnnbook.keras.fast_training.ablation_summary` returns them:
        ``label``, ``difference`` and ``difference_error`` (None: no error bar).
    band : float, optional
        Half-width, in points, of a gray band around zero (for example one standard
        error of a single accuracy measurement).
    band_label : str, default "one standard error"
        The band's entry in the legend.
    title : str, optional
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if len(arms) < 2:
        raise ValueError(f"need the reference arm and at least one other. Received: {len(arms)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    shown = arms[1:][::-1]  # the first arm compared at the top
    differences = [arm["difference"] for arm in shown]
    # NaN draws no error bar where an arm has no error (0 would draw its caps).
    errors = [
        np.nan if arm["difference_error"] is None else arm["difference_error"] for arm in shown
    ]
    if np.all(np.isnan(errors)):
        errors = None
    if band is not None:
        ax.axvspan(-band, band, color="0.88", label=band_label)
    ax.barh(
        [arm["label"] for arm in shown],
        differences,
        color=["C3" if d < 0 else "C2" for d in differences],
        xerr=errors,
        capsize=3,
    )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("points")
    if title:
        ax.set_title(title)
    if band is not None:  # beside the axes, where no bar can be under it
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return ax


def confusion_matrix(labels, predicted, num_classes):
    """Counts ``matrix[true, predicted]`` of a classifier's answers.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def plot_confusion_matrix(labels, predicted, class_names):
    """The confusion matrix as a heat map, each row normalized to the true class's count.

    Returns
    -------
    matplotlib.axes.Axes
    """
    matrix = confusion_matrix(labels, predicted, len(class_names))
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    _, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), share in np.ndenumerate(shares):
        color = "white" if share > 0.5 else "black"
        ax.text(column, row, f"{share:.2f}", ha="center", va="center", fontsize=7, color=color)
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.figure.colorbar(image, ax=ax, label="share of the true class")
    return ax


def plot_per_class_accuracy(labels, predicted, class_names):
    """A bar per class: the share of its test images classified correctly.

    Returns
    -------
    matplotlib.axes.Axes
    """
    matrix = confusion_matrix(labels, predicted, len(class_names))
    accuracy = np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)
    _, ax = plt.subplots(figsize=(7, 3))
    ax.bar(class_names, accuracy, color="#6baed6")
    ax.axhline(np.mean(np.asarray(labels) == np.asarray(predicted)), color="gray",
               linestyle="--", label="overall")  # fmt: skip
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.tick_params(axis="x", rotation=45)
    ax.legend()
    return ax


def show_predictions(images, labels, predicted, class_names, count=12, seed=None):
    """A grid of images titled "predicted (true)", in red where the prediction is wrong.

    Parameters
    ----------
    images, labels, predicted : array_like
        The images, their true classes and the predicted classes, in the same order.
    class_names : sequence of str
        The name of each class index.
    count : int, default 12
        How many images to show (at most ``len(images)``).
    seed : int or None, default None
        ``None`` shows the first ``count`` images. An int shows ``count`` images drawn
        at random without replacement, reproducibly, in their original order: use it
        when the images are sorted by class (as in a class-folder copy of CIFAR-10),
        where the first images would all be of one class.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if count < 1:
        raise ValueError(f"count must be >= 1. Received: count={count}")
    count = min(count, len(images))
    if seed is None:
        chosen = np.arange(count)
    else:
        chosen = np.sort(np.random.default_rng(seed).choice(len(images), count, replace=False))
    figure = show_images([images[i] for i in chosen], ncols=min(count, 6), size=1.5)
    for ax, i in zip(figure.axes, chosen):
        label, guess = labels[i], predicted[i]
        ax.set_title(
            f"{class_names[guess]}\n({class_names[label]})",
            color="black" if guess == label else "red",
            fontsize=8,
        )
    return figure
