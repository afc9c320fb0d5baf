"""How a notebook runs: its compute budget, its Keras backend, its devices and precision.

Every notebook has two budgets. Full mode (the default) is what the rendered book
shows. Smoke mode, switched on with the environment variable ``CNNBOOK_SMOKE=1``,
shrinks data and epochs so that the test suite runs every notebook in minutes. A
notebook states both figures where it chooses one, for example
``epochs = cnnbook.budget(full=25, smoke=1)``, so the reader sees what is shrunk. In full
mode a training chapter checks its own result (:func:`expect_accuracy`); smoke mode says
that it skips the check.

Keras 3 runs the same model code on TensorFlow (the book's default), JAX or PyTorch,
chosen by the environment variable ``KERAS_BACKEND`` before Keras is imported.
:func:`import_keras` imports it (TensorFlow quietly, when that is the backend);
:func:`value_and_gradients`, :func:`visible_gpus`, :func:`choose_precision` and
:func:`describe_device` work the same on each backend, and :func:`data_parallel` trains
on several devices with each backend's own engine. Every chapter that trains with
Keras calls :func:`use_precision`: 16-bit compute where the GPU is fast at it, or the
policy that the environment variable ``CNNBOOK_PRECISION`` names
(``float32``, ``mixed_float16`` or ``mixed_bfloat16``), so that a CPU can run a chapter
the way a GPU does.

Used by every chapter; devices and precision by the chapters that train with Keras
(4, 9a, 9b, 9d, 10, 11) and ``make test-gpu``.
"""

import contextlib
import functools
import importlib
import json
import os
import statistics
import sys
import time
import warnings

from cnnbook._arguments import one_of, positive_int, real_in

__all__ = [
    "apply_policy",
    "backend",
    "bfloat16_is_faster",
    "budget",
    "choose_precision",
    "cpu_has_bfloat16",
    "data_parallel",
    "describe_device",
    "expect_accuracy",
    "full_float32_products",
    "import_keras",
    "import_tensorflow",
    "precision",
    "smoke_mode",
    "step_seconds",
    "time_steps",
    "use_precision",
    "value_and_gradients",
    "visible_gpus",
    "without_autotuning",
]

BACKENDS = ("tensorflow", "jax", "torch")

SMOKE_VARIABLE = "CNNBOOK_SMOKE"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def smoke_mode():
    """Whether notebooks run on the small smoke-test budget.

    Returns
    -------
    bool
        True when the environment variable ``CNNBOOK_SMOKE`` is ``1`` (or ``true``,
        ``yes``, ``on``); False when it is unset, empty, ``0``, ``false``, ``no`` or
        ``off``.

    Raises
    ------
    ValueError
        For any other value, rather than guessing.

    Examples
    --------
    >>> import os
    >>> saved = os.environ.pop("CNNBOOK_SMOKE", None)
    >>> os.environ["CNNBOOK_SMOKE"] = "1"
    >>> smoke_mode()
    True
    >>> del os.environ["CNNBOOK_SMOKE"]
    >>> smoke_mode()
    False
    >>> if saved is not None:
    ...     os.environ["CNNBOOK_SMOKE"] = saved
    """
    value = os.environ.get(SMOKE_VARIABLE, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{SMOKE_VARIABLE} must be 1 or 0 (or true/false). Received: {SMOKE_VARIABLE}={value!r}"
    )


def budget(full, smoke):
    """Pick the full-mode value, or the smoke-mode one when ``CNNBOOK_SMOKE=1``.

    Parameters
    ----------
    full : object
        What the book uses: number of epochs, of images, ...
    smoke : object
        The smaller stand-in that keeps the test suite fast.

    Returns
    -------
    object
        ``smoke`` in smoke mode, ``full`` otherwise.

    Examples
    --------
    >>> import os
    >>> saved = os.environ.pop("CNNBOOK_SMOKE", None)
    >>> os.environ["CNNBOOK_SMOKE"] = "0"
    >>> budget(full=25, smoke=1)
    25
    >>> os.environ["CNNBOOK_SMOKE"] = "1"
    >>> budget(full=25, smoke=1)
    1
    >>> del os.environ["CNNBOOK_SMOKE"]
    >>> if saved is not None:
    ...     os.environ["CNNBOOK_SMOKE"] = saved
    """
    return smoke if smoke_mode() else full


@contextlib.contextmanager
def _stderr_to_devnull():
    """Point file descriptor 2 at /dev/null, where C++ libraries write their logs."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow():
    """Import TensorFlow without its start-up log lines, and return the module.

    TensorFlow's C++ runtime writes lines such as "Could not find cuda drivers"
    straight to file descriptor 2 when it is imported, whatever
    ``TF_CPP_MIN_LOG_LEVEL`` says. They would land in the notebook's stored output.
    This sets ``TF_CPP_MIN_LOG_LEVEL=3`` (unless already set), points descriptor 2
    at /dev/null for the import and the device discovery only, and restores it. Errors
    raised by the import itself still surface as Python exceptions. It also sets
    ``OMP_WAIT_POLICY=PASSIVE`` (unless already set), so that TensorFlow's idle threads
    do not spin on the cores NumPy uses next.

    Returns
    -------
    module
        ``tensorflow``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TensorFlow's OpenMP threads otherwise spin for a while after each operation,
    # holding the cores that NumPy's next call needs: where the two alternate (a
    # chapter, a benchmark), NumPy ran up to 3 times slower. PASSIVE lets them sleep.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with _stderr_to_devnull():
        tensorflow = importlib.import_module("tensorflow")
        # Looking for devices initializes CUDA, which logs "failed call to cuInit" on a
        # machine with CUDA libraries but no GPU: let that happen here, silenced, rather
        # than at the first operation.
        tensorflow.config.list_physical_devices()
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


def backend():
    """The Keras backend a notebook runs on: ``KERAS_BACKEND``, or ``"tensorflow"``.

    Read from the environment without importing Keras, so that code can decide what to
    import. Once Keras is imported, ``keras.backend.backend()`` says the same.

    Raises
    ------
    ValueError
        For a backend this book does not support.

    Examples
    --------
    >>> import os
    >>> saved = os.environ.pop("KERAS_BACKEND", None)
    >>> os.environ["KERAS_BACKEND"] = "jax"
    >>> backend()
    'jax'
    >>> del os.environ["KERAS_BACKEND"]
    >>> backend()
    'tensorflow'
    >>> if saved is not None:
    ...     os.environ["KERAS_BACKEND"] = saved
    """
    name = os.environ.get("KERAS_BACKEND", "").strip() or "tensorflow"
    return one_of(name, BACKENDS, "KERAS_BACKEND")


def import_keras():
    """Import Keras on the backend ``KERAS_BACKEND`` names (TensorFlow by default).

    On TensorFlow, TensorFlow is imported first through :func:`import_tensorflow`, so
    that its start-up log lines do not reach the notebook. On JAX or PyTorch,
    TensorFlow is not imported at all (it need not be installed).

    On TensorFlow, the ``tf.data`` pipelines that Keras builds to feed arrays to ``fit``,
    ``evaluate`` and ``predict`` run without autotuning (:func:`without_autotuning`):
    the same batches, without an idle wait at the end of every epoch.

    On JAX, one warning is silenced: JAX without 64-bit mode (its default) keeps integer
    labels as int32, and JAX 0.12 warns at every ``fit`` that Keras asked for int64
    ("Explicitly requested dtype int64 requested in ShapeDtypeStruct is not available").
    Class labels fit in int32, so nothing is lost.

    On every backend, float32 matrix products and convolutions are computed in full
    float32 while Keras's policy is ``"float32"`` (:func:`full_float32_products`): a GPU
    would otherwise round their operands to TensorFloat-32.

    Returns
    -------
    module
        ``keras``.
    """
    if backend() == "tensorflow":
        import_tensorflow()
        _untune_keras_array_pipelines()
    elif backend() == "jax":
        warnings.filterwarnings(
            "ignore",
            message=r"Explicitly requested dtype int64 requested in ShapeDtypeStruct",
            category=UserWarning,
        )
    keras = importlib.import_module("keras")
    if keras.backend.backend() != backend():
        raise RuntimeError(
            f"Keras was already imported on the {keras.backend.backend()} backend, but "
            f"KERAS_BACKEND={backend()!r}: set KERAS_BACKEND before the first `import keras` "
            "(restart the kernel)"
        )
    full_float32_products(keras.mixed_precision.global_policy().name == "float32")
    return keras


def full_float32_products(full=True):
    """Compute float32 matrix products and convolutions in float32, or as the backend likes.

    NVIDIA GPUs since Ampere (A100, RTX 30 series, H100, H200 and later) multiply float32
    matrices fastest in TensorFloat-32 (TF32): the operands rounded to 10 bits of
    mantissa, as in float16 (float32 keeps 23), the products summed in float32.
    TensorFlow and JAX do this by default for every float32 matrix product and
    convolution, PyTorch for its convolutions; a CPU never does. The results then differ
    from float32's by about 1e-3 of their size: on an H200, chapter 7's checks that its
    NumPy network computes what Keras computes, to 1e-6, failed. So float32 means float32
    here: :func:`import_keras` and :func:`apply_policy` call this with ``full=True``
    under the ``"float32"`` policy, and with ``full=False`` (the backend's default) under
    a mixed policy, whose products are 16-bit anyway and whose speed on a GPU was
    measured with that default. Nothing changes on a CPU.

    Parameters
    ----------
    full : bool, default True
        True: float32 products in float32 on every device. False: each backend's
        default (TF32 on TensorFlow and JAX, on PyTorch for convolutions only).
    """
    if not isinstance(full, bool):
        raise TypeError(f"full must be True or False. Received: full={full!r}")
    name = backend()
    if name == "tensorflow":
        import_tensorflow().config.experimental.enable_tensor_float_32_execution(not full)
    elif name == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "float32" if full else None)
    else:
        import torch

        torch.backends.cudnn.allow_tf32 = not full
        torch.backends.cuda.matmul.allow_tf32 = False  # PyTorch's default either way


def apply_policy(policy):
    """Set Keras's global precision policy, and the float32 arithmetic that goes with it.

    Under ``"float32"``, float32 products are computed in float32 on every device; under
    a mixed policy, as the backend computes them by default (:func:`full_float32_products`).

    Parameters
    ----------
    policy : {"float32", "mixed_float16", "mixed_bfloat16"}

    Returns
    -------
    str
        ``policy``.
    """
    one_of(policy, POLICIES, "policy")
    import_keras().mixed_precision.set_global_policy(policy)
    full_float32_products(policy == "float32")
    return policy


def without_autotuning(dataset):
    """``dataset``, a ``tf.data.Dataset``, with ``tf.data``'s autotuning turned off.

    ``tf.data`` tunes a pipeline in a thread that sleeps between its rounds, twice as
    long each time, up to a minute; and TensorFlow (2.19 and 2.21, at least) deletes a
    pipeline's iterator, as Keras does at the end of every epoch and of every
    ``evaluate`` and ``predict``, only after that thread wakes up, with nothing else
    running. On two CPU cores, four epochs of chapter 10's network took 1.24 to 1.34
    times as long with Keras's autotuned pipeline as without, in three runs of
    ``benchmarks/bench_epoch_end.py`` (figures in ``benchmarks/README.md``).
    Autotuning sets how many threads and how much buffering a pipeline uses, not what
    it yields: the batches and their order are the same.
    """
    options = import_tensorflow().data.Options()  # merged with the dataset's own
    options.autotune.enabled = False
    return dataset.with_options(options)


def _untune_keras_array_pipelines():
    """Keras's ``tf.data`` pipelines for arrays, built :func:`without_autotuning`.

    Keras has no option for it, so this wraps the method that builds them (the same in
    Keras 3.10, Colab's, and 3.15; Keras's own stays reachable as its ``__wrapped__``).
    On a Keras without that method it does nothing (a unit test checks that it took).
    """
    try:
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    except ImportError:
        return
    build = getattr(ArrayDataAdapter, "get_tf_dataset", None)
    if build is None or getattr(build, "untuned_by_cnnbook", False):
        return

    @functools.wraps(build)
    def get_tf_dataset(self):
        return without_autotuning(build(self))

    get_tf_dataset.untuned_by_cnnbook = True
    ArrayDataAdapter.get_tf_dataset = get_tf_dataset


def value_and_gradients(function, variables):
    """Evaluate ``function()`` and its gradients with respect to Keras ``variables``.

    What ``tf.GradientTape`` does on TensorFlow, on whichever backend Keras runs:
    ``jax.value_and_grad`` through a ``keras.StatelessScope`` on JAX, and
    ``torch.autograd.grad`` on PyTorch.

    Parameters
    ----------
    function : callable
        Takes no argument and returns a scalar computed with Keras (a loss).
    variables : list of keras.Variable
        For example ``model.trainable_weights``.

    Returns
    -------
    float, list of numpy.ndarray
        The value, and one gradient per variable, in the same order.
    """
    keras = import_keras()
    to_numpy = keras.ops.convert_to_numpy
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = function()
        gradients = tape.gradient(value, variables)
    elif name == "jax":
        import jax

        def evaluate(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return function()

        value, gradients = jax.value_and_grad(evaluate)([v.value for v in variables])
    elif name == "torch":
        import torch

        value = function()
        gradients = torch.autograd.grad(value, [v.value for v in variables])
    else:  # pragma: no cover - Keras has no other backend that trains
        raise NotImplementedError(f"no gradients on the {name} backend")
    return float(to_numpy(value)), [to_numpy(g) for g in gradients]


# --------------------------------------------------------------------------------------
# Devices and precision
# --------------------------------------------------------------------------------------


def cpu_has_bfloat16(cpuinfo=None):
    """Whether the processor computes in bfloat16 natively.

    x86 processors with AVX-512 BF16 or AMX-BF16 (Intel since Cooper Lake and Sapphire
    Rapids, AMD since Zen 4) and Arm processors with the BF16 extension (Graviton 3,
    Neoverse V1 and newer) have instructions for it, which oneDNN's convolutions use;
    on other processors bfloat16 is emulated, and slower than float32.

    Parameters
    ----------
    cpuinfo : str, optional
        The text of ``/proc/cpuinfo`` (default: read it; False where it does not exist,
        as on macOS and Windows).

    Examples
    --------
    >>> cpu_has_bfloat16("flags : fpu avx2 avx512f avx512_bf16")
    True
    >>> cpu_has_bfloat16("Features : fp asimd bf16 i8mm")
    True
    >>> cpu_has_bfloat16("flags : fpu avx2 avx512f")
    False
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
                cpuinfo = file.read()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def choose_precision(compute_capabilities, cpu_bfloat16=False):
    """The Keras mixed-precision policy that suits the GPUs present.

    Parameters
    ----------
    compute_capabilities : sequence of (int, int)
        The CUDA compute capability of each visible GPU; empty on a CPU-only machine.
    cpu_bfloat16 : bool, default False
        Without a GPU: whether to compute in bfloat16 (``"mixed_bfloat16"``), for a
        processor that has bfloat16 instructions (see :func:`precision`).

    Returns
    -------
    str
        ``"mixed_bfloat16"`` when every GPU has compute capability 8.0 or newer
        (A100, H100, RTX 30xx: bfloat16 keeps float32's range); ``"mixed_float16"`` when
        all have at least 7.0 (V100, T4 as in Colab: fast float16 tensor cores);
        ``"float32"`` otherwise: on older GPUs, and on a CPU unless ``cpu_bfloat16``.
        Layers built under a mixed policy compute in 16 bits but keep float32 weights;
        keep the output layer in float32 (``dtype="float32"``) so that the softmax and
        the loss are computed at full precision.

    Examples
    --------
    >>> choose_precision([])
    'float32'
    >>> choose_precision([(7, 5)])          # Colab's T4
    'mixed_float16'
    >>> choose_precision([(9, 0), (8, 0)])  # H100 and A100
    'mixed_bfloat16'
    >>> choose_precision([(6, 1)])          # older GPUs: no tensor cores
    'float32'
    >>> choose_precision([], cpu_bfloat16=True)
    'mixed_bfloat16'
    """
    capabilities = [tuple(capability) for capability in compute_capabilities]
    if capabilities and all(capability >= (8, 0) for capability in capabilities):
        return "mixed_bfloat16"
    if capabilities and all(capability >= (7, 0) for capability in capabilities):
        return "mixed_float16"
    if not capabilities and cpu_bfloat16:
        return "mixed_bfloat16"
    return "float32"


PRECISION_VARIABLE = "CNNBOOK_PRECISION"
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
#: What a CPU chooses between (:func:`bfloat16_is_faster`).
CPU_POLICIES = ("float32", "mixed_bfloat16")
#: bfloat16 counts as faster on a CPU at this fraction of float32's step time or less.
BFLOAT16_MARGIN = 0.9


def step_seconds(make_step, policy, repeats=3, min_seconds=0.5):
    """Median wall-clock seconds of a training step built under a precision policy.

    Sets Keras's global policy to ``policy``, calls ``make_step()`` to build the network
    and its step, runs the step once (it compiles), then times it ``repeats`` times, or
    more until ``min_seconds`` have passed (a small network's step takes milliseconds,
    and the median of three such steps is mostly noise); the global policy is restored
    afterwards.

    Parameters
    ----------
    make_step : callable
        Called with no arguments; builds what the step needs (the model is built under
        ``policy``) and returns a function of no arguments that runs one training step
        and waits for its result (``train_on_batch`` does: it returns NumPy values).
        :func:`cnnbook.keras.training.random_batch_step` makes one for a compiled model.
    policy : {"float32", "mixed_float16", "mixed_bfloat16"}
    repeats : int, default 3
        Timed steps after the first, at least.
    min_seconds : float, default 0.5
        Timed steps go on until their times add up to this much.

    Returns
    -------
    float
        The median of the timed steps, in seconds.
    """
    one_of(policy, POLICIES, "policy")
    positive_int(repeats, "repeats")
    real_in(min_seconds, "min_seconds", 0)
    mixed_precision = import_keras().mixed_precision
    saved = mixed_precision.global_policy()
    mixed_precision.set_global_policy(policy)
    try:
        step = make_step()
        step()  # compiles
        wall, _ = time_steps(step, repeats, min_seconds)
    finally:
        mixed_precision.set_global_policy(saved)
    return statistics.median(wall)


def time_steps(step, repeats=3, min_seconds=0.5):
    """Wall-clock and processor seconds of each of ``repeats`` calls of ``step``, or
    more until their wall-clock times add up to ``min_seconds``.

    The loop of :func:`step_seconds`, for a step already built and compiled.
    (Processor time counts every thread of this process: above the wall-clock time
    where a step runs on several cores at once.)

    Parameters
    ----------
    step : callable
        Called with no arguments; runs one step and waits for its result.
    repeats : int, default 3
        Calls to time, at least.
    min_seconds : float, default 0.5
        Calls go on until their wall-clock times add up to this much.

    Returns
    -------
    tuple of list of float
        ``(wall, processor)``: the seconds of each call, in order.
    """
    positive_int(repeats, "repeats")
    real_in(min_seconds, "min_seconds", 0)
    wall, processor = [], []
    while len(wall) < repeats or sum(wall) < min_seconds:
        started_wall, started_processor = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - started_wall)
        processor.append(time.process_time() - started_processor)
    return wall, processor


def bfloat16_is_faster(make_step, repeats=3, log=print):
    """Whether a training step runs clearly faster in ``mixed_bfloat16`` than in float32, here.

    Whether bfloat16 pays on a CPU depends on the processor and on the network. On an
    AMD EPYC (2 cores), a training step of the book's networks took 0.62 to 0.73 times
    as long in it as in float32, except a tiny 1-D network's (1.03); on an Intel Xeon
    with the same instructions (AVX-512 BF16) every one took longer, 1.1 to 1.9 times
    (``benchmarks/bench_precision.py --chapters``). So a chapter times its own step
    in each policy (:func:`step_seconds`) rather than guess. bfloat16 rounds more than
    float32, and a step's time on a busy machine moves by a few percent, so it counts as
    faster only at ``BFLOAT16_MARGIN`` (0.9) times float32's time or less: a close call
    keeps float32, and the choice does not flip from one run to the next.

    Parameters
    ----------
    make_step : callable
        As for :func:`step_seconds`.
    repeats : int, default 3
        Timed steps in each policy, at least (:func:`step_seconds` times half a second
        of steps at least).
    log : callable or None, default print
        Called with one line giving both times; None for quiet.

    Returns
    -------
    bool
    """
    _check_log(log)
    seconds = {policy: step_seconds(make_step, policy, repeats) for policy in CPU_POLICIES}
    ratio = seconds["mixed_bfloat16"] / seconds["float32"]
    faster = ratio <= BFLOAT16_MARGIN
    if log is not None:
        verdict = (
            "bfloat16 is faster"
            if faster
            else f"bfloat16 is not enough faster ({ratio:.2f} times as long, more than "
            f"{BFLOAT16_MARGIN})"
        )
        times = ", ".join(f"{policy} {value:.3g} s" for policy, value in seconds.items())
        log(f"one training step: {times}; {verdict}")
    return faster


def _check_log(log):
    if not (log is None or callable(log)):
        raise TypeError(f"log must be callable or None. Received: log={log!r}")


def precision(gpus=None, cpu_bfloat16=False, log=print):
    """The Keras precision policy a chapter trains with.

    ``CNNBOOK_PRECISION`` when it is set, so that a CPU can run any chapter the way a
    GPU would (the test suite does this); otherwise :func:`choose_precision` for the GPUs
    present. Keras's policy is not changed: :func:`use_precision` applies it.

    Parameters
    ----------
    gpus : list of (str, (int, int)), optional
        As returned by :func:`visible_gpus` (default: ask the Keras backend). Not
        consulted when ``CNNBOOK_PRECISION`` is set.
    cpu_bfloat16 : bool or callable, default False
        Without a GPU, on TensorFlow, on a processor with bfloat16 instructions
        (:func:`cpu_has_bfloat16`): True chooses ``"mixed_bfloat16"``; a function that
        builds a training step (``make_step`` of :func:`step_seconds`) chooses it if
        that step is clearly faster in it (:func:`bfloat16_is_faster`, which times it in
        both policies). Whether it is depends on the processor and the network, so a
        chapter passes its own step. Nothing is timed elsewhere: on a GPU, with
        ``CNNBOOK_PRECISION`` set, on other backends (JAX's CPU backend gains nothing
        from bfloat16) and on a processor without the instructions (where bfloat16 is
        emulated, and slower).
    log : callable or None, default print
        Passed to :func:`bfloat16_is_faster` when it times the step.

    Returns
    -------
    str
        One of ``"float32"``, ``"mixed_float16"``, ``"mixed_bfloat16"``.

    Raises
    ------
    ValueError
        When ``CNNBOOK_PRECISION`` names another policy.
    TypeError
        When ``cpu_bfloat16`` is neither a bool nor callable.

    Examples
    --------
    >>> import os
    >>> saved = os.environ.pop("CNNBOOK_PRECISION", None)
    >>> precision(gpus=[("NVIDIA T4", (7, 5))])
    'mixed_float16'
    >>> os.environ["CNNBOOK_PRECISION"] = "mixed_bfloat16"
    >>> precision(gpus=[])
    'mixed_bfloat16'
    >>> _ = os.environ.pop("CNNBOOK_PRECISION")
    >>> if saved is not None:
    ...     os.environ["CNNBOOK_PRECISION"] = saved
    """
    _check_log(log)
    if not (isinstance(cpu_bfloat16, bool) or callable(cpu_bfloat16)):
        raise TypeError(
            "cpu_bfloat16 must be True, False or a function that builds a training step. "
            f"Received: cpu_bfloat16={cpu_bfloat16!r}"
        )
    forced = os.environ.get(PRECISION_VARIABLE, "").strip()
    if forced:
        return one_of(forced, POLICIES, PRECISION_VARIABLE)
    gpus = visible_gpus() if gpus is None else gpus
    native = cpu_bfloat16 is not False
    native = native and not gpus and backend() == "tensorflow" and cpu_has_bfloat16()
    if native and callable(cpu_bfloat16):
        native = bfloat16_is_faster(cpu_bfloat16, log=log)
    return choose_precision([capability for _, capability in gpus], cpu_bfloat16=native)


def use_precision(cpu_bfloat16=False, log=print):
    """Set Keras's global precision policy to :func:`precision` (:func:`apply_policy`),
    and return it.

    Every chapter that trains with Keras calls this before it builds the model it trains
    (chapter 10 once for each of its two networks), so that a GPU computes in 16 bits
    where that is fast and ``CNNBOOK_PRECISION`` can force any policy on any machine.
    Under a mixed policy the layers keep float32 weights and compute in float16 or
    bfloat16; the book's networks keep their output layer in float32, so the softmax
    and the loss are computed at full precision.

    Parameters
    ----------
    cpu_bfloat16 : bool or callable, default False
        As for :func:`precision`: bfloat16 on a CPU that has it, always (True) or if
        the chapter's training step, which the callable builds, is faster in it.
    log : callable or None, default print
        As for :func:`precision`.

    Returns
    -------
    str
        The policy now in force, e.g. ``"float32"``.
    """
    return apply_policy(precision(cpu_bfloat16=cpu_bfloat16, log=log))


def _capability(text):
    """``"8.6"`` -> ``(8, 6)``; anything unreadable -> ``(0, 0)``."""
    try:
        major, minor = str(text).split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return (0, 0)


def visible_gpus():
    """Name and compute capability of each GPU the Keras backend sees.

    Asks the backend that :func:`cnnbook.runtime.backend` names: TensorFlow's device
    list, ``jax.devices()``, or ``torch.cuda``. Nothing is imported that the backend does
    not need.

    Returns
    -------
    list of (str, (int, int))
        Empty on a machine without a GPU.
    """
    name = backend()
    if name == "tensorflow":
        tf = import_tensorflow()
        gpus = []
        for device in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(device)
            gpus.append(
                (details.get("device_name", device.name), details.get("compute_capability", (0, 0)))
            )
        return gpus
    if name == "jax":
        import jax

        return [
            (device.device_kind, _capability(getattr(device, "compute_capability", "")))
            for device in jax.devices()
            if device.platform == "gpu"
        ]
    import torch

    if not torch.cuda.is_available():
        return []
    return [
        (torch.cuda.get_device_name(index), tuple(torch.cuda.get_device_capability(index)))
        for index in range(torch.cuda.device_count())
    ]


@contextlib.contextmanager
def data_parallel(devices=None):
    """Build, compile and train inside this block to train on several devices.

    Data parallelism with each backend's own engine: every device holds a copy of the
    weights and takes an equal share of each batch; the gradients are averaged across
    devices, so a step equals one step on the whole batch.

    - JAX: ``keras.distribution.DataParallel`` (set for the block, unset after it).
    - TensorFlow: ``tf.distribute.MirroredStrategy``'s scope (a model with batch
      normalization must ask for ``synchronized=True`` to match, as
      :func:`~cnnbook.keras.fast_training.fast_cnn` does).

    Parameters
    ----------
    devices : list of str, optional
        Device names (JAX: ``"cpu:0"``, ``"gpu:1"``; TensorFlow: ``"/cpu:0"``); by
        default every GPU, or every CPU device when there is no GPU.

    Yields
    ------
    int
        The number of devices (``with data_parallel() as devices:``).

    Raises
    ------
    NotImplementedError
        On the PyTorch backend (use ``torch.distributed`` there).
    """
    name = backend()
    if name == "jax":
        keras = import_keras()
        if devices is None:
            devices = keras.distribution.list_devices()  # the GPUs, or else the CPU devices
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
    elif name == "tensorflow":
        tf = import_tensorflow()
        if devices is None:
            found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            devices = [device.name for device in found]
        strategy = tf.distribute.MirroredStrategy(
            devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    else:
        raise NotImplementedError(
            "data_parallel supports the JAX and TensorFlow backends; on PyTorch use "
            "torch.distributed (DistributedDataParallel). Received backend: " + name
        )


def describe_device(gpus=None):
    """One line saying what will train the model, e.g. "1 GPU: NVIDIA T4 (compute 7.5)".

    Parameters
    ----------
    gpus : list of (str, (int, int)), optional
        As returned by :func:`visible_gpus`, with the precision :func:`precision` would
        choose for them; by default this machine's, with the precision in force (Keras's
        global policy, as :func:`use_precision` set it).

    Examples
    --------
    >>> describe_device([])[:8]
    'CPU only'
    >>> describe_device([("NVIDIA T4", (7, 5))])
    '1 GPU: NVIDIA T4 (compute capability 7.5); precision mixed_float16'
    """
    if gpus is None:
        gpus = visible_gpus()
        policy = import_keras().mixed_precision.global_policy().name  # what is in force
    else:
        policy = precision(gpus)
    if not gpus:
        return f"CPU only ({os.cpu_count()} cores); precision {policy}"
    names = ", ".join(
        f"{name} (compute capability {major}.{minor})" for name, (major, minor) in gpus
    )
    count = f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''}"
    return f"{count}: {names}; precision {policy}"


RESULTS_VARIABLE = "CNNBOOK_RESULTS"


def _record_result(**result):
    """Append ``result`` as one JSON line to the file ``CNNBOOK_RESULTS`` names, if any.

    A run over many chapters (``tools/gpu_run.sh``) names a file per chapter, to
    collect each chapter's accuracy and band with the precision and device it ran on.
    """
    path = os.environ.get(RESULTS_VARIABLE, "").strip()
    if not path:
        return
    keras = sys.modules.get("keras")
    policy = keras.mixed_precision.global_policy().name if keras is not None else "float32"
    result.update(smoke=smoke_mode(), backend=backend(), precision=policy, device=describe_device())
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(result) + "\n")


def expect_accuracy(accuracy, low, high=1.0):
    """Check, in full mode, that a chapter's test accuracy lies in its stated band.

    A training chapter calls this right after it prints its test accuracy, so that a run
    on another machine (a GPU, another backend) fails on a wrong *result*, not only on
    an exception. In smoke mode the few images and epochs cannot reach the band: the
    check is skipped, and says so.

    Parameters
    ----------
    accuracy : float
        A fraction in [0, 1].
    low, high : float
        The band, as fractions: ``low <= accuracy <= high`` must hold.

    Raises
    ------
    AssertionError
        In full mode, when the accuracy lies outside the band.

    Notes
    -----
    When the environment variable ``CNNBOOK_RESULTS`` names a file, the result (the
    accuracy, the band, whether it held, the precision policy and the device) is also
    appended to it as one JSON line, in smoke mode too: ``tools/gpu_run.sh`` collects
    each chapter's results this way.

    Examples
    --------
    >>> import os
    >>> saved = os.environ.pop("CNNBOOK_SMOKE", None)
    >>> os.environ["CNNBOOK_SMOKE"] = "0"
    >>> expect_accuracy(0.515, low=0.45, high=0.60)
    Test accuracy 51.5% lies in the expected band, 45% to 60%.
    >>> os.environ["CNNBOOK_SMOKE"] = "1"
    >>> expect_accuracy(0.12, low=0.84)
    Smoke mode: the expected band (at least 84%) is not checked.
    >>> del os.environ["CNNBOOK_SMOKE"]
    >>> if saved is not None:
    ...     os.environ["CNNBOOK_SMOKE"] = saved
    """
    if not 0 <= low <= high <= 1:
        raise ValueError(f"need 0 <= low <= high <= 1. Received: low={low!r}, high={high!r}")
    band = f"{low:.0%} to {high:.0%}" if high < 1 else f"at least {low:.0%}"
    _record_result(accuracy=float(accuracy), low=low, high=high, held=bool(low <= accuracy <= high))
    if smoke_mode():
        print(f"Smoke mode: the expected band ({band}) is not checked.")
        return
    if not low <= accuracy <= high:
        raise AssertionError(f"Test accuracy {accuracy:.1%} is outside the expected band, {band}.")
    print(f"Test accuracy {accuracy:.1%} lies in the expected band, {band}.")
