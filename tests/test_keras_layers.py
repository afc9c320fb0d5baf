"""cnnbook.keras.layers, DropConnectDense and StochasticPool2D: on every Keras backend
(static output shapes, and training with a partial last batch: the failure Keras 3.10's
Flatten showed on Colab), against the NumPy references of cnnbook.regularization, and
saved and loaded back, on TensorFlow and under JAX. The NumPy engine's layers,
cnnbook.nn.layers, are tested in test_nn.py."""

import numpy as np
import pytest

from cnnbook.regularization import dropconnect_dense, stochastic_pool2d
from cnnbook.runtime import backend

PARTIAL_BATCH_CHECK = """
import numpy as np, keras
from cnnbook.keras.layers import DropConnectDense, StochasticPool2D

class RecordShape(keras.layers.Layer):
    # Records the static shape its input has while Keras traces fit, evaluate and predict.
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = set()
    def call(self, inputs):
        self.seen.add(tuple(inputs.shape)[1:])
        return inputs

cases = {
    "StochasticPool2D": (StochasticPool2D(2, seed=1), (4, 4, 5)),
    "StochasticPool2D same": (StochasticPool2D(3, 2, padding="same", seed=1), (4, 4, 5)),
    "DropConnectDense": (DropConnectDense(6, 0.5, activation="relu", seed=2), (6,)),
}
x = np.random.default_rng(0).random((10, 8, 8, 5)).astype("float32")
y = np.arange(10) % 3
for name, (layer, expected) in cases.items():
    record = RecordShape()
    flatten = [keras.layers.Flatten()] if name == "DropConnectDense" else []
    model = keras.Sequential([keras.Input((8, 8, 5)), *flatten, layer, record,
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    symbolic_input = (None, 8, 8, 5) if not flatten else (None, 320)
    assert layer.compute_output_shape(symbolic_input) == (None, *expected), name
    assert tuple(model.layers[len(flatten)].output.shape) == (None, *expected), name
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    # 10 images in batches of 4: the last batch holds 2.
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    loss, accuracy = model.evaluate(x, y, batch_size=4, verbose=0)
    predictions = model.predict(x, batch_size=4, verbose=0)
    assert predictions.shape == (10, 3) and np.all(np.isfinite(predictions)), name
    assert np.isfinite(loss) and len(history.history["loss"]) == 2, name
    assert record.seen == {expected}, (name, record.seen)
print("ok", keras.backend.backend())
"""


def test_layers_keep_a_static_output_shape_with_a_partial_last_batch(backend, run_under_backend):
    output = run_under_backend(backend, PARTIAL_BATCH_CHECK)
    assert output.split()[-2:] == ["ok", backend]


def test_stochastic_pooling_needs_known_channels():
    keras = pytest.importorskip("keras")
    from cnnbook.keras.layers import StochasticPool2D

    with pytest.raises(ValueError, match=r"known number of channels.*None"):
        StochasticPool2D().build((None, 8, 8, None))
    with pytest.raises(ValueError, match="Received: input_shape"):
        StochasticPool2D()(keras.Input((8, 8)))


def test_keras_layers_take_numpy_integers_and_reject_bools():

    pytest.importorskip("keras")
    from cnnbook.keras.layers import DropConnectDense, StochasticPool2D

    assert DropConnectDense(np.int64(3), 0.5).units == 3
    assert StochasticPool2D(np.int64(2)).pool_size == (2, 2)
    with pytest.raises(ValueError, match="units must be a positive int. Received: units=True"):
        DropConnectDense(True, 0.5)
    with pytest.raises(TypeError, match="pool_size must be an int or a sequence of 2 ints"):
        StochasticPool2D(True)


def test_dropconnect_dense_builds_on_the_last_axis_and_adds_its_bias():
    """On (batch, time, features) inputs: a (features, units) kernel, a zero bias of
    (units,) to start, and at inference x @ kernel + bias, with any bias."""

    pytest.importorskip("keras")
    from cnnbook.keras.layers import DropConnectDense

    layer = DropConnectDense(4, 0.5, seed=0)
    assert layer.compute_output_shape((None, 5, 3)) == (None, 5, 4)
    assert layer.compute_output_shape((None, 3)) == (None, 4)
    x = np.random.default_rng(0).random((2, 5, 3), dtype=np.float32)
    assert tuple(layer(x, training=False).shape) == (2, 5, 4)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 4)
    np.testing.assert_array_equal(bias, np.zeros(4, np.float32))
    bias = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    layer.set_weights([kernel, bias])
    np.testing.assert_allclose(layer(x, training=False), x @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_dropconnect_dense_weights_are_named_so_that_weight_decay_skips_the_bias():
    """sgd_warmup_cosine leaves out of weight decay the weights whose name holds "bias"."""
    pytest.importorskip("keras")
    from cnnbook.keras.layers import DropConnectDense

    layer = DropConnectDense(4, 0.5)
    layer.build((None, 3))
    assert [weight.name for weight in layer.weights] == ["kernel", "bias"]


def test_dropconnect_dense_without_bias_holds_only_its_kernel():
    pytest.importorskip("keras")
    from cnnbook.keras.layers import DropConnectDense

    layer = DropConnectDense(4, 0.5, use_bias=False)
    layer.build((None, 3))
    assert layer.bias is None and [tuple(w.shape) for w in layer.weights] == [(3, 4)]
    assert layer.count_params() == 3 * 4


def test_called_without_training_the_layers_infer():
    """`call`'s default is inference: through Keras (which passes the signature's default)
    and called directly."""

    pytest.importorskip("keras")
    from cnnbook.keras.layers import DropConnectDense, StochasticPool2D

    x = np.random.default_rng(0).random((4, 6, 6, 2), dtype=np.float32)
    pool = StochasticPool2D(seed=0)
    inferred = pool(x, training=False)
    assert not np.allclose(pool(x, training=True), inferred)  # a draw differs
    np.testing.assert_array_equal(pool(x), inferred)
    np.testing.assert_array_equal(pool.call(x), inferred)
    flat = x.reshape(4, -1)
    dense = DropConnectDense(3, 0.5, seed=0)
    inferred = dense(flat, training=False)
    assert not np.allclose(dense(flat, training=True), inferred)
    np.testing.assert_array_equal(dense(flat), inferred)
    np.testing.assert_array_equal(dense.call(flat), inferred)


def test_the_layers_compute_in_float16_under_a_mixed_policy():
    """In training and at inference, the output is in the compute dtype, float16."""

    keras = pytest.importorskip("keras")
    from cnnbook.keras.layers import DropConnectDense, StochasticPool2D

    x = np.random.default_rng(0).random((2, 4, 4, 3), dtype=np.float32)
    layers = [
        (StochasticPool2D(seed=0, dtype="mixed_float16"), x),
        (DropConnectDense(3, 0.5, seed=0, dtype="mixed_float16"), x.reshape(2, -1)),
    ]
    for layer, inputs in layers:
        for training in (False, True):
            output = layer(inputs, training=training)
            assert keras.backend.standardize_dtype(output.dtype) == "float16", (layer, training)


def test_stochastic_pooling_weighs_its_cells_in_float32():
    """Activations of 300: the sum of their squares overflows float16 (largest 65504), yet
    the expectation sum(a^2) / sum(a) is 300 in float16 layers, also with floatx float16."""

    keras = pytest.importorskip("keras")
    from cnnbook.keras.layers import StochasticPool2D

    x = np.full((1, 2, 2, 1), 300, np.float32)
    previous = keras.config.floatx()
    try:
        for floatx in ("float32", "float16"):
            keras.config.set_floatx(floatx)
            for dtype in ("float16", "mixed_float16"):
                # at inference the expectation; in training a draw, of one of the 300s
                for training in (False, True):
                    output = StochasticPool2D(dtype=dtype)(x, training=training)
                    np.testing.assert_array_equal(
                        output, np.full((1, 1, 1, 1), 300), err_msg=f"{floatx} {dtype}"
                    )
    finally:
        keras.config.set_floatx(previous)


def test_stochastic_pooling_of_a_single_channel_at_inference():

    pytest.importorskip("keras")
    from cnnbook.keras.layers import StochasticPool2D

    x = np.random.default_rng(0).normal(size=(2, 4, 4, 1)).astype(np.float32)
    output = StochasticPool2D()(x, training=False)
    assert tuple(output.shape) == (2, 2, 2, 1)
    np.testing.assert_allclose(output, stochastic_pool2d(x, training=False), rtol=1e-5, atol=1e-6)


def test_stochastic_pooling_error_message_names_the_layer():
    pytest.importorskip("keras")
    from cnnbook.keras.layers import StochasticPool2D

    with pytest.raises(ValueError, match=r"^StochasticPool2D expects inputs of shape \(batch, "):
        StochasticPool2D().build((None, 8, 8, None))


def test_stochastic_pooling_output_shape_with_unknown_sizes():
    pytest.importorskip("keras")
    from cnnbook.keras.layers import StochasticPool2D

    layer = StochasticPool2D(3, 2, padding="same")
    assert layer.compute_output_shape((None, None, None, 3)) == (None, None, None, 3)
    assert layer.compute_output_shape((None, 7, None, 3)) == (None, 4, None, 3)


@pytest.mark.skipif(backend() != "tensorflow", reason="a graph of unknown sizes is TensorFlow's")
def test_stochastic_pooling_in_a_graph_of_unknown_height_and_width():
    """Traced with only the channels known, it pools as on concrete inputs."""

    tf = pytest.importorskip("tensorflow")
    from cnnbook.keras.layers import StochasticPool2D

    layer = StochasticPool2D(2)
    graph = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 2))])
    x = np.random.default_rng(0).random((2, 6, 4, 2), dtype=np.float32)
    np.testing.assert_allclose(graph(x), layer(x, training=False), rtol=1e-6)


# ---- on TensorFlow: checks, draws against the NumPy references, seeds, gradients, saving -----


def test_keras_layers_validate_their_arguments(layers):
    with pytest.raises(ValueError, match=r"Received: rate=1.0"):
        layers.DropConnectDense(4, rate=1.0)
    with pytest.raises(ValueError, match=r"Received: rate=-0.1"):
        layers.DropConnectDense(4, rate=-0.1)
    with pytest.raises(ValueError, match=r"Received: units=0"):
        layers.DropConnectDense(0, rate=0.5)
    with pytest.raises(ValueError, match=r"Received: pool_size=0"):
        layers.StochasticPool2D(pool_size=0)
    with pytest.raises(ValueError, match=r"Received: strides=\(2, -1\)"):
        layers.StochasticPool2D(strides=(2, -1))
    with pytest.raises(ValueError, match=r"Received: padding='full'"):
        layers.StochasticPool2D(padding="full")


def test_dropconnect_layer_training_versus_inference(layers, rng):
    layer = layers.DropConnectDense(3, rate=0.4, seed=1)
    x = rng.random((2, 20)).astype("float32")
    plain = layer(x).numpy()
    kernel, bias = [w.numpy() for w in layer.weights]
    np.testing.assert_allclose(plain, dropconnect_dense(x, kernel, bias, training=False), rtol=1e-5)
    trained = np.array([layer(x, training=True).numpy() for _ in range(2000)])
    assert not np.allclose(trained[0], plain)
    standard_error = trained.std(axis=0) / np.sqrt(len(trained))
    assert np.all(np.abs(trained.mean(axis=0) - plain) <= 4 * standard_error)


def test_stochastic_pooling_layer_equals_numpy_at_inference(layers, rng):
    x = rng.normal(size=(2, 7, 6, 3)).astype("float32")
    for padding in ("valid", "same"):
        layer = layers.StochasticPool2D(pool_size=(2, 3), strides=2, padding=padding)
        expected = stochastic_pool2d(x, (2, 3), 2, padding, training=False)
        np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-6)
        assert layer.compute_output_shape(x.shape) == expected.shape


def test_stochastic_pooling_layer_samples_in_proportion(layers):
    layer = layers.StochasticPool2D(seed=0)
    window = np.array([1.0, 0.0, 3.0, 4.0], "float32").reshape(1, 2, 2, 1)
    batch = np.repeat(window, 4000, axis=0)
    draws = layer(batch, training=True).numpy().ravel()
    for value, probability in [(1.0, 1 / 8), (0.0, 0.0), (3.0, 3 / 8), (4.0, 4 / 8)]:
        bound = 4 * np.sqrt(probability * (1 - probability) / 4000) + 1e-9
        assert abs(np.mean(draws == value) - probability) <= bound
    zeros = np.zeros((1, 2, 2, 1), "float32")
    assert layer(zeros, training=True).numpy().item() == 0.0


def test_layers_are_reproducible_with_a_seed(layers, rng):
    x = rng.random((4, 6, 6, 2)).astype("float32")
    first, second = layers.StochasticPool2D(seed=7), layers.StochasticPool2D(seed=7)
    np.testing.assert_array_equal(first(x, training=True), second(x, training=True))
    a, b = layers.DropConnectDense(3, 0.5, seed=7), layers.DropConnectDense(3, 0.5, seed=7)
    flat = x.reshape(4, -1)
    a.build(flat.shape)
    b.build(flat.shape)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a(flat, training=True), b(flat, training=True))


def test_gradients_flow_through_both_layers(tf, layers, rng):
    x = tf.Variable(rng.random((2, 4, 4, 3)).astype("float32"))
    pool = layers.StochasticPool2D(seed=0)
    dense = layers.DropConnectDense(2, rate=0.3, seed=0)
    with tf.GradientTape() as tape:
        y = dense(tf.reshape(pool(x, training=True), (2, -1)), training=True)
        loss = tf.reduce_sum(y)
    gradients = tape.gradient(loss, [x, *dense.trainable_weights])
    assert all(g is not None and np.any(g.numpy() != 0) for g in gradients)


def test_saved_model_loads_back_with_the_same_inference(keras, layers, rng, tmp_path):
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        layers.StochasticPool2D(2, seed=1),
        keras.layers.Flatten(),
        layers.DropConnectDense(5, rate=0.5, activation="softmax", seed=2),
    ])  # fmt: skip
    x = rng.random((3, 8, 8, 3)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert loaded.layers[-1].get_config()["rate"] == 0.5


JAX_CHECK = """
import numpy as np, keras
assert keras.backend.backend() == "jax", keras.backend.backend()
from cnnbook.keras.layers import DropConnectDense, StochasticPool2D
from cnnbook.regularization import stochastic_pool2d
x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
pool = StochasticPool2D(2, seed=0)
assert np.allclose(np.asarray(pool(x)), stochastic_pool2d(x, training=False), atol=1e-6)
assert np.asarray(pool(x, training=True)).shape == (2, 3, 3, 3)
model = keras.Sequential([keras.Input((6, 6, 3)), StochasticPool2D(2, seed=1),
                          keras.layers.Flatten(), DropConnectDense(4, 0.5, "softmax", seed=2)])
model.compile("sgd", "sparse_categorical_crossentropy")
model.fit(x, np.array([0, 1]), epochs=2, verbose=0)
model.save(PATH)
loaded = keras.models.load_model(PATH)
assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
print("ok")
"""


def test_keras_layers_train_save_and_load_under_the_jax_backend(tmp_path, run_under_backend):
    script = JAX_CHECK.replace("PATH", repr(str(tmp_path / "model.keras")))
    assert run_under_backend("jax", script).strip().endswith("ok")
