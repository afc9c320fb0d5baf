"""Mutation testing: what share of small bugs do the unit tests catch?

    python tools/mutation.py                    # the NumPy engine; prints the share killed
    python tools/mutation.py --part fast        # chapter 9d's fast recipe (Keras)
    python tools/mutation.py --part keras       # the Keras layers, models, training helpers
    python tools/mutation.py --part runtime     # cnnbook.runtime and cnnbook.datasets
    python tools/mutation.py --part helpers     # gradient check, kernels, architecture
    python tools/mutation.py --part plots       # the book's figures (cnnbook.plots)
    python tools/mutation.py --max-children 1   # one test process at a time
    python tools/mutation.py --keep             # reuse the last run's results (only the
                                                # mutants of changed functions run again)
    python tools/mutation.py --keep NAME...     # and run these mutants again (names as the
                                                # report lists them; * is a wildcard)

mutmut (MUTMUT below, pinned) copies the package into a work folder, makes one mutant per
small change of the code (``<`` for ``<=``, ``+ 1`` for ``- 1``, a string or a number
changed, an argument left out, ...) in the modules of a part (PARTS below), and runs, for
each mutant, the part's unit tests that call the mutated function. A mutant is *killed*
when a test fails; one that every test passes *survived*: a change no test notices. The
score is the share killed (a mutant that hangs counts as killed: its tests timed out).
benchmarks/mutation.md records the runs, and the survivors that are equivalent to the
real code (no test can tell them apart).

Everything lives outside `.venv`: mutmut and cnnbook's test extra with TensorFlow go into
`.venv-mutation` (built once, rebuilt when pyproject.toml or the pin changes), and the
work folder is `_build/mutation/` (`_build/mutation-<part>/` for the other parts). `make
mutation` runs the engine's, `make mutation-fast`, `make mutation-keras`, `make
mutation-runtime`, `make mutation-helpers` and `make mutation-plots` the others'; they are
not part of `make test` (the engine's takes over an hour at half a core:
benchmarks/mutation.md), a weekly workflow runs all six (.github/workflows/mutation.yml).
Exits 1 when the score is below --fail-under (by default 90%, or a part's own
``fail_under``: the plots', whose cosmetic survivors stay).

TensorFlow's thread pools do not survive a fork, and mutmut forks a process per mutant:
so mutmut runs in its fork-server mode, and a conftest.py of the work folder imports
TensorFlow and Keras (without running anything) in the fork server, once, before it forks.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-mutation"
WORK = ROOT / "_build" / "mutation"
MUTMUT = "mutmut==3.8.1"
PIP = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
#: The frames of mutmut's spinner, which starts each of its progress lines.
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

#: What each part mutates, the unit tests that exercise it, and the tests left out:
#: those that run their code in a fresh Python (under a Keras backend they choose), since
#: mutmut cannot see which functions they call, so they would kill nothing here; and, for
#: the fast recipe, the slow tests that train a network (see its entry).
PARTS = {
    # The NumPy engine.
    "engine": {
        "sources": [
            "cnnbook/conv.py",
            "cnnbook/pool.py",
            "cnnbook/_pooling.py",
            "cnnbook/_windows.py",
            "cnnbook/_arguments.py",
            "cnnbook/regularization.py",
            "cnnbook/nn/*",
        ],
        "tests": [
            "tests/test_arguments.py",
            "tests/test_conv.py",
            "tests/test_conv_nd_and_backward.py",
            "tests/test_pool.py",
            "tests/test_regularization.py",
            "tests/test_keras_layers.py",
            "tests/test_nn.py",
            "tests/test_optimizers.py",
        ],
        "deselect": [
            "tests/test_optimizers.py::test_optimizers_and_schedules_equal_keras_step_by_step",
            "tests/test_optimizers.py::"
            "test_fast_sgd_inside_fit_steps_as_nesterov_sgd_on_every_backend",
            "tests/test_keras_layers.py::"
            "test_layers_keep_a_static_output_shape_with_a_partial_last_batch",
            "tests/test_keras_layers.py::"
            "test_keras_layers_train_save_and_load_under_the_jax_backend",
        ],
    },
    # The Keras layers, models and training helpers of chapters 9 to 11.
    "keras": {
        "sources": [
            "cnnbook/keras/layers.py",
            "cnnbook/keras/models.py",
            "cnnbook/keras/training.py",
        ],
        "tests": [
            "tests/test_keras_layers.py",
            "tests/test_models.py",
            "tests/test_keras_training.py",
            "tests/test_regularization.py",
        ],
        "deselect": [
            "tests/test_keras_layers.py::"
            "test_layers_keep_a_static_output_shape_with_a_partial_last_batch",
            "tests/test_keras_layers.py::"
            "test_keras_layers_train_save_and_load_under_the_jax_backend",
        ],
    },
    # What both engines share: the runtime (budgets, the Keras backend, devices and
    # precision, data parallelism) and the datasets.
    "runtime": {
        "sources": ["cnnbook/runtime.py", "cnnbook/datasets.py"],
        "tests": ["tests/test_runtime.py", "tests/test_datasets.py"],
        "deselect": [
            "tests/test_runtime.py::test_data_parallel_on_two_devices_matches_one",
            "tests/test_runtime.py::"
            "test_import_tensorflow_lets_its_idle_threads_sleep_unless_told_otherwise",
            "tests/test_runtime.py::test_import_tensorflow_writes_nothing_to_stderr",
        ],
    },
    # The chapters' helpers: the gradient check, the example kernels and the architecture
    # tables. (The plots are a part of their own, below.)
    "helpers": {
        "sources": ["cnnbook/gradcheck.py", "cnnbook/kernels.py", "cnnbook/architecture.py"],
        "tests": [
            "tests/test_gradcheck.py",
            "tests/test_nn.py",
            "tests/test_kernels.py",
            "tests/test_architecture.py",
            "tests/test_models.py",
        ],
        "deselect": [],
    },
    # The book's figures: what each plot draws (data, labels, titles, ticks, legends,
    # panels) and the arguments it refuses. About a fifth of its mutants only change how a
    # figure looks (sizes, fonts, colors, line widths), which no test pins and which
    # survive (benchmarks/mutation.md lists them by kind): hence its own lowest score.
    "plots": {
        "sources": ["cnnbook/plots.py"],
        "tests": ["tests/test_plots.py", "tests/test_architecture.py"],
        "deselect": [],
        "fail_under": 75.0,
    },
    # The pieces of chapter 9d's fast recipe in Keras (on TensorFlow here), against their
    # unit tests. Left out: the training loop (training.py) and the tests that train a
    # network (5 to 8 s each, and every surviving mutant would run them all).
    "fast": {
        "sources": [
            "cnnbook/keras/fast_training/recipe.py",
            "cnnbook/keras/fast_training/network.py",
            "cnnbook/keras/fast_training/optimizer.py",
            "cnnbook/keras/fast_training/augmentation.py",
        ],
        "tests": ["tests/test_fast_training.py"],
        "deselect": [
            "tests/test_fast_training.py::test_train_fast_runs_and_learns_a_separable_task",
            "tests/test_fast_training.py::"
            "test_freezing_the_settled_whitening_layer_changes_no_number",
            "tests/test_fast_training.py::test_train_fast_with_and_without_xla_trains_the_same",
        ],
    },
}

CONFTEST = '''"""Written by tools/mutation.py: TensorFlow and Keras imported once, in mutmut's fork
server, before it forks a process per mutant (no operation runs before the fork); and
Hypothesis without its shrinking phase: a failing example kills the mutant as it is."""

from hypothesis import Phase, settings

import cnnbook

cnnbook.import_tensorflow()
import keras  # noqa: E402, F401

settings.register_profile("mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("mutation")
'''


def mutmut_config(part):
    """The [tool.mutmut] table of ``part`` (a key of PARTS), as TOML lines."""
    pytest_arguments = ["-p", "no:xdist", "-p", "no:cacheprovider"]
    for test in PARTS[part]["deselect"]:
        pytest_arguments += ["--deselect", test]
    settings = {
        "source_paths": ["cnnbook"],
        "only_mutate": PARTS[part]["sources"],
        "also_copy": ["conftest.py"],
        "pytest_add_cli_args_test_selection": PARTS[part]["tests"],
        "pytest_add_cli_args": pytest_arguments,
        "process_isolation": "forkserver",
        # A mutant whose tests take 5 times their usual time (plus 1 s) has timed out: a
        # mutant can make the code very slow (one row per block), not only wrong.
        "timeout_multiplier": 5.0,
        "use_git_change_detection": False,
    }
    lines = ["", "[tool.mutmut]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def ensure_venv():
    """`.venv-mutation` with cnnbook[test,tf] (editable) and mutmut; rebuilt when stale."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed-stamp"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + MUTMUT.encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"building {VENV.name} (cnnbook[test,tf], {MUTMUT})", flush=True)
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), *PIP, "--upgrade", "pip"], check=True)
    subprocess.run([str(python), *PIP, "-e", f"{ROOT}[test,tf]", MUTMUT], check=True, cwd=ROOT)
    stamp.write_text(wanted)
    return python


def work_folder(part):
    """Where mutmut works on ``part``: WORK for the engine, a sibling for the others."""
    return WORK if part == "engine" else WORK.with_name(f"{WORK.name}-{part}")


def shield_keras_layer_inits(path):
    """Mark the ``__init__`` of each Keras layer in ``path`` ``# pragma: no mutate block``.

    Keras reads a layer's ``__init__`` with ``inspect.getfullargspec`` when it creates the
    layer, and mutmut wraps each function it mutates in a decorator, in which
    ``getfullargspec`` (it does not follow ``__wrapped__``) finds none of the arguments:
    every layer would fail to build, whatever the mutant. Only the work folder's copy is
    marked. Other methods (``call``, ``get_config``) are mutated: Keras reads them with
    ``inspect.signature``, which sees through the decorator.
    """
    source = path.read_text()
    lines = source.splitlines(keepends=True)
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        if not any("keras.layers." in ast.unparse(base) for base in node.bases):
            continue
        for method in node.body:
            if isinstance(method, ast.FunctionDef) and method.name == "__init__":
                header = lines[method.lineno - 1].rstrip()
                if not header.endswith(":"):
                    raise ValueError(f"{path}:{method.lineno}: write this def on one line")
                lines[method.lineno - 1] = header + "  # pragma: no mutate block\n"
    path.write_text("".join(lines))


def prepare_work_folder(part, keep):
    """The package, the tests and the settings, copied into the part's work folder."""
    work = work_folder(part)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.rmtree(work / "cnnbook", ignore_errors=True)
    shutil.copytree(ROOT / "cnnbook", work / "cnnbook", ignore=ignore)
    for pattern in PARTS[part]["sources"]:
        for path in work.glob(pattern if pattern.endswith(".py") else pattern + ".py"):
            shield_keras_layer_inits(path)
    shutil.rmtree(work / "tests", ignore_errors=True)
    (work / "tests").mkdir()
    for name in ["tests/conftest.py", *PARTS[part]["tests"]]:
        shutil.copy2(ROOT / name, work / name)
    (work / "conftest.py").write_text(CONFTEST)
    pyproject = (ROOT / "pyproject.toml").read_text()
    (work / "pyproject.toml").write_text(pyproject + mutmut_config(part))
    if keep:
        # The copies are fresh: mutmut compares the functions' source with its last run.
        for path in ["tests", "conftest.py", "pyproject.toml"]:
            target = work / "mutants" / path
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    return work


def run_quietly(command, work, environment, every=60.0):
    """Run mutmut in ``work``, passing on its output without the spinner's frames.

    mutmut redraws a spinner and its progress line many times a second, on a terminal or
    not; a log gets the progress line once every ``every`` seconds, and every other line.
    """
    process = subprocess.Popen(
        command, cwd=work, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    last_shown, pending = 0.0, b""
    for chunk in iter(lambda: process.stdout.read1(4096), b""):
        *frames, pending = (pending + chunk).replace(b"\r", b"\n").split(b"\n")
        for frame in filter(None, (frame.strip() for frame in frames)):
            text = frame.decode(errors="replace")
            progress = text[0] in SPINNER
            if progress and time.monotonic() - last_shown < every:
                continue
            last_shown = time.monotonic() if progress else last_shown
            print(text.lstrip(SPINNER + " "), flush=True)
    if pending.strip():
        print(pending.decode(errors="replace").strip(), flush=True)
    if process.wait() != 0:
        raise subprocess.CalledProcessError(process.returncode, command)


def summary(mutmut, work):
    """mutmut's counts of the run in ``work``, and each mutant it did not kill: (name, status)."""
    subprocess.run([str(mutmut), "export-cicd-stats"], cwd=work, check=True, capture_output=True)
    counts = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    results = subprocess.run(
        [str(mutmut), "results"], cwd=work, check=True, capture_output=True, text=True
    ).stdout
    lines = [line.strip().rsplit(": ", 1) for line in results.splitlines() if ": " in line]
    return counts, [(name, status) for name, status in lines if status != "timeout"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--part", choices=sorted(PARTS), default="engine", help="what to mutate (default: engine)"
    )
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", action="store_true", help="reuse the last run's results")
    parser.add_argument(
        "--fail-under", type=float, help="lowest score, in %% (default: the part's, or 90)"
    )
    parser.add_argument("mutants", nargs="*", help="with --keep: mutants to run again")
    arguments = parser.parse_args(argv)
    if arguments.mutants and not arguments.keep:
        parser.error("naming mutants to run again needs --keep")

    python = ensure_venv()
    mutmut = python.parent / "mutmut"
    work = prepare_work_folder(arguments.part, arguments.keep)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    started = time.perf_counter()
    command = [str(mutmut), "run", "--max-children", str(arguments.max_children)]
    command += arguments.mutants
    run_quietly(command, work, environment)
    minutes = (time.perf_counter() - started) / 60

    counts, survivors = summary(mutmut, work)
    killed = counts["killed"] + counts["timeout"]
    tested = counts["total"] - counts["skipped"]
    score = 100 * killed / max(tested, 1)
    unchecked = sum(status == "not checked" for _, status in survivors)
    report = [f"{status}: {name}" for name, status in survivors if status != "not checked"] + [
        json.dumps(counts),
        f"mutation score: {killed}/{tested} mutants killed ({score:.1f}%), "
        f"{counts['survived']} survived, {counts['no_tests']} not covered by a test, "
        f"{unchecked} not checked (an interrupted run); "
        f"{minutes:.1f} min ({MUTMUT}, {arguments.max_children} processes)",
    ]
    (work / "report.txt").write_text("\n".join(report) + "\n")
    print("\n" + "\n".join(report))
    fail_under = arguments.fail_under
    if fail_under is None:
        fail_under = PARTS[arguments.part].get("fail_under", 90.0)
    if score < fail_under:
        print(f"below the required {fail_under:.0f}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
