"""cnnbook.keras.layers on every Keras backend: static output shapes, and training with a
partial last batch (the failure Keras 3.10's Flatten showed on Colab). The NumPy engine's
layers, cnnbook.nn.layers, are tested in test_nn.py."""

import pytest

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
    import numpy as np

    pytest.importorskip("keras")
    from cnnbook.keras.layers import DropConnectDense, StochasticPool2D

    assert DropConnectDense(np.int64(3), 0.5).units == 3
    assert StochasticPool2D(np.int64(2)).pool_size == (2, 2)
    with pytest.raises(ValueError, match="units must be a positive int. Received: units=True"):
        DropConnectDense(True, 0.5)
    with pytest.raises(TypeError, match="pool_size must be an int or a sequence of 2 ints"):
        StochasticPool2D(True)
