"""cnnbook.plots: the book's figures draw what they are given, and reject bad input.

Each figure is read back through matplotlib's objects (the data of its lines, bars,
images and rectangles, its texts, labels, ticks, limits and legends), never its pixels.
What only changes how a figure looks (sizes, fonts, colors, line widths) is not pinned:
benchmarks/mutation.md lists it.
"""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnbook.architecture import LayerInfo
from cnnbook.plots import (
    confusion_matrix,
    plot_ablation,
    plot_architecture,
    plot_confusion_matrix,
    plot_history,
    plot_per_class_accuracy,
    plot_validation_curves,
    plot_window_positions,
    rescale,
    show_array,
    show_images,
    show_misclassified,
    show_predictions,
    use_style,
)

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def texts(artists):
    """The strings of ``artists`` (texts, tick labels, a legend's entries)."""
    return [artist.get_text() for artist in artists]


def titles(figure):
    """The titles of ``figure``'s panels that have one, row by row."""
    return [ax.get_title() for ax in figure.axes if ax.get_title()]


def grid(figure):
    """(rows, columns) of ``figure``'s panels."""
    return figure.axes[0].get_subplotspec().get_gridspec().get_geometry()


def drawn_images(figure):
    """The array each panel of ``figure`` shows, for the panels that show one."""
    return [np.asarray(ax.images[0].get_array()) for ax in figure.axes if ax.images]


def numbered_images(count, channels=3):
    """``count`` images of one pixel, the i-th of value i / count (to tell which are shown)."""
    return np.arange(count)[:, None, None, None] / count * np.ones((count, 1, 1, channels))


def image_numbers(figure, count):
    """Which of ``numbered_images(count)`` the panels of ``figure`` show, in order."""
    return [round(float(drawn.flat[0]) * count) for drawn in drawn_images(figure)]


def bounds(rectangle):
    """(x, y, width, height) of a matplotlib Rectangle."""
    return (rectangle.get_x(), rectangle.get_y(), rectangle.get_width(), rectangle.get_height())


def lines_xy(ax):
    """The (x, y) points of each line of ``ax``, as lists."""
    return [line.get_xydata().tolist() for line in ax.get_lines()]


def legend(ax):
    """The entries of ``ax``'s legend."""
    return texts(ax.get_legend().get_texts())


# The style


def test_use_style_shows_images_in_gray_with_unsmoothed_pixels():
    with matplotlib.rc_context():
        use_style()
        assert matplotlib.rcParams["image.cmap"] == "gray"
        assert matplotlib.rcParams["image.interpolation"] == "nearest"
        assert matplotlib.rcParams["figure.constrained_layout.use"] is True


# show_images


def test_show_images_draws_each_image_with_its_title_row_by_row():
    images = [np.full((3, 4), value) for value in range(5)]
    figure = show_images(images, titles=list("abcde"), ncols=3)
    assert grid(figure) == (2, 3)
    assert titles(figure) == list("abcde")
    for drawn, image in zip(drawn_images(figure), images, strict=True):
        np.testing.assert_array_equal(drawn, image)
    assert not figure.axes[5].images  # the sixth panel is empty
    assert not any(ax.axison for ax in figure.axes)


def test_show_images_puts_all_in_one_row_by_default_and_passes_the_color_scale():
    figure = show_images([np.zeros((2, 2)), np.ones((2, 2, 3))])
    assert grid(figure) == (1, 2) and titles(figure) == []
    gray = figure.axes[0].images[0]
    assert gray.get_cmap().name == "gray" and gray.get_clim() == (0.0, 0.0)
    figure = show_images([np.arange(4.0).reshape(2, 2)], cmap="viridis", vmin=-1, vmax=5)
    drawn = figure.axes[0].images[0]
    assert drawn.get_cmap().name == "viridis" and drawn.get_clim() == (-1, 5)


def test_show_images_rejects_no_images_and_a_wrong_number_of_titles():
    with pytest.raises(ValueError, match="^images must not be empty$"):
        show_images([])
    with pytest.raises(ValueError, match="^got 1 titles for 2 images$"):
        show_images([np.zeros((2, 2))] * 2, ["one"])


def test_show_images_draws_16_bit_arrays_as_float32():
    # A layer under mixed_bfloat16 returns ml_dtypes' bfloat16 arrays, which imshow refuses.
    ml_dtypes = pytest.importorskip("ml_dtypes")
    image = np.linspace(0, 1, 48, dtype=np.float32).reshape(4, 4, 3)
    for dtype in (ml_dtypes.bfloat16, np.float16):
        (drawn,) = drawn_images(show_images([image.astype(dtype)]))
        assert drawn.dtype == np.float32
        np.testing.assert_allclose(drawn, image, atol=4e-3)
    # Integers and wider floats stay as they are: imshow reads uint8 colors as 0-255.
    (drawn,) = drawn_images(show_images([(image * 255).astype(np.uint8)]))
    assert drawn.dtype == np.uint8
    for dtype in (np.int16, np.float64, bool):
        (drawn,) = drawn_images(show_images([(image[..., 0] * 255).astype(dtype)]))
        assert drawn.dtype == dtype


# show_array


def test_show_array_writes_each_value_in_its_cell():
    array = np.array([[1.0, 2.5, 3.0], [4.0, 1e-5, 60.0]])
    ax = show_array(array, title="a map")
    assert texts(ax.texts) == ["1", "2.5", "3", "4", "1e-05", "60"]
    positions = [text.get_position() for text in ax.texts]
    assert positions == [(column, row) for row in range(2) for column in range(3)]
    assert {(text.get_ha(), text.get_va()) for text in ax.texts} == {("center", "center")}
    np.testing.assert_array_equal(ax.images[0].get_array(), array)
    assert ax.images[0].get_cmap().name == "Blues"
    assert ax.get_title() == "a map" and not ax.patches
    assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    ax = show_array([[0.25, 1]], fmt="{:.1f}", cmap="Greys")
    assert texts(ax.texts) == ["0.2", "1.0"] and ax.get_title() == ""
    assert ax.images[0].get_cmap().name == "Greys"


def test_show_array_frames_the_highlighted_window_and_draws_on_a_given_axes():
    _, given = plt.subplots()
    ax = show_array(np.zeros((3, 4)), ax=given, highlight=(1, 2, 2, 1))  # top, left, h, w
    assert ax is given
    (frame,) = ax.patches
    assert bounds(frame) == (1.5, 0.5, 1, 2) and not frame.get_fill()


def test_show_array_rejects_an_array_that_is_not_2d():
    with pytest.raises(ValueError, match=r"^array must be 2-D. Received: array.shape=\(3,\)$"):
        show_array(np.zeros(3))


# rescale


def test_rescale_maps_the_values_onto_0_to_1_and_a_constant_onto_a_half():
    np.testing.assert_array_equal(rescale([[-1, 3], [0, 1]]), [[0.0, 1.0], [0.25, 0.5]])
    assert rescale([[1, 3]]).dtype == np.float64
    constant = rescale(np.full((2, 3), 7, dtype=np.int8))
    assert constant.dtype == np.float64
    np.testing.assert_array_equal(constant, np.full((2, 3), 0.5))


# plot_window_positions


def window_panels(figure):
    """For each drawn position: its title and its kernel window's (x, y, width, height)."""
    return [(ax.get_title(), bounds(ax.patches[-1])) for ax in figure.axes if ax.get_title()]


def cells(ax):
    """Each cell of a panel: its (x, y, width, height), and whether it is hatched (padding)."""
    drawn = ax.patches[:-1]  # the last patch is the kernel's window
    return {bounds(cell): bool(cell.get_hatch()) for cell in drawn}, len(drawn)


def unit_squares(side, padding=()):
    """What :func:`cells` reads of a ``side`` x ``side`` grid whose ``padding`` is hatched."""
    squares = {(x, y, 1, 1): (x, y) in padding for x in range(side) for y in range(side)}
    return squares, side * side


def test_plot_window_positions_frames_each_window_of_a_strided_kernel():
    figure = plot_window_positions(7, 3, stride=2)  # output 3x3, every position drawn
    assert figure.get_suptitle() == "input 7x7, kernel 3x3, stride 2, padding 'valid': output 3x3"
    assert grid(figure) == (3, 3)
    panels = window_panels(figure)
    assert [title for title, _ in panels] == [
        f"output ({i}, {j})" for i in range(3) for j in range(3)
    ]
    # y counts up from the bottom row: the window of output (i, j) starts at row 2i, column 2j.
    assert [window for _, window in panels] == [
        (2 * j, 7 - 2 * i - 3, 3, 3) for i in range(3) for j in range(3)
    ]
    ax = figure.axes[0]
    assert cells(ax) == unit_squares(7)
    assert ax.get_xlim() == ax.get_ylim() == (-0.2, 7.2)
    assert ax.get_aspect() == 1.0 and not ax.axison
    assert not ax.patches[-1].get_fill()


def test_plot_window_positions_hatches_the_padding_and_shows_the_first_positions():
    figure = plot_window_positions(5, 3, padding="same")  # padding 1: 7x7 cells, output 5x5
    assert figure.get_suptitle() == (
        "input 5x5, kernel 3x3, stride 1, padding 'same': output 5x5"
        "\n(the first 9 of its 25 positions)"
    )
    assert grid(figure) == (2, 5) and len(titles(figure)) == 9
    assert titles(figure)[4:6] == ["output (0, 4)", "output (1, 0)"]
    assert window_panels(figure)[5][1] == (0, 7 - 1 - 3, 3, 3)
    ring = {(x, y) for x in range(7) for y in range(7)} - {
        (x, y) for x in range(1, 6) for y in range(1, 6)
    }
    ax = figure.axes[0]
    assert cells(ax) == unit_squares(7, padding=ring)
    real = [cell for cell in ax.patches[:-1] if not cell.get_hatch()]
    padding = [cell for cell in ax.patches[:-1] if cell.get_hatch()]
    assert real[0].get_facecolor() != padding[0].get_facecolor()
    assert ax.get_xlim() == (-0.2, 7.2) and not figure.axes[9].patches


def test_plot_window_positions_with_an_integer_padding_few_panels_or_one_position():
    figure = plot_window_positions(4, 2, stride=3, padding=1, max_panels=3)
    assert figure.get_suptitle() == (
        "input 4x4, kernel 2x2, stride 3, padding 1: output 2x2\n(the first 3 of its 4 positions)"
    )
    assert grid(figure) == (2, 2) and len(titles(figure)) == 3
    figure = plot_window_positions(3, 3)
    assert grid(figure) == (1, 1) and titles(figure) == ["output (0, 0)"]


def test_plot_window_positions_puts_an_output_row_per_row_of_at_most_5_panels():
    assert grid(plot_window_positions(5, 2, max_panels=3)) == (1, 3)  # of 4 columns
    assert grid(plot_window_positions(8, 3, max_panels=8)) == (2, 5)  # of 6 columns
    assert grid(plot_window_positions(5, 2, max_panels=8)) == (2, 4)


def test_plot_window_positions_rejects_a_kernel_larger_than_the_input():
    with pytest.raises(
        ValueError, match="^a 3x3 kernel does not fit a 2x2 input with padding='valid'$"
    ):
        plot_window_positions(2, 3)


# plot_architecture

#: A small network traced by cnnbook.architecture.trace: a volume, a vector, and pooling.
LAYERS = [
    LayerInfo("conv", "Conv2D", (32, 8, 16), 448, ""),
    LayerInfo("pool", "MaxPooling2D", (16, 4, 16), 0, ""),
    LayerInfo("flat", "Flatten", (1024,), 0, ""),
    LayerInfo("dense", "Dense", (10,), 10250, ""),
]


def block_size(shape):
    """(width, height) plot_architecture gives a layer's block, as its docstring says."""
    if len(shape) == 3:
        return 0.15 + 0.08 * np.log2(shape[-1] + 1), 0.6 + 0.5 * np.log2(shape[0] + 1)
    return 0.12, 0.3 + 0.25 * np.log2(shape[0] + 1)


def test_plot_architecture_draws_a_block_and_a_label_per_layer():
    ax = plot_architecture(LAYERS, [32, 8, 3])
    shapes = [(32, 8, 3)] + [layer.output_shape for layer in LAYERS]
    expected = [
        (index - width / 2, -height / 2, width, height)
        for index, (width, height) in enumerate(map(block_size, shapes))
    ]
    np.testing.assert_allclose([bounds(block) for block in ax.patches], expected)
    labels = [text for text in ax.texts if text.get_text()]
    assert texts(labels) == [
        "input\n32x8x3",
        "Conv2D\n32x8x16\n448 params",
        "MaxPooling2D\n16x4x16\n0 params",
        "Flatten\n1024\n0 params",
        "Dense\n10\n10,250 params",
    ]
    assert [text.get_position() for text in labels] == [(x, -2.0) for x in range(5)]
    assert {(text.get_ha(), text.get_va()) for text in labels} == {("center", "top")}
    assert ax.get_xlim() == (-0.6, 4.6) and ax.get_ylim() == (-3.3, 2.0) and not ax.axison


def test_plot_architecture_joins_each_block_to_the_next_by_an_arrow():
    _, given = plt.subplots()
    ax = plot_architecture(LAYERS[:2], (8, 8, 1), ax=given)
    assert ax is given
    arrows = [text for text in ax.texts if not text.get_text()]
    first, second, third = ax.patches
    assert [(arrow.xyann, arrow.xy) for arrow in arrows] == [
        ((first.get_x() + first.get_width(), 0), (second.get_x(), 0)),
        ((second.get_x() + second.get_width(), 0), (third.get_x(), 0)),
    ]
    assert {arrow.arrow_patch.get_arrowstyle().__class__.__name__ for arrow in arrows} == {"CurveB"}


# plot_history


def test_plot_history_draws_training_and_validation_per_epoch():
    history = {"loss": [1.0, 0.5, 0.4], "accuracy": [0.5, 0.8, 0.9]}
    history |= {"val_loss": [1.1, 0.7, 0.6], "val_accuracy": [0.4, 0.7, 0.75]}
    figure = plot_history(history, title="run")
    assert figure.get_suptitle() == "run" and grid(figure) == (1, 2)
    for ax, metric in zip(figure.axes, ["loss", "accuracy"], strict=True):
        assert lines_xy(ax) == [
            [[1, value], [2, other], [3, last]]
            for value, other, last in (history[metric], history[f"val_{metric}"])
        ]
        assert legend(ax) == ["training", "validation"]
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", metric)


def test_plot_history_without_validation_or_title():
    figure = plot_history({"accuracy": [0.5, 0.8], "loss": [1.0, 0.5]})
    assert [len(ax.get_lines()) for ax in figure.axes] == [1, 1]
    assert [legend(ax) for ax in figure.axes] == [["training"], ["training"]]
    assert figure.axes[1].get_lines()[0].get_xydata().tolist() == [[1, 0.5], [2, 0.8]]
    assert figure.get_suptitle() == ""
    with pytest.raises(ValueError, match=r"^history has no 'accuracy': it has \['a', 'loss'\]$"):
        plot_history({"loss": [1.0], "a": [0.0]})
    with pytest.raises(ValueError, match="^history has no 'loss'"):
        plot_history({"accuracy": [1.0]})


# show_misclassified


def test_show_misclassified_shows_the_wrong_predictions_titled_true_then_predicted():
    images = numbered_images(4, channels=1)
    figure = show_misclassified(images, [0, 1, 2, 3], [0, 2, 2, 1], class_names=list("abcd"))
    assert titles(figure) == ["b -> c", "d -> b"] and grid(figure) == (1, 2)
    assert image_numbers(figure, 4) == [1, 3]
    assert drawn_images(figure)[0].shape == (1, 1)  # one channel: drawn as a gray image
    assert show_misclassified(images, [0, 1], [0, 1]) is None


def test_show_misclassified_names_classes_by_number_and_stops_at_the_limit():
    images = numbered_images(20)
    labels = np.arange(20) % 10
    figure = show_misclassified(images, labels, (labels + 1) % 10)
    assert titles(figure)[:3] == ["0 -> 1", "1 -> 2", "2 -> 3"] and len(titles(figure)) == 12
    assert grid(figure) == (2, 6) and drawn_images(figure)[0].shape == (1, 1, 3)
    assert len(titles(show_misclassified(images, labels, (labels + 1) % 10, limit=3))) == 3


# plot_validation_curves


def test_plot_validation_curves_draw_one_line_per_run():
    # What plot_validation_curves reads of train_and_evaluate's results: their histories.
    first = {"history": {"loss": [1.0, 0.8, 0.7], "val_loss": [1.1, 0.9, 0.85]}}
    second = {"history": {"loss": [1.0, 0.7], "val_loss": [1.1, 0.8]}}
    ax = plot_validation_curves({"a": first, "b": second}, "val_loss", title="t")
    assert lines_xy(ax) == [[[1, 1.1], [2, 0.9], [3, 0.85]], [[1, 1.1], [2, 0.8]]]
    assert legend(ax) == ["a", "b"] and ax.get_title() == "t"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "val loss")
    ax = plot_validation_curves({"a": {"history": {"val_accuracy": [0.5]}}})
    assert ax.get_ylabel() == "val accuracy" and ax.get_title() == ""


# plot_ablation


ARMS = [
    {"label": "whole", "difference": 0.0, "difference_error": None},
    {"label": "no a", "difference": -1.5, "difference_error": 0.4},
    {"label": "no b", "difference": 0.3, "difference_error": None},
]


def bars_of(ax):
    """The bars of an ablation plot (its one BarContainer)."""
    (bars,) = [c for c in ax.containers if isinstance(c, matplotlib.container.BarContainer)]
    return bars


def test_ablation_bars_differences_with_error_bars_where_there_are_seeds():
    ax = plot_ablation(ARMS, band=0.25, title="t")
    bars = bars_of(ax)
    assert [bar.get_width() for bar in bars] == [0.3, -1.5]  # first arm on top
    assert texts(ax.get_yticklabels()) == ["no b", "no a"]
    red, green = matplotlib.colors.to_rgba("C3"), matplotlib.colors.to_rgba("C2")
    assert [bar.get_facecolor() for bar in bars] == [green, red]
    # One error bar, of 0.4 each way; none (not one of length 0) for "no b".
    (segments,) = bars.errorbar.lines[2]
    drawn = [xy for xy in segments.get_segments() if len(xy) and np.isfinite(xy).all()]
    assert len(drawn) == 1
    np.testing.assert_allclose(drawn[0][:, 0], [-1.9, -1.1])
    caps = [x for line in bars.errorbar.lines[1] for x in line.get_xdata()]
    assert sorted(x for x in caps if np.isfinite(x)) == pytest.approx([-1.9, -1.1])
    (band,) = [patch for patch in ax.patches if patch not in list(bars)]
    corners = band.get_patch_transform().transform(band.get_path().vertices)
    np.testing.assert_allclose([corners[:, 0].min(), corners[:, 0].max()], [-0.25, 0.25])
    assert legend(ax) == ["one standard error"]
    # The legend stands beside the axes: it hides no bar, whatever their lengths.
    ax.figure.canvas.draw()
    assert ax.get_legend().get_window_extent().x0 > ax.get_window_extent().x1
    assert ax.get_title() == "t" and ax.get_xlabel() == "points"
    zero = [line for line in ax.get_lines() if list(line.get_xdata()) == [0, 0]]
    assert len(zero) == 1 and list(zero[0].get_ydata()) == [0, 1]  # the reference's line


def test_ablation_without_seeds_or_band_and_a_bar_at_zero_is_green():
    single = [{**arm, "difference_error": None} for arm in ARMS]
    ax = plot_ablation(single, band=0.5, band_label="noise")
    assert ax.containers[-1].errorbar is None  # one seed each: no error bars
    assert legend(ax) == ["noise"]
    _, given = plt.subplots()
    ax = plot_ablation([*single, {**single[0], "label": "same"}], ax=given)
    assert ax is given and ax.get_legend() is None and ax.get_title() == ""  # no band
    green = matplotlib.colors.to_rgba("C2")
    assert bars_of(ax)[0].get_width() == 0 and bars_of(ax)[0].get_facecolor() == green
    assert len(ax.patches) == 3  # the bars only


def test_ablation_needs_the_reference_and_another_arm():
    with pytest.raises(
        ValueError, match="^need the reference arm and at least one other. Received: 1$"
    ):
        plot_ablation(ARMS[:1])
    assert texts(plot_ablation(ARMS[:2]).get_yticklabels()) == ["no a"]


# The confusion matrix and the accuracy per class

LABELS, PREDICTED, NAMES = [0, 1, 1, 2, 2, 2], [0, 1, 2, 2, 2, 0], ["a", "b", "c", "d"]


def test_confusion_matrix_counts_each_true_and_predicted_pair():
    matrix = confusion_matrix(LABELS, PREDICTED, 4)
    np.testing.assert_array_equal(matrix, [[1, 0, 0, 0], [0, 1, 1, 0], [1, 0, 2, 0], [0] * 4])
    assert matrix.dtype == np.int64


def test_plot_confusion_matrix_shows_each_row_as_shares_of_its_true_class():
    ax = plot_confusion_matrix(LABELS, PREDICTED, NAMES)
    shares = [[1, 0, 0, 0], [0, 0.5, 0.5, 0], [1 / 3, 0, 2 / 3, 0], [0, 0, 0, 0]]
    np.testing.assert_allclose(ax.images[0].get_array(), shares)
    assert ax.images[0].get_clim() == (0, 1)
    assert texts(ax.texts) == [  # row by row
        *["1.00", "0.00", "0.00", "0.00"],
        *["0.00", "0.50", "0.50", "0.00"],
        *["0.33", "0.00", "0.67", "0.00"],
        *["0.00", "0.00", "0.00", "0.00"],
    ]
    assert ax.texts[6].get_position() == (2, 1)
    assert {(text.get_ha(), text.get_va()) for text in ax.texts} == {("center", "center")}
    assert texts(ax.get_xticklabels()) == texts(ax.get_yticklabels()) == NAMES
    assert list(ax.get_xticks()) == list(ax.get_yticks()) == [0, 1, 2, 3]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    colorbar = ax.figure.axes[1]
    assert colorbar.get_ylabel() == "share of the true class"
    halves = plot_confusion_matrix([0, 0, 1, 1], [0, 1, 1, 0], ["a", "b"])
    assert halves.images[0].get_clim() == (0, 1)  # the scale stays 0 to 1


def test_plot_per_class_accuracy_bars_each_class_with_the_overall_line():
    ax = plot_per_class_accuracy(LABELS, PREDICTED, NAMES)
    assert [bar.get_height() for bar in ax.patches] == pytest.approx([1, 0.5, 2 / 3, 0])
    assert texts(ax.get_xticklabels()) == NAMES
    (overall,) = ax.get_lines()
    assert list(overall.get_ydata()) == [pytest.approx(4 / 6)] * 2
    assert legend(ax) == ["overall"]
    assert ax.get_ylim() == (0, 1) and ax.get_ylabel() == "accuracy"


# show_predictions


def test_show_predictions_titles_predicted_then_true_in_red_when_wrong():
    images = numbered_images(8)
    labels, predicted = [0, 1, 1, 2, 0, 0, 0, 0], [0, 1, 2, 2, 0, 0, 0, 1]
    figure = show_predictions(images, labels, predicted, ["a", "b", "c"], count=20)
    assert grid(figure) == (2, 6)
    assert titles(figure)[1:4] == ["b\n(b)", "c\n(b)", "c\n(c)"]
    assert titles(figure)[-1] == "b\n(a)"
    colors = [ax.title.get_color() for ax in figure.axes if ax.get_title()]
    assert colors == ["black"] * 2 + ["red"] + ["black"] * 4 + ["red"]
    assert image_numbers(figure, 8) == list(range(8))
    assert len(titles(show_predictions(images, labels, predicted, list("abc"), count=1))) == 1
    many = numbered_images(20)
    assert len(titles(show_predictions(many, [0] * 20, [0] * 20, ["a"]))) == 12  # by default


def test_show_predictions_draws_a_reproducible_sample_when_given_a_seed():
    images = numbered_images(10)
    labels = np.repeat(np.arange(5), 2)  # sorted by class, as in a class-folder copy
    names = [str(k) for k in range(5)]

    def shown(**options):
        figure = show_predictions(images, labels, labels, names, **options)
        return image_numbers(figure, 10)

    assert shown(count=4) == [0, 1, 2, 3]
    sampled = shown(count=8, seed=3)
    assert sampled == shown(count=8, seed=3) != shown(count=8, seed=4)
    assert len(sampled) == 8 and sampled == sorted(set(sampled))  # distinct, in order
    assert shown(count=4, seed=3) != shown(count=4)
    with pytest.raises(ValueError, match="^count must be >= 1. Received: count=0$"):
        show_predictions(images, labels, labels, names, count=0)
