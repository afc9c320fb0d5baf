"""A sequential network in NumPy: prediction, loss and gradients, and a training loop."""

import copy
import sys
import time

import numpy as np

from cnnbook.nn import layers as nn_layers
from cnnbook.nn.optimizers import SGD

__all__ = ["Sequential"]


class Sequential:
    """Layers applied one after the other, with softmax cross-entropy on integer labels.

    A layer given an ``activation`` (like Keras's ``Dense(10, activation="softmax")``)
    runs as two steps, the layer then its activation; the attribute ``steps`` lists them. The
    last step must be a softmax: the loss is the cross-entropy of its probabilities,
    and its gradient with respect to the logits is ``(probabilities - onehot) / N``.

    Parameters
    ----------
    layers : list of cnnbook.nn.layers.Layer
    input_shape : tuple of int
        Shape of one example, e.g. ``(8, 8, 1)``.
    seed : int, default 0
        Seed of the initial weights.
    dtype : str, default "float32"
        Floating type of the weights and computations (float64 for gradient checks).

    Examples
    --------
    >>> from cnnbook.nn import Dense, Flatten
    >>> model = Sequential([Flatten(), Dense(3, activation="softmax")], input_shape=(2, 2))
    >>> model.count_params(), model.predict(np.ones((5, 2, 2))).shape
    (15, (5, 3))
    """

    def __init__(self, layers, input_shape, seed=0, dtype="float32"):
        self.layers = list(layers)
        self.input_shape = tuple(input_shape)
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        shape = self.input_shape
        self.steps = []
        for layer in self.layers:
            shape = layer.build(shape, rng)
            layer.weights = [weight.astype(self.dtype) for weight in layer.weights]
            self.steps.append(layer)
            follower = nn_layers.activation(getattr(layer, "activation", None))
            if follower is not None:
                self.steps.append(follower)
        self.output_shape = shape
        if not self.steps or not isinstance(self.steps[-1], nn_layers.Softmax):
            raise ValueError(
                "the last layer must end in a softmax (e.g. Dense(10, activation='softmax')): "
                "the loss is softmax cross-entropy"
            )

    # ---- weights ------------------------------------------------------------------------

    @property
    def trainable_weights(self):
        """Every weight array, layer by layer, kernel before bias (Keras's order)."""
        return [weight for layer in self.layers for weight in layer.weights]

    def count_params(self):
        return sum(weight.size for weight in self.trainable_weights)

    def set_weights(self, weights):
        """Copy ``weights`` (arrays in :attr:`trainable_weights` order) into the model."""
        own = self.trainable_weights
        if len(weights) != len(own):
            raise ValueError(f"expected {len(own)} weight arrays, received {len(weights)}")
        for target, source in zip(own, weights):
            if target.shape != np.shape(source):
                raise ValueError(
                    f"weight of shape {target.shape} cannot take shape {np.shape(source)}"
                )
            target[...] = source

    def get_weights(self):
        return [weight.copy() for weight in self.trainable_weights]

    # ---- forward and backward -----------------------------------------------------------

    def _logits(self, x, training):
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[1:] != self.input_shape:
            raise ValueError(
                f"x must have shape (batch, {', '.join(map(str, self.input_shape))}). "
                f"Received: x.shape={x.shape}"
            )
        for step in self.steps[:-1]:
            x = step.forward(x, training)
        return x

    def predict(self, x, batch_size=256):
        """Class probabilities for ``x``, shape (N, classes), in batches."""
        batches = [
            self.steps[-1].forward(self._logits(x[start : start + batch_size], False))
            for start in range(0, len(x), batch_size)
        ]
        return np.concatenate(batches)

    def loss_and_gradients(self, x, y, training=True):
        """Mean softmax cross-entropy of the batch, and its gradients.

        Parameters
        ----------
        x : array_like, shape (N, *input_shape)
        y : array_like of int, shape (N,)
            Class labels.
        training : bool, default True
            Whether dropout is active.

        Returns
        -------
        loss : float
        gradients : list of numpy.ndarray
            One per array of :attr:`trainable_weights`, in the same order.
        """
        loss, gradients, _ = self._step(x, y, training)
        return loss, gradients

    def _step(self, x, y, training):
        """Loss, gradients and predicted probabilities of one batch."""
        y = np.asarray(y)
        logits = self._logits(x, training)
        if y.shape != (logits.shape[0],):
            raise ValueError(f"y must have shape ({logits.shape[0]},). Received: {y.shape}")
        outside = (y < 0) | (y >= logits.shape[1])
        if outside.any():
            first = y[outside][0]
            raise ValueError(f"labels must be in [0, {logits.shape[1]}). Received: {first}")
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        probabilities = np.exp(log_probabilities)
        rows = np.arange(len(y))
        loss = -log_probabilities[rows, y].mean()
        # Cross-entropy after softmax: d loss / d logits = (probabilities - onehot) / N.
        grad = probabilities.copy()
        grad[rows, y] -= 1.0
        grad /= len(y)
        for index in range(len(self.steps) - 2, -1, -1):
            grad = self.steps[index].backward(grad, need_input_gradient=index > 0)
        gradients = [gradient for layer in self.layers for gradient in layer.gradients]
        return float(loss), gradients, probabilities

    def evaluate(self, x, y, batch_size=256):
        """Mean loss and accuracy on ``(x, y)``, without dropout."""
        probabilities = self.predict(x, batch_size)
        y = np.asarray(y)
        picked = np.clip(probabilities[np.arange(len(y)), y], 1e-12, None)
        loss = float(-np.log(picked).mean())
        return loss, float(np.mean(probabilities.argmax(axis=1) == y))

    # ---- training -----------------------------------------------------------------------

    def fit(
        self,
        x,
        y,
        epochs=1,
        batch_size=32,
        optimizer=None,
        validation_data=None,
        shuffle=True,
        seed=0,
        verbose=1,
        callbacks=(),
    ):
        """Train with mini-batch gradient descent; return the history.

        Parameters
        ----------
        x, y : array_like
            Training examples and integer labels.
        epochs : int, default 1
        batch_size : int, default 32
        optimizer : cnnbook.nn.SGD, optional
            Default: plain SGD with learning rate 0.01.
        validation_data : (x, y), optional
            Evaluated after each epoch.
        shuffle : bool, default True
            Shuffle the examples before each epoch, with a generator seeded by ``seed``.
        seed : int, default 0
            Seeds the shuffling, and the draws of every layer that draws (dropout,
            DropConnect, stochastic pooling) and was given no seed of its own, so that
            the same call trains the same way.
        verbose : int, default 1
            0: silent. 1: one line per epoch (on a terminal, a bar that fills during the
            epoch), short enough to keep in a notebook's stored output.
        callbacks : sequence of callables, optional
            Each called as ``callback(model, epoch, logs)`` after every epoch (all of
            them, every epoch); if one returns True, training stops after that epoch.
            A callback with an ``on_train_end(model)`` method has it called at the end
            (such as :class:`cnnbook.regularization.EarlyStopping`).

        Returns
        -------
        dict of str to list of float
            ``loss`` and ``accuracy`` per epoch (running means over the epoch's
            batches, as Keras reports them), and ``val_loss``, ``val_accuracy`` with
            validation data.
        """
        x, y = np.asarray(x, dtype=self.dtype), np.asarray(y)
        optimizer = optimizer or SGD()
        rng = np.random.default_rng(seed)
        for index, step in enumerate(self.steps):
            # A layer that draws (dropout) without a seed of its own draws from ``seed`` too.
            if hasattr(step, "rng") and step.seed is None:
                step.rng = np.random.default_rng((seed, index))
        history = {"loss": [], "accuracy": []}
        if validation_data is not None:
            history.update(val_loss=[], val_accuracy=[])
        batches = -(-len(x) // batch_size)
        for epoch in range(epochs):
            started = time.perf_counter()
            order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
            loss_sum = correct = 0.0
            for batch in range(batches):
                chosen = order[batch * batch_size : (batch + 1) * batch_size]
                loss, gradients, probabilities = self._step(x[chosen], y[chosen], True)
                correct += np.sum(probabilities.argmax(axis=1) == y[chosen])
                optimizer.apply(self.trainable_weights, gradients)
                loss_sum += loss * len(chosen)
                if verbose and sys.stdout.isatty():
                    _print_bar(epoch, epochs, batch + 1, batches)
            logs = {"loss": loss_sum / len(x), "accuracy": correct / len(x)}
            if validation_data is not None:
                logs["val_loss"], logs["val_accuracy"] = self.evaluate(*validation_data)
            for key, value in logs.items():
                history[key].append(value)
            if verbose:
                _print_epoch(epoch, epochs, logs, time.perf_counter() - started)
            stop = [callback(self, epoch, logs) for callback in callbacks]  # call every one
            if any(stop):
                break
        for callback in callbacks:
            finish = getattr(callback, "on_train_end", None)
            if finish is not None:
                finish(self)
        return history

    # ---- Keras ----------------------------------------------------------------------------

    @classmethod
    def from_keras(cls, keras_model, dtype="float32"):
        """The NumPy twin of a Keras ``Sequential`` model, with its weights copied.

        Supported layers: Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dense,
        Dropout, and activations given as ``activation=`` arguments or as Activation,
        ReLU and Softmax layers, all channels last and trainable, with the arguments
        whose effect the NumPy layers reproduce.

        Raises
        ------
        ValueError
            For any other layer, and for an argument the NumPy twin cannot represent
            (such as dilation, ``data_format="channels_first"``, a ``noise_shape``, a
            regularizer or constraint, or a capped or leaky ReLU), naming it.
        """
        converted = [_convert(layer) for layer in keras_model.layers]
        model = cls(converted, keras_model.input_shape[1:], dtype=dtype)
        model.set_weights(keras_model.get_weights())
        return model

    def summary(self):
        """A table of the steps, their output shapes and parameter counts, as a string."""
        lines = [f"{'layer':<38}{'output shape':<16}{'parameters':>12}"]
        shape = self.input_shape
        probe = np.zeros((1, *shape), dtype=self.dtype)
        # Copies, so that the activations cached for a backward pass stay as they were.
        for step in copy.deepcopy(self.steps):
            probe = step.forward(probe)
            lines.append(f"{step!r:<38}{str(probe.shape[1:]):<16}{step.count_params():>12,}")
        lines.append(f"{'total':<54}{self.count_params():>12,}")
        return "\n".join(lines)


def _print_bar(epoch, epochs, batch, batches, width=30):
    filled = width * batch // batches
    print(f"\repoch {epoch + 1}/{epochs} [{'=' * filled}{' ' * (width - filled)}]", end="")


def _print_epoch(epoch, epochs, logs, seconds):
    values = "  ".join(f"{key} {value:.4f}" for key, value in logs.items())
    end = "\r" if sys.stdout.isatty() else ""
    print(f"{end}epoch {epoch + 1}/{epochs}  {values}  ({seconds:.1f} s)")


# What changes a layer's training (regularizers, constraints) or the form of its weights
# (quantization, LoRA): the twin has none of these, so it would silently leave them out.
_WEIGHT_EXTRAS = {
    name: None
    for name in ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                 "kernel_constraint", "bias_constraint", "quantization_config", "lora_rank")
}  # fmt: skip
#: For each Keras layer the twin converts, the arguments whose effect its NumPy layer
#: reproduces only at these values.
_REPRESENTABLE = {
    "Conv2D": {"data_format": "channels_last", "dilation_rate": (1, 1), "groups": 1,
               **_WEIGHT_EXTRAS},
    "Dense": _WEIGHT_EXTRAS,
    "MaxPooling2D": {"data_format": "channels_last"},
    "AveragePooling2D": {"data_format": "channels_last"},
    "Flatten": {"data_format": "channels_last"},
    "Dropout": {"noise_shape": None},
    "Activation": {},
    "ReLU": {"max_value": None, "negative_slope": 0.0, "threshold": 0.0},
    "Softmax": {"axis": -1},
}  # fmt: skip


def _check_representable(layer, kind, config):
    """Raise a ValueError for the first argument of ``layer`` that the twin cannot represent."""
    if not layer.trainable and layer.weights:
        raise ValueError(
            f"Sequential.from_keras cannot represent {kind} layer {layer.name!r} with "
            "trainable=False: every weight of the NumPy twin trains"
        )
    for name, supported in _REPRESENTABLE[kind].items():
        received = config.get(name, supported)
        if isinstance(received, list):
            received = tuple(received)
        if received != supported:
            raise ValueError(
                f"Sequential.from_keras cannot represent {kind} layer {layer.name!r} with "
                f"{name}={received!r}: its NumPy layer supports only {name}={supported!r}"
            )


def _convert(layer):
    """One Keras layer as a cnnbook.nn layer."""
    kind = type(layer).__name__
    if kind not in _REPRESENTABLE:
        raise ValueError(f"Sequential.from_keras does not support {kind} layers ({layer.name!r})")
    config = layer.get_config()
    _check_representable(layer, kind, config)
    activation = config.get("activation")
    if kind == "Conv2D":
        return nn_layers.Conv2D(
            config["filters"], tuple(config["kernel_size"]), tuple(config["strides"]),
            config["padding"], activation, config["use_bias"],
        )  # fmt: skip
    if kind == "Dense":
        return nn_layers.Dense(config["units"], activation, config["use_bias"])
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        pool = nn_layers.MaxPool2D if kind == "MaxPooling2D" else nn_layers.AvgPool2D
        return pool(tuple(config["pool_size"]), tuple(config["strides"]), config["padding"])
    if kind == "Flatten":
        return nn_layers.Flatten()
    if kind == "Dropout":
        return nn_layers.Dropout(config["rate"], config.get("seed"))
    name = activation if kind == "Activation" else kind.lower()  # Activation, ReLU, Softmax
    step = nn_layers.activation(name)
    return step if step is not None else nn_layers.Layer()
