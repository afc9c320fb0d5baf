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


def test_trace_rows_hold_exact_names_shapes_parameters_formulas_and_multiply_adds(keras):
    from cnnbook.architecture import LayerInfo

    model = keras.Sequential(
        [
            keras.Input(shape=(9, 6, 2)),
            keras.layers.Conv2D(3, (3, 2), name="conv_bias"),  # 7x5x3, 3*2*2 = 12 each
            keras.layers.Conv2D(4, 1, use_bias=False, name="conv_plain"),  # 7x5x4, 3 each
            keras.layers.BatchNormalization(center=False, name="norm"),
            keras.layers.AveragePooling2D((2, 2), name="pool"),
            keras.layers.ReLU(name="relu"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(5, use_bias=False, name="dense_plain"),
            keras.layers.Dropout(0.5, name="drop"),
            keras.layers.Dense(2, name="dense_bias"),
        ]
    )
    assert trace(model) == [
        LayerInfo("conv_bias", "Conv2D", (7, 5, 3), 39, "3*2*2*3 + 3", 7 * 5 * 36),
        LayerInfo("conv_plain", "Conv2D", (7, 5, 4), 12, "1*1*3*4", 7 * 5 * 12),
        LayerInfo("norm", "BatchNormalization", (7, 5, 4), 12, "3*4", 0),
        LayerInfo("pool", "AveragePooling2D", (3, 2, 4), 0, "no weights", 0),
        LayerInfo("relu", "ReLU", (3, 2, 4), 0, "no weights", 0),
        LayerInfo("flat", "Flatten", (24,), 0, "no weights", 0),
        LayerInfo("dense_plain", "Dense", (5,), 120, "24*5", 120),
        LayerInfo("drop", "Dropout", (5,), 0, "no weights", 0),
        LayerInfo("dense_bias", "Dense", (2,), 12, "5*2 + 2", 10),
    ]


def test_trace_of_global_pooling_and_same_shape_layers(keras):
    from cnnbook.architecture import LayerInfo

    model = keras.Sequential(
        [
            keras.Input(shape=(5, 3, 6)),
            keras.layers.Rescaling(1 / 255, name="rescale"),
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.GlobalMaxPooling2D(name="gmp"),
            keras.layers.Activation("relu", name="act"),
        ]
    )
    assert trace(model) == [
        LayerInfo("rescale", "Rescaling", (5, 3, 6), 0, "no weights", 0),
        LayerInfo("norm", "BatchNormalization", (5, 3, 6), 24, "4*6", 0),
        LayerInfo("gmp", "GlobalMaxPooling2D", (6,), 0, "no weights", 0),
        LayerInfo("act", "Activation", (6,), 0, "no weights", 0),
    ]


def test_trace_defaults_when_a_config_leaves_out_pool_strides_or_batch_norm_switches(keras):
    class Pool(keras.layers.MaxPooling2D):
        def get_config(self):
            return {**super().get_config(), "strides": None}  # strides default to the pool

    class Norm(keras.layers.BatchNormalization):
        def get_config(self):
            config = super().get_config()
            del config["scale"], config["center"]  # a learned scale and shift by default
            return config

    model = keras.Sequential([keras.Input(shape=(6, 9, 2)), Pool((2, 3)), Norm()])
    rows = trace(model)
    assert [row.output_shape for row in rows] == [(3, 3, 2), (3, 3, 2)]
    assert [(row.parameters, row.formula) for row in rows] == [(0, "no weights"), (8, "4*2")]


def test_format_table_text_has_aligned_columns_and_the_total(keras):
    model = keras.Sequential(
        [
            keras.Input(shape=(4, 4, 1)),
            keras.layers.Conv2D(2, 3, padding="same"),
            keras.layers.Flatten(),
            keras.layers.Dense(50),
        ]
    )
    assert format_table(trace(model)) == "\n".join(
        [
            "layer" + " " * 9 + "output shape" + " " * 6 + "parameters   formula",
            "Conv2D" + " " * 8 + "(4, 4, 2)" + " " * 17 + "20   3*3*1*2 + 2",
            "Flatten" + " " * 7 + "(32,)" + " " * 22 + "0   no weights",
            "Dense" + " " * 9 + "(50,)" + " " * 18 + "1,650   32*50 + 50",
            "total" + " " * 32 + "1,670",
        ]
    )


def test_trace_error_lists_the_covered_layers(keras):
    model = keras.Sequential([keras.Input(shape=(8, 8, 3)), keras.layers.DepthwiseConv2D(3)])
    with pytest.raises(
        ValueError, match=r"^trace\(\) covers Conv2D, MaxPooling2D, AveragePooling2D,"
    ):
        trace(model)
