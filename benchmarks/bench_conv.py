"""CPU time of cnnbook.conv2d as a ratio to tf.nn.conv2d's, measured in the same run.

    python benchmarks/bench_conv.py [--repeats 30]

Batch 64 at the book's layer shapes. Each repeat times both libraries back to back
and the ratio is taken of the medians, so that the machine's load drifting during the
run affects both alike. Target: every ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import cnnbook

TARGET = 1.5

# (description, input shape, kernel shape, stride, padding)
CASES = [
    ("32x32x3 -> 32 filters 3x3 same", (64, 32, 32, 3), (3, 3, 3, 32), 1, "same"),
    ("32x32x32 -> 32 filters 3x3 valid", (64, 32, 32, 32), (3, 3, 32, 32), 1, "valid"),
    ("32x32x32 -> 64 filters 3x3 stride 2", (64, 32, 32, 32), (3, 3, 32, 64), 2, "same"),
]


def seconds(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def compare(tf, x, kernel, stride, padding, repeats):
    """Median seconds of cnnbook and TensorFlow, interleaved, after a warm-up."""
    ours = lambda: cnnbook.conv2d(x, kernel, stride=stride, padding=padding)  # noqa: E731
    theirs = lambda: tf.nn.conv2d(x, kernel, stride, padding.upper()).numpy()  # noqa: E731
    np.testing.assert_allclose(ours(), theirs(), rtol=1e-3, atol=1e-3)
    times = [(seconds(ours), seconds(theirs)) for _ in range(repeats)]
    return statistics.median(t for t, _ in times), statistics.median(t for _, t in times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed runs of each (default 30)")
    args = parser.parse_args(argv)
    tf = cnnbook.import_tensorflow()
    rng = np.random.default_rng(0)
    print(f"conv2d, float32, batch 64, median of {args.repeats} runs (target ratio <= {TARGET})")
    print(f"{'layer':<38}{'cnnbook':>10}{'TensorFlow':>12}{'ratio':>8}")
    ratios = []
    for description, x_shape, kernel_shape, stride, padding in CASES:
        x = rng.normal(size=x_shape).astype(np.float32)
        kernel = rng.normal(size=kernel_shape).astype(np.float32)
        ours, theirs = compare(tf, x, kernel, stride, padding, args.repeats)
        ratios.append(ours / theirs)
        print(f"{description:<38}{ours * 1e3:>8.1f}ms{theirs * 1e3:>10.1f}ms{ours / theirs:>8.2f}")
    verdict = "met" if max(ratios) <= TARGET else "NOT met"
    print(f"worst ratio {max(ratios):.2f}: target {verdict}")


if __name__ == "__main__":
    main()
