"""cnnbook.runtime: budgets, the quiet TensorFlow import, the precision policy, and data
parallelism on two virtual devices."""

import itertools
import json
import os
import re
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

import cnnbook
from cnnbook import runtime


@pytest.fixture
def recorded_results(monkeypatch, tmp_path):
    """The results that runtime records while the test runs, as a function that reads
    them back (one dict per result, in order), from a file of the test's own."""
    results = tmp_path / "results.jsonl"
    monkeypatch.setenv("CNNBOOK_RESULTS", str(results))
    return lambda: [json.loads(line) for line in results.read_text().splitlines()]


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_import_tensorflow_lets_its_idle_threads_sleep_unless_told_otherwise(given, expected):
    code = "import os, cnnbook; cnnbook.import_tensorflow(); print(os.environ['OMP_WAIT_POLICY'])"
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        environment["OMP_WAIT_POLICY"] = given
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert result.stdout == f"{expected}\n"


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_smoke_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("CNNBOOK_SMOKE", value)
    assert cnnbook.smoke_mode() is expected
    assert cnnbook.budget(full=25, smoke=1) == (1 if expected else 25)


def test_full_mode_is_the_default(monkeypatch):
    monkeypatch.delenv("CNNBOOK_SMOKE", raising=False)
    assert cnnbook.budget(full=25, smoke=1) == 25


def test_unknown_smoke_value_is_an_error(monkeypatch):
    monkeypatch.setenv("CNNBOOK_SMOKE", "maybe")
    with pytest.raises(ValueError, match="Received: CNNBOOK_SMOKE='maybe'"):
        cnnbook.budget(full=25, smoke=1)


def test_runtime_doctests_leave_the_environment_as_they_found_it(monkeypatch):
    import doctest

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("CNNBOOK_SMOKE", "1")
    monkeypatch.delenv("CNNBOOK_RESULTS", raising=False)
    results = doctest.testmod(runtime, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted > 0 and results.failed == 0
    assert os.environ.get("KERAS_BACKEND") == "jax"
    assert os.environ.get("CNNBOOK_SMOKE") == "1"


def test_import_tensorflow_writes_nothing_to_stderr():
    code = "import cnnbook; tf = cnnbook.import_tensorflow(); print(tf.constant(2).numpy())"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout == "2\n"
    assert result.stderr == ""


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_cnnbook_precision_overrides_the_hardware_choice(monkeypatch, policy):
    from cnnbook.runtime import describe_device, precision

    monkeypatch.setenv("CNNBOOK_PRECISION", policy)
    assert precision(gpus=[]) == policy
    assert precision(gpus=[("NVIDIA T4", (7, 5))]) == policy
    assert describe_device([]).endswith(f"precision {policy}")


def test_without_cnnbook_precision_the_hardware_decides(monkeypatch):
    from cnnbook.runtime import describe_device, precision

    monkeypatch.delenv("CNNBOOK_PRECISION", raising=False)
    assert precision(gpus=[]) == "float32"
    assert precision(gpus=[("NVIDIA T4", (7, 5))]) == "mixed_float16"
    assert precision(gpus=[("NVIDIA H200", (9, 0))]) == "mixed_bfloat16"
    assert describe_device([("NVIDIA H200", (9, 0))]).endswith("precision mixed_bfloat16")


@pytest.mark.parametrize(
    ("native", "backend_name", "expected"),
    [
        (True, "tensorflow", "mixed_bfloat16"),
        (False, "tensorflow", "float32"),  # emulated bfloat16 is slower than float32
        (True, "jax", "float32"),  # XLA's CPU backend gains nothing from it
    ],
)
def test_a_chapter_can_ask_for_bfloat16_on_a_cpu_that_has_it(
    monkeypatch, native, backend_name, expected
):
    monkeypatch.delenv("CNNBOOK_PRECISION", raising=False)
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: native)
    monkeypatch.setattr(runtime, "backend", lambda: backend_name)
    assert runtime.precision(gpus=[], cpu_bfloat16=True) == expected
    assert runtime.precision(gpus=[]) == "float32"  # only when asked
    # A GPU decides by itself.
    assert runtime.precision(gpus=[("NVIDIA T4", (7, 5))], cpu_bfloat16=True) == "mixed_float16"


def test_cpu_has_bfloat16_reads_the_processor_flags(tmp_path):
    from cnnbook.runtime import cpu_has_bfloat16

    epyc = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_fp16\n"
    broadwell = "processor\t: 0\nflags\t\t: fpu sse avx2 fma\n"
    graviton3 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"
    assert cpu_has_bfloat16(epyc) and cpu_has_bfloat16(graviton3)
    assert not cpu_has_bfloat16(broadwell) and not cpu_has_bfloat16("")
    assert isinstance(cpu_has_bfloat16(), bool)  # this machine's, whatever it is


def test_describe_device_reports_the_policy_in_force(monkeypatch, keras):
    monkeypatch.setattr(runtime, "visible_gpus", lambda: [])
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        assert runtime.describe_device().endswith("precision mixed_bfloat16")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert runtime.describe_device().endswith("precision float32")


def test_an_unknown_precision_is_an_error(monkeypatch):
    from cnnbook.runtime import precision

    monkeypatch.setenv("CNNBOOK_PRECISION", "float16")
    message = (
        "CNNBOOK_PRECISION must be 'float32', 'mixed_float16' or 'mixed_bfloat16'. "
        "Received: CNNBOOK_PRECISION='float16'"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        precision(gpus=[])


def test_use_precision_sets_the_keras_policy(monkeypatch, keras, restore_policy):
    monkeypatch.setenv("CNNBOOK_PRECISION", "mixed_bfloat16")
    assert runtime.use_precision() == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert keras.layers.Dense(2).compute_dtype == "bfloat16"


def test_apply_policy_keeps_float32_products_in_float32_under_float32_alone(
    keras, tf, restore_policy
):
    tf32 = tf.config.experimental.tensor_float_32_execution_enabled
    assert runtime.apply_policy("mixed_bfloat16") == "mixed_bfloat16" and tf32()
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert runtime.apply_policy("mixed_float16") == "mixed_float16" and tf32()
    assert runtime.apply_policy("float32") == "float32" and not tf32()
    assert keras.mixed_precision.global_policy().name == "float32"


def fake_torch_switches():
    """torch.backends' two TF32 switches, at PyTorch's defaults (convolutions only)."""
    cudnn = types.SimpleNamespace(allow_tf32=True)
    cuda = types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=False))
    return types.SimpleNamespace(backends=types.SimpleNamespace(cudnn=cudnn, cuda=cuda))


def test_full_float32_products_sets_each_backends_own_switch(monkeypatch, tf, restore_policy):
    """In this process, each backend's branch: TensorFlow's and JAX's real settings (JAX
    is installed beside TensorFlow here), PyTorch's faked (tests/test_backend_differences.py
    checks all three under their own backend)."""
    import jax

    monkeypatch.setattr(runtime, "backend", lambda: "jax")
    saved = jax.config.jax_default_matmul_precision
    try:
        runtime.full_float32_products(True)
        assert jax.config.jax_default_matmul_precision == "float32"
        runtime.full_float32_products(False)
        assert jax.config.jax_default_matmul_precision is None
    finally:
        jax.config.update("jax_default_matmul_precision", saved)
    torch = fake_torch_switches()
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setattr(runtime, "backend", lambda: "torch")
    runtime.full_float32_products(True)
    assert torch.backends.cudnn.allow_tf32 is False
    assert torch.backends.cuda.matmul.allow_tf32 is False
    torch.backends.cuda.matmul.allow_tf32 = True
    runtime.full_float32_products(False)  # PyTorch's defaults: convolutions only
    assert torch.backends.cudnn.allow_tf32 is True
    assert torch.backends.cuda.matmul.allow_tf32 is False
    monkeypatch.setattr(runtime, "backend", lambda: "tensorflow")
    tf32 = tf.config.experimental.tensor_float_32_execution_enabled
    runtime.full_float32_products(False)
    assert tf32()
    runtime.full_float32_products()  # full by default
    assert not tf32()


def test_apply_policy_and_full_float32_products_refuse_what_they_do_not_know(keras):
    with pytest.raises(ValueError, match="policy must be 'float32', 'mixed_float16' or"):
        runtime.apply_policy("float16")
    with pytest.raises(TypeError, match="full must be True or False. Received: full=1"):
        runtime.full_float32_products(1)


def test_expect_accuracy_records_each_result_where_cnnbook_results_says(
    monkeypatch, recorded_results, keras
):
    from cnnbook.runtime import expect_accuracy

    monkeypatch.setenv("CNNBOOK_SMOKE", "0")
    expect_accuracy(0.515, low=0.45, high=0.60)
    with pytest.raises(AssertionError, match="outside the expected band"):
        expect_accuracy(0.30, low=0.45, high=0.60)
    first, second = recorded_results()
    assert first["accuracy"] == 0.515 and first["held"] and not second["held"]
    assert (first["low"], first["high"], first["smoke"]) == (0.45, 0.60, False)
    assert first["precision"] == keras.mixed_precision.global_policy().name
    assert first["device"].startswith("CPU only") and first["backend"] == "tensorflow"


def test_precision_is_chosen_for_each_kind_of_device():
    from cnnbook.runtime import choose_precision, describe_device

    assert choose_precision([]) == "float32"
    assert choose_precision([(6, 0)]) == "float32"
    assert choose_precision([(7, 0)]) == choose_precision([(7, 5)]) == "mixed_float16"
    assert choose_precision([(8, 0)]) == choose_precision([(9, 0)]) == "mixed_bfloat16"
    assert choose_precision([(8, 6), (7, 5)]) == "mixed_float16"  # the weakest GPU decides
    assert describe_device([]).startswith("CPU only")
    assert describe_device([("A", (8, 0)), ("B", (8, 0))]).startswith("2 GPUs: A (compute")


DATA_PARALLEL = """
import os, sys
import numpy as np
backend = os.environ["KERAS_BACKEND"]
if backend == "jax":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
else:
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from cnnbook import import_keras
from cnnbook.keras import fast_training as fast
from cnnbook.runtime import data_parallel

keras = import_keras()

rng = np.random.default_rng(0)
images = rng.normal(size=(256, 32, 32, 3)).astype("float32")
labels = rng.integers(0, 10, 256)
recipe = fast.FastRecipe(epochs=2, batch_size=64, widths=(8, 16, 16))

def weights(devices):
    if devices == 1:
        result = fast.train_fast(images, labels, recipe, seed=0, log=None)
    else:
        with data_parallel() as found:
            assert found == devices, found
            result = fast.train_fast(images, labels, recipe, seed=0, log=None)
    to_numpy = keras.ops.convert_to_numpy
    return [np.asarray(to_numpy(w), dtype=np.float64) for w in result.model.weights]

one, two = weights(1), weights(2)
worst = max(np.abs(a - b).max() / (np.abs(a).max() + 1e-3) for a, b in zip(one, two))
print("worst relative difference", worst)
"""


@pytest.mark.parametrize("backend_name", ["tensorflow", "jax"])
def test_data_parallel_on_two_devices_matches_one(backend_name, run_under_backend):
    """8 steps on 2 virtual CPU devices against 1: the same weights within 1e-3 of
    each weight tensor's scale (the order of the float32 sums differs)."""
    output = run_under_backend(backend_name, DATA_PARALLEL)
    worst = float(output.split()[-1])
    assert worst < 1e-3, output


def test_data_parallel_refuses_pytorch(monkeypatch):
    monkeypatch.setattr(runtime, "backend", lambda: "torch")
    with pytest.raises(NotImplementedError, match="torch.distributed"):
        with runtime.data_parallel():
            pass


# What each backend reports for a GPU, faked: the machines here have none, and a reader's
# GPU must still be found, named and given its precision.
class FakeTensorFlow:
    """The part of ``tf.config`` that visible_gpus reads: one GPU with its details, one
    without (TensorFlow leaves them out on some platforms)."""

    def __init__(self):
        named = types.SimpleNamespace(name="/physical_device:GPU:0")
        bare = types.SimpleNamespace(name="/physical_device:GPU:1")
        details = {id(named): {"device_name": "NVIDIA H200", "compute_capability": (9, 0)}}
        self.config = types.SimpleNamespace(
            list_physical_devices=lambda kind: [named, bare] if kind == "GPU" else [],
            experimental=types.SimpleNamespace(get_device_details=lambda d: details.get(id(d), {})),
        )


def fake_jax():
    def device(platform, kind, capability=None):
        fields = {"platform": platform, "device_kind": kind}
        if capability is not None:
            fields["compute_capability"] = capability
        return types.SimpleNamespace(**fields)

    devices = [device("cpu", "cpu"), device("gpu", "NVIDIA H200", "9.0"), device("gpu", "GPU")]
    return types.SimpleNamespace(devices=lambda: devices)


def fake_torch(count):
    names = ["Tesla T4", "NVIDIA A100-SXM4-40GB"]
    capabilities = [(7, 5), (8, 0)]
    cuda = types.SimpleNamespace(
        is_available=lambda: count > 0,
        device_count=lambda: count,
        get_device_name=lambda index: names[index],
        get_device_capability=lambda index: capabilities[index],
    )
    return types.SimpleNamespace(cuda=cuda)


@pytest.mark.parametrize(
    ("backend_name", "expected"),
    [
        (
            "tensorflow",
            [("NVIDIA H200", (9, 0)), ("/physical_device:GPU:1", (0, 0))],
        ),
        ("jax", [("NVIDIA H200", (9, 0)), ("GPU", (0, 0))]),
        ("torch", [("Tesla T4", (7, 5)), ("NVIDIA A100-SXM4-40GB", (8, 0))]),
    ],
)
def test_visible_gpus_reads_each_backends_devices(monkeypatch, backend_name, expected):
    monkeypatch.setattr(runtime, "backend", lambda: backend_name)
    monkeypatch.setattr(runtime, "import_tensorflow", FakeTensorFlow)
    monkeypatch.setitem(sys.modules, "jax", fake_jax())
    monkeypatch.setitem(sys.modules, "torch", fake_torch(2))
    assert runtime.visible_gpus() == expected
    # And the precision that follows: float32 while one GPU's capability is unknown.
    monkeypatch.delenv("CNNBOOK_PRECISION", raising=False)
    expected_policy = "mixed_float16" if backend_name == "torch" else "float32"
    assert runtime.precision() == expected_policy


def test_visible_gpus_on_pytorch_without_cuda_is_empty(monkeypatch):
    monkeypatch.setattr(runtime, "backend", lambda: "torch")
    monkeypatch.setitem(sys.modules, "torch", fake_torch(0))
    assert runtime.visible_gpus() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8.6", (8, 6)), ("9.0", (9, 0)), ("12.0.1", (12, 0)), ("", (0, 0)), ("sm_90", (0, 0))],
)
def test_a_compute_capability_is_read_from_jaxs_text(text, expected):
    assert runtime._capability(text) == expected


def test_precision_and_describe_device_ask_the_backend_by_default(monkeypatch, restore_policy):
    monkeypatch.delenv("CNNBOOK_PRECISION", raising=False)
    gpus = [("NVIDIA H200", (9, 0)), ("NVIDIA H200", (9, 0))]
    monkeypatch.setattr(runtime, "visible_gpus", lambda: gpus)
    assert runtime.precision() == "mixed_bfloat16"
    assert runtime.use_precision() == "mixed_bfloat16"
    assert runtime.describe_device() == (
        "2 GPUs: NVIDIA H200 (compute capability 9.0), NVIDIA H200 (compute capability "
        "9.0); precision mixed_bfloat16"
    )


def test_use_precision_passes_on_the_chapters_bfloat16_choice(monkeypatch, keras, restore_policy):
    monkeypatch.delenv("CNNBOOK_PRECISION", raising=False)
    monkeypatch.setattr(runtime, "visible_gpus", lambda: [])
    monkeypatch.setattr(runtime, "backend", lambda: "tensorflow")
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: True)
    assert runtime.use_precision() == "float32"
    assert runtime.use_precision(cpu_bfloat16=True) == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"


def fake_clocks(monkeypatch, wall, processor=None):
    """Patch cnnbook.runtime's clocks: ``wall`` and ``processor`` are the successive
    readings of ``time.perf_counter`` and ``time.process_time`` (the processor's clock
    reads 0 when not given)."""
    wall, processor = iter(wall), iter(processor or itertools.repeat(0.0))
    clocks = types.SimpleNamespace(
        perf_counter=lambda: next(wall), process_time=lambda: next(processor)
    )
    monkeypatch.setattr(runtime, "time", clocks)


def ticks_of(seconds):
    """A clock's readings that advance by ``seconds`` at each reading: 0, s, 2s, ..."""
    return (tick * seconds for tick in itertools.count())


def test_step_seconds_builds_the_step_under_the_policy_and_times_it(
    monkeypatch, keras, restore_policy
):
    fake_clocks(monkeypatch, [0.0, 0.5, 1.0, 1.2, 2.0, 2.9])  # steps of 0.5, 0.2 and 0.9 s
    built_under, calls = [], []

    def make_step():
        built_under.append(keras.mixed_precision.global_policy().name)
        return lambda: calls.append(keras.mixed_precision.global_policy().name)

    keras.mixed_precision.set_global_policy("mixed_float16")
    assert runtime.step_seconds(make_step, "mixed_bfloat16", repeats=3) == 0.5  # the median
    assert built_under == ["mixed_bfloat16"] and calls == ["mixed_bfloat16"] * 4  # 1 compiles
    assert keras.mixed_precision.global_policy().name == "mixed_float16"  # restored


def test_step_seconds_times_short_steps_until_min_seconds_have_passed(
    monkeypatch, keras, restore_policy
):
    fake_clocks(monkeypatch, ticks_of(1 / 16))  # steps of 1/16 s (exact in binary)
    calls = []

    def make_step():
        return lambda: calls.append(1)

    assert runtime.step_seconds(make_step, "float32", repeats=2, min_seconds=0.5) == 1 / 16
    assert len(calls) == 1 + 8  # compiles, then 8 steps of 1/16 s make 0.5 s
    calls.clear()
    runtime.step_seconds(make_step, "float32", repeats=2, min_seconds=0)
    assert len(calls) == 1 + 2
    with pytest.raises(ValueError, match="min_seconds must lie in"):
        runtime.step_seconds(make_step, "float32", min_seconds=-1)


@pytest.mark.parametrize(("step", "steps"), [(1.0, 3), (0.25, 3), (0.0625, 8)])
def test_step_seconds_by_default_times_3_steps_and_half_a_second(
    monkeypatch, keras, restore_policy, step, steps
):
    fake_clocks(monkeypatch, ticks_of(step))
    calls = []
    runtime.step_seconds(lambda: lambda: calls.append(1), "float32")
    assert len(calls) == 1 + steps  # 3 steps, or as many as half a second takes


def test_time_steps_returns_each_calls_wall_and_processor_seconds(monkeypatch):
    fake_clocks(
        monkeypatch,
        wall=[0.0, 0.25, 1.0, 1.5, 2.0, 2.125],  # steps of 0.25, 0.5 and 0.125 s
        processor=[0.0, 0.5, 1.0, 2.0, 3.0, 3.25],  # on two cores: twice as much
    )
    calls = []
    assert runtime.time_steps(lambda: calls.append(1), repeats=3, min_seconds=0) == (
        [0.25, 0.5, 0.125],
        [0.5, 1.0, 0.25],
    )
    assert len(calls) == 3  # no step to compile: the caller has run it


def test_time_steps_goes_on_until_min_seconds_of_wall_clock_time(monkeypatch):
    fake_clocks(monkeypatch, ticks_of(1 / 4))
    wall, processor = runtime.time_steps(lambda: None, repeats=1, min_seconds=1)
    assert wall == [0.25] * 4 and processor == [0.0] * 4
    with pytest.raises(ValueError, match="^repeats must be a positive int"):
        runtime.time_steps(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="min_seconds must lie in"):
        runtime.time_steps(lambda: None, min_seconds=-0.5)


@pytest.mark.parametrize(("step", "steps"), [(1.0, 3), (0.0625, 8)])
def test_time_steps_by_default_times_3_steps_and_half_a_second(monkeypatch, step, steps):
    fake_clocks(monkeypatch, ticks_of(step))
    wall, _ = runtime.time_steps(lambda: None)
    assert wall == [step] * steps


def test_step_seconds_restores_the_policy_when_the_step_fails(keras, restore_policy):
    def make_step():
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        runtime.step_seconds(make_step, "mixed_bfloat16")
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(ValueError, match="policy must be"):
        runtime.step_seconds(make_step, "bfloat16")
    with pytest.raises(ValueError, match="^repeats must be a positive int"):
        runtime.step_seconds(make_step, "float32", repeats=0)


def test_step_seconds_times_a_real_keras_step(keras, restore_policy):
    def make_step():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse")
        return lambda: model.train_on_batch(np.ones((8, 4)), np.zeros((8, 2)))

    seconds = runtime.step_seconds(make_step, "mixed_bfloat16", repeats=2)
    assert 0 < seconds < 10


@pytest.mark.parametrize(
    ("bfloat16_seconds", "faster"), [(2.4, True), (2.7, True), (2.8, False), (3.3, False)]
)
def test_bfloat16_is_faster_only_by_a_margin(monkeypatch, bfloat16_seconds, faster):
    timings = {"float32": 3.0, "mixed_bfloat16": bfloat16_seconds}
    timed = []

    def step_seconds(make_step, policy, repeats):
        timed.append((make_step, policy, repeats))
        return timings[policy]

    monkeypatch.setattr(runtime, "step_seconds", step_seconds)
    lines = []
    make_step = object()
    assert runtime.bfloat16_is_faster(make_step, repeats=5, log=lines.append) is faster
    assert timed == [(make_step, "float32", 5), (make_step, "mixed_bfloat16", 5)]
    times = f"one training step: float32 3 s, mixed_bfloat16 {bfloat16_seconds:.3g} s; "
    ratio = bfloat16_seconds / 3.0
    verdict = (
        "bfloat16 is faster"
        if faster
        else f"bfloat16 is not enough faster ({ratio:.2f} times as long, more than 0.9)"
    )
    assert lines == [times + verdict]
    assert runtime.bfloat16_is_faster(make_step, log=None) is faster  # quiet
    assert timed[2:] == [(make_step, "float32", 3), (make_step, "mixed_bfloat16", 3)]


def test_a_log_that_cannot_be_called_is_refused_before_anything_is_timed():
    def make_step():
        raise AssertionError("not timed")

    message = "log must be callable or None. Received: log=False"
    with pytest.raises(TypeError, match=message):
        runtime.bfloat16_is_faster(make_step, log=False)
    with pytest.raises(TypeError, match=message):
        runtime.use_precision(cpu_bfloat16=make_step, log=False)
    with pytest.raises(TypeError, match=message):  # even where nothing would be timed
        runtime.precision(gpus=[], log=False)


@pytest.mark.parametrize("faster", [True, False])
def test_a_chapter_can_let_its_own_step_decide_on_bfloat16(monkeypatch, restore_policy, faster):
    monkeypatch.delenv("CNNBOOK_PRECISION", raising=False)
    monkeypatch.setattr(runtime, "visible_gpus", lambda: [])
    monkeypatch.setattr(runtime, "backend", lambda: "tensorflow")
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: True)
    asked = []

    def bfloat16_is_faster(make_step, log):
        asked.append((make_step, log))
        return faster

    monkeypatch.setattr(runtime, "bfloat16_is_faster", bfloat16_is_faster)

    def make_step():
        raise AssertionError("timed by bfloat16_is_faster only")

    expected = "mixed_bfloat16" if faster else "float32"
    assert runtime.precision(cpu_bfloat16=make_step, log=None) == expected
    assert asked == [(make_step, None)]
    assert runtime.use_precision(cpu_bfloat16=make_step) == expected
    assert asked[1] == (make_step, print)
    assert runtime.import_keras().mixed_precision.global_policy().name == expected


@pytest.mark.parametrize(
    ("gpus", "forced", "backend_name", "native", "expected"),
    [
        ([("NVIDIA T4", (7, 5))], "", "tensorflow", True, "mixed_float16"),
        ([], "float32", "tensorflow", True, "float32"),
        ([], "", "jax", True, "float32"),
        ([], "", "tensorflow", False, "float32"),
    ],
)
def test_a_chapters_step_is_timed_only_where_bfloat16_could_pay(
    monkeypatch, gpus, forced, backend_name, native, expected
):
    monkeypatch.setenv("CNNBOOK_PRECISION", forced)
    monkeypatch.setattr(runtime, "backend", lambda: backend_name)
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: native)

    def make_step():
        raise AssertionError("not timed here")

    assert runtime.precision(gpus=gpus, cpu_bfloat16=make_step) == expected


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_cpu_bfloat16_is_a_bool_or_a_step_builder(value):
    message = (
        "cpu_bfloat16 must be True, False or a function that builds a training step. "
        f"Received: cpu_bfloat16={value!r}"
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        runtime.precision(gpus=[], cpu_bfloat16=value)


@pytest.mark.skipif(not os.path.isfile("/proc/cpuinfo"), reason="no /proc/cpuinfo here")
def test_cpu_has_bfloat16_reads_this_machines_proc_cpuinfo():
    with open("/proc/cpuinfo", encoding="utf-8") as file:
        assert runtime.cpu_has_bfloat16() is runtime.cpu_has_bfloat16(file.read())


def test_cpu_has_bfloat16_reads_a_cpuinfo_that_is_not_utf8(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_bytes(b"model name\t: Caf\xe9 CPU\nflags\t\t: fpu avx512_bf16\n")
    # open() as cnnbook.runtime sees it: /proc/cpuinfo is this file.
    monkeypatch.setattr(
        runtime,
        "open",
        lambda path, *args, **kwargs: open(cpuinfo, *args, **kwargs),
        raising=False,
    )
    assert runtime.cpu_has_bfloat16() is True


def test_cpu_has_bfloat16_knows_every_flag_and_is_false_without_proc_cpuinfo(monkeypatch):
    assert runtime.cpu_has_bfloat16("flags : fpu avx512f amx_bf16 amx_tile")
    assert runtime.cpu_has_bfloat16("flags : avx512_bf16 other:flag")  # the first colon splits
    assert not runtime.cpu_has_bfloat16("model name : bf16 in a name is not a flag")
    # Without /proc/cpuinfo (macOS, Windows): no.
    monkeypatch.setattr(
        runtime,
        "open",
        lambda *args, **kwargs: (_ for _ in ()).throw(FileNotFoundError()),
        raising=False,
    )
    assert runtime.cpu_has_bfloat16() is False


def test_backend_names_the_backends_it_supports(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "mlx")
    message = "KERAS_BACKEND must be 'tensorflow', 'jax' or 'torch'. Received: KERAS_BACKEND='mlx'"
    with pytest.raises(ValueError, match=re.escape(message)):
        runtime.backend()


def test_import_keras_refuses_a_backend_other_than_the_one_keras_runs_on(monkeypatch, keras):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    message = (
        "Keras was already imported on the tensorflow backend, but KERAS_BACKEND='jax': set "
        "KERAS_BACKEND before the first `import keras` (restart the kernel)"
    )
    with pytest.raises(RuntimeError, match=re.escape(message)):
        runtime.import_keras()


def test_kerass_pipelines_for_arrays_run_without_autotuning_and_yield_the_same_batches(tf, rng):
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    runtime.import_keras()
    build = ArrayDataAdapter.get_tf_dataset
    assert getattr(build, "untuned_by_cnnbook", False)  # import_keras wrapped it
    runtime.import_keras()
    assert ArrayDataAdapter.get_tf_dataset is build  # once only
    x = rng.random((50, 2)).astype("float32")
    y = np.arange(50)

    def batches(get_tf_dataset):
        tf.random.set_seed(5)
        dataset = get_tf_dataset(ArrayDataAdapter(x, y, batch_size=16, shuffle=True))
        return dataset, [labels.numpy().tolist() for _, labels in dataset]

    ours, our_batches = batches(build)
    kerass, kerass_batches = batches(build.__wrapped__)
    assert ours.options().autotune.enabled is False  # no tuning thread to wait for
    assert kerass.options().autotune.enabled is not False
    assert our_batches == kerass_batches  # the same batches, in the same order
    assert [len(batch) for batch in our_batches] == [16, 16, 16, 2]
    assert sum(our_batches, []) != list(range(50))  # and shuffled


def test_without_autotuning_keeps_a_datasets_other_options(tf):
    options = tf.data.Options()
    options.deterministic = False
    dataset = runtime.without_autotuning(tf.data.Dataset.range(3).with_options(options))
    assert dataset.options().autotune.enabled is False
    assert dataset.options().deterministic is False
    assert list(dataset.as_numpy_iterator()) == [0, 1, 2]


def test_untuning_does_nothing_on_a_keras_without_that_method_or_module(monkeypatch):
    name = "keras.src.trainers.data_adapters.array_data_adapter"
    module = types.ModuleType(name)
    module.ArrayDataAdapter = type("ArrayDataAdapter", (), {})  # no get_tf_dataset
    monkeypatch.setitem(sys.modules, name, module)
    runtime._untune_keras_array_pipelines()
    assert "get_tf_dataset" not in vars(module.ArrayDataAdapter)
    monkeypatch.setitem(sys.modules, name, None)  # no such module: ImportError
    runtime._untune_keras_array_pipelines()


@pytest.mark.parametrize(("low", "high"), [(-0.1, 0.5), (0.6, 0.5), (0.5, 1.01)])
def test_expect_accuracy_checks_its_band(low, high):
    message = f"need 0 <= low <= high <= 1. Received: low={low!r}, high={high!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        runtime.expect_accuracy(0.5, low, high)


def test_expect_accuracy_includes_both_ends_of_the_band(monkeypatch, recorded_results, capsys):
    monkeypatch.setenv("CNNBOOK_SMOKE", "0")
    runtime.expect_accuracy(0.45, low=0.45, high=0.60)
    runtime.expect_accuracy(0.60, low=0.45, high=0.60)
    runtime.expect_accuracy(0.0, low=0.0, high=0.0)
    runtime.expect_accuracy(1.0, low=1.0)
    assert capsys.readouterr().out.count("lies in the expected band") == 4
    assert [result["held"] for result in recorded_results()] == [True] * 4


def test_a_result_recorded_before_keras_is_imported_says_float32(
    monkeypatch, recorded_results, keras, restore_policy
):
    monkeypatch.setattr(runtime, "describe_device", lambda: "CPU only")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    runtime._record_result(accuracy=0.5)
    monkeypatch.delitem(sys.modules, "keras")
    runtime._record_result(accuracy=0.6)
    first, second = recorded_results()
    assert (first["precision"], second["precision"]) == ("mixed_bfloat16", "float32")


def test_value_and_gradients_gives_the_value_and_one_gradient_per_variable(keras):
    # The tests' backend, in this process; tests/test_backends.py runs JAX's and PyTorch's.
    weights = keras.Variable(np.array([1.0, -2.0], "float32"))
    offset = keras.Variable(np.array(0.5, "float32"))
    x = np.array([3.0, 4.0], "float32")
    value, gradients = runtime.value_and_gradients(
        lambda: keras.ops.sum(weights * weights * x) + offset * offset, [weights, offset]
    )
    assert isinstance(value, float) and value == pytest.approx(3.0 + 16.0 + 0.25)
    assert all(isinstance(gradient, np.ndarray) for gradient in gradients)
    np.testing.assert_allclose(gradients[0], [6.0, -16.0])  # 2 w x
    np.testing.assert_allclose(gradients[1], 1.0)  # 2 b


def test_import_tensorflow_sets_its_quiet_defaults_and_keeps_a_readers(monkeypatch, tf):
    # In this process too (TensorFlow is imported already: only the settings are new).
    for name in ("TF_CPP_MIN_LOG_LEVEL", "OMP_WAIT_POLICY"):
        monkeypatch.setenv(name, "")  # so that monkeypatch puts back what was there
        monkeypatch.delenv(name)
    runtime.import_tensorflow()
    assert (os.environ["TF_CPP_MIN_LOG_LEVEL"], os.environ["OMP_WAIT_POLICY"]) == ("3", "PASSIVE")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    runtime.import_tensorflow()
    assert (os.environ["TF_CPP_MIN_LOG_LEVEL"], os.environ["OMP_WAIT_POLICY"]) == ("1", "ACTIVE")


@pytest.mark.parametrize("backend_name", ["tensorflow", "jax", "torch"])
def test_import_keras_prepares_each_backend_its_way(monkeypatch, keras, backend_name):
    calls = []
    monkeypatch.setattr(runtime, "backend", lambda: backend_name)
    monkeypatch.setattr(runtime, "import_tensorflow", lambda: calls.append("tensorflow"))
    monkeypatch.setattr(runtime, "_untune_keras_array_pipelines", lambda: calls.append("untune"))
    monkeypatch.setattr(runtime, "full_float32_products", lambda full: calls.append(full))
    int64 = "Explicitly requested dtype int64 requested in ShapeDtypeStruct is not available"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if backend_name == "tensorflow":
            assert runtime.import_keras() is keras
        else:  # Keras runs on TensorFlow here: import_keras says so, after its preparations
            with pytest.raises(RuntimeError, match="already imported on the tensorflow"):
                runtime.import_keras()
        warnings.warn(int64, UserWarning, stacklevel=1)
        warnings.warn(int64, RuntimeWarning, stacklevel=1)  # only the UserWarning is silenced
        warnings.warn("another warning", UserWarning, stacklevel=1)
    # TensorFlow imported quietly and its array pipelines untuned, on TensorFlow only, then
    # float32 products in float32 under the float32 policy; JAX's int64 warning silenced,
    # on JAX only.
    assert calls == (["tensorflow", "untune", True] if backend_name == "tensorflow" else [])
    silenced = backend_name == "jax"
    expected = [int64, "another warning"] if silenced else [int64, int64, "another warning"]
    assert [str(warning.message) for warning in caught] == expected


class FakeVariable:
    """A Keras variable as value_and_gradients uses it: ``.value``, which a
    ``StatelessScope`` (below) replaces while it is entered."""

    scope = None

    def __init__(self, value):
        self.stored = np.asarray(value, dtype=float)

    @property
    def value(self):
        return FakeVariable.scope[id(self)] if FakeVariable.scope else self.stored


class FakeStatelessScope:
    def __init__(self, state_mapping):
        self.mapping = {id(variable): value for variable, value in state_mapping}

    def __enter__(self):
        FakeVariable.scope = self.mapping

    def __exit__(self, *exception):
        FakeVariable.scope = None


def fake_keras_on(name):
    return types.SimpleNamespace(
        backend=types.SimpleNamespace(backend=lambda: name),
        ops=types.SimpleNamespace(convert_to_numpy=np.asarray),
        StatelessScope=FakeStatelessScope,
    )


def finite_difference_value_and_grad(function):
    """jax.value_and_grad for the fake: the value, and forward differences (exact for the
    linear functions below)."""

    def both(values):
        value = function(values)
        gradients = []
        for i, x in enumerate(values):
            gradient = np.zeros_like(x)
            for index in np.ndindex(x.shape):
                moved = [y.copy() for y in values]
                moved[i][index] += 1.0
                gradient[index] = function(moved) - value
            gradients.append(gradient)
        return value, gradients

    return both


@pytest.mark.parametrize("backend_name", ["jax", "torch"])
def test_value_and_gradients_takes_each_backends_way(monkeypatch, backend_name):
    # The backends' own gradients are tested in a fresh Python (tests/test_backends.py);
    # here, with fakes, what value_and_gradients asks of each.
    monkeypatch.setattr(runtime, "import_keras", lambda: fake_keras_on(backend_name))
    weights, offset = FakeVariable([1.0, -2.0]), FakeVariable(0.5)
    asked = []

    def grad(value, inputs):
        asked.append((value, inputs))
        return [np.full_like(x, 7.0) for x in inputs]

    jax = types.SimpleNamespace(value_and_grad=finite_difference_value_and_grad)
    torch = types.SimpleNamespace(autograd=types.SimpleNamespace(grad=grad))
    monkeypatch.setitem(sys.modules, "jax", jax)
    monkeypatch.setitem(sys.modules, "torch", torch)
    value, gradients = runtime.value_and_gradients(
        lambda: 5.0 * weights.value.sum() + 7.0 * offset.value, [weights, offset]
    )
    assert value == pytest.approx(5.0 * -1.0 + 7.0 * 0.5)
    np.testing.assert_allclose(gradients[0], [5.0, 5.0] if backend_name == "jax" else 7.0)
    np.testing.assert_allclose(gradients[1], 7.0)
    if backend_name == "torch":  # the value computed, and the variables' tensors
        [(value_asked, inputs)] = asked
        assert value_asked == pytest.approx(value)
        assert inputs[0] is weights.stored and inputs[1] is offset.stored
