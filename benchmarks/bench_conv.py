"""cnnbook.conv2d and conv2d_backward against TensorFlow, as ratios measured in one run.

    python benchmarks/bench_conv.py [--repeats 30] [--order by-case|forward-first]

Float32, batch 64, at the book's layer shapes. Targets: forward <= 1.5x
tf.nn.conv2d; backward (input, kernel and bias gradients) <= 3x TensorFlow's
gradient ops (Conv2DBackpropInput, Conv2DBackpropFilter and the bias sum, which is
what tf.GradientTape runs for a conv2d).

The figures must not depend on the order of the cases: `--order forward-first` times
every forward case before any backward one (the default times each case's forward
pass, then its backward pass). benchmarks/README.md compares the two orders.
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
from timing import median_times, numpy_result, report

import cnnbook

FORWARD_TARGET = 1.5
BACKWARD_TARGET = 3.0

# (description, input shape, kernel shape, stride, padding)
CASES = [
    ("32x32x3 -> 32 filters 3x3 same", (64, 32, 32, 3), (3, 3, 3, 32), 1, "same"),
    ("32x32x32 -> 32 filters 3x3 valid", (64, 32, 32, 32), (3, 3, 32, 32), 1, "valid"),
    ("32x32x32 -> 64 filters 3x3 stride 2", (64, 32, 32, 32), (3, 3, 32, 64), 2, "same"),
]


def tensorflow_gradients(tf, x, kernel, grad_output, stride, padding):
    strides = [1, stride, stride, 1]
    grad_x = tf.raw_ops.Conv2DBackpropInput(
        input_sizes=x.shape, filter=kernel, out_backprop=grad_output, strides=strides,
        padding=padding.upper(),
    )  # fmt: skip
    grad_kernel = tf.raw_ops.Conv2DBackpropFilter(
        input=x, filter_sizes=kernel.shape, out_backprop=grad_output, strides=strides,
        padding=padding.upper(),
    )  # fmt: skip
    grad_bias = tf.reduce_sum(grad_output, axis=(0, 1, 2))
    return grad_x.numpy(), grad_kernel.numpy(), grad_bias.numpy()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed runs of each (default 30)")
    parser.add_argument(
        "--order",
        choices=["by-case", "forward-first"],
        default="by-case",
        help="time each case's forward then backward pass (default), or all forward first",
    )
    args = parser.parse_args(argv)
    tf = cnnbook.import_tensorflow()
    rng = np.random.default_rng(0)
    forward, backward, timings = [], [], []
    for description, x_shape, kernel_shape, stride, padding in CASES:
        x = rng.normal(size=x_shape).astype(np.float32)
        kernel = rng.normal(size=kernel_shape).astype(np.float32)
        ours = partial(cnnbook.conv2d, x, kernel, stride=stride, padding=padding)
        theirs = partial(numpy_result, tf.nn.conv2d, x, kernel, stride, padding.upper())
        np.testing.assert_allclose(ours(), theirs(), rtol=1e-3, atol=1e-3)
        timings.append((forward, description, ours, theirs))

        grad_output = rng.normal(size=ours().shape).astype(np.float32)
        ours = partial(cnnbook.conv2d_backward, grad_output, x, kernel, stride, padding)
        theirs = partial(tensorflow_gradients, tf, x, kernel, grad_output, stride, padding)
        for mine, reference in zip(ours(), theirs()):
            np.testing.assert_allclose(mine, reference, rtol=1e-3, atol=5e-2)
        timings.append((backward, description, ours, theirs))
    if args.order == "forward-first":
        timings.sort(key=lambda timing: timing[0] is backward)  # a stable sort
    for rows, description, ours, theirs in timings:
        rows.append((description, *median_times(ours, theirs, args.repeats)))
    title = f"batch 64, float32, median of {args.repeats} interleaved runs"
    report(f"conv2d forward, {title}", forward, FORWARD_TARGET)
    report(f"conv2d backward, {title}", backward, BACKWARD_TARGET)


if __name__ == "__main__":
    main()
