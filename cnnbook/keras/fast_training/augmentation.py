"""The fast recipe's augmentation (chapter 9d, section 5), in training and in testing.

Flips and translations: :class:`FlipTranslate` in NumPy (the readable reference) and
:class:`AugmentedImages` inside the compiled training step, both showing the views that
one generator draws per image and epoch. Test-time augmentation with mirrors and 1-pixel
shifts: :func:`predict_tta`, :func:`predict_tta_levels`.
"""

import numpy as np

from cnnbook._arguments import one_of, whole_number
from cnnbook.keras.fast_training.recipe import FLIPS
from cnnbook.runtime import import_keras

keras = import_keras()
ops = keras.ops


class _Views:
    """Which view of each image an epoch shows: its shift and whether it is mirrored.

    Drawn on the host, once per epoch and per image (a few hundred kilobytes for
    CIFAR-10), from one generator: so the NumPy augmentation and the in-step one show the
    same views for the same seed, and a batch split across devices gets the views the
    whole batch would have had. Shifts are ``0 .. 2 * translate`` (the crop's corner in
    the padded image). With ``flip="alternating"`` (airbench's), a random half of the
    images starts mirrored and every image switches each epoch.
    """

    def __init__(self, count, translate, flip, seed):
        one_of(flip, FLIPS, "flip")
        whole_number(translate, "translate")
        self.rng = np.random.default_rng(seed)
        self.count = int(count)
        self.translate = int(translate)
        self.flip = flip
        self.first_mirrored = self.rng.random(count) < 0.5 if flip == "alternating" else None

    def epoch(self, index):
        """``(shifts, mirrored)`` of epoch ``index``: (N, 2) ints and (N,) booleans."""
        shifts = self.rng.integers(0, 2 * self.translate + 1, size=(self.count, 2))
        if self.flip == "alternating":
            mirrored = self.first_mirrored ^ (index % 2 == 1)
        elif self.flip == "random":
            mirrored = self.rng.random(self.count) < 0.5
        else:
            mirrored = np.zeros(self.count, dtype=bool)
        return shifts, mirrored


class FlipTranslate:
    """Per-epoch augmented copies of a training set, in NumPy: flips and translations.

    The readable reference of the augmentation (:class:`AugmentedImages` computes the
    same views inside the compiled training step). The images are padded once by
    ``translate`` pixels (reflected); each epoch takes a random ``H x W`` crop of every
    image, mirrored or not, grouping images by view so that each group is one slice.
    With ``flip="alternating"`` (airbench's), a random half of the images starts
    mirrored and *every* image switches each epoch: each image is seen both ways round
    in every two epochs, which a fresh coin per epoch does not guarantee.

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W, C) float images.
    translate : int, default 2
    flip : {"alternating", "random", "none"}
    seed : int, default 0
    """

    def __init__(self, images, translate=2, flip="alternating", seed=0):
        self.views = _Views(len(images), translate, flip, seed)
        self.shape = images.shape
        pad = self.views.translate
        self.padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")

    def epoch(self, index, order=None):
        """The augmented images of epoch ``index`` (0-based).

        ``order``: the indices of the images wanted, in the order wanted (default:
        all, in order); the views are written once, straight into the result.
        """
        order = np.arange(self.shape[0]) if order is None else np.asarray(order)
        shifts, mirrored = self.views.epoch(index)
        shifts, mirrored = shifts[order], mirrored[order]
        _, height, width, _ = self.shape
        last = 2 * self.views.translate
        out = np.empty((len(order), *self.shape[1:]), dtype=self.padded.dtype)
        for mirror in (False, True):
            # A mirrored crop is a crop of the mirrored image, its column offset mirrored.
            padded = self.padded[:, :, ::-1] if mirror else self.padded
            for dy in range(last + 1):
                for dx in range(last + 1):
                    chosen = np.flatnonzero(
                        (shifts[:, 0] == dy) & (shifts[:, 1] == dx) & (mirrored == mirror)
                    )
                    column = last - dx if mirror else dx
                    out[chosen] = padded[order[chosen], dy : dy + height, column : column + width]
        return out


class AugmentedImages(keras.layers.Layer):
    """The training images on the device, looked up by index and augmented in the step.

    :class:`FlipTranslate`'s augmentation as a Keras layer, in ``keras.ops`` (every
    backend): the images go to the device once, as a non-trainable variable, and the
    model that trains starts with this layer, so the lookup, the translation and the
    flip run inside the compiled training step. Its input is a batch of indices into
    ``images``; in training it returns their augmented views, otherwise the images as
    they are. Call :meth:`start_epoch` before each epoch: it draws every image's view
    for that epoch on the host (the same views as :class:`FlipTranslate` with the same
    seed) and sends them to the device, a few hundred kilobytes.

    Parameters
    ----------
    images : numpy.ndarray
        (N, H, W, C) float images (normalized).
    translate : int, default 2
        Largest shift, in pixels, reflected at the border.
    flip : {"alternating", "random", "none"}
    seed : int, default 0
    """

    def __init__(self, images, translate=2, flip="alternating", seed=0, **kwargs):
        # float32 and not autocast: under a mixed policy the images are looked up in
        # float32 (casting the whole variable to 16 bits every step would cost more
        # than the step's lookup); the model casts the batch.
        super().__init__(dtype="float32", autocast=False, **kwargs)
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, H, W, C). Received: {images.shape}")
        if images.shape[0] * images.shape[1] * images.shape[2] >= 2**31:
            raise ValueError(f"too many pixels to index in int32: {images.shape}")
        self.views = _Views(len(images), translate, flip, seed)
        if self.views.translate >= min(images.shape[1:3]):
            raise ValueError(f"translate must be below the image size. Received: {translate}")
        self.images = self.add_weight(
            shape=images.shape,
            initializer=lambda shape, dtype=None: images,
            trainable=False,
            name="images",
        )
        self.shifts = self.add_weight(
            shape=(len(images), 2),
            initializer="zeros",
            dtype="int32",
            trainable=False,
            name="shifts",
        )
        self.mirrored = self.add_weight(
            shape=(len(images),),
            initializer="zeros",
            dtype="int32",
            trainable=False,
            name="mirrored",
        )

    def start_epoch(self, index):
        """Draw each image's view for epoch ``index`` and send them to the device."""
        shifts, mirrored = self.views.epoch(index)
        self.shifts.assign(shifts.astype(np.int32))
        self.mirrored.assign(mirrored.astype(np.int32))

    def call(self, indices, training=False):
        indices = ops.cast(indices, "int32")
        if not training:
            return ops.take(self.images, indices, axis=0)
        return self.augment(indices)

    def augment(self, indices):
        """The augmented views of ``images[indices]`` in the current epoch.

        One lookup: each output pixel's source is computed (the image, its row and
        column after the shift, reflected at the border, and mirrored when the view is
        mirrored), and all are gathered at once: the same views as padding, cropping and
        flipping :class:`FlipTranslate`'s way, without the padded copy or a pass per
        shift.
        """
        count = ops.shape(indices)[0]
        _, height, width, channels = self.images.shape
        pad = self.views.translate
        shifts = ops.take(self.shifts, indices, axis=0) - pad  # -pad .. pad
        mirrored = ops.expand_dims(ops.take(self.mirrored, indices, axis=0), 1)
        rows = ops.expand_dims(ops.arange(height, dtype="int32"), 0)
        cols = ops.expand_dims(ops.arange(width, dtype="int32"), 0)
        # A mirrored view's column j is the crop's column width - 1 - j.
        cols = ops.where(ops.equal(mirrored, 1), width - 1 - cols, cols)
        rows = _reflect(rows + shifts[:, :1], height)
        cols = _reflect(cols + shifts[:, 1:], width)
        # Index of each output pixel among all pixels: (count, height, width).
        source = (
            ops.reshape(indices, (-1, 1, 1)) * (height * width)
            + ops.expand_dims(rows, 2) * width
            + ops.expand_dims(cols, 1)
        )
        pixels = ops.reshape(self.images, (-1, channels))
        views = ops.take(pixels, ops.reshape(source, (-1,)), axis=0)
        return ops.reshape(views, (count, height, width, channels))

    def compute_output_shape(self, input_shape):
        return (*input_shape, *self.images.shape[1:])


def _reflect(position, size):
    """Positions beyond ``[0, size)`` reflected back, as ``numpy.pad(mode="reflect")``
    pads (no edge repeated: -1 -> 1, size -> size - 2); shifts below ``size``."""
    position = ops.abs(position)
    return ops.where(position > size - 1, 2 * (size - 1) - position, position)


def predict_tta(model, images, level=2, batch_size=1000):
    """Logits averaged over mirrored and shifted views of normalized ``images``.

    ``level`` 0: the images as they are. 1: the mean of the image and its mirror.
    2 (airbench's): half that mean, plus half the mirror-means of the image shifted one
    pixel up-left and one pixel down-right (reflected at the border): 6 views in all.
    """
    return predict_tta_levels(model, images, (level,), batch_size)[level]


def predict_tta_levels(model, images, levels=(0, 1, 2), batch_size=1000):
    """:func:`predict_tta` at several levels, each view predicted once.

    Level 2 needs 6 views, and levels 0 and 1 are made of two of them, so all three
    cost 6 predictions, not 1 + 2 + 6.

    Returns
    -------
    dict
        ``{level: logits}``, float64 logits of shape (N, classes).
    """
    levels = tuple(levels)
    if not levels or any(level not in (0, 1, 2) for level in levels):
        raise ValueError(f"levels must be 0, 1 or 2. Received: {levels!r}")

    def logits(views):
        predicted = model.predict(views, batch_size=batch_size, verbose=0)
        return predicted.astype(np.float64)

    def mirror(views):
        return np.ascontiguousarray(views[:, :, ::-1])

    plain = logits(images)
    result = {0: plain}
    if max(levels) >= 1:
        result[1] = 0.5 * (plain + logits(mirror(images)))
    if max(levels) == 2:
        padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        height, width = images.shape[1:3]
        shifted = [padded[:, :height, :width], padded[:, 2:, 2:]]  # up-left, down-right
        mirror_means = [0.5 * (logits(view) + logits(mirror(view))) for view in shifted]
        result[2] = 0.5 * result[1] + 0.25 * sum(mirror_means)
    return {level: result[level] for level in levels}
