"""Seconds per training step of a small CNN in float32, mixed_float16 and mixed_bfloat16.

    python benchmarks/bench_precision.py [--steps 5] [--batch-size 256]
    KERAS_BACKEND=jax python benchmarks/bench_precision.py

Why `make test-precision` runs float16 on JAX and bfloat16 on TensorFlow: on a CPU,
TensorFlow emulates float16 (and runs bfloat16 natively where the processor has
AVX-512 BF16). Each policy runs in a fresh process (Keras's global policy, and the
backend's compiled functions, belong to a process); each times ``--steps`` training
steps after one that compiles, and prints the processor time and the wall-clock time
per step, with the ratio of processor time to float32's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

POLICIES = ["float32", "mixed_float16", "mixed_bfloat16"]


def time_policy(policy, steps, batch_size):
    """Processor and wall seconds of one training step under ``policy`` (this process)."""
    import numpy as np

    import cnnbook

    keras = cnnbook.import_keras()
    keras.mixed_precision.set_global_policy(policy)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10, dtype="float32"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.random((batch_size, 32, 32, 3), dtype=np.float32)
    labels = rng.integers(0, 10, batch_size)
    model.train_on_batch(images, labels)  # compiles
    processor, wall = time.process_time(), time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return {
        "policy": policy,
        "backend": keras.backend.backend(),
        "processor": (time.process_time() - processor) / steps,
        "wall": (time.perf_counter() - wall) / steps,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per policy")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--policy", choices=POLICIES, help=argparse.SUPPRESS)  # one process
    args = parser.parse_args(argv)
    if args.policy:
        print(json.dumps(time_policy(args.policy, args.steps, args.batch_size)))
        return
    results = []
    for policy in POLICIES:
        command = [sys.executable, __file__, "--policy", policy, "--steps", str(args.steps)]
        command += ["--batch-size", str(args.batch_size)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(output.splitlines()[-1]))
    print(f"small CNN, batch {args.batch_size}, {args.steps} steps, on {results[0]['backend']}")
    print(f"{'policy':<16}{'processor':>12}{'wall':>12}{'ratio':>8}")
    for result in results:
        ratio = result["processor"] / results[0]["processor"]
        print(
            f"{result['policy']:<16}{result['processor'] * 1e3:>10.0f}ms"
            f"{result['wall'] * 1e3:>10.0f}ms{ratio:>8.1f}"
        )


if __name__ == "__main__":
    main()
