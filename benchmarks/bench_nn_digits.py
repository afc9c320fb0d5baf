"""cnnbook.nn against Keras: the same CNN trained on scikit-learn's 8x8 digits.

    python benchmarks/bench_nn_digits.py [--epochs 30]

Conv2D(16, 3x3, same, relu) -> MaxPool 2 -> Conv2D(32, 3x3, same, relu) -> MaxPool 2
-> Dense(64, relu) -> Dense(10, softmax); SGD learning rate 0.05, momentum 0.9,
batch 32; trained on three quarters of the 1,797 digits and tested on the held-out
quarter. Both start from the same initial weights (cnnbook.nn copies Keras's).
Targets: cnnbook.nn reaches >= 98% test accuracy, in <= 1.5x Keras's training time.
"""

from __future__ import annotations

import argparse
import time

import cnnbook
from cnnbook.datasets import load_digits
from cnnbook.nn import SGD, Sequential

ACCURACY_TARGET = 0.98
TIME_TARGET = 1.5


def keras_model(keras):
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(16, (3, 3), padding="same", activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cnnbook.import_tensorflow()
    import keras

    (x_train, y_train), (x_test, y_test) = load_digits(seed=args.seed)
    keras.utils.set_random_seed(args.seed)
    reference = keras_model(keras)
    ours = Sequential.from_keras(reference)  # the same initial weights

    reference.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    reference.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=0)
    keras_seconds = time.perf_counter() - started
    keras_accuracy = reference.evaluate(x_test, y_test, verbose=0)[1]

    started = time.perf_counter()
    ours.fit(
        x_train, y_train, epochs=args.epochs, batch_size=32, seed=args.seed, verbose=0,
        optimizer=SGD(learning_rate=0.05, momentum=0.9),
    )  # fmt: skip
    ours_seconds = time.perf_counter() - started
    ours_accuracy = ours.evaluate(x_test, y_test)[1]

    ratio = ours_seconds / keras_seconds
    print(f"digits: {len(x_train)} training and {len(x_test)} test images, {args.epochs} epochs")
    print(f"{'':<12}{'test accuracy':>14}{'training time':>15}")
    print(f"{'Keras':<12}{keras_accuracy:>14.1%}{keras_seconds:>13.1f} s")
    print(f"{'cnnbook.nn':<12}{ours_accuracy:>14.1%}{ours_seconds:>13.1f} s")
    time_verdict = "met" if ratio <= TIME_TARGET else "NOT met"
    accuracy_verdict = "met" if ours_accuracy >= ACCURACY_TARGET else "NOT met"
    print(f"time ratio {ratio:.2f} (target <= {TIME_TARGET}: {time_verdict}); ", end="")
    print(f"accuracy target >= {ACCURACY_TARGET:.0%}: {accuracy_verdict}")


if __name__ == "__main__":
    main()
