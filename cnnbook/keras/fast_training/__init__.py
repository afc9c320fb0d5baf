"""Fast CIFAR-10 training: the ideas of airbench94 (Jordan, 2024) in Keras 3.

Keller Jordan's airbench94 trains a small network to 94% test accuracy on CIFAR-10 in
about 3 seconds on one A100 GPU, in PyTorch. This module writes the same recipe with
Keras 3 and ``keras.ops``, so it runs on every backend, with each idea a switch of
:class:`FastRecipe` that an ablation can turn off:

- a first 2x2 convolution set to *whiten* image patches (:func:`whitening_kernel`)
  and frozen, its bias trained for the first epochs only;
- three blocks ``Conv -> MaxPool -> BatchNorm -> GELU -> Conv -> BatchNorm -> GELU``
  of widths 64, 256 and 256, their convolutions started as partly identity
  (:class:`PartialIdentity`);
- Nesterov SGD at batch size 1024, weight decay added to the gradient, and a 64 times
  larger learning rate for the batch-normalization biases (:class:`FastSGD`), on a
  triangular schedule (:class:`TriangularSchedule`);
- label smoothing; lookahead averaging of the weights (:class:`Lookahead`);
- flips and 2-pixel translations, with the flips alternating between epochs
  (:class:`FlipTranslate` in NumPy, :class:`AugmentedImages` inside the compiled
  training step); test-time augmentation with mirrors and 1-pixel shifts
  (:func:`predict_tta`).

:func:`train_fast` runs the whole recipe: by default with nothing on the host per step
(the images go to the device once, the augmentation and the lookahead run inside the
compiled step, several steps per call), or, with ``pipeline="host"``, the readable
reference (augmentation in NumPy each epoch, lookahead in a callback).
:func:`cnnbook.runtime.data_parallel` runs it on several devices. Importing this package
imports Keras (on the backend ``KERAS_BACKEND`` names).

One module per part of the recipe, in the order of chapter 9d's sections: ``recipe``
(the settings), ``network`` (whitening and the network), ``optimizer`` (SGD, the schedule
and the lookahead), ``augmentation`` (flips and translations, in training and in testing)
and ``training`` (the run). Everything public is imported here and documented under this
name: ``from cnnbook.keras import fast_training as fast``, then ``fast.train_fast(...)``.

Used by chapter 9d.
"""

from cnnbook.keras.fast_training.augmentation import (
    AugmentedImages,
    FlipTranslate,
    predict_tta,
    predict_tta_levels,
)
from cnnbook.keras.fast_training.network import (
    BatchNorm,
    PartialIdentity,
    Scale,
    fast_cnn,
    gelu,
    normalize,
    torch_uniform,
    whitening_kernel,
)
from cnnbook.keras.fast_training.optimizer import FastSGD, Lookahead, TriangularSchedule
from cnnbook.keras.fast_training.recipe import FastRecipe
from cnnbook.keras.fast_training.training import (
    FastResult,
    ablation_summary,
    compile_fast,
    recorded_runs,
    train_fast,
    training_step,
)

__all__ = [
    "AugmentedImages",
    "BatchNorm",
    "FastRecipe",
    "FastResult",
    "FastSGD",
    "FlipTranslate",
    "Lookahead",
    "PartialIdentity",
    "Scale",
    "TriangularSchedule",
    "ablation_summary",
    "compile_fast",
    "fast_cnn",
    "gelu",
    "normalize",
    "predict_tta",
    "predict_tta_levels",
    "recorded_runs",
    "torch_uniform",
    "train_fast",
    "training_step",
    "whitening_kernel",
]
