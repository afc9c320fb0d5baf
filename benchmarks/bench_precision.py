"""Time per training step in float32 and 16-bit precision: a small CNN, or each chapter's network.

    python benchmarks/bench_precision.py [--steps 5] [--batch-size 256]
    KERAS_BACKEND=jax python benchmarks/bench_precision.py
    python benchmarks/bench_precision.py --chapters [9b 9d ...] [--steps 10] [--min-seconds 3]
    python benchmarks/bench_precision.py --chapters --json PATH

Without ``--chapters``: a small CNN in float32, mixed_float16 and mixed_bfloat16, on the
backend ``KERAS_BACKEND`` names. Why `make test-precision` runs float16 on JAX and
bfloat16 on TensorFlow: on a CPU, TensorFlow emulates float16 (and runs bfloat16
natively where the processor has AVX-512 BF16). Each policy runs in a fresh process
(Keras's global policy, and the backend's compiled functions, belong to a process);
each times ``--steps`` training steps after one that compiles, and prints the processor
time and the wall-clock time per step, with the ratio of processor time to float32's.

With ``--chapters``: whether bfloat16 pays for each chapter's network on this CPU. A CPU
with bfloat16 instructions does not train every network faster in mixed_bfloat16 (and
whether it does depends on the processor), so a chapter that trains with Keras (4, 9a,
9b, 9d, 10, 11) passes its own step to ``cnnbook.runtime.use_precision``, which times
it in both policies on the reader's machine. For each chapter (all, or those named),
this times the step the chapter times: its network, compiled as the chapter compiles it,
at the batch size it trains with (in chapter 9d also the augmentation and the lookahead
inside its step), one ``train_on_batch`` on a fixed batch of random data
(``cnnbook.keras.training.random_batch_step``; 9d: ``training_step``), after one step
that compiles, on TensorFlow, in float32 and in mixed_bfloat16, each in a
fresh process: the median over at least ``--steps`` steps and ``--min-seconds`` seconds
(a small network's steps take milliseconds), of processor time and of wall-clock time.
The ratio is bfloat16's wall-clock time over float32's: "faster" below 1. ``--json PATH``
also writes the table as JSON (``benchmarks/results/precision_chapters_cpu_epyc.json``
and ``..._xeon.json``, one per processor). Accuracy is not measured here: a chapter that
trains in bfloat16 checks its band in full mode
(``cnnbook.expect_accuracy``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time

from timing import cpu_name, run_child, tensorflow_children

POLICIES = ["float32", "mixed_float16", "mixed_bfloat16"]
CHAPTER_POLICIES = ["float32", "mixed_bfloat16"]


def time_policy(policy, steps, batch_size):
    """Processor and wall seconds of one training step under ``policy`` (this process)."""
    import numpy as np

    import cnnbook

    keras = cnnbook.import_keras()
    cnnbook.runtime.apply_policy(policy)
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


# --------------------------------------------------------------------------------------
# Each chapter's training step: the network built and compiled as its notebook builds it
# for the step it times (its ``one_step``), on a batch of random data of the shape it
# trains on (``random_batch_step``). Each returns a function that trains one step on that
# batch; Keras's global policy is already set.
# --------------------------------------------------------------------------------------


def random_batch_step(model, batch_size, one_hot=False):
    """``cnnbook.keras.training.random_batch_step``, imported in the child process that
    times it (the parent process never loads Keras)."""
    from cnnbook.keras.training import random_batch_step

    return random_batch_step(model, batch_size, one_hot=one_hot)


def _two_convolutions(keras, first_kernel):
    """Conv(32, ``first_kernel``) -> pool -> Conv(64, 3) -> pool -> Dense(10), ReLU, same
    padding, Adam on integer labels: the network of chapter 4 (5x5 first kernel) and
    chapter 10's CIFAR-10 network (3x3, its default)."""
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(32, first_kernel, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10, activation="softmax", dtype="float32"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def chapter_04(keras, batch_size):
    """Chapter 4's network, built in its notebook (a 5x5 first kernel)."""
    return random_batch_step(_two_convolutions(keras, first_kernel=5), batch_size)


def chapter_09a(keras, batch_size):
    """Chapter 9a: ``tutorial_cnn()`` compiled as the tutorial meant (SGD, one-hot labels)."""
    from cnnbook.keras.models import tutorial_cnn

    return random_batch_step(tutorial_cnn(), batch_size, one_hot=True)


def chapter_09b(keras, batch_size):
    """Chapter 9b's final network: ``improved_cnn()`` (augmentation inside the model), SGD
    on a warm-up and cosine schedule, one-hot labels. (Its run also smooths the labels,
    which costs nothing measurable; its step does not.)"""
    from cnnbook.keras.models import improved_cnn
    from cnnbook.keras.training import sgd_warmup_cosine

    model = improved_cnn()
    model.compile(
        optimizer=sgd_warmup_cosine(0.2, total_steps=100), loss="categorical_crossentropy"
    )
    return random_batch_step(model, batch_size, one_hot=True)


def chapter_09d(keras, batch_size):
    """Chapter 9d's run (``train_fast`` with the recipe's 64-256-256 widths): the step it
    compiles, which looks the images up by index and augments them (``AugmentedImages``),
    then trains ``fast_cnn`` with ``FastSGD`` and its lookahead (``training_step``, which
    the chapter times to choose its precision)."""
    import numpy as np

    from cnnbook.keras import fast_training as fast

    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch_size, 32, 32, 3), dtype=np.float32)  # normalized
    labels = np.arange(batch_size) % 10
    return fast.training_step(images, labels, fast.FastRecipe(batch_size=batch_size))


def chapter_10_waves(keras, batch_size):
    """Chapter 10's 1-D network on 128-sample waves (its default settings), Adam."""
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(128, 1)),
            layers.Conv1D(16, 5, activation="relu"),
            layers.MaxPooling1D(pool_size=2),
            layers.Conv1D(16, 5, activation="relu"),
            layers.GlobalMaxPooling1D(),
            layers.Dense(4, activation="softmax", dtype="float32"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return random_batch_step(model, batch_size)


def chapter_10_network(keras):
    """Chapter 10's CIFAR-10 network with its default settings (2x2 pools, 3x3 kernels,
    32 and 64 filters), compiled."""
    return _two_convolutions(keras, first_kernel=3)


def chapter_10_images(keras, batch_size):
    """Chapter 10's CIFAR-10 network (:func:`chapter_10_network`)."""
    return random_batch_step(chapter_10_network(keras), batch_size)


def chapter_11(keras, batch_size):
    """Chapter 11's baseline network (its variants change a layer or a setting), Adam,
    with the cross-entropy as an extra metric as the chapter compiles it."""
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            layers.Dropout(0.0),
            layers.Conv2D(32, (3, 3), padding="valid", activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.0),
            layers.Dense(10, activation="softmax", dtype="float32"),
        ]
    )
    crossentropy = keras.metrics.SparseCategoricalCrossentropy(name="crossentropy")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", crossentropy],
    )
    return random_batch_step(model, batch_size)


# key: (chapter, network, batch size of the chapter's full-mode run, builder)
CHAPTERS = {
    "4": ("4", "notebook's 2-conv CNN", 64, chapter_04),
    "9a": ("9a", "tutorial_cnn", 512, chapter_09a),
    "9b": ("9b", "improved_cnn", 256, chapter_09b),
    "9d": ("9d", "fast_cnn 64-256-256", 1024, chapter_09d),
    "10-waves": ("10", "wave_network (1-D)", 64, chapter_10_waves),
    "10-images": ("10", "image_network", 64, chapter_10_images),
    "11": ("11", "network() baseline", 64, chapter_11),
}


def time_chapter(key, policy, steps, min_seconds):
    """Median processor and wall seconds of one training step of a chapter's network,
    over at least ``steps`` steps and at least ``min_seconds`` of them."""
    import cnnbook
    from cnnbook.runtime import time_steps

    keras = cnnbook.import_keras()
    cnnbook.runtime.apply_policy(policy)
    keras.utils.set_random_seed(0)
    _, _, batch_size, build = CHAPTERS[key]
    step = build(keras, batch_size)
    step()  # compiles
    wall, processor = time_steps(step, steps, min_seconds)
    return {
        "key": key,
        "policy": policy,
        "backend": keras.backend.backend(),
        "processor": statistics.median(processor),
        "wall": statistics.median(wall),
        "steps": len(wall),
    }


# --------------------------------------------------------------------------------------
# The parent process: one child per measurement, then the table
# --------------------------------------------------------------------------------------


def chosen_chapters(names):
    """The keys of CHAPTERS that ``names`` select ("10" selects both of chapter 10's)."""
    if not names:
        return list(CHAPTERS)
    keys = [key for key in CHAPTERS if key in names or CHAPTERS[key][0] in names]
    unknown = set(names) - set(CHAPTERS) - {chapter for chapter, *_ in CHAPTERS.values()}
    if unknown:
        raise SystemExit(f"unknown chapters {sorted(unknown)}; known: {', '.join(CHAPTERS)}")
    return keys


def compare_chapters(names, steps, min_seconds, json_path=None):
    """Time each chosen chapter in float32 and mixed_bfloat16; print (and save) the table."""
    from cnnbook.runtime import cpu_has_bfloat16

    keys = chosen_chapters(names)
    env, versions = tensorflow_children()
    native = cpu_has_bfloat16()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; cpu_has_bfloat16(): {native}")
    print(
        f"TensorFlow {versions['tensorflow']}, Keras {versions['keras']}: one training step "
        f"(train_on_batch): the median of at least {steps} steps and {min_seconds:g} s, "
        "after one that compiles"
    )
    print(f"{'':<35}{'float32 ms/step':>20}{'bfloat16 ms/step':>20}")
    header = f"{'chapter':<8}{'network':<22}{'batch':>5}" + f"{'processor':>11}{'wall':>9}" * 2
    print(f"{header}{'ratio':>7}  bfloat16")
    rows = []
    for key in keys:
        chapter, network, batch_size, _ = CHAPTERS[key]
        times = {}
        for policy in CHAPTER_POLICIES:
            arguments = ["--chapter", key, "--policy", policy, "--steps", str(steps)]
            arguments += ["--min-seconds", str(min_seconds)]
            times[policy] = run_child(__file__, arguments, env)
        ratio = times["mixed_bfloat16"]["wall"] / times["float32"]["wall"]
        verdict = "faster" if ratio < 1 else "slower"
        row = {"chapter": chapter, "network": network, "batch_size": batch_size}
        for policy in CHAPTER_POLICIES:
            row[policy] = {
                "processor_ms": round(times[policy]["processor"] * 1e3, 2),
                "wall_ms": round(times[policy]["wall"] * 1e3, 2),
                "steps": times[policy]["steps"],
            }
        row.update(ratio=round(ratio, 3), bfloat16=verdict)
        rows.append(row)
        cells = "".join(
            f"{row[policy]['processor_ms']:>11.1f}{row[policy]['wall_ms']:>9.1f}"
            for policy in CHAPTER_POLICIES
        )
        print(f"{chapter:<8}{network:<22}{batch_size:>5}{cells}{ratio:>7.2f}  {verdict}")
        sys.stdout.flush()
    if json_path:
        table = {
            "date": datetime.date.today().isoformat(),
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "cpu_has_bfloat16": native,
            "backend": "tensorflow",
            **versions,
            "measure": (
                f"median time of one train_on_batch step, over at least {steps} steps and "
                f"{min_seconds:g} s, after one that compiles"
            ),
            "ratio": "mixed_bfloat16 wall time / float32 wall time",
            "rows": rows,
        }
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w", encoding="utf-8") as file:
            json.dump(table, file, indent=2)
            file.write("\n")
        print(f"written: {json_path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, help="timed steps per policy (default 5; 10 with --chapters)"
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=3.0,
        help="with --chapters: time more steps until they take this long (default 3)",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="the small CNN's batch")
    parser.add_argument(
        "--chapters",
        nargs="*",
        metavar="CHAPTER",
        help="time each chapter's network instead (all, or those named: 4 9a 9b 9d 10 11)",
    )
    parser.add_argument("--json", metavar="PATH", help="with --chapters: write the table here")
    parser.add_argument("--policy", choices=POLICIES, help=argparse.SUPPRESS)  # one process
    parser.add_argument("--chapter", choices=list(CHAPTERS), help=argparse.SUPPRESS)  # one
    args = parser.parse_args(argv)
    if args.json and args.chapters is None:
        parser.error("--json needs --chapters")
    if args.policy and args.chapter:
        print(json.dumps(time_chapter(args.chapter, args.policy, args.steps, args.min_seconds)))
        return
    if args.chapters is not None:
        compare_chapters(args.chapters, args.steps or 10, args.min_seconds, args.json)
        return
    steps = args.steps or 5
    if args.policy:
        print(json.dumps(time_policy(args.policy, steps, args.batch_size)))
        return
    results = []
    for policy in POLICIES:
        arguments = ["--policy", policy, "--steps", str(steps)]
        results.append(run_child(__file__, arguments + ["--batch-size", str(args.batch_size)]))
    print(f"small CNN, batch {args.batch_size}, {steps} steps, on {results[0]['backend']}")
    print(f"{'policy':<16}{'processor':>12}{'wall':>12}{'ratio':>8}")
    for result in results:
        ratio = result["processor"] / results[0]["processor"]
        print(
            f"{result['policy']:<16}{result['processor'] * 1e3:>10.0f}ms"
            f"{result['wall'] * 1e3:>10.0f}ms{ratio:>8.1f}"
        )


if __name__ == "__main__":
    main()
