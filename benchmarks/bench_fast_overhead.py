"""What the fast recipe's training loop costs beyond the arithmetic: seconds per epoch
of a network too small to compute anything, with the host pipeline and the device one.

    python benchmarks/bench_fast_overhead.py [--epochs 4] [--images 50000] [--no-xla]
    KERAS_BACKEND=jax python benchmarks/bench_fast_overhead.py

The network does almost no arithmetic: a mean over each image's pixels, one batch
normalization and a dense layer (``tiny_network``), trained with the whole recipe (but
the whitening, which needs a convolution) on random images of CIFAR-10's shape. What an
epoch then costs is what a GPU would pay on top of its arithmetic: the work per step on
the host and the copies per epoch. (On a CPU the device pipeline's augmentation is real
work, done by the CPU; on a GPU it is a few elementwise operations.) The two pipelines
of :func:`cnnbook.keras.fast_training.train_fast`:

- ``host``: each epoch's augmented images made in NumPy and fed to ``fit``, the
  lookahead in a callback every 5 steps (the pipeline of the chapter's first stored run);
- ``device``: the images go to the device once, the augmentation and the lookahead
  run inside the compiled step, 8 steps per compiled call.

Both compile their step with XLA (``jit_compile=True``), as Keras does on a GPU (on
JAX always; on TensorFlow, "auto" means XLA when a GPU is present and TensorFlow's own
op-by-op executor on a CPU): the step timed is the one a GPU would run. ``--no-xla``
times TensorFlow's CPU step instead, the one chapter 9d trains with on a CPU.

Both run in this process, alternately (host, device, host, device, ...), so that the
ratio is taken under the same load; each time is the median over the epochs after the
first (which builds the graph). Prints a table and, with ``--json PATH``, writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import cpu_name  # noqa: E402


def tiny_network(recipe, whitening_images, seed):
    """A network with the recipe's outputs and almost no arithmetic."""
    import cnnbook
    from cnnbook.keras import fast_training as fast

    keras = cnnbook.import_keras()
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.BatchNormalization(momentum=recipe.batchnorm_momentum, scale=False),
            keras.layers.Dense(10, use_bias=False, kernel_initializer=fast.torch_uniform(seed)),
            fast.Scale(recipe.scaling_factor),
        ]
    )


#: The recipe's augmentation, and none: on a CPU the device pipeline's flips and
#: translations are work for the CPU (one gather of each batch's pixels), which a GPU
#: does in microseconds; without them the device pipeline's time is the loop's alone.
VARIANTS = {"with augmentation": {}, "without augmentation": {"translate": 0, "flip": "none"}}


def epoch_seconds(pipeline, images, labels, epochs, settings, jit_compile=True):
    """Seconds of each epoch after the first, training with ``pipeline``."""
    from cnnbook.keras import fast_training as fast

    recipe = fast.FastRecipe(epochs=epochs, whiten=False, **settings)
    result = fast.train_fast(
        images,
        labels,
        recipe,
        seed=0,
        log=None,
        pipeline=pipeline,
        network=tiny_network,
        jit_compile=jit_compile,
    )
    ends = [entry["seconds"] for entry in result.history]
    return [later - earlier for earlier, later in zip(ends, ends[1:])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="per run; the first is not timed")
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each pipeline")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--no-xla",
        action="store_true",
        help="TensorFlow: time the step without XLA, as it runs on a CPU (JAX always uses XLA)",
    )
    arguments = parser.parse_args()
    if arguments.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is not timed)")

    import numpy as np

    import cnnbook

    keras = cnnbook.import_keras()
    if arguments.no_xla and keras.backend.backend() != "tensorflow":
        parser.error("--no-xla is for the TensorFlow backend")
    # PyTorch: Keras's "auto" (its jit_compile=True would be torch.compile, not XLA).
    jit_compile = "auto" if keras.backend.backend() == "torch" else not arguments.no_xla
    xla = jit_compile is True
    rng = np.random.default_rng(0)
    images = rng.normal(size=(arguments.images, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 10, arguments.images)
    times = {(v, p): [] for v in VARIANTS for p in ("host", "device")}
    for _ in range(arguments.rounds):
        for variant, pipeline in times:
            times[variant, pipeline] += epoch_seconds(
                pipeline, images, labels, arguments.epochs, VARIANTS[variant], jit_compile
            )
    median = {key: statistics.median(values) for key, values in times.items()}
    ratios = {v: median[v, "host"] / median[v, "device"] for v in VARIANTS}
    print(
        f"fast recipe on tiny_network, {arguments.images:,} images, "
        f"batch 1024, Keras {keras.__version__} on {keras.backend.backend()}, "
        f"{'XLA' if xla else 'no XLA'}, {cpu_name()}, {os.cpu_count()} cores"
    )
    print(f"{'':<22}{'pipeline':<10}{'s/epoch':>10}   each epoch after the first")
    for (variant, pipeline), values in times.items():
        each = ", ".join(f"{value:.2f}" for value in values)
        print(f"{variant:<22}{pipeline:<10}{median[variant, pipeline]:>10.2f}   {each}")
    for variant, ratio in ratios.items():
        print(f"overhead ratio host/device, {variant}: {ratio:.1f}x (target: at least 5x)")
    if arguments.json:
        arguments.json.write_text(
            json.dumps(
                {
                    "backend": keras.backend.backend(),
                    "keras": keras.__version__,
                    "xla": xla,
                    "machine": cpu_name(),
                    "images": arguments.images,
                    "seconds_per_epoch": {f"{v}, {p}": t for (v, p), t in times.items()},
                    "median": {f"{v}, {p}": t for (v, p), t in median.items()},
                    "ratio": ratios,
                },
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
