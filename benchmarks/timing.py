"""What every benchmark shares: interleaved timing, the table of ratios, the processor's name."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time


def seconds(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def numpy_result(function, *args):
    """Call a TensorFlow function and fetch its result as NumPy, as cnnbook returns it."""
    return function(*args).numpy()


def median_times(ours, theirs, repeats):
    """Median seconds of two functions, timed back to back ``repeats`` times.

    Interleaving puts both under the same machine load, so their ratio is steadier
    than either time. Each runs once first (warm-up: caches, TensorFlow's kernels).
    """
    ours()
    theirs()
    times = [(seconds(ours), seconds(theirs)) for _ in range(repeats)]
    return statistics.median(t for t, _ in times), statistics.median(t for _, t in times)


def report(title, rows, target):
    """Print ``rows`` of (description, our seconds, TensorFlow's seconds); return worst ratio."""
    print(f"{title} (target ratio <= {target})")
    print(f"{'case':<44}{'cnnbook':>10}{'TensorFlow':>12}{'ratio':>8}")
    ratios = []
    for description, ours, theirs in rows:
        ratios.append(ours / theirs)
        print(f"{description:<44}{ours * 1e3:>8.2f}ms{theirs * 1e3:>10.2f}ms{ours / theirs:>8.2f}")
    verdict = "met" if max(ratios) <= target else "NOT met"
    print(f"worst ratio {max(ratios):.2f}: target {verdict}\n")
    return max(ratios)


def cpu_name():
    """The processor's model name, from /proc/cpuinfo where there is one (Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                name, _, value = line.partition(":")
                if name.strip() in ("model name", "Model", "Hardware"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def tensorflow_children():
    """``(env, versions)``: the environment for children that run Keras on TensorFlow,
    and the versions of TensorFlow and Keras they run (``{"tensorflow": ..., "keras": ...}``)."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    versions = {name: importlib.metadata.version(name) for name in ("tensorflow", "keras")}
    return env, versions


def run_child(script, arguments, env=None):
    """Run ``script`` with ``arguments`` in a fresh Python; return its last line as JSON.

    The benchmarks measure each setting in a process of its own (Keras's global policy,
    the backend's compiled functions and its threads belong to a process).
    """
    command = [sys.executable, str(script), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}")
    return json.loads(done.stdout.splitlines()[-1])
