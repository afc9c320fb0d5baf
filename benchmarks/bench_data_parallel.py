"""Images per second of the fast network trained on 1 and on 2 devices (data parallelism).

Each setting runs in a fresh process, because the number of virtual CPU devices must be
fixed before JAX or TensorFlow starts. On a machine without GPUs, the 2 devices are
virtual CPU devices that share the same cores: the figure shows the cost of the
machinery (splitting the batch, averaging the gradients), not a speed-up. On a machine
with GPUs, ``--gpus`` compares 1 GPU against all of them.

    python benchmarks/bench_data_parallel.py                  # TensorFlow and JAX, CPU
    python benchmarks/bench_data_parallel.py --backends jax --steps 40 --gpus
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = """
import os, sys, time
import numpy as np
devices, steps, batch, gpus = (int(a) for a in sys.argv[1:5])
backend = os.environ["KERAS_BACKEND"]
if not gpus and backend == "jax":
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
elif not gpus:
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    virtual = [tf.config.LogicalDeviceConfiguration()] * devices
    tf.config.set_logical_device_configuration(cpu, virtual)
import contextlib

import cnnbook
from cnnbook.keras import fast_training as fast
from cnnbook.runtime import data_parallel

keras = cnnbook.import_keras()
recipe = fast.FastRecipe(batch_size=batch, epochs=1, widths=(32, 128, 128))
rng = np.random.default_rng(0)
images = rng.normal(size=(batch * steps, 32, 32, 3)).astype("float32")
labels = rng.integers(0, 10, batch * steps)
if devices == 1 and gpus:
    names = ["gpu:0"] if backend == "jax" else ["/gpu:0"]
    context = data_parallel(names)
elif devices == 1:
    context = contextlib.nullcontext(1)
else:
    context = data_parallel()
with context as found:
    assert found == devices or gpus, (found, devices)
    fast.train_fast(images[: batch * 2], labels[: batch * 2], recipe, log=None)  # compile
    started = time.perf_counter()
    fast.train_fast(images, labels, recipe, log=None)
    seconds = time.perf_counter() - started
print(found, len(images) / seconds)
"""


def measure(backend, devices, steps, batch, gpus):
    environment = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    result = subprocess.run(
        [sys.executable, "-c", WORKER, str(devices), str(steps), str(batch), str(int(gpus))],
        capture_output=True,
        text=True,
        env=environment,
        timeout=1800,
    )
    if result.returncode != 0:
        raise SystemExit(f"{backend} on {devices} devices failed:\n{result.stderr[-2000:]}")
    found, rate = result.stdout.split()[-2:]
    return int(found), float(rate)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--steps", type=int, default=6, help="training steps timed")
    parser.add_argument("--batch-size", type=int, default=256, help="the global batch")
    parser.add_argument("--gpus", action="store_true", help="1 GPU against every GPU")
    args = parser.parse_args()
    print(f"fast_cnn widths 32-128-128, global batch {args.batch_size}, {args.steps} steps")
    print(f"{'backend':<11} {'devices':>7} {'images/s':>9} {'ratio':>6}")
    for backend in args.backends:
        module = "tensorflow" if backend == "tensorflow" else backend
        if importlib.util.find_spec(module) is None:
            print(f"{backend:<11} not installed")
            continue
        base = None
        for devices in (1, 2):
            found, rate = measure(backend, devices, args.steps, args.batch_size, args.gpus)
            base = base or rate
            print(f"{backend:<11} {found:>7} {rate:>9.0f} {rate / base:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
