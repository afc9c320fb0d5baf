"""The idle wait at the end of each epoch on TensorFlow: Keras's array pipeline as Keras
builds it, and as ``cnnbook.import_keras`` leaves it (without autotuning).

    python benchmarks/bench_epoch_end.py [--images 100000] [--epochs 4] [--json PATH]

Keras feeds NumPy arrays to ``fit`` through an autotuned ``tf.data`` pipeline. The tuning
thread sleeps between its rounds, twice as long each time up to a minute, and TensorFlow
deletes each epoch's pipeline only after that thread wakes up: the processor waits,
idle, for anything from nothing to about the length of the epoch (at most a minute).
``cnnbook.import_keras`` has Keras build that pipeline with autotuning off
(``cnnbook.runtime.without_autotuning``): the same batches. The "keras" way undoes that.

This trains the same small CNN (chapter 10's: two 3x3 convolutions, Adam, batch 64) on
the same random images both ways, each in a fresh process (one after the other, Keras's
way first), and prints each epoch's wall-clock and processor time, and for each way the
whole ``fit``'s wall-clock time and the share of it that the processor was busy
(processor time over wall-clock time times the cores). The arithmetic is the same, so
the difference in wall-clock time is the waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_precision import chapter_10_network  # noqa: E402
from timing import cpu_name, run_child, tensorflow_children  # noqa: E402

WAYS = ("keras", "cnnbook")


def train(way, images, epochs):
    """One ``fit`` of ``epochs`` epochs fed ``way``; per-epoch and total times."""
    import numpy as np

    import cnnbook

    keras = cnnbook.import_keras()
    if way == "keras":  # the pipeline as Keras builds it, autotuned
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

        ArrayDataAdapter.get_tf_dataset = ArrayDataAdapter.get_tf_dataset.__wrapped__
    rng = np.random.default_rng(0)
    x = rng.random((images, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, images)
    keras.utils.set_random_seed(0)
    model = chapter_10_network(keras)  # the network chapter 10 trains
    epochs_seen = []

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            wall, processor = time.perf_counter(), time.process_time()
            epochs_seen.append((wall - self.started[0], processor - self.started[1]))

    started = time.perf_counter(), time.process_time()
    model.fit(
        x, y, batch_size=64, epochs=epochs, shuffle=False, verbose=0, callbacks=[EpochTimes()]
    )
    wall, processor = time.perf_counter() - started[0], time.process_time() - started[1]
    return {
        "way": way,
        "wall": wall,
        "processor": processor,
        "busy": processor / (wall * os.cpu_count()),
        "epochs": epochs_seen,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--way", choices=WAYS, help=argparse.SUPPRESS)  # the child's
    parser.add_argument("--json", type=Path, help="also write the results here")
    arguments = parser.parse_args()
    if arguments.way:
        print(json.dumps(train(arguments.way, arguments.images, arguments.epochs)))
        return

    env, versions = tensorflow_children()
    print(
        f"TensorFlow {versions['tensorflow']}, Keras {versions['keras']}; {cpu_name()}, "
        f"{os.cpu_count()} cores; {arguments.images:,} images, batch 64, "
        f"{arguments.epochs} epochs in one fit"
    )
    results = []
    for way in WAYS:
        sizes = ["--images", str(arguments.images), "--epochs", str(arguments.epochs)]
        result = run_child(__file__, ["--way", way, *sizes], env)
        results.append(result)
        each = ", ".join(f"{wall:.1f} ({processor:.1f})" for wall, processor in result["epochs"])
        print(
            f"{way:<14} fit {result['wall']:6.1f} s, processor busy {result['busy']:.0%}; "
            f"each epoch, wall (processor) s: {each}"
        )
    ratio = results[0]["wall"] / results[1]["wall"]
    print(f"wall-clock ratio keras / cnnbook: {ratio:.2f}")
    if arguments.json:
        table = {"cpu": cpu_name(), "cores": os.cpu_count(), **versions, "results": results}
        arguments.json.write_text(json.dumps({**table, "ratio": ratio}, indent=1) + "\n")


if __name__ == "__main__":
    main()
