"""cnnbook's Keras side on every backend: no TensorFlow import off TensorFlow, gradients,
devices, and the CIFAR-10 input pipeline with test-time augmentation."""

BACKEND_CHECK = """
import numpy as np
import cnnbook
from cnnbook import nn
from cnnbook.runtime import value_and_gradients, visible_gpus
from cnnbook.keras.training import make_dataset, predict_with_flip

keras = cnnbook.import_keras()
name = keras.backend.backend()
assert name == cnnbook.runtime.backend(), name
assert visible_gpus() == [], visible_gpus()

# Gradients of a small CNN, against cnnbook.nn's own backward pass.
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((8, 8, 3)),
    keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Flatten(),
    keras.layers.Dense(3, activation="softmax"),
])
rng = np.random.default_rng(0)
x = rng.random((6, 8, 8, 3)).astype("float32")
y = rng.integers(0, 3, 6)
loss_function = keras.losses.SparseCategoricalCrossentropy()
loss, gradients = value_and_gradients(lambda: loss_function(y, model(x)), model.trainable_weights)
twin_loss, twin_gradients = nn.Sequential.from_keras(model).loss_and_gradients(x, y)
assert np.isclose(loss, twin_loss, rtol=1e-5), (loss, twin_loss)
assert len(gradients) == len(twin_gradients) == 4
for ours, theirs in zip(gradients, twin_gradients):
    np.testing.assert_allclose(ours, theirs, atol=1e-5)

# The input pipeline: uint8 in, scaled float32 batches out (the last one partial).
images = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
labels = np.arange(10) % 3
batches = make_dataset(images, labels, 4, shuffle=True, num_classes=3)
model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
history = model.fit(batches, epochs=2, verbose=0)
assert len(history.history["loss"]) == 2
first = [np.asarray(b[0]) for b in make_dataset(images, labels, 4)]
assert [len(b) for b in first] == [4, 4, 2] and first[0].dtype == np.float32
np.testing.assert_allclose(np.concatenate(first), images / 255.0, atol=1e-6)
flipped = predict_with_flip(model, make_dataset(images, labels, 4, num_classes=3))
scaled = images.astype("float32") / 255.0
expected = (model.predict(scaled, verbose=0) + model.predict(scaled[:, :, ::-1], verbose=0)) / 2
np.testing.assert_allclose(flipped, expected, atol=1e-5)
print("ok", name)
"""


def test_keras_side_runs_on_every_backend(backend, run_under_backend):
    output = run_under_backend(backend, BACKEND_CHECK)
    assert output.split()[-2:] == ["ok", backend]
