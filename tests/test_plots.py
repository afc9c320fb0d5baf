"""cnnbook.plots: the book's figures draw what they are given, and reject bad input."""

import matplotlib
import numpy as np
import pytest

from cnnbook.plots import plot_window_positions, rescale, show_array, show_images, use_style

matplotlib.use("Agg")


def test_plots_draw_what_they_are_given():
    use_style()
    figure = show_images([np.zeros((4, 4)), np.ones((4, 4, 3))], ["gray", "color"])
    assert [ax.get_title() for ax in figure.axes] == ["gray", "color"]
    ax = show_array(np.arange(6).reshape(2, 3), highlight=(0, 0, 2, 2))
    assert len(ax.texts) == 6 and len(ax.patches) == 1
    figure = plot_window_positions(5, 3, stride=2)
    assert len([ax for ax in figure.axes if ax.get_title()]) == 4  # a 2x2 output
    assert figure._suptitle.get_text().endswith("output 2x2")  # every position drawn
    figure = plot_window_positions(5, 3, padding="same")
    assert len([ax for ax in figure.axes if ax.get_title()]) == 9
    assert figure._suptitle.get_text().endswith("(the first 9 of its 25 positions)")
    matplotlib.pyplot.close("all")


def test_plot_errors():
    with pytest.raises(ValueError, match="images must not be empty"):
        show_images([])
    with pytest.raises(ValueError, match="got 1 titles for 2 images"):
        show_images([np.zeros((2, 2))] * 2, ["one"])
    with pytest.raises(ValueError, match="array must be 2-D"):
        show_array(np.zeros(3))
    with pytest.raises(ValueError, match="does not fit"):
        plot_window_positions(2, 3)


def test_rescale():
    np.testing.assert_allclose(rescale([[1.0, 3.0]]), [[0.0, 1.0]])
    np.testing.assert_allclose(rescale(np.ones(3)), [0.5, 0.5, 0.5])


def test_learning_curves_and_misclassified():
    from cnnbook.plots import plot_history, show_misclassified

    figure = plot_history({"loss": [1.0, 0.5], "accuracy": [0.5, 0.8], "val_loss": [1.1, 0.7],
                           "val_accuracy": [0.4, 0.7]}, title="run")  # fmt: skip
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss", "accuracy"]
    assert len(figure.axes[0].lines) == 2
    with pytest.raises(ValueError, match="history has no 'accuracy'"):
        plot_history({"loss": [1.0]})
    images = np.zeros((4, 8, 8, 1))
    figure = show_misclassified(images, [0, 1, 2, 3], [0, 2, 2, 1], class_names=list("abcd"))
    assert [ax.get_title() for ax in figure.axes if ax.get_title()] == ["b -> c", "d -> b"]
    assert show_misclassified(images, [0, 1], [0, 1]) is None
    matplotlib.pyplot.close("all")


def test_validation_curves_draw_one_line_per_run():
    from cnnbook.plots import plot_validation_curves

    # What plot_validation_curves reads of train_and_evaluate's results: their histories.
    first = {"history": {"loss": [1.0, 0.8, 0.7], "val_loss": [1.1, 0.9, 0.85]}}
    second = {"history": {"loss": [1.0, 0.7, 0.5], "val_loss": [1.1, 0.8, 0.9]}}
    ax = plot_validation_curves({"a": first, "b": second}, "val_loss", title="t")
    assert len(ax.lines) == 2 and ax.get_ylabel() == "val loss"
    matplotlib.pyplot.close("all")


def test_show_images_draws_16_bit_arrays_as_float32():
    # A layer under mixed_bfloat16 returns ml_dtypes' bfloat16 arrays, which imshow refuses.
    ml_dtypes = pytest.importorskip("ml_dtypes")
    image = np.linspace(0, 1, 48, dtype=np.float32).reshape(4, 4, 3)
    for dtype in (ml_dtypes.bfloat16, np.float16):
        figure = show_images([image.astype(dtype)])
        drawn = figure.axes[0].images[0].get_array()
        assert drawn.dtype == np.float32
        np.testing.assert_allclose(drawn, image, atol=4e-3)
    pixels = (image * 255).astype(np.uint8)  # integers stay integers: imshow reads 0-255
    assert show_images([pixels]).axes[0].images[0].get_array().dtype == np.uint8


def test_evaluation_plots():
    from cnnbook.plots import (
        confusion_matrix,
        plot_confusion_matrix,
        plot_per_class_accuracy,
        show_predictions,
    )

    labels, predicted = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    np.testing.assert_array_equal(confusion_matrix(labels, predicted, 3).sum(axis=1), [1, 2, 1])
    names = ["a", "b", "c"]
    ax = plot_confusion_matrix(labels, predicted, names)
    assert ax.get_xlabel() == "predicted class" and len(ax.texts) == 9
    ax = plot_per_class_accuracy(labels, predicted, names)
    assert [bar.get_height() for bar in ax.patches] == [1.0, 0.5, 1.0]
    figure = show_predictions(np.zeros((4, 8, 8, 3)), labels, predicted, names)
    colors = [ax.title.get_color() for ax in figure.axes if ax.get_title()]
    assert colors == ["black", "black", "red", "black"]
    matplotlib.pyplot.close("all")


def test_show_predictions_draws_a_reproducible_sample_when_given_a_seed():
    import matplotlib.pyplot

    from cnnbook.plots import show_predictions

    images = np.arange(20, dtype=float)[:, None, None, None] * np.ones((20, 2, 2, 3)) / 20
    labels = np.repeat(np.arange(10), 2)  # sorted by class, as in a class-folder copy
    names = [str(k) for k in range(10)]

    def titles(**options):
        figure = show_predictions(images, labels, labels, names, count=6, **options)
        return [ax.get_title() for ax in figure.axes if ax.get_title()]

    assert titles() == ["0\n(0)", "0\n(0)", "1\n(1)", "1\n(1)", "2\n(2)", "2\n(2)"]
    sampled = titles(seed=3)
    assert sampled == titles(seed=3) and len(sampled) == 6 and len(set(sampled)) > 3
    with pytest.raises(ValueError, match="count must be >= 1"):
        show_predictions(images, labels, labels, names, count=0)
    matplotlib.pyplot.close("all")


def test_ablation_bars_differences_with_error_bars_where_there_are_seeds():
    from cnnbook.plots import plot_ablation

    arms = [
        {"label": "whole", "difference": 0.0, "difference_error": None},
        {"label": "no a", "difference": -1.5, "difference_error": 0.4},
        {"label": "no b", "difference": 0.3, "difference_error": None},
    ]
    ax = plot_ablation(arms, band=0.25, title="t")
    (bars,) = [c for c in ax.containers if isinstance(c, matplotlib.container.BarContainer)]
    assert [bar.get_width() for bar in bars] == [0.3, -1.5]  # first arm on top
    assert [label.get_text() for label in ax.get_yticklabels()] == ["no b", "no a"]
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
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["one standard error"]
    assert ax.get_title() == "t"
    single = [{**arm, "difference_error": None} for arm in arms]
    ax = plot_ablation(single, band=0.5, band_label="noise")
    assert ax.containers[-1].errorbar is None  # one seed each: no error bars
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["noise"]
    assert plot_ablation(single).get_legend() is None  # no band
    with pytest.raises(ValueError, match="need the reference arm and at least one other"):
        plot_ablation(arms[:1])
    matplotlib.pyplot.close("all")
