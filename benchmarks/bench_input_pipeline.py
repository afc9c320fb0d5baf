"""Training throughput of the tutorial's CIFAR-10 network: tf.data pipeline vs NumPy arrays.

    python benchmarks/bench_input_pipeline.py [--images 4096] [--batch-size 512]

Both feed the same model (cnnbook.models.tutorial_cnn) the same random uint8 images of
CIFAR-10's shape: once through cnnbook.training.make_dataset (uint8 kept in memory,
scaled to [0, 1] batch by batch, prefetched), once as a float32 NumPy array scaled
beforehand and given to model.fit. Each way trains one warm-up epoch, then one timed
epoch, then the two alternate for a few timed epochs (the machine's load drifts, so
interleaving and medians keep the ratio fair); the script reports images per second and
their ratio, on the device TensorFlow uses (a GPU when present).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import cnnbook
from cnnbook.models import tutorial_cnn
from cnnbook.training import describe_device, make_dataset


def epoch_seconds(model, feed, **fit_arguments):
    started = time.perf_counter()
    model.fit(feed, epochs=1, verbose=0, **fit_arguments)
    return time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs of each way")
    args = parser.parse_args(argv)
    cnnbook.import_tensorflow()
    import keras

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.images, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=args.images)
    print(f"device: {describe_device()}")

    keras.utils.set_random_seed(0)
    dataset = make_dataset(images, labels, args.batch_size, shuffle=True, num_classes=10)
    arrays = (images.astype(np.float32) / 255.0, keras.utils.to_categorical(labels, 10))
    # The dataset shuffles itself; fit's own shuffle applies to arrays only.
    ways = {
        "pipeline": (tutorial_cnn(), (dataset,), {"shuffle": False}),
        "arrays": (tutorial_cnn(), (arrays[0],), {"y": arrays[1], "batch_size": args.batch_size}),
    }
    times = {name: [] for name in ways}
    for round_number in range(args.rounds + 1):  # round 0 warms up (tracing, caches)
        for name, (model, feed, arguments) in ways.items():
            seconds = epoch_seconds(model, *feed, **arguments)
            if round_number:
                times[name].append(seconds)
    pipeline, arrays = (args.images / statistics.median(times[name]) for name in ways)
    print(
        f"{args.images} images, batch {args.batch_size}, median of {args.rounds} interleaved epochs"
    )
    print(f"tf.data pipeline (uint8, scaled on the fly): {pipeline:8.0f} images/s")
    print(f"model.fit on float32 NumPy arrays:           {arrays:8.0f} images/s")
    print(f"ratio pipeline / arrays: {pipeline / arrays:.2f}")


if __name__ == "__main__":
    main()
