"""cnnbook.nn's optimizers and schedules against Keras's of the same name, step by step, on
every Keras backend; and their behavior, vectorization and argument checks. Also the
fast recipe's FastSGD (chapter 9d) against PyTorch's SGD, inside ``fit`` on every backend."""

import numpy as np
import pytest

from cnnbook import nn
from cnnbook.nn import (
    SGD,
    Adam,
    AdamW,
    CosineDecay,
    InverseTimeDecay,
    LinearWarmup,
    PiecewiseConstantDecay,
    TriangularSchedule,
)

# Runs in a fresh Python under each backend (conftest's run_under_backend). Each case
# builds our optimizer and Keras's from the same arguments, applies 20 steps of the same
# gradients to three float32 variables, and compares the weights after every step.
KERAS_CHECK = """
import numpy as np
import cnnbook
from cnnbook import nn
from cnnbook.keras.fast_training import TriangularSchedule as KerasTriangular

keras = cnnbook.import_keras()
schedules = keras.optimizers.schedules
STEPS, SHAPES = 20, [(3, 2), (2,), (2, 1, 3)]


def optimizer_cases():
    inverse = (nn.InverseTimeDecay(0.1, 1, 0.5), schedules.InverseTimeDecay(0.1, 1, 0.5))
    pieces = ([5, 12], [0.01, 0.003, 0.001])
    piecewise = (nn.PiecewiseConstantDecay(*pieces), schedules.PiecewiseConstantDecay(*pieces))
    cosine_args = dict(alpha=0.1, warmup_target=0.2, warmup_steps=5)
    cosine = (nn.CosineDecay(0.0, 10, **cosine_args), schedules.CosineDecay(0.0, 10, **cosine_args))
    K = keras.optimizers
    # (name, ours, Keras's, gradient scale)
    return [
        ("SGD", nn.SGD(0.1), K.SGD(0.1), 1.0),
        ("SGD momentum", nn.SGD(0.1, momentum=0.9), K.SGD(0.1, momentum=0.9), 1.0),
        ("SGD Nesterov", nn.SGD(0.1, 0.9, nesterov=True), K.SGD(0.1, 0.9, nesterov=True), 1.0),
        ("SGD inverse time", nn.SGD(inverse[0], 0.5), K.SGD(inverse[1], 0.5), 1.0),
        ("SGD Nesterov cosine decay", nn.SGD(cosine[0], 0.9, True, weight_decay=0.05),
         K.SGD(cosine[1], 0.9, True, weight_decay=0.05), 1.0),
        ("Adam", nn.Adam(), K.Adam(), 1.0),
        ("Adam tiny gradients", nn.Adam(0.01), K.Adam(0.01), 1e-6),
        ("Adam large epsilon", nn.Adam(0.01, 0.8, 0.99, epsilon=0.5),
         K.Adam(0.01, 0.8, 0.99, epsilon=0.5), 1.0),
        ("Adam step decay", nn.Adam(piecewise[0]), K.Adam(piecewise[1]), 1.0),
        ("AdamW", nn.AdamW(), K.AdamW(), 1.0),
        ("AdamW cosine decay", nn.AdamW(cosine[0], weight_decay=0.1),
         K.AdamW(cosine[1], weight_decay=0.1), 1.0),
    ]


def schedule_cases():
    warm = dict(warmup_target=0.2, warmup_steps=10)
    return [
        (nn.PiecewiseConstantDecay([10, 30], [0.1, 0.01, 0.001]),
         schedules.PiecewiseConstantDecay([10, 30], [0.1, 0.01, 0.001])),
        (nn.InverseTimeDecay(0.1, 7, 0.5), schedules.InverseTimeDecay(0.1, 7, 0.5)),
        (nn.InverseTimeDecay(0.1, 7, 0.5, staircase=True),
         schedules.InverseTimeDecay(0.1, 7, 0.5, staircase=True)),
        (nn.CosineDecay(0.1, 40, alpha=0.1), schedules.CosineDecay(0.1, 40, alpha=0.1)),
        (nn.CosineDecay(0.0, 40, **warm), schedules.CosineDecay(0.0, 40, **warm)),
        (nn.CosineDecay(0.05, 40, 0.1, **warm), schedules.CosineDecay(0.05, 40, 0.1, **warm)),
        (nn.LinearWarmup(nn.CosineDecay(0.2, 40, alpha=0.1), 10, 0.05),
         schedules.CosineDecay(0.05, 40, alpha=0.1, **warm)),
        # A warm-up to a constant: a cosine that decays to alpha = 1 times its start.
        (nn.LinearWarmup(0.2, 10), schedules.CosineDecay(0.0, 1, alpha=1.0, **warm)),
        (nn.TriangularSchedule(0.4, 40), KerasTriangular(0.4, 40)),
    ]


def numpy_of(value):
    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


rng = np.random.default_rng(0)
start = [rng.normal(size=shape).astype("float32") for shape in SHAPES]
gradient_steps = [[rng.normal(size=shape).astype("float32") for shape in SHAPES]
                  for _ in range(STEPS)]
largest = {}
for name, ours, theirs, scale in optimizer_cases():
    weights = [w.copy() for w in start]
    variables = [keras.Variable(w) for w in start]
    worst = 0.0
    for step, gradients in enumerate(gradient_steps):
        gradients = [(g * scale).astype("float32") for g in gradients]
        ours.apply(weights, gradients)
        theirs.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in gradients], variables))
        for mine, variable in zip(weights, variables):
            assert mine.dtype == np.float32, (name, mine.dtype)
            expected = numpy_of(variable)
            # Within 1e-6, relative to the weights' size where they exceed 1.
            error = np.max(np.abs(mine - expected)) / max(1.0, np.max(np.abs(expected)))
            assert error < 1e-6, (name, step, error)
            worst = max(worst, error)
    assert ours.iterations == int(numpy_of(theirs.iterations)) == STEPS
    largest[name] = worst
for index, (ours, theirs) in enumerate(schedule_cases()):
    steps = np.arange(60)
    expected = np.array([numpy_of(theirs(int(step))) for step in steps])
    np.testing.assert_allclose(ours(steps), expected, rtol=1e-6, atol=1e-8, err_msg=str(index))
    np.testing.assert_allclose([ours(int(step)) for step in steps], ours(steps), rtol=1e-12)
print(len(largest), "optimizers,", len(schedule_cases()), "schedules;",
      "largest difference", max(largest.values()))
print("ok", keras.backend.backend())
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_optimizers_and_schedules_equal_keras_step_by_step(backend, run_under_backend):
    output = run_under_backend(backend, KERAS_CHECK)
    assert output.split()[-2:] == ["ok", backend]
    assert output.startswith("11 optimizers, 9 schedules;")


def test_on_tensorflow_optimizers_and_schedules_equal_keras_step_by_step(keras, capsys):
    # The tests' own backend, in this process (where tools/mutation.py sees what it runs).
    exec(compile(KERAS_CHECK, "KERAS_CHECK", "exec"), {"__name__": "keras_check"})
    output = capsys.readouterr().out
    assert output.split()[-2:] == ["ok", "tensorflow"]
    assert output.startswith("11 optimizers, 9 schedules;")


# FastSGD matches variables to their settings by Keras's private _var_key and
# _get_variable_index, which each backend's training step must honor (TensorFlow hands
# update_step the tf.Variable inside the Keras one; JAX applies the optimizer statelessly
# inside its compiled step). So the whole optimizer, with a schedule, a scaled variable, a
# stopped one and the lookahead, trains inside fit on each backend (compiled, but eager on
# PyTorch), against PyTorch's formulas followed in NumPy. (Here, not in
# test_fast_training.py, because `make test` runs this file on PyTorch too.)
FAST_SGD_CHECK = """
import numpy as np
import cnnbook
from cnnbook.keras import fast_training as fast
from cnnbook.runtime import backend

keras = cnnbook.import_keras()
ops = keras.ops
STEPS, BATCH, EVERY, M = 20, 4, 5, 0.85
TOTAL = STEPS - 2 * EVERY  # the schedule and the lookahead end early: both hold after
rng = np.random.default_rng(0)
x = rng.normal(size=(STEPS * BATCH, 3)).astype("float32")
starts = [rng.normal(size=s).astype("float32") for s in [(3, 1), (1,), (3, 1), (1,)]]

# out = a(x) + b(x), loss = mean(out): each batch's gradients are the batch mean of x for
# the kernels and 1 for the biases, whatever the weights, so PyTorch's formulas can be
# followed in NumPy below.
inputs = keras.Input((3,))
a, b = keras.layers.Dense(1, name="a"), keras.layers.Dense(1, name="b")
model = keras.Model(inputs, keras.layers.Add()([a(inputs), b(inputs)]))
for variable, start in zip([a.kernel, a.bias, b.kernel, b.bias], starts):
    variable.assign(start)
schedule = fast.TriangularSchedule(0.5, total_steps=TOTAL)
lookahead = fast.Lookahead(total_steps=TOTAL, every=EVERY)
optimizer = fast.FastSGD(
    schedule,
    momentum=M,
    l2=0.01,
    scaled_variables=[a.bias],
    scale=8.0,
    scaled_l2=0.002,
    stop_after=[(b.kernel, 3)],
    lookahead=lookahead,
)
model.compile(
    optimizer=optimizer,
    loss=lambda y_true, y_pred: ops.mean(y_pred),
    steps_per_execution=1 if backend() == "torch" else 4,
)
model.fit(x, np.zeros(len(x), "float32"), batch_size=BATCH, shuffle=False, verbose=0)
optimizer.finish_lookahead()

# PyTorch's SGD(nesterov=True, weight_decay=l2) and airbench's lookahead, in float64,
# with airbench's rates (np.interp, which holds its last value) and its decay, held at
# the last step's past TOTAL.
weights = [s.astype(np.float64) for s in starts]
buffers = [np.zeros_like(w) for w in weights]
warmup = int(0.23 * TOTAL)
rates = 0.5 * np.interp(np.arange(STEPS), [0, warmup, TOTAL], [0.2, 1.0, 0.07])
settings = [(1.0, 0.01, None), (8.0, 0.002, None), (1.0, 0.01, 3), (1.0, 0.01, None)]
average = [w.copy() for w in weights]
for step in range(STEPS):
    batch = x[step * BATCH : (step + 1) * BATCH].astype(np.float64)
    gradients = [batch.mean(0)[:, None], np.ones(1), batch.mean(0)[:, None], np.ones(1)]
    for i, (scale, l2, stop) in enumerate(settings):
        if stop is not None and step >= stop:
            continue
        g = gradients[i] + l2 * weights[i]
        buffers[i] = M * buffers[i] + g
        weights[i] = weights[i] - rates[step] * scale * (g + M * buffers[i])
    if (step + 1) % EVERY == 0:
        decay = 0.95**5 * (min(step + 1, TOTAL) / TOTAL) ** 3
        average = [v + (1 - decay) * (w - v) for v, w in zip(average, weights)]
        weights = [v.copy() for v in average]
trained = [ops.convert_to_numpy(v) for v in [a.kernel, a.bias, b.kernel, b.bias]]
names = ["kernel", "scaled bias", "stopped kernel", "bias"]
for name, got, expected, start in zip(names, trained, average, starts):
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=name)
    assert not np.allclose(got, start), name
print("ok", keras.backend.backend())
"""


@pytest.mark.parametrize("backend", ["jax", "tensorflow", "torch"])
def test_fast_sgd_inside_fit_steps_as_nesterov_sgd_on_every_backend(backend, run_under_backend):
    output = run_under_backend(backend, FAST_SGD_CHECK)
    assert output.split()[-2:] == ["ok", backend]


def quadratic_gradient(weights, curvatures=(1.0, 20.0)):
    """The gradient of L(w) = (1/2) sum_i curvature_i w_i^2."""
    return [np.asarray(curvatures) * weights[0]]


def run(optimizer, steps, start=(-4.0, 1.0)):
    weights = [np.array(start)]
    path = [weights[0].copy()]
    for _ in range(steps):
        optimizer.apply(weights, quadratic_gradient(weights))
        path.append(weights[0].copy())
    return np.array(path)


def test_momentum_reaches_the_step_of_learning_rate_over_one_minus_momentum():
    for nesterov in (False, True):
        weights = [np.zeros(1)]
        optimizer = SGD(0.01, momentum=0.9, nesterov=nesterov)
        for _ in range(300):
            before = weights[0].copy()
            optimizer.apply(weights, [np.ones(1)])
        assert before[0] - weights[0][0] == pytest.approx(0.01 / (1 - 0.9))


def test_nesterov_iterates_are_the_look_ahead_points_of_sutskevers_form():
    # Sutskever et al.: v = mu v - lr grad(w + mu v); w = w + v. Keras's form tracks
    # u = w + mu v, the point where the gradient is taken.
    momentum, rate = 0.9, 0.02
    path = run(SGD(rate, momentum, nesterov=True), 30)
    w, v = np.array([-4.0, 1.0]), np.zeros(2)
    for step in range(30):
        v = momentum * v - rate * quadratic_gradient([w + momentum * v])[0]
        w = w + v
        np.testing.assert_allclose(path[step + 1], w + momentum * v, atol=1e-12)


def test_plain_sgd_is_stable_below_two_over_the_largest_curvature():
    assert np.abs(run(SGD(0.095), 300)[-1]).max() < 1e-3
    assert np.abs(run(SGD(0.105), 300)[-1]).max() > 1.0


def test_adam_follows_its_equations_and_its_step_ignores_the_gradient_scale():
    gradients = np.random.default_rng(0).normal(size=(5, 4))
    weights, optimizer = [np.zeros(4)], Adam(0.01, epsilon=1e-12)
    m = v = np.zeros(4)
    expected = np.zeros(4)
    for t, gradient in enumerate(gradients, start=1):
        m = 0.9 * m + 0.1 * gradient
        v = 0.999 * v + 0.001 * gradient**2
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        expected -= 0.01 * m_hat / np.sqrt(v_hat)
        optimizer.apply(weights, [gradient])
        np.testing.assert_allclose(weights[0], expected, rtol=1e-9)
    scaled = [np.zeros(4)]
    again = Adam(0.01, epsilon=1e-12)
    for gradient in gradients:
        again.apply(scaled, [1000 * gradient])
    np.testing.assert_allclose(scaled[0], weights[0], rtol=1e-9)


def test_adamw_is_adam_after_shrinking_the_weights():
    rng = np.random.default_rng(1)
    decayed, plain = [np.ones(3)], [np.ones(3)]
    adamw, adam = AdamW(0.1, weight_decay=0.2), Adam(0.1)
    for _ in range(5):
        gradient = rng.normal(size=3)
        adamw.apply(decayed, [gradient])
        plain[0] *= 1 - 0.1 * 0.2
        adam.apply(plain, [gradient])
    np.testing.assert_allclose(decayed[0], plain[0])
    assert Adam(weight_decay=0.2).weight_decay == 0.2


def test_every_optimizer_trains_a_network_through_fit():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=120)
    x = rng.normal(scale=0.3, size=(120, 4, 4, 1)).astype("float32")
    x[np.arange(120), y, y, 0] += 3.0
    for optimizer in (SGD(0.1, 0.9, nesterov=True), Adam(0.01), AdamW(0.01)):
        model = nn.Sequential([nn.Flatten(), nn.Dense(3, activation="softmax")], (4, 4, 1))
        history = model.fit(x, y, epochs=5, batch_size=16, optimizer=optimizer, verbose=0)
        assert history["accuracy"][-1] > 0.95, type(optimizer).__name__
        assert optimizer.iterations == 5 * 8
        assert all(w.dtype == np.float32 for w in model.trainable_weights)


def test_schedules_take_arrays_and_match_their_formulas():
    steps = np.arange(0, 101)
    assert PiecewiseConstantDecay([10], [1.0, 0.5])(steps).tolist() == [1.0] * 11 + [0.5] * 90
    cosine = CosineDecay(1.0, 100, alpha=0.2)
    np.testing.assert_allclose(cosine(steps), 0.2 + 0.8 * 0.5 * (1 + np.cos(np.pi * steps / 100)))
    assert cosine(250) == pytest.approx(0.2)
    warm = LinearWarmup(InverseTimeDecay(1.0, 1, 0.1), warmup_steps=20, initial_learning_rate=0.5)
    np.testing.assert_allclose(warm(steps[:21]), 0.5 + 0.5 * steps[:21] / 20)
    np.testing.assert_allclose(warm(steps[20:]), 1.0 / (1 + 0.1 * (steps[20:] - 20)))
    triangle = TriangularSchedule(2.0, 100, warmup_fraction=0.2, start=0.1, end=0.0)
    np.testing.assert_allclose(triangle(steps), np.interp(steps, [0, 20, 100], [0.2, 2.0, 0.0]))
    assert isinstance(triangle(3), float) and isinstance(cosine(np.int64(3)), float)


def test_a_schedule_drives_the_learning_rate_step_by_step():
    schedule = PiecewiseConstantDecay([1], [0.5, 0.1])
    weights, optimizer = [np.zeros(1)], SGD(schedule)
    for _ in range(3):
        assert optimizer.current_learning_rate() == schedule(optimizer.iterations)
        optimizer.apply(weights, [np.ones(1)])
    assert weights[0][0] == pytest.approx(-(0.5 + 0.5 + 0.1))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD(learning_rate=-1), r"learning_rate must be positive or a schedule\. "
                                        r"Received: learning_rate=-1"),
        (lambda: SGD(learning_rate="fast"), r"Received: learning_rate='fast'"),
        (lambda: SGD(momentum=1.0), r"momentum must be in \[0, 1\)\. Received: momentum=1.0"),
        (lambda: SGD(weight_decay=-0.1), r"weight_decay must be >= 0\. Received: weight_decay"),
        (lambda: Adam(beta_1=1.0), r"beta_1 must be in \[0, 1\)\. Received: beta_1=1.0"),
        (lambda: Adam(beta_2=-0.5), r"beta_2 must be in \[0, 1\)"),
        (lambda: Adam(epsilon=0), r"epsilon must be positive\. Received: epsilon=0"),
        (lambda: AdamW(weight_decay=None), r"weight_decay must be >= 0\. Received: .*=None"),
        (lambda: PiecewiseConstantDecay([10, 20], [0.1]), r"boundaries=\[10, 20\] of length 2"),
        (lambda: PiecewiseConstantDecay([20, 10], [1, 2, 3]), r"boundaries must increase"),
        (lambda: InverseTimeDecay(0.1, 0, 0.5), r"decay_steps must be positive\. Received: .*=0"),
        (lambda: CosineDecay(0.1, 100, alpha=2.0), r"alpha must be in \[0, 1\]"),
        (lambda: CosineDecay(0.1, 9, warmup_target=0.2, warmup_steps=-1), r"warmup_steps must be"),
        (lambda: LinearWarmup(-0.1, 10), r"target must be >= 0 or a schedule"),
        (lambda: TriangularSchedule(0.1, 1), r"total_steps must be at least 2\. Received: .*=1"),
        (lambda: TriangularSchedule(0.1, 10, warmup_fraction=1.0), r"warmup_fraction must be in"),
    ],
)  # fmt: skip
def test_bad_arguments_are_reported_keras_style(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_mismatched_gradient_list_is_reported():
    with pytest.raises(ValueError, match=r"one gradient per weight array \(2\)\. Received: 1"):
        Adam().apply([np.zeros(2), np.zeros(3)], [np.zeros(2)])


# ---- every argument check, word for word, and the values at its boundary ---------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD(learning_rate=0), "learning_rate must be positive or a schedule. "
                                       "Received: learning_rate=0"),
        (lambda: SGD(weight_decay=-0.1), "weight_decay must be >= 0. Received: weight_decay=-0.1"),
        (lambda: SGD(momentum=-0.1), "momentum must be in [0, 1). Received: momentum=-0.1"),
        (lambda: SGD(momentum=1.0), "momentum must be in [0, 1). Received: momentum=1.0"),
        (lambda: Adam(beta_1=-0.1), "beta_1 must be in [0, 1). Received: beta_1=-0.1"),
        (lambda: Adam(beta_2=1.0), "beta_2 must be in [0, 1). Received: beta_2=1.0"),
        (lambda: Adam(epsilon=0.0), "epsilon must be positive. Received: epsilon=0.0"),
        (lambda: AdamW(weight_decay=-0.1),
         "weight_decay must be >= 0. Received: weight_decay=-0.1"),
        (lambda: PiecewiseConstantDecay([10, 20], [0.1]),
         "The length of boundaries should be 1 less than the length of values. Received: "
         "boundaries=[10, 20] of length 2, and values=[0.1] of length 1."),
        (lambda: PiecewiseConstantDecay([10, 10], [1, 2, 3]),
         "boundaries must increase. Received: boundaries=[10, 10]"),
        (lambda: InverseTimeDecay(0.1, 0, 0.5),
         "decay_steps must be positive. Received: decay_steps=0"),
        (lambda: InverseTimeDecay(0.1, 1, -0.5),
         "decay_rate must be >= 0. Received: decay_rate=-0.5"),
        (lambda: LinearWarmup(-0.1, 10),
         "target must be >= 0 or a schedule. Received: target=-0.1"),
        (lambda: LinearWarmup(0.1, -1), "warmup_steps must be >= 0. Received: warmup_steps=-1"),
        (lambda: TriangularSchedule(0.0, 10), "peak must be positive. Received: peak=0.0"),
        (lambda: TriangularSchedule(0.1, 1),
         "total_steps must be at least 2. Received: total_steps=1"),
        (lambda: TriangularSchedule(0.1, 10, warmup_fraction=-0.1),
         "warmup_fraction must be in [0, 1). Received: warmup_fraction=-0.1"),
        (lambda: TriangularSchedule(0.1, 10, warmup_fraction=1.0),
         "warmup_fraction must be in [0, 1). Received: warmup_fraction=1.0"),
        (lambda: CosineDecay(0.1, 0), "decay_steps must be positive. Received: decay_steps=0"),
        (lambda: CosineDecay(0.1, 9, alpha=-0.1), "alpha must be in [0, 1]. Received: alpha=-0.1"),
        (lambda: CosineDecay(0.1, 9, alpha=1.1), "alpha must be in [0, 1]. Received: alpha=1.1"),
        (lambda: CosineDecay(0.1, 9, warmup_target=0.2, warmup_steps=-1),
         "warmup_steps must be >= 0. Received: warmup_steps=-1"),
    ],
)  # fmt: skip
def test_each_bad_argument_gets_its_whole_message(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value) == message


def test_the_values_at_each_boundary_are_accepted():
    SGD(learning_rate=1e-12, momentum=0.0, weight_decay=0.0)
    Adam(beta_1=0.0, beta_2=0.0, epsilon=1e-30)
    AdamW(weight_decay=0.0)
    PiecewiseConstantDecay([10, 11], [1, 2, 3])
    InverseTimeDecay(0.1, 1e-9, 0.0)
    assert LinearWarmup(0.0, 0)(0) == 0.0
    assert LinearWarmup(0.5, 0)(0) == 0.5  # no warm-up: the target from the first step
    assert TriangularSchedule(1.0, 2, warmup_fraction=0.0)(0) == pytest.approx(0.2)
    assert CosineDecay(1.0, 1e-9, alpha=0.0)(1) == 0.0
    assert CosineDecay(1.0, 1, alpha=1.0, warmup_steps=0)(5) == 1.0


def test_schedules_default_arguments():
    assert [LinearWarmup(0.1, 10)(step) for step in (0, 5, 10, 11)] == [0.0, 0.05, 0.1, 0.1]
    default = TriangularSchedule(1.0, 100)  # rises over 23 steps from 0.2, falls to 0.07
    assert default(0) == pytest.approx(0.2) and default(23) == 1.0
    assert default(100) == pytest.approx(0.07)
    assert default(101) == default(1000) == pytest.approx(0.07)  # and stays there
    assert CosineDecay(1.0, 10)(10) == pytest.approx(0.0)  # alpha=0: down to nothing
    assert CosineDecay(0.0, 10, warmup_target=1.0)(0) == 1.0  # no warm-up by default


def test_a_short_triangle_rises_for_at_least_one_step():
    schedule = TriangularSchedule(1.0, 4, warmup_fraction=0.25)  # 4 * 0.25: one step up
    np.testing.assert_allclose(schedule(np.arange(5)), [0.2, 1.0, 0.69, 0.38, 0.07])


def test_adam_and_adamw_default_arguments():
    weights = [np.zeros(2)]
    Adam().apply(weights, [np.array([3.0, -0.5])])  # the first step: learning_rate 0.001
    np.testing.assert_allclose(weights[0], [-0.001, 0.001], rtol=1e-4)
    weights = [np.ones(2)]
    AdamW().apply(weights, [np.zeros(2)])  # only the decay: 1 - 0.001 * 0.004
    np.testing.assert_allclose(weights[0], 1 - 0.001 * 0.004, rtol=1e-12)


# Runs in a fresh Python under each backend (conftest's run_under_backend): each backend
# takes its own path through cnnbook.keras.training.schedule_values.
SCHEDULE_VALUES_CHECK = """
import numpy as np
import cnnbook
from cnnbook.keras.fast_training import TriangularSchedule
from cnnbook.keras.training import schedule_values, warmup_cosine_schedule

keras = cnnbook.import_keras()
for schedule in (warmup_cosine_schedule(0.2, total_steps=24), TriangularSchedule(0.2, 24)):
    per_step = np.array([float(schedule(step)) for step in range(30)])  # past the end too
    values = schedule_values(schedule, 30)
    assert values.dtype == np.float64 and values.shape == (30,), (values.dtype, values.shape)
    np.testing.assert_allclose(values, per_step, rtol=1e-6, atol=1e-7)
    chosen = np.array([27, 0, 9, 9, 23, 3])  # any order, repeated, past the end
    values = schedule_values(schedule, chosen)
    np.testing.assert_allclose(values, per_step[chosen], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(schedule_values(schedule, [5]), per_step[[5]], rtol=1e-6)
calls = []
def counted(step):
    calls.append(step)
    return schedule(step)
schedule_values(counted, 30)
# One vectorized call, except on PyTorch, where torch.vmap cannot map a data-dependent cond.
assert len(calls) == (30 if keras.backend.backend() == "torch" else 1), len(calls)
print("ok", keras.backend.backend())
"""


def test_schedule_values_equal_the_schedule_step_by_step(backend, run_under_backend):
    assert run_under_backend(backend, SCHEDULE_VALUES_CHECK).split()[-2:] == ["ok", backend]
