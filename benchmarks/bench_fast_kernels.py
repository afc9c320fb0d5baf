"""One training step of chapter 9d's network on TensorFlow, with Keras's GELU and batch
normalization and with cnnbook's fused ones, and with the whitening layer frozen.

    python benchmarks/bench_fast_kernels.py [--steps 6] [--precision mixed_bfloat16] [--json PATH]
    python benchmarks/bench_fast_kernels.py --batch-size 16 --steps 1   # a quick try

On two CPU cores the arithmetic of a step of ``fast_cnn`` (batch 1,024) is mostly its
convolutions, but its element-wise layers cost more than their arithmetic: TensorFlow
runs Keras's GELU and batch normalization as chains of small operations, each reading
and writing the whole activation tensor, and memory sets their pace.
``cnnbook.keras.fast_training.gelu`` (one XLA-compiled kernel each way) and ``BatchNorm``
(TensorFlow's ``FusedBatchNormV3``) compute the same in fewer passes; ``train_fast``
also freezes the whitening layer once its bias has stopped, so that the step no longer
computes the first block's gradient with respect to its input.

Each variant builds the step that chapter 9d compiles
(``cnnbook.keras.fast_training.training_step``: the augmentation, ``fast_cnn``,
``FastSGD`` with its lookahead) in a fresh process, in float32 or in ``--precision``,
and times ``train_on_batch`` on a fixed batch after one step that compiles: the median
wall-clock time of ``--steps`` steps. The variants run one after
the other, in order, so the ratios are to the first one measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import cpu_name, run_child, tensorflow_children  # noqa: E402

VARIANTS = {
    "keras": "Keras's GELU and batch normalization",
    "gelu": "fused GELU, Keras's batch normalization",
    "fused": "fused GELU and batch normalization (fast_cnn)",
    "frozen": "fused, whitening layer frozen (after epoch 4)",
}


def time_variant(variant, steps, precision, batch_size=1024):
    """Median wall-clock seconds of one training step of the ``variant``'s network on
    ``batch_size`` images, after one that compiles (:func:`cnnbook.runtime.step_seconds`)."""
    from bench_precision import chapter_09d

    import cnnbook
    from cnnbook.keras import fast_training as fast
    from cnnbook.runtime import step_seconds

    keras = cnnbook.import_keras()

    def make_step():
        keras.utils.set_random_seed(0)
        step = chapter_09d(keras, batch_size)
        model = step.trainer.layers[-1]
        for layer in model.layers:
            if variant == "keras" and isinstance(layer, keras.layers.Activation):
                layer.activation = lambda x: keras.activations.gelu(x, approximate=False)
            if variant in ("keras", "gelu") and isinstance(layer, fast.BatchNorm):
                layer._fuses = lambda inputs: False  # Keras's own computation
        if variant == "frozen":
            model.get_layer("whiten").trainable = False
        return step

    wall = step_seconds(make_step, precision, repeats=steps, min_seconds=0)
    return {"variant": variant, "wall": wall}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant")
    parser.add_argument("--batch-size", type=int, default=1024, help="chapter 9d's: 1,024")
    parser.add_argument(
        "--precision",
        choices=["float32", "mixed_bfloat16"],
        default="float32",
        help="Keras's policy for the step (chapter 9d's on a CPU where bfloat16 is faster)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)  # a child
    arguments = parser.parse_args()
    if arguments.variant:
        timed = time_variant(
            arguments.variant, arguments.steps, arguments.precision, arguments.batch_size
        )
        print(json.dumps(timed))
        return

    env, versions = tensorflow_children()
    print(
        f"TensorFlow {versions['tensorflow']}, Keras {versions['keras']}; {cpu_name()}, "
        f"{os.cpu_count()} cores; chapter 9d's step at batch {arguments.batch_size:,}, "
        f"{arguments.precision}, median of {arguments.steps} steps"
    )
    results = []
    for variant, description in VARIANTS.items():
        options = {
            "--variant": variant,
            "--steps": arguments.steps,
            "--batch-size": arguments.batch_size,
            "--precision": arguments.precision,
        }
        child = [str(part) for option in options.items() for part in option]
        result = run_child(__file__, child, env)
        result["ratio"] = result["wall"] / (results[0]["wall"] if results else result["wall"])
        results.append(result)
        print(f"{description:<48} {result['wall']:6.3f} s  {result['ratio']:5.2f}")
    if arguments.json:
        table = {"cpu": cpu_name(), "cores": os.cpu_count(), **versions}
        table.update(
            precision=arguments.precision, batch_size=arguments.batch_size, results=results
        )
        arguments.json.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
