"""Keras models that the book builds more than once.

Used by chapters 9a, 9b and 9c.
"""

from cnnbook._arguments import one_of, positive_ints
from cnnbook.datasets import CIFAR10_MEAN, CIFAR10_STD
from cnnbook.runtime import import_keras

keras = import_keras()

__all__ = ["augmentation_layers", "improved_cnn", "tutorial_cnn"]


def tutorial_cnn(compile=True):
    """The CIFAR-10 network of the tutorial this book grew from, in Keras 3.

    Conv2D(32, 3x3, same, relu) -> Dropout(0.2) -> Conv2D(32, 3x3, valid, relu) ->
    MaxPooling2D(2x2) -> Flatten -> Dense(512, relu) -> Dropout(0.3) ->
    Dense(10, softmax): 3,702,186 parameters, for 32x32x3 inputs scaled to [0, 1].

    Parameters
    ----------
    compile : bool, default True
        Compile it as the tutorial meant: categorical cross-entropy on one-hot
        labels, accuracy, and SGD with momentum 0.5 and a learning rate of 0.01
        decayed as ``0.01 / (1 + 0.0004 * step)``. The tutorial wrote
        ``SGD(momentum=0.5, decay=0.0004)``, with Keras's default rate 0.01; Keras 3
        ignores ``decay`` (with only a warning), and a
        ``keras.optimizers.schedules.InverseTimeDecay`` with ``decay_steps=1`` is the
        rule it meant.

    Returns
    -------
    keras.Sequential
    """
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            layers.Dropout(0.2),
            layers.Conv2D(32, (3, 3), padding="valid", activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(10, activation="softmax", dtype="float32"),
        ],
        name="tutorial_cnn",
    )
    if compile:
        schedule = keras.optimizers.schedules.InverseTimeDecay(
            initial_learning_rate=0.01, decay_steps=1, decay_rate=4e-4
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=0.5),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
    return model


def augmentation_layers(seed=None):
    """The data augmentation of :func:`improved_cnn`: random mirror images and small shifts.

    A horizontal flip half of the time, then a shift of up to 2 pixels (1/16 of 32) in
    each direction, the border filled by reflection. Keras applies both in training
    only.

    Parameters
    ----------
    seed : int or None, default None
        Seeds the flip with ``seed`` and the shift with ``seed + 1``, so that a figure
        of augmented images is the same on every run. ``None`` leaves them unseeded.

    Returns
    -------
    list of keras.layers.Layer
        ``[RandomFlip, RandomTranslation]``, to put at the start of a model or into a
        ``keras.Sequential`` of their own.
    """
    return [
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomTranslation(
            2 / 32,
            2 / 32,
            fill_mode="reflect",
            interpolation="nearest",
            seed=None if seed is None else seed + 1,
        ),
    ]


def improved_cnn(widths=(32, 64, 128), augment=True, batch_norm=True, head="global"):
    """A small, fast CIFAR-10 network: the ideas of chapter 9's "beyond the tutorial".

    Three blocks, each ``Conv2D -> MaxPooling2D -> [BatchNorm] -> ReLU -> Conv2D ->
    [BatchNorm] -> ReLU``, then a global average pooling and one dense layer. The
    pooling right after each block's first convolution halves the resolution before
    the second, so only the first convolution (3 input channels) works at 32x32 and
    the rest of the arithmetic runs on 16x16, 8x8 and 4x4 maps. With the default
    widths: 289,642 parameters (896 of them batch normalization's running statistics,
    which are not trained) and 17.4 million multiply-adds per image; the tutorial's
    network has 3.7 million parameters and 12.9 million multiply-adds.

    The inputs are images scaled to [0, 1]; the model normalizes them with
    :data:`cnnbook.datasets.CIFAR10_MEAN` and :data:`~cnnbook.datasets.CIFAR10_STD`. The
    last layers compute in float32 whatever the mixed-precision policy, so that the
    softmax is accurate.

    Parameters
    ----------
    widths : int or tuple of three ints, default (32, 64, 128)
        The channels of the three blocks (an int: the same for all three).
    augment : bool, default True
        Start with :func:`augmentation_layers`: random horizontal flips and random shifts
        of up to 2 pixels (reflected at the border). Keras applies them in training only.
    batch_norm : bool, default True
        Batch normalization after every convolution (which then needs no bias).
    head : {"global", "dense"}, default "global"
        ``"global"``: global average pooling, then ``Dense(10)``. ``"dense"``: the
        tutorial's head, ``Flatten -> Dense(512) -> Dense(10)``.

    Returns
    -------
    keras.Sequential
        Not compiled.
    """
    widths = positive_ints(widths, "widths", 3)
    one_of(head, ("global", "dense"), "head")
    layers = keras.layers
    variance = [std**2 for std in CIFAR10_STD]

    def conv_bn_relu(filters, pool=False):
        block = [layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm)]
        if pool:
            block.append(layers.MaxPooling2D(2))
        if batch_norm:
            block.append(layers.BatchNormalization(momentum=0.9))
        block.append(layers.ReLU())
        return block

    stack = [keras.Input(shape=(32, 32, 3))]
    if augment:
        stack += augmentation_layers()
    stack += [layers.Normalization(mean=list(CIFAR10_MEAN), variance=variance)]
    for width in widths:
        stack += conv_bn_relu(width, pool=True) + conv_bn_relu(width)
    if head == "global":
        stack += [layers.GlobalAveragePooling2D()]
    else:
        stack += [layers.Flatten(), layers.Dense(512, activation="relu")]
    stack += [layers.Dense(10, dtype="float32"), layers.Activation("softmax", dtype="float32")]
    return keras.Sequential(stack, name="improved_cnn")
