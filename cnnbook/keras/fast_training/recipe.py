"""The fast recipe's settings: airbench94's hyperparameters, and a switch per idea.

:class:`FastRecipe` is what every other module of :mod:`cnnbook.keras.fast_training`
reads: the widths of the network, the optimizer's decoupled settings, the schedule of
the whitening bias, the augmentation and the test-time augmentation.
"""

from __future__ import annotations

import dataclasses

from cnnbook._arguments import (
    fraction,
    one_of,
    positive_int,
    positive_ints,
    real_in,
    whole_number,
)

FLIPS = ("alternating", "random", "none")
"""The horizontal-flip schemes of :class:`FastRecipe` and :class:`FlipTranslate`."""


@dataclasses.dataclass(frozen=True)
class FastRecipe:
    """The hyperparameters of the fast recipe: airbench94's, and a switch per idea.

    The optimizer's settings are given as airbench gives them, *decoupled*: the
    learning rate and the weight decay per 1,024 examples, independent of the momentum
    (:meth:`sgd_settings` turns them into plain SGD's). ``dataclasses.replace(recipe,
    label_smoothing=0.0)`` gives a recipe with one idea taken away.

    Parameters
    ----------
    epochs : float
        Passes over the training images; a fraction trains part of the last one.
    batch_size : int
    learning_rate, momentum, weight_decay : float
        Decoupled Nesterov SGD settings (airbench94: 11.5, 0.85, 0.0153).
    bias_scaler : float
        How many times larger the batch-normalization biases' learning rate is.
    label_smoothing : float
    whiten : bool
        Whether the first convolution is set by :func:`whitening_kernel` and frozen
        (else it is an ordinary trained convolution).
    whiten_bias_epochs : int
        Epochs in which the whitening convolution's bias trains.
    dirac : bool
        Whether the block convolutions start as partly identity (:class:`PartialIdentity`).
    lookahead : bool
        Whether the weights are pulled toward their running average (:class:`Lookahead`).
    flip : {"alternating", "random", "none"}
        Horizontal flips: airbench's alternation between epochs, a fresh coin per image
        and epoch, or none.
    translate : int
        Largest shift of the random translations, in pixels (0: none).
    tta_level : int
        Test-time augmentation: 0 none, 1 mirror, 2 mirror and 1-pixel shifts.
    widths : int or tuple of three ints
        The channels of the three blocks (an int: the same for all three).
    batchnorm_momentum : float
        Keras's convention: the weight of the old running statistics.
    scaling_factor : float
        The logits are multiplied by it (a fixed "temperature").
    """

    epochs: float = 9.9
    batch_size: int = 1024
    learning_rate: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0
    label_smoothing: float = 0.2
    whiten: bool = True
    whiten_bias_epochs: int = 3
    dirac: bool = True
    lookahead: bool = True
    flip: str = "alternating"
    translate: int = 2
    tta_level: int = 2
    widths: tuple = (64, 256, 256)
    batchnorm_momentum: float = 0.6
    scaling_factor: float = 1 / 9

    def __post_init__(self):
        # Every setting, so that a bad one fails here and not in the middle of training.
        real_in(self.epochs, "epochs", 0.0, low_open=True)
        positive_int(self.batch_size, "batch_size")
        real_in(self.learning_rate, "learning_rate", 0.0, low_open=True)
        # momentum 0 would leave Nesterov SGD without its buffer; 1 makes the
        # decoupled settings divide by zero (sgd_settings).
        real_in(self.momentum, "momentum", 0.0, high=1.0, low_open=True, high_open=True)
        real_in(self.weight_decay, "weight_decay", 0.0)
        real_in(self.bias_scaler, "bias_scaler", 0.0, low_open=True)
        fraction(self.label_smoothing, "label_smoothing")
        fraction(self.batchnorm_momentum, "batchnorm_momentum")
        real_in(self.scaling_factor, "scaling_factor", 0.0, low_open=True)
        for name in ("whiten", "dirac", "lookahead"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False. Received: {getattr(self, name)!r}")
        whole_number(self.whiten_bias_epochs, "whiten_bias_epochs")
        whole_number(self.translate, "translate")
        one_of(self.flip, FLIPS, "flip")
        one_of(self.tta_level, (0, 1, 2), "tta_level")
        # Frozen: the checked widths (a tuple, even if given as a list) go in directly.
        object.__setattr__(self, "widths", positive_ints(self.widths, "widths", 3))

    def sgd_settings(self):
        """Plain SGD settings for a loss averaged over the batch.

        airbench divides its learning rate by ``1024 * (1 + 1 / (1 - momentum))``, the
        size of a Nesterov step relative to one example's gradient, and expresses the
        weight decay as the shrink per step. For a batch-mean loss that gives::

            learning rate  = lr * batch / kilostep
            L2 coefficient = wd * batch / kilostep / learning rate

        (and the bias learning rate ``bias_scaler`` times larger, with the same shrink).

        Returns
        -------
        dict
            ``learning_rate``, ``l2``, ``bias_learning_rate``, ``bias_l2``.
        """
        kilostep = 1024 * (1 + 1 / (1 - self.momentum))
        learning_rate = self.learning_rate * self.batch_size / kilostep
        shrink = self.weight_decay * self.batch_size / kilostep
        bias_learning_rate = learning_rate * self.bias_scaler
        return {
            "learning_rate": learning_rate,
            "l2": shrink / learning_rate,
            "bias_learning_rate": bias_learning_rate,
            "bias_l2": shrink / bias_learning_rate,
        }
