"""Training throughput on CIFAR-10-shaped images: the input pipeline, and each Keras backend.

    python benchmarks/bench_input_pipeline.py [--images 4096] [--batch-size 512]
    python benchmarks/bench_input_pipeline.py --backends-only

Part 1 (TensorFlow): the tutorial's network (cnnbook.keras.models.tutorial_cnn) fed the same
random uint8 images of CIFAR-10's shape, once through cnnbook.keras.training.make_dataset
(uint8 kept in memory, scaled to [0, 1] batch by batch, prefetched), once as a float32
NumPy array scaled beforehand and given to model.fit. Each way trains one warm-up epoch,
then the two alternate for a few timed epochs (the machine's load drifts, so
interleaving and medians keep the ratio fair).

Part 2 (every backend): the improved network (cnnbook.keras.models.improved_cnn) trained
through make_dataset on TensorFlow, JAX and PyTorch, each in a fresh process (Keras
picks its backend once per process), one after the other: a warm-up epoch (tracing,
compilation), then timed epochs. Backends that are not installed are skipped. Both
parts run on the device the backend uses (a GPU when present).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import cnnbook
from cnnbook.runtime import describe_device

BACKENDS = ("tensorflow", "jax", "torch")


def epoch_seconds(model, feed, **fit_arguments):
    started = time.perf_counter()
    model.fit(feed, epochs=1, verbose=0, **fit_arguments)
    return time.perf_counter() - started


def random_images(count):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
    return images, rng.integers(0, 10, size=count)


def pipeline_against_arrays(args):
    """Part 1: tf.data pipeline against float32 arrays, the tutorial's network."""
    from cnnbook.keras.models import tutorial_cnn
    from cnnbook.keras.training import make_dataset

    keras = cnnbook.import_keras()
    images, labels = random_images(args.images)
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


def improved_network_throughput(images_count, batch_size, rounds):
    """Images per second training improved_cnn on this process's backend (Part 2's child)."""
    from cnnbook.keras.models import improved_cnn
    from cnnbook.keras.training import make_dataset

    keras = cnnbook.import_keras()
    images, labels = random_images(images_count)
    keras.utils.set_random_seed(0)
    model = improved_cnn()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    batches = make_dataset(images, labels, batch_size, shuffle=True, num_classes=10)
    epoch_seconds(model, batches)  # warm-up: tracing and compilation
    median = statistics.median(epoch_seconds(model, batches) for _ in range(rounds))
    return {"backend": keras.backend.backend(), "device": describe_device(),
            "images_per_second": images_count / median}  # fmt: skip


def every_backend(args):
    """Part 2: the improved network on each installed backend, each in a fresh process."""
    print(
        f"\nimproved_cnn through make_dataset, {args.images} images, batch {args.batch_size}, "
        f"median of {args.rounds} epochs after a warm-up, one backend after the other"
    )
    results = {}
    for backend in BACKENDS:
        if importlib.util.find_spec(backend) is None:
            print(f"{backend:<11} not installed: skipped")
            continue
        child = [sys.executable, __file__, "--child", "--images", str(args.images),
                 "--batch-size", str(args.batch_size), "--rounds", str(args.rounds)]  # fmt: skip
        environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        finished = subprocess.run(child, capture_output=True, text=True, env=environment)
        if finished.returncode:
            print(f"{backend:<11} failed:\n{finished.stderr[-2000:]}")
            continue
        results[backend] = json.loads(finished.stdout.strip().splitlines()[-1])
        result = results[backend]
        print(f"{backend:<11} {result['images_per_second']:8.0f} images/s  ({result['device']})")
    if "tensorflow" in results:
        base = results["tensorflow"]["images_per_second"]
        ratios = ", ".join(f"{name} {r['images_per_second'] / base:.2f}"
                           for name, r in results.items())  # fmt: skip
        print(f"ratio to TensorFlow: {ratios}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs of each way")
    parser.add_argument("--backends-only", action="store_true", help="run part 2 only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(improved_network_throughput(args.images, args.batch_size, args.rounds)))
        return
    if not args.backends_only:
        pipeline_against_arrays(args)
    every_backend(args)


if __name__ == "__main__":
    main()
