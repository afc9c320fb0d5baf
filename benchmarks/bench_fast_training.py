"""Accuracy and time of the fast recipe (cnnbook.keras.fast_training), as chapter 9d reports them.

Three studies, each a list of training runs; every finished run is appended to a JSON
lines file at once, so that a run cut short keeps what it measured:

- ``record``: the whole recipe on the 50,000 training images, tested once on the
  10,000 test images; several seeds (the first also pays the compilation).
- ``grid``: network widths and epochs, trained on 45,000 images and measured on the
  5,000 held out (the test set is not used to choose), to pick the CPU setting.
- ``ablation``: the recipe with one idea taken away at a time, on the same split.

Examples::

    python benchmarks/bench_fast_training.py record ablation --deadline 480
    python benchmarks/bench_fast_training.py ablation --ablation-seeds 3 --deadline 480
    python benchmarks/bench_fast_training.py grid --images 4096 --epochs-scale 0.2  # a quick try

At the end it sums up the runs it made (not those of earlier invocations that the output
file may hold, with other settings): the record study's accuracies and times, and each
arm of the ablation averaged over its seeds, with one standard error of its difference
from the whole recipe where there are several
(:func:`cnnbook.keras.fast_training.ablation_summary`).

The studies run on whatever device the Keras backend sees; on a GPU, with the mixed
precision :func:`cnnbook.runtime.precision` picks (``CNNBOOK_PRECISION`` overrides it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from timing import cpu_name  # noqa: E402

from cnnbook.datasets import load_cifar10  # noqa: E402
from cnnbook.runtime import apply_policy, backend, precision, visible_gpus  # noqa: E402

FULL = (64, 256, 256)

# (widths, epochs): the candidate settings for a half-hour run on two CPU cores.
# The whole recipe (FULL, 9.9 epochs) on the same split is the ablation's first run (the
# runs recorded in cnnbook/results keep one such run as the grid's first row).
GRID = [(FULL, 8), (FULL, 6), ((48, 192, 192), 10), ((32, 128, 128), 10), ((32, 128, 128), 15)]

ABLATION = {
    "whole recipe": {},
    "no whitening": {"whiten": False},
    "no identity start": {"dirac": False},
    "no lookahead": {"lookahead": False},
    "no label smoothing": {"label_smoothing": 0.0},
    "random flips": {"flip": "random"},
    "no translation": {"translate": 0},
    "one learning rate": {"bias_scaler": 1.0},
}


def studies(names, scale, record_runs=4, ablation_seeds=1):
    """(study, label, recipe settings, seed) for each run, in the order to run them.

    The ablation runs seed by seed (every arm with seed 0, then every arm with seed 1...),
    so that a run cut short by its deadline still compares every arm."""
    runs = []
    for name in names:
        if name == "record":
            runs += [
                ("record", "whole recipe", {"epochs": 9.9 * scale}, seed)
                for seed in range(record_runs)
            ]
        elif name == "grid":
            runs += [
                (
                    "grid",
                    f"{w[0]}-{w[1]}-{w[2]}, {e:g} epochs",
                    {"widths": w, "epochs": e * scale},
                    0,
                )
                for w, e in GRID
            ]
        elif name == "ablation":
            runs += [
                ("ablation", label, {"epochs": 9.9 * scale, **change}, seed)
                for seed in range(ablation_seeds)
                for label, change in ABLATION.items()
            ]
        else:
            raise SystemExit(f"unknown study {name!r}: choose record, grid or ablation")
    return runs


def summary(rows):
    """Lines that sum up the runs in ``rows``: the record study's test accuracies and
    training times, and each arm of the ablation averaged over its seeds."""
    from cnnbook.keras.fast_training import ablation_summary

    lines = []
    record = [r for r in rows if r["study"] == "record"]
    if record:
        accuracies = [r["accuracy"]["tta2"] for r in record]
        times = [r["train_seconds"] for r in record]
        lines.append(
            f"record: {len(record)} runs, test accuracy mean {statistics.mean(accuracies):.2%} "
            f"(min {min(accuracies):.2%}, max {max(accuracies):.2%}); training seconds "
            f"{', '.join(f'{t:.1f}' for t in times)}"
        )
    ablation = [r for r in rows if r["study"] == "ablation"]
    if ablation:
        for arm in ablation_summary(ablation):
            runs = len(arm["accuracies"])
            error = arm["difference_error"]
            spread = "" if error is None else f" +/- {error:.2f}"
            lines.append(
                f"ablation: {arm['label']:<20} {arm['mean']:.2%} ({runs} run"
                f"{'s' if runs > 1 else ''}), {arm['difference']:+z.2f}{spread} points"
            )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("studies", nargs="+", help="record, grid and/or ablation")
    parser.add_argument("--output", default="fast_training_runs.jsonl")
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds; start no run that would likely end after it",
    )
    parser.add_argument("--images", type=int, default=None, help="train on fewer images (a try)")
    parser.add_argument("--record-runs", type=int, default=4, help="seeds of the record study")
    parser.add_argument(
        "--ablation-seeds", type=int, default=1, help="seeds of each arm of the ablation"
    )
    parser.add_argument(
        "--precision",
        default=None,
        help="Keras dtype policy (default: cnnbook.runtime.precision's: CNNBOOK_PRECISION, "
        "or the one that suits the GPUs present)",
    )
    parser.add_argument(
        "--epochs-scale", type=float, default=1.0, help="multiply every epoch count"
    )
    args = parser.parse_args()
    if args.ablation_seeds < 1 or args.record_runs < 1:
        parser.error("--ablation-seeds and --record-runs must be 1 or more")

    if backend() == "jax":
        import jax

        # Every run builds a new model: let XLA reuse the programs it compiled before.
        jax.config.update("jax_compilation_cache_dir", os.path.abspath(".jax_cache"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    import keras

    from cnnbook.keras import fast_training

    started = time.perf_counter()
    gpus = visible_gpus()
    policy = args.precision or precision(gpus)
    apply_policy(policy)
    device = gpus[0][0] if gpus else f"CPU ({cpu_name()}, {os.cpu_count()} cores)"
    print(f"Keras {keras.__version__} on {backend()}, {device}, {policy}", flush=True)

    (x_train, y_train), (x_test, y_test) = load_cifar10()
    order = np.random.default_rng(0).permutation(len(x_train))
    held_out, kept = order[:5000], order[5000:]
    if args.images:
        kept = kept[: args.images]
    chosen = order if not args.images else order[: args.images]
    splits = {
        "test": (
            fast_training.normalize(x_train[chosen]),
            y_train[chosen],
            fast_training.normalize(x_test),
            y_test,
        ),
        "validation": (
            fast_training.normalize(x_train[kept]),
            y_train[kept],
            fast_training.normalize(x_train[held_out]),
            y_train[held_out],
        ),
    }

    longest = 0.0
    finished = []  # this invocation's rows (the output file may hold earlier ones)
    for study, label, settings, seed in studies(
        args.studies, args.epochs_scale, args.record_runs, args.ablation_seeds
    ):
        elapsed = time.perf_counter() - started
        if args.deadline and elapsed + 1.2 * longest > args.deadline:
            print(f"deadline: skipping {study} / {label} (seed {seed})", flush=True)
            continue
        recipe = dataclasses.replace(fast_training.FastRecipe(), **settings)
        x, y, x_eval, y_eval = splits["test" if study == "record" else "validation"]
        result = fast_training.train_fast(x, y, recipe, seed=seed, log=None)
        evaluated = time.perf_counter()
        accuracy = {
            f"tta{level}": value for level, value in result.accuracies(x_eval, y_eval).items()
        }
        row = {
            "study": study,
            "label": label,
            "seed": seed,
            "measured_on": "test" if study == "record" else "validation",
            "train_images": len(x),
            "epochs": recipe.epochs,
            "widths": list(recipe.widths),
            "train_seconds": round(result.seconds, 2),
            "tta_seconds": round(time.perf_counter() - evaluated, 2),
            "accuracy": accuracy,
            "device": device,
            "backend": backend(),
            "precision": policy,
        }
        longest = max(longest, time.perf_counter() - (started + elapsed))
        print(json.dumps(row), flush=True)
        finished.append(row)
        with open(args.output, "a") as file:
            file.write(json.dumps(row) + "\n")

    for line in summary(finished):
        print(line)


if __name__ == "__main__":
    main()
