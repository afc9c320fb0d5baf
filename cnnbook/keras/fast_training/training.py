"""The fast recipe's training run (chapter 9d, sections 6 and 7): the loop, and its results.

:func:`train_fast` trains :func:`~cnnbook.keras.fast_training.network.fast_cnn` with the
whole recipe, :func:`compile_fast` compiles a model with its optimizer and loss,
:func:`training_step` builds one of its steps to time,
:func:`recorded_runs` reads the runs measured on a GPU that chapter 9d plots, and
:func:`ablation_summary` averages an ablation's arms over their seeds.
(:func:`cnnbook.runtime.data_parallel` runs it on several devices.)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

from cnnbook._arguments import one_of, positive_int, whole_number
from cnnbook.keras.fast_training.augmentation import (
    AugmentedImages,
    FlipTranslate,
    predict_tta_levels,
)
from cnnbook.keras.fast_training.network import fast_cnn
from cnnbook.keras.fast_training.optimizer import FastSGD, Lookahead, TriangularSchedule
from cnnbook.keras.fast_training.recipe import FastRecipe
from cnnbook.runtime import backend, import_keras

keras = import_keras()
ops = keras.ops

PIPELINES = ("device", "host")
"""Where :func:`train_fast` augments the images and runs the lookahead."""


@dataclasses.dataclass
class FastResult:
    """What :func:`train_fast` returns.

    Parameters
    ----------
    model : keras.Model
        Trained, with the lookahead average copied in.
    history : list of dict
        One entry per epoch: ``epoch``, ``loss``, ``accuracy`` (on the augmented
        training batches) and ``seconds`` (training time so far).
    seconds : float
        Training time, from the whitening to the last step (not the evaluation).
    recipe : FastRecipe
    steps : int
        Optimizer steps taken.
    optimizer : keras.optimizers.Optimizer, optional
        The optimizer trained with: :class:`FastSGD`, or Keras's loss-scaling
        optimizer around it under ``mixed_float16``. (``model.optimizer`` is not set
        when the images were fed through :class:`AugmentedImages`.)
    """

    model: object
    history: list
    seconds: float
    recipe: FastRecipe
    steps: int = 0
    optimizer: object = None

    def accuracy(self, images, labels, tta_level=None):
        """Accuracy on normalized ``images``, with the recipe's test-time augmentation
        unless ``tta_level`` says otherwise."""
        level = self.recipe.tta_level if tta_level is None else tta_level
        return self.accuracies(images, labels, (level,))[level]

    def accuracies(self, images, labels, levels=(0, 1, 2)):
        """``{level: accuracy}`` for several test-time augmentation levels, each view of
        the images predicted once (:func:`predict_tta_levels`)."""
        logits = predict_tta_levels(self.model, images, levels)
        labels = np.asarray(labels)
        return {level: float(np.mean(z.argmax(axis=1) == labels)) for level, z in logits.items()}


def compile_fast(
    trainer,
    model,
    recipe,
    steps_per_epoch,
    total_steps,
    lookahead=None,
    steps_per_execution=1,
    jit_compile="auto",
):
    """Compile ``trainer`` with the recipe's optimizer, loss and metric.

    ``trainer`` is ``model`` itself, or a model that runs ``model`` after an input layer
    (:class:`AugmentedImages`). The optimizer is :class:`FastSGD` on the
    :class:`TriangularSchedule` of ``total_steps``, with the batch-normalization biases
    on the second learning rate and the whitening bias stopped after
    ``recipe.whiten_bias_epochs`` epochs of ``steps_per_epoch`` steps.

    Parameters
    ----------
    lookahead : Lookahead, optional
        Run inside the optimizer's step (see :class:`FastSGD`).
    steps_per_execution : int, default 1
        Training steps per compiled call.
    jit_compile : bool or "auto", default "auto"
        Passed to ``compile``: whether the step is compiled with XLA. Keras's "auto"
        compiles with XLA on JAX always and on TensorFlow when a GPU is present.

    Returns
    -------
    FastSGD
        The optimizer (Keras wraps it in a loss-scaling optimizer under
        ``mixed_float16``; this is the one inside).
    """
    settings = recipe.sgd_settings()
    biases = [
        layer.beta for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    stop_after = []
    if recipe.whiten:
        stop_after.append(
            (model.get_layer("whiten").bias, recipe.whiten_bias_epochs * steps_per_epoch)
        )
    optimizer = FastSGD(
        TriangularSchedule(settings["learning_rate"], total_steps),
        momentum=recipe.momentum,
        l2=settings["l2"],
        scaled_variables=biases,
        scale=recipe.bias_scaler,
        scaled_l2=settings["bias_l2"],
        stop_after=stop_after,
        lookahead=lookahead,
    )
    trainer.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=recipe.label_smoothing
        ),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    return optimizer


def train_fast(
    images,
    labels,
    recipe=None,
    seed=0,
    log=print,
    pipeline="device",
    steps_per_execution=8,
    network=None,
    jit_compile="auto",
):
    """Train :func:`fast_cnn` with the whole recipe on normalized ``images``.

    Parameters
    ----------
    images : numpy.ndarray
        (N, 32, 32, 3) float32 images from :func:`normalize`.
    labels : numpy.ndarray
        (N,) integer class labels.
    recipe : FastRecipe, optional
    seed : int, default 0
        Seeds the weights, the augmentation and the order of the batches (each from its
        own stream of ``numpy.random.SeedSequence(seed)``).
    log : callable or None, default print
        Called with one line per epoch (loss, accuracy, elapsed time); None for quiet.
    pipeline : {"device", "host"}, default "device"
        ``"device"``: the images go to the device once (:class:`AugmentedImages`), the
        lookahead runs inside the optimizer's step, and ``steps_per_execution`` steps
        run per compiled call: nothing on the host per step but a batch of indices.
        ``"host"``: the readable reference: each epoch's augmented images are made in
        NumPy (:class:`FlipTranslate`) and fed to ``fit``, and the lookahead runs as a
        callback (it also averages batch normalization's running statistics).
    steps_per_execution : int, default 8
        Steps per compiled call (``"device"`` only; Keras runs one step per call on
        the PyTorch backend, whatever this says).
    network : callable, optional
        Builds the model, with :func:`fast_cnn`'s signature ``(recipe,
        whitening_images, seed)``; default :func:`fast_cnn`. (The overhead benchmark
        passes a network that does almost no arithmetic.)
    jit_compile : bool or "auto", default "auto"
        Whether the training step is compiled with XLA (:func:`compile_fast`). Keras's
        "auto" uses XLA on JAX, and on TensorFlow only when a GPU is present: on a CPU,
        TensorFlow's own kernels run the chapter's convolutions faster than XLA's.
        (The overhead benchmark passes True, to time the step a GPU would run.)

    Returns
    -------
    FastResult
    """
    recipe = recipe or FastRecipe()
    one_of(pipeline, PIPELINES, "pipeline")
    positive_int(steps_per_execution, "steps_per_execution")
    if not (isinstance(jit_compile, bool) or jit_compile == "auto"):
        raise ValueError(
            f"jit_compile must be True, False or 'auto'. Received: jit_compile={jit_compile!r}"
        )
    if backend() == "torch":
        steps_per_execution = 1  # Keras's PyTorch trainer refuses more
    images, labels, steps_per_epoch, total_steps = _checked(images, labels, recipe)
    rng, augment_seed = _seeded(seed)
    targets = keras.utils.to_categorical(labels, 10).astype(np.float32)

    start = time.perf_counter()
    model = (network or fast_cnn)(
        recipe, whitening_images=_whitening_sample(images, rng), seed=seed
    )
    lookahead = Lookahead(total_steps) if recipe.lookahead else None
    if pipeline == "device":
        augment, trainer = _device_trainer(model, images, recipe, augment_seed)
        optimizer = compile_fast(
            trainer,
            model,
            recipe,
            steps_per_epoch,
            total_steps,
            lookahead,
            steps_per_execution,
            jit_compile,
        )
        callbacks = []
    else:
        augment = FlipTranslate(images, recipe.translate, recipe.flip, seed=augment_seed)
        trainer = model
        optimizer = compile_fast(
            trainer, model, recipe, steps_per_epoch, total_steps, jit_compile=jit_compile
        )
        callbacks = [lookahead] if lookahead else []
    # On TensorFlow, which runs the gradient op by op, the whitening bias's gradient
    # costs a convolution's backward pass: once the bias has stopped for good, the layer
    # is frozen (JAX's trainer needs every variable the optimizer was built with).
    settles = _whitening_settles(recipe, steps_per_epoch, lookahead)
    freeze = settles is not None and pipeline == "device" and backend() == "tensorflow"
    history = []
    done = 0
    for epoch in range(math.ceil(recipe.epochs)):
        if freeze and int(ops.convert_to_numpy(optimizer.iterations)) >= settles:
            model.get_layer("whiten").trainable = False
            trainer.make_train_function(force=True)
            freeze = False
        steps = min(steps_per_epoch, total_steps - done)
        chosen = rng.permutation(len(images))[: steps * recipe.batch_size]
        if pipeline == "device":
            augment.start_epoch(epoch)
            inputs = chosen.astype(np.int32)
        else:
            inputs = augment.epoch(epoch, chosen)
        fitted = trainer.fit(
            inputs,
            targets[chosen],
            batch_size=recipe.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=callbacks,
        )
        done += steps
        entry = {
            "epoch": epoch + 1,
            "loss": float(fitted.history["loss"][-1]),
            "accuracy": float(fitted.history["accuracy"][-1]),
            "seconds": time.perf_counter() - start,
        }
        history.append(entry)
        if log is not None:
            log(
                f"epoch {entry['epoch']:2d}/{math.ceil(recipe.epochs)}: loss {entry['loss']:.3f}, "
                f"train accuracy {entry['accuracy']:.1%}, {entry['seconds']:.0f} s"
            )
    if pipeline == "device":
        if lookahead:
            optimizer.finish_lookahead()
    elif lookahead:
        lookahead.finish()
    seconds = time.perf_counter() - start
    steps = int(ops.convert_to_numpy(trainer.optimizer.iterations))
    return FastResult(model, history, seconds, recipe, steps, trainer.optimizer)


def training_step(images, labels, recipe=None, seed=0, total_steps=None):
    """One training step of :func:`train_fast`, as a function to time.

    Builds what :func:`train_fast` builds by default, from the same seed (the network,
    whitened on a random sample of ``images``; the images on the device, augmented in
    the step; the recipe's optimizer with its lookahead) and returns a function of no
    arguments that trains one step on the first ``recipe.batch_size`` images, the same
    batch at each call. It is for timing, not for training: for
    :func:`cnnbook.runtime.use_precision`, which times it in float32 and in bfloat16
    (chapter 9d), and the benchmarks. Unlike ``train_fast``, it compiles one step per
    call (``steps_per_execution=1``), so that each call is one step.

    Parameters
    ----------
    images, labels, recipe, seed
        As for :func:`train_fast`; random images time as well as real ones. As there,
        ``seed`` also seeds Keras, NumPy's and Python's global generators.
    total_steps : int, optional
        The steps that the schedule and the lookahead are built for; default:
        ``recipe.epochs`` epochs of ``images``, as ``train_fast`` counts them. Past them
        the learning rate and the lookahead hold their last values; a benchmark that
        times many steps on one batch of images passes the count of the run it stands
        for, so that its steps train at that run's rates.

    Returns
    -------
    functools.partial
        Runs one step (``train_on_batch``) and returns its loss and accuracy. Its
        ``trainer`` attribute is the compiled model (the augmentation layer, then the
        network), for a benchmark that changes a layer before the first step compiles.
    """
    recipe = recipe or FastRecipe()
    images, labels, steps_per_epoch, run_steps = _checked(images, labels, recipe)
    total_steps = run_steps if total_steps is None else positive_int(total_steps, "total_steps")
    rng, augment_seed = _seeded(seed)
    model = fast_cnn(recipe, whitening_images=_whitening_sample(images, rng), seed=seed)
    lookahead = Lookahead(total_steps) if recipe.lookahead else None
    augment, trainer = _device_trainer(model, images, recipe, augment_seed)
    compile_fast(trainer, model, recipe, steps_per_epoch, total_steps, lookahead)
    augment.start_epoch(0)
    batch = np.arange(recipe.batch_size, dtype=np.int32)
    targets = keras.utils.to_categorical(labels[batch], 10).astype(np.float32)
    step = functools.partial(trainer.train_on_batch, batch, targets)
    step.trainer = trainer
    return step


def _checked(images, labels, recipe):
    """``images`` as float32 and ``labels``, checked; the steps per epoch and in all."""
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or len(labels) != len(images):
        raise ValueError(
            "images must be (N, 32, 32, 3) with one label each. Received: "
            f"images {images.shape}, labels {labels.shape}"
        )
    steps_per_epoch = len(images) // recipe.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"need at least one batch of {recipe.batch_size} images")
    return images, labels, steps_per_epoch, max(2, math.ceil(steps_per_epoch * recipe.epochs))


def _device_trainer(model, images, recipe, seed):
    """The device pipeline's augmentation layer, and the model that runs it, then ``model``."""
    augment = AugmentedImages(images, recipe.translate, recipe.flip, seed=seed)
    return augment, keras.Sequential([keras.Input((), dtype="int32"), augment, model])


def _seeded(seed):
    """Seed Keras with ``seed``, and derive from it the NumPy generator of the whitening
    sample and the batch order, and the augmentation's seed."""
    seed = whole_number(seed, "seed")
    keras.utils.set_random_seed(seed)
    order_seed, augment_seed = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(order_seed), int(augment_seed.generate_state(1)[0])


def _whitening_sample(images, rng):
    """5,000 of ``images`` chosen at random, to whiten on: a copy of CIFAR-10 may be
    sorted by class, so the first 5,000 could all be airplanes."""
    return images[rng.choice(len(images), size=min(5000, len(images)), replace=False)]


def _whitening_settles(recipe, steps_per_epoch, lookahead):
    """The optimizer step after which the whitening bias never changes, or None.

    :class:`FastSGD` stops it after ``recipe.whiten_bias_epochs`` epochs; the lookahead
    moves it once more, at its next pull, after which it equals its average.
    """
    if not recipe.whiten:
        return None
    stop = recipe.whiten_bias_epochs * steps_per_epoch
    if lookahead is None:
        return stop
    return lookahead.every * math.ceil(stop / lookahead.every)


def recorded_runs(study=None, name="fast_training_h200"):
    """Runs measured by ``benchmarks/bench_fast_training.py`` and shipped with cnnbook.

    ``fast_training_h200``: on one NVIDIA H200 with Keras 3.15 on JAX; the ``record``
    study in bfloat16 and in float32, the ``grid`` and ``ablation`` studies in
    bfloat16. The ``record`` and ``grid`` runs were made with the first version of the
    recipe (the host pipeline, and a ``FastSGD`` that kept Keras's velocity); the
    grid's first run is that version's whole recipe on the grid's split. The
    ``ablation`` runs, 3 seeds per arm, were made with the version of 2026-12-01.
    Each run is a dict as the benchmark writes it (``study``, ``label``, ``seed``,
    ``measured_on``, ``train_seconds``, ``accuracy`` per test-time augmentation level
    ``tta0``/``tta1``/``tta2``, ``device``, ``precision``, ...).

    Parameters
    ----------
    study : {"record", "grid", "ablation"}, optional
        Only that study's runs.
    name : str
        The file under ``cnnbook/results`` (without ``.jsonl``).

    Returns
    -------
    list of dict
    """
    path = Path(__file__).parents[2] / "results" / f"{name}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no recorded runs named {name!r} (looked for {path})")
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [run for run in runs if study is None or run["study"] == study]


def ablation_summary(runs, level="tta2"):
    """The arms of an ablation study, each averaged over its seeds, against the first.

    Parameters
    ----------
    runs : list of dict
        The runs of one ablation (``recorded_runs("ablation")``, or the rows that
        ``benchmarks/bench_fast_training.py`` writes): ``label`` and ``accuracy``
        per run, one run or more per label (one per seed). The first run's label is
        the arm the others are compared with (the benchmark runs the whole recipe
        first).
    level : {"tta0", "tta1", "tta2"}, default "tta2"
        The test-time augmentation level whose accuracy is compared.

    Returns
    -------
    list of dict
        One per arm, in the order of their first runs: ``label``, ``accuracies`` (one
        per run, in order, fractions as the runs hold them), ``mean`` (their mean, a
        fraction), ``error`` (one standard error of that mean over the runs: the
        runs' standard deviation over the square root of their count, in points; None
        for a single run), ``difference`` (points from the first arm's mean) and
        ``difference_error`` (one standard error of the difference, in points: the
        root of the sum of both arms' squared errors; None for the first arm, or where
        either arm has a single run).
    """
    one_of(level, ("tta0", "tta1", "tta2"), "level")
    if not runs:
        raise ValueError("no runs to summarize")
    accuracies = {}
    for run in runs:
        accuracies.setdefault(run["label"], []).append(run["accuracy"][level])
    arms = []
    for label, values in accuracies.items():
        error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
        arms.append(
            {
                "label": label,
                "accuracies": values,
                "mean": statistics.mean(values),
                "error": None if error is None else 100 * error,
            }
        )
    first = arms[0]
    for arm in arms:
        arm["difference"] = 100 * (arm["mean"] - first["mean"])
        both = (arm["error"], first["error"])
        arm["difference_error"] = (
            math.hypot(*both) if arm is not first and None not in both else None
        )
    return arms
