"""cnnbook.architecture: shapes, parameter counts and multiply-adds, against Keras."""

import matplotlib
import pytest

from cnnbook.architecture import format_table, trace
from cnnbook.plots import plot_architecture

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


def test_trace_follows_the_rule_of_a_covered_layers_subclass(keras):
    class Normalized(keras.layers.BatchNormalization):
        pass

    model = keras.Sequential([keras.Input(shape=(8, 8, 3)), Normalized(scale=False)])
    assert_trace_equals_keras(model)
    assert trace(model)[0].kind == "Normalized"


def test_trace_of_the_improved_network_with_batch_norm_and_global_pooling(keras):
    from cnnbook.keras.models import improved_cnn

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


def test_plot_architecture_draws_one_block_per_layer(keras):
    ax = plot_architecture(trace(tutorial_model(keras)), (32, 32, 3))
    assert len(ax.patches) == 9  # the input and eight layers
    matplotlib.pyplot.close("all")
