"""The benchmarks' own parts that can be checked in under a minute (their runs take
minutes), and each benchmark run end to end at its smallest settings."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_fast_training  # noqa: E402
import bench_precision  # noqa: E402

import cnnbook  # noqa: E402
from tools import booktools  # noqa: E402

keras = cnnbook.import_keras()

#: Where each chapter of bench_precision builds the step it times: notebook, function.
TIMED_STEPS = {
    "4": ("04-convolutional-layers", "one_step"),
    "9a": ("09a-cifar10-keras", "one_step"),
    "9b": ("09b-cifar10-beyond", "one_step"),
    "9d": ("09d-fast-training", "one_step"),
    "10-waves": ("10-hyperparameters", "one_wave_step"),
    "10-images": ("10-hyperparameters", "one_image_step"),
    "11": ("11-regularization", "one_step"),
}


def batch_sizes_in(notebook, function):
    """The batch sizes that ``function``, defined in a code cell of ``notebook``, passes
    (``batch_size=N``, or ``budget(full=N, ...)`` for the full run)."""
    for source in booktools.code_sources(ROOT / "book" / f"{notebook}.ipynb"):
        if f"def {function}(" not in source:
            continue
        tree = ast.parse(booktools.code_without_magics(source))
        definition = next(
            node for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name == function
        )  # fmt: skip
        return {
            keyword.value.value
            for node in ast.walk(definition)
            if isinstance(node, ast.Call)
            for keyword in node.keywords
            if keyword.arg in ("batch_size", "full") and isinstance(keyword.value, ast.Constant)
        }
    raise AssertionError(f"{notebook}: no function {function}")


def test_each_chapter_is_timed_at_the_batch_size_its_own_step_uses():
    assert set(TIMED_STEPS) == set(bench_precision.CHAPTERS)
    for key, (notebook, function) in TIMED_STEPS.items():
        batch_size = bench_precision.CHAPTERS[key][2]
        assert batch_sizes_in(notebook, function) == {batch_size}, key


@pytest.mark.parametrize("key", list(bench_precision.CHAPTERS))
def test_each_chapters_step_trains_its_network_on_a_batch(key):
    build = bench_precision.CHAPTERS[key][3]
    keras.utils.set_random_seed(0)
    step = build(keras, 8 if key == "9d" else 4)
    before = [np.array(keras.ops.convert_to_numpy(w)) for w in step.trainer.trainable_weights]
    step()  # 9b's warm-up starts at a learning rate of 0
    loss = np.ravel(step())[0]  # the loss, then the metrics if compiled with any
    after = [keras.ops.convert_to_numpy(w) for w in step.trainer.trainable_weights]
    assert np.isfinite(loss)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))


def test_chapters_are_chosen_by_key_or_by_chapter():
    assert bench_precision.chosen_chapters([]) == list(bench_precision.CHAPTERS)
    assert bench_precision.chosen_chapters(["10"]) == ["10-waves", "10-images"]
    assert bench_precision.chosen_chapters(["9d", "10-waves"]) == ["9d", "10-waves"]
    with pytest.raises(SystemExit, match=r"unknown chapters \['12'\]"):
        bench_precision.chosen_chapters(["12", "4"])


def test_the_fast_training_benchmark_sums_up_the_record_and_each_arm_of_the_ablation():
    def row(study, label, accuracy, seconds=3.0):
        return {"study": study, "label": label, "accuracy": {"tta2": accuracy},
                "train_seconds": seconds}  # fmt: skip

    rows = [
        row("record", "whole recipe", 0.905, 18.7),
        row("record", "whole recipe", 0.907, 3.5),
        row("grid", "32-128-128, 10 epochs", 0.88),
        *(row("ablation", label, accuracy) for label, accuracy in [
            ("whole recipe", 0.90), ("no lookahead", 0.89), ("random flips", 0.9099999),
            ("whole recipe", 0.92), ("no lookahead", 0.86),
        ]),
    ]  # fmt: skip
    # Errors of the means: 1.0 and 1.5 points; of the difference, sqrt(1 + 2.25) = 1.80.
    assert bench_fast_training.summary(rows) == [
        "record: 2 runs, test accuracy mean 90.60% (min 90.50%, max 90.70%); "
        "training seconds 18.7, 3.5",
        "ablation: whole recipe         91.00% (2 runs), +0.00 points",
        "ablation: no lookahead         87.50% (2 runs), -3.50 +/- 1.80 points",
        "ablation: random flips         91.00% (1 run), +0.00 points",  # never -0.00
    ]
    assert bench_fast_training.summary([row("grid", "a", 0.9)]) == []


#: Each benchmark at its smallest settings: runs of seconds that go through all its code
#: (its children, its table, its JSON file where it writes one).
SMALLEST = [
    ("bench_conv.py", "--repeats 1"),
    ("bench_pool.py", "--repeats 1"),
    ("bench_nn_digits.py", "--epochs 1"),
    ("bench_epoch_end.py", "--images 640 --epochs 2 --json {json}"),
    ("bench_fast_kernels.py", "--steps 1 --batch-size 16 --json {json}"),
    ("bench_fast_overhead.py", "--epochs 2 --images 2048 --rounds 1 --json {json}"),
    ("bench_precision.py", "--steps 1 --min-seconds 0 --batch-size 8"),
    ("bench_precision.py", "--chapters 4 --steps 1 --min-seconds 0 --json {json}"),
    ("bench_input_pipeline.py", "--images 256 --batch-size 64 --rounds 1"),
    ("bench_data_parallel.py", "--backends jax --steps 1 --batch-size 8"),
]

#: The benchmarks not run here, and why.
NOT_RUN = {
    # It runs airbench94's own code, which the project does not hold (its path is an argument).
    "bench_airbench_cpu.py",
    # It trains chapter 9d's full-size network on CIFAR-10: minutes per run even on a few
    # thousand images (its summary of the runs is tested above).
    "bench_fast_training.py",
}


def test_every_benchmark_is_run_here_or_said_why_not():
    scripts = {path.name for path in (ROOT / "benchmarks").glob("bench_*.py")}
    assert scripts == {script for script, _ in SMALLEST} | NOT_RUN


@pytest.mark.parametrize(
    ("script", "arguments"),
    SMALLEST,
    ids=[f"{script} {arguments}" for script, arguments in SMALLEST],
)
def test_each_benchmark_runs_to_its_end_at_its_smallest_settings(script, arguments, tmp_path):
    written = tmp_path / "results.json"
    arguments = arguments.format(json=written).split()
    command = [sys.executable, str(ROOT / "benchmarks" / script), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()
    if "--json" in arguments:
        assert json.loads(written.read_text())
