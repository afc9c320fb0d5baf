"""cnnbook's max and average pooling against tf.nn, as ratios measured in one run.

    python benchmarks/bench_pool.py [--repeats 30]

Float32, batch 64, at the book's shapes (2x2 windows with stride 2 after the
convolution layers), plus overlapping 3x3 windows with stride 2 and "same"
padding. Target: forward <= 2x TensorFlow.
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
from timing import median_times, numpy_result, report

import cnnbook

TARGET = 2.0

# (description, input shape, pool size, stride, padding)
CASES = [
    ("30x30x32, 2x2 (the tutorial's network)", (64, 30, 30, 32), 2, 2, "valid"),
    ("32x32x32, 2x2", (64, 32, 32, 32), 2, 2, "valid"),
    ("16x16x64, 2x2", (64, 16, 16, 64), 2, 2, "valid"),
    ("32x32x32, 3x3 stride 2 same", (64, 32, 32, 32), 3, 2, "same"),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed runs of each (default 30)")
    args = parser.parse_args(argv)
    tf = cnnbook.import_tensorflow()
    rng = np.random.default_rng(0)
    rows = []
    for description, shape, pool_size, stride, padding in CASES:
        x = rng.normal(size=shape).astype(np.float32)
        for name, ours_function, tf_function in [
            ("max", cnnbook.max_pool2d, tf.nn.max_pool2d),
            ("avg", cnnbook.avg_pool2d, tf.nn.avg_pool2d),
        ]:
            ours = partial(ours_function, x, pool_size, stride, padding)
            theirs = partial(numpy_result, tf_function, x, pool_size, stride, padding.upper())
            np.testing.assert_allclose(ours(), theirs(), rtol=1e-5, atol=1e-5)
            rows.append((f"{name} {description}", *median_times(ours, theirs, args.repeats)))
    report(f"pooling forward, batch 64, float32, median of {args.repeats} runs", rows, TARGET)


if __name__ == "__main__":
    main()
