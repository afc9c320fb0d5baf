"""The fast recipe's optimizer (chapter 9d, sections 3 and 4): SGD and lookahead.

:class:`FastSGD` is Nesterov SGD in PyTorch's form, with the weight decay in the
gradient, a larger learning rate for some variables and, optionally, the lookahead in
its step; :class:`TriangularSchedule` is airbench's learning rate; :class:`Lookahead` is
the readable version of the lookahead, a callback.
"""

import numbers

from cnnbook._arguments import is_int, real_in
from cnnbook.runtime import import_keras

keras = import_keras()
ops = keras.ops


@keras.saving.register_keras_serializable(package="cnnbook")
class TriangularSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``start * peak`` to ``peak``, then linear decay to ``end * peak``.

    airbench94's schedule: the warm-up takes the first 23% of the steps. Past
    ``total_steps`` the rate stays at ``end * peak``, as ``np.interp`` would hold it
    (airbench's table of rates ends there): a benchmark that times more steps than its
    schedule counts trains on at the last rate, never at a negative one.
    """

    def __init__(self, peak, total_steps, warmup_fraction=0.23, start=0.2, end=0.07):
        if not is_int(total_steps) or total_steps < 2:
            raise ValueError(
                f"total_steps must be an int of at least 2. Received: total_steps={total_steps!r}"
            )
        self.peak = real_in(peak, "peak", 0, low_open=True)
        self.total_steps = int(total_steps)
        self.warmup_fraction = real_in(warmup_fraction, "warmup_fraction", 0, 1, high_open=True)
        self.start = float(start)
        self.end = float(end)

    def __call__(self, step):
        step = ops.minimum(ops.cast(step, "float32"), float(self.total_steps))
        warmup = max(1, int(self.total_steps * self.warmup_fraction))
        rising = self.start + (1.0 - self.start) * step / warmup
        falling = 1.0 + (self.end - 1.0) * (step - warmup) / (self.total_steps - warmup)
        return self.peak * ops.where(step < warmup, rising, falling)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction,
            "start": self.start,
            "end": self.end,
        }


class FastSGD(keras.optimizers.SGD):
    """PyTorch's Nesterov SGD with L2 added to the gradient, a second learning rate,
    variables that stop training after a number of steps, and an optional lookahead.

    Differs from ``keras.optimizers.SGD`` as airbench (and PyTorch's
    ``SGD(nesterov=True, weight_decay=...)``) does:

    - ``l2 * weight`` is added to each gradient *before* momentum, so the decay is
      carried by the momentum like the gradient (Keras's own ``weight_decay`` is
      decoupled and is not);
    - the momentum buffer is kept in gradient units, as PyTorch keeps it:
      ``b <- momentum * b + g``, ``w <- w - lr * (g + momentum * b)``. Keras's SGD keeps
      a velocity in step units (``v <- momentum * v - lr * g``), which is the same
      only while the learning rate is constant; under a schedule the velocity carries
      the old, different rates;
    - the variables in ``scaled_variables`` (the batch-normalization biases) train
      with the learning rate times ``scale`` and their own ``scaled_l2``;
    - a variable paired with a number of steps in ``stop_after`` (the whitening bias)
      stops changing after that many steps. (Making it untrainable instead would
      change the list of trained variables, which the JAX backend does not allow
      after training starts.)
    - with ``lookahead`` (a :class:`Lookahead`), every ``lookahead.every`` steps each
      trained variable's running average moves toward it and the variable is reset to
      the average, inside the compiled step (the callback does the same on the host,
      between steps). :meth:`finish_lookahead` copies the averages in at the end.

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule
    momentum : float
        In (0, 1).
    l2 : float
    scaled_variables : list of keras.Variable
    scale, scaled_l2 : float
    stop_after : list of (keras.Variable, int) pairs, optional
    lookahead : Lookahead, optional
        Its ``every``, ``total_steps`` and :meth:`Lookahead.decay` are used; only the
        trained variables are averaged (the callback also averages batch
        normalization's running statistics, which an optimizer does not see).
    """

    def __init__(
        self,
        learning_rate,
        momentum,
        l2,
        scaled_variables=(),
        scale=1.0,
        scaled_l2=0.0,
        stop_after=None,
        lookahead=None,
        **kwargs,
    ):
        real_in(momentum, "momentum", 0.0, high=1.0, low_open=True, high_open=True)
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=True, **kwargs)
        self.l2 = float(l2)
        self.scale = float(scale)
        self.scaled_l2 = float(scaled_l2)
        self.lookahead = lookahead
        # Keys, not the variables: an optimizer attribute holding variables would make
        # them the optimizer's own variables too. _var_key is how Keras's optimizers
        # match a variable on every backend (TensorFlow's update_step receives the
        # tf.Variable inside the Keras variable).
        self._scaled_keys = frozenset(self._var_key(v) for v in scaled_variables)
        self._stop_steps = {self._var_key(v): int(n) for v, n in stop_after or ()}

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.averages = []
        if self.lookahead is not None:
            # Filled at the first step (an assignment here could run inside a traced
            # function, as Keras's own moving averages avoid too).
            self.averages = [
                self.add_variable_from_reference(variable, "lookahead_average")
                for variable in variables
            ]

    def update_step(self, gradient, variable, learning_rate):
        key = self._var_key(variable)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        l2 = self.l2
        if key in self._scaled_keys:
            learning_rate = ops.multiply(learning_rate, self.scale)
            l2 = self.scaled_l2
        before = ops.convert_to_tensor(variable)
        gradient = ops.add(ops.cast(gradient, dtype), ops.multiply(before, l2))
        buffer = self.momentums[index]
        # b <- momentum * b + g;  w <- w - lr * (g + momentum * b)
        new_buffer = ops.add(ops.multiply(buffer, self.momentum), gradient)
        step = ops.multiply(
            ops.add(gradient, ops.multiply(new_buffer, self.momentum)), -learning_rate
        )
        if key in self._stop_steps:
            live = ops.less(self.iterations, self._stop_steps[key])
            new_buffer = ops.where(live, new_buffer, buffer.value)
            step = ops.where(live, step, ops.zeros_like(step))
        self.assign(buffer, new_buffer)
        value = ops.add(before, step)
        if self.lookahead is not None:
            value = self._lookahead_step(self.averages[index], before, value)
        self.assign(variable, value)

    def _lookahead_step(self, average, before, value):
        """:meth:`Lookahead.pull` of one variable, on the steps that pull; ``before``
        and ``value`` are the variable before and after this step."""
        # The average starts at the weights before the first step.
        start = ops.where(ops.equal(self.iterations, 0), before, average.value)
        done = self.iterations + 1  # steps done, this one included
        pull = ops.equal(ops.mod(done, self.lookahead.every), 0)
        decay = ops.cast(self.lookahead.decay(ops.cast(done, "float32")), value.dtype)
        moved = ops.add(start, ops.multiply(1.0 - decay, ops.subtract(value, start)))
        self.assign(average, ops.where(pull, moved, start))
        return ops.where(pull, moved, value)

    def finish_lookahead(self):
        """Copy each running average into its variable (the last step of training)."""
        for variable, average in zip(self._trainable_variables, self.averages):
            variable.assign(average)


class Lookahead(keras.callbacks.Callback):
    """Every ``every`` steps, move a running average toward the weights, then reset the
    weights to it (airbench's lookahead).

    The average moves by ``1 - decay`` of the gap, with ``decay = max_decay * (step /
    total_steps) ** 3``: little averaging early, when the weights move fast, more near
    the end; past ``total_steps`` it stays at ``max_decay``. :meth:`finish` copies the
    average into the model. All of the model's floating-point variables are averaged,
    batch normalization's statistics included. It keeps its state across several
    ``fit`` calls.
    """

    def __init__(self, total_steps, every=5, max_decay=0.95**5):
        super().__init__()
        self.total_steps = int(total_steps)
        self.every = int(every)
        self.max_decay = float(max_decay)
        self.step = 0
        self.average = None

    def decay(self, step):
        """The decay at ``step`` (of ``total_steps``): ``max_decay * (step / total) ** 3``,
        with ``step`` held at ``total_steps`` past it (a larger decay would push the
        average away from the weights)."""
        if isinstance(step, numbers.Real):  # the callback's count: a Python number
            step = min(step, self.total_steps)
        else:  # a tensor, in FastSGD's compiled step
            step = ops.minimum(step, float(self.total_steps))
        return self.max_decay * (step / self.total_steps) ** 3

    def _variables(self):
        return [v for v in self.model.weights if "float" in str(v.dtype)]

    def _sync(self):
        # On JAX, fit keeps the variables' values in its own state between steps.
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()

    def on_train_begin(self, logs=None):
        if self.average is None:
            self._sync()
            self.average = [ops.copy(v.value) for v in self._variables()]

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self.pull(self.decay(self.step))

    def pull(self, decay):
        """Average moves ``1 - decay`` of the way to the weights; weights := average."""
        self._sync()
        for index, variable in enumerate(self._variables()):
            average = self.average[index]
            average = average + (1.0 - decay) * (ops.cast(variable.value, average.dtype) - average)
            self.average[index] = average
            # A copy: on JAX, fit hands the variables' buffers to XLA to reuse.
            variable.assign(ops.copy(average))

    def finish(self):
        """Copy the average into the model (the last step of training)."""
        if self.average is not None:
            self.pull(1.0)
