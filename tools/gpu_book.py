"""Run the book's notebooks in full mode under nbval, one by one, and summarize them.

    python tools/gpu_book.py --out DIR [--half 1|2|all] [--deadline SECONDS]
                             [--stop-after SECONDS] [--notebooks book/05-pooling.ipynb ...]
                             [--benchmark-runs N]

``tools/gpu_run.sh`` calls this on the lent GPU machine, after installing the bundle.
Each notebook runs under ``pytest --nbval`` in full mode (its cells compared with the
stored outputs; the device and precision line sanitized, since a GPU prints its own),
and each training chapter records its test accuracy and band through
:func:`cnnbook.runtime.expect_accuracy` (``CNNBOOK_RESULTS``). Then, unless
``--benchmark-runs 0``, the fast recipe's record benchmark runs with the time left.

Into ``DIR`` go at most four files, as the GPU machine returns them: ``summary.json``
(per chapter: seconds, nbval verdict, accuracy, band held or not, precision, GPU),
``book.log`` (every chapter's pytest output, one line per cell, written as it comes and
timed, so that a run cut short still shows where it was), ``bench.log`` and
``bench.jsonl``. A notebook still running after ``--stop-after`` seconds is stopped
(``"nbval": "stopped"``, with the last cell that passed).
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = [ROOT / "nbval_sanitize.cfg", ROOT / "nbval_sanitize_device.cfg"]
#: Two halves of the book for two device calls of at most 9 minutes each: the first holds
#: the chapters that train little, and 9a; the second the heavy training chapters.
SECOND_HALF = (
    "09b-cifar10-beyond",
    "09d-fast-training",
    "10-hyperparameters",
    "11-regularization",
)


def chapters(half="all"):
    """The notebooks of ``half`` ("1", "2" or "all"), in book order."""
    every = sorted((ROOT / "book").glob("*.ipynb"))
    if half == "all":
        return every
    second = [path for path in every if path.stem in SECOND_HALF]
    return second if half == "2" else [path for path in every if path not in second]


def sanitize_file(directory):
    """nbval reads one sanitize file: the book's own, then the device and precision line's."""
    combined = Path(directory) / "nbval_sanitize_combined.cfg"
    combined.write_text("\n".join(path.read_text() for path in SANITIZE))
    return combined


def device():
    """The GPU and backend the notebooks will see, and the policy their chapters that
    train with Keras apply (the device line reports it), asked in a fresh process."""
    script = (
        "from cnnbook.runtime import backend, describe_device, use_precision\n"
        "policy = use_precision(log=None)\n"
        "print(backend()); print(describe_device()); print(policy)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if result.returncode != 0:
        return {"backend": None, "device": result.stderr.strip()[-500:], "precision": None}
    name, description, policy = result.stdout.strip().splitlines()[-3:]
    return {"backend": name, "device": description, "precision": policy}


def _descendants(pid):
    """Every process that ``pid`` started, and those they started (read from /proc)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    found, unvisited = [], [pid]
    while unvisited:
        for child in children.get(unvisited.pop(), []):
            found.append(child)
            unvisited.append(child)
    return found


def _kill_tree(pid):
    """Kill ``pid``, what it started, and their process groups: a notebook's kernel runs
    in a session of its own, and holds pytest's output pipe open."""
    for process in [pid, *_descendants(pid)]:  # all found before any dies
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(process), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGKILL)


def stream(command, log, stop_after, environment=None):
    """Run ``command``, writing its output to ``log`` as it comes, each line timed.

    Each line starts with the seconds since the start, written when the line starts: a
    pytest cell's line (``...::Cell 7 ``, finished by ``PASSED`` when the cell ends)
    shows which cell is running. After ``stop_after`` seconds the command, everything it
    started and their process groups are killed.

    Returns
    -------
    (int, str, bool)
        The return code, the whole output, and whether it was stopped.
    """
    started = time.perf_counter()
    pieces = []
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def read():
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        line_starts = True
        while chunk := os.read(process.stdout.fileno(), 65536):
            text = decoder.decode(chunk)
            pieces.append(text)
            for part in text.splitlines(keepends=True):
                if line_starts:
                    log.write(f"[{time.perf_counter() - started:5.0f} s] ")
                log.write(part)
                line_starts = part.endswith("\n")
            log.flush()
        if not line_starts:
            log.write("\n")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        returncode, stopped = process.wait(timeout=max(stop_after, 0)), False
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)
        returncode, stopped = process.wait(), True
    reader.join(timeout=10)  # a process it left behind may still hold the pipe
    if not reader.is_alive():
        process.stdout.close()
    return returncode, "".join(pieces), stopped


def cell_outcomes(output):
    """The cells that passed and those that failed (or errored), by number, from the lines
    that ``pytest -v`` writes for a notebook under nbval (``...::Cell 7 PASSED``). A
    stopped run's last cell has no outcome and is in neither list."""
    outcomes = re.findall(r"::Cell (\d+) (PASSED|FAILED|ERROR)", output)
    passed = [int(cell) for cell, outcome in outcomes if outcome == "PASSED"]
    failed = [int(cell) for cell, outcome in outcomes if outcome != "PASSED"]
    return passed, failed


def run_notebook(path, log, sanitize, results, stop_after):
    """Run one notebook under nbval in full mode; return its summary entry.

    pytest's output goes to ``log`` line by line as it comes (one line per cell, with the
    seconds since the notebook started), so that a call that runs out of time still
    shows which cell was running. The notebook (pytest and its kernel) is stopped after
    ``stop_after`` seconds.
    """
    environment = {**os.environ, "CNNBOOK_SMOKE": "0", "CNNBOOK_RESULTS": str(results)}
    command = [sys.executable, "-m", "pytest", str(path.relative_to(ROOT)), "--nbval"]
    command += ["--nbval-current-env", "--nbval-sanitize-with", str(sanitize)]
    command += ["--nbval-cell-timeout=3600", "-p", "no:xdist", "-p", "no:cacheprovider", "-v"]
    log.write(f"===== {path.name}: started (stopped if still running in {stop_after:.0f} s)\n")
    started = time.perf_counter()
    returncode, output, stopped = stream(command, log, stop_after, environment)
    seconds = time.perf_counter() - started
    log.write(f"===== {path.name}: rc {returncode}, {seconds:.0f} s\n")
    log.flush()
    passed, failed = cell_outcomes(output)
    entry = {
        "notebook": path.stem,
        "seconds": round(seconds, 1),
        "nbval": "stopped" if stopped else "passed" if returncode == 0 else "failed",
        "cells_passed": len(passed),
        "cells_failed": len(failed),
    }
    if stopped:
        entry["last_cell_passed"] = passed[-1] if passed else None
    if results.exists():
        recorded = [json.loads(line) for line in results.read_text().splitlines() if line]
        last = recorded[-1]
        entry.update(
            accuracy=last["accuracy"],
            band=[last["low"], last["high"]],
            band_held=last["held"],
            precision=last["precision"],
            device=last["device"],
        )
    return entry


def run_benchmark(out, runs, deadline):
    """The fast recipe's record study, with what is left of the deadline."""
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_fast_training.py"), "record"]
    command += ["--record-runs", str(runs), "--output", str(Path(out) / "bench.jsonl")]
    command += ["--deadline", str(int(deadline))]
    with open(Path(out) / "bench.log", "w") as log:
        returncode, _, _ = stream(command, log, deadline + 30)  # its own deadline, and a margin
    # the benchmark writes each run as it ends: a run cut short keeps those it finished
    results = Path(out, "bench.jsonl")
    lines = results.read_text().splitlines() if results.exists() else []
    return {"returncode": returncode, "runs": [json.loads(line) for line in lines]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the summary and logs")
    parser.add_argument("--half", choices=["1", "2", "all"], default="all")
    parser.add_argument("--notebooks", nargs="*", help="these notebooks instead of a half")
    parser.add_argument(
        "--deadline", type=float, default=480, help="seconds after which no notebook starts"
    )
    parser.add_argument(
        "--stop-after",
        type=float,
        default=520,
        help="seconds after the start after which a notebook still running is stopped (the "
        "summary is kept); no notebook starts after it either",
    )
    parser.add_argument(
        "--benchmark-runs", type=int, default=3, help="record runs after the notebooks (0: none)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [ROOT / p for p in args.notebooks] if args.notebooks else chapters(args.half)
    summary = {**device(), "half": args.half, "chapters": [], "not_run": []}
    print(f"{summary['device']} ({summary['backend']}); {len(paths)} notebooks", flush=True)
    with tempfile.TemporaryDirectory() as scratch, open(out / "book.log", "w") as log:
        sanitize = sanitize_file(scratch)
        for path in paths:
            if time.perf_counter() - started > min(args.deadline, args.stop_after):
                summary["not_run"].append(path.stem)
                continue
            results = Path(scratch) / f"{path.stem}.jsonl"
            summary["running"] = path.stem
            (out / "summary.json").write_text(json.dumps(summary, indent=2))
            left = args.stop_after - (time.perf_counter() - started)
            entry = run_notebook(path, log, sanitize, results, left)
            del summary["running"]
            summary["chapters"].append(entry)
            print(json.dumps(entry), flush=True)
            (out / "summary.json").write_text(json.dumps(summary, indent=2))
    left = args.deadline - (time.perf_counter() - started)
    if args.benchmark_runs and left > 60:
        summary["benchmark"] = run_benchmark(out, args.benchmark_runs, left)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    failed = [c["notebook"] for c in summary["chapters"] if c["nbval"] != "passed"]
    missed = [c["notebook"] for c in summary["chapters"] if c.get("band_held") is False]
    print(
        f"done in {summary['seconds']:.0f} s; nbval failed: {failed or 'none'}; "
        f"bands missed: {missed or 'none'}; not run: {summary['not_run'] or 'none'}"
    )
    return 1 if failed or missed else 0


if __name__ == "__main__":
    sys.exit(main())
