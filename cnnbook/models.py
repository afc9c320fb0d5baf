"""Keras models that the book builds more than once."""

from __future__ import annotations

__all__ = ["tutorial_cnn"]


def tutorial_cnn(compile=True):
    """The CIFAR-10 network of the tutorial this book grew from, in Keras 3.

    Conv2D(32, 3x3, same, relu) -> Dropout(0.2) -> Conv2D(32, 3x3, valid, relu) ->
    MaxPooling2D(2x2) -> Flatten -> Dense(512, relu) -> Dropout(0.3) ->
    Dense(10, softmax): 3,702,186 parameters, for 32x32x3 inputs scaled to [0, 1].

    Parameters
    ----------
    compile : bool, default True
        Compile it as the tutorial meant: categorical cross-entropy on one-hot
        labels, accuracy, and SGD with momentum 0.5 and a learning rate of 0.01
        decayed as ``0.01 / (1 + 0.0004 * step)``. The tutorial wrote that decay as
        ``SGD(lr=0.01, decay=0.0004)``, which Keras 3 no longer accepts; a
        ``keras.optimizers.schedules.InverseTimeDecay`` with ``decay_steps=1`` is the
        same rule.

    Returns
    -------
    keras.Sequential
    """
    import keras

    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            layers.Dropout(0.2),
            layers.Conv2D(32, (3, 3), padding="valid", activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(10, activation="softmax"),
        ],
        name="tutorial_cnn",
    )
    if compile:
        schedule = keras.optimizers.schedules.InverseTimeDecay(
            initial_learning_rate=0.01, decay_steps=1, decay_rate=4e-4
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=0.5),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
    return model
