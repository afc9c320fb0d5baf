"""cnnbook.architecture against Keras, and the plotting helpers."""

import matplotlib
import numpy as np
import pytest

from cnnbook import kernels
from cnnbook.architecture import format_table, trace
from cnnbook.plots import (
    plot_architecture,
    plot_window_positions,
    rescale,
    show_array,
    show_images,
    use_style,
)

matplotlib.use("Agg")


def tutorial_model(keras):
    return keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            keras.layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Conv2D(32, (3, 3), padding="valid", activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def assert_trace_equals_keras(model):
    rows = trace(model)
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers]
    assert [row.output_shape for row in rows] == shapes
    assert [row.parameters for row in rows] == [layer.count_params() for layer in model.layers]


def test_trace_of_the_tutorial_network(keras):
    model = tutorial_model(keras)
    assert_trace_equals_keras(model)
    assert sum(row.parameters for row in trace(model)) == 3_702_186
    table = format_table(trace(model))
    assert "7200*512 + 512" in table and "3,702,186" in table


def test_trace_with_strides_dilation_no_bias_and_average_pooling(keras):
    model = keras.Sequential(
        [
            keras.Input(shape=(29, 31, 2)),
            keras.layers.Conv2D(8, (5, 3), strides=(2, 1), padding="same", use_bias=False),
            keras.layers.Conv2D(4, 3, dilation_rate=2, activation="relu"),
            keras.layers.AveragePooling2D(pool_size=3, strides=2, padding="same"),
            keras.layers.MaxPooling2D(pool_size=(2, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(7, use_bias=False),
        ]
    )
    assert_trace_equals_keras(model)


def test_trace_rejects_layers_it_does_not_cover(keras):
    model = keras.Sequential([keras.Input(shape=(8, 8, 3)), keras.layers.SeparableConv2D(4, 3)])
    with pytest.raises(ValueError, match="received a SeparableConv2D layer"):
        trace(model)


def test_trace_of_the_improved_network_with_batch_norm_and_global_pooling(keras):
    from cnnbook.models import improved_cnn

    model = improved_cnn()
    assert_trace_equals_keras(model)
    rows = trace(model)
    assert sum(row.parameters for row in rows) == model.count_params()
    assert rows[-3].kind == "GlobalAveragePooling2D" and rows[-3].output_shape == (128,)


def test_multiply_adds_count_every_output_of_conv_and_dense_layers(keras):
    model = keras.Sequential(
        [
            keras.Input(shape=(10, 10, 3)),
            keras.layers.Conv2D(4, 3, strides=2, padding="same"),  # 5x5x4 outputs, 27 each
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(7),  # 16 inputs
        ]
    )
    assert [row.multiply_adds for row in trace(model)] == [5 * 5 * 4 * 27, 0, 0, 16 * 7]


def test_plots_draw_what_they_are_given(keras):
    use_style()
    figure = show_images([np.zeros((4, 4)), np.ones((4, 4, 3))], ["grey", "colour"])
    assert [ax.get_title() for ax in figure.axes] == ["grey", "colour"]
    ax = show_array(np.arange(6).reshape(2, 3), highlight=(0, 0, 2, 2))
    assert len(ax.texts) == 6 and len(ax.patches) == 1
    figure = plot_window_positions(5, 3, stride=2)
    assert len([ax for ax in figure.axes if ax.get_title()]) == 4  # a 2x2 output
    assert figure._suptitle.get_text().endswith("output 2x2")  # every position drawn
    figure = plot_window_positions(5, 3, padding="same")
    assert len([ax for ax in figure.axes if ax.get_title()]) == 9
    assert figure._suptitle.get_text().endswith("(the first 9 of its 25 positions)")
    ax = plot_architecture(trace(tutorial_model(keras)), (32, 32, 3))
    assert len(ax.patches) == 9  # the input and eight layers
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


def test_digits_split_is_stratified_and_checked():
    from cnnbook.datasets import load_digits

    (x_train, y_train), (x_test, y_test) = load_digits(test_fraction=0.5, seed=1)
    assert len(x_train) + len(x_test) == 1797 and x_train.dtype == np.float32
    assert abs(np.bincount(y_train) - np.bincount(y_test)).max() <= 1
    with pytest.raises(ValueError, match="test_fraction must be in"):
        load_digits(test_fraction=1.0)
