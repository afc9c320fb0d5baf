"""Shapes and parameter counts of a CNN, traced layer by layer from first principles.

:func:`trace` walks a Keras ``Sequential`` model and computes, for every layer, the
output shape and the number of weights with the formulas of the book (never by
asking Keras), so a chapter can set them beside ``model.summary()`` and show they
agree:

- convolution: each of ``filters`` kernels has ``kernel_height * kernel_width *
  in_channels`` weights plus one bias; the output size per axis is
  :func:`~cnnbook.conv.conv_output_size`;
- pooling, flatten, dropout, activations: no weights; pooling shrinks each axis as a
  convolution without weights would;
- dense: ``inputs * units`` weights plus ``units`` biases;
- batch normalization: four numbers per channel (a learned scale and shift, and the
  running mean and variance used at inference);
- global pooling: one value per channel; augmentation and normalization layers keep
  the shape and have no weights.

Each row also counts the layer's multiply-adds for one image: a convolution does
``kernel_height * kernel_width * in_channels`` of them for each of its
``out_height * out_width * filters`` outputs, a dense layer ``inputs * units``. That
count, not the number of parameters, decides how long training takes.

Used by chapters 2, 9a and 9b.
"""

from __future__ import annotations

import dataclasses
import math

from cnnbook.conv import conv_output_size

__all__ = ["LayerInfo", "format_table", "trace"]


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """One layer of a traced network."""

    name: str
    kind: str
    output_shape: tuple
    parameters: int
    formula: str
    multiply_adds: int = 0


def _conv(config, shape):
    height, width, channels = shape
    kernel_height, kernel_width = config["kernel_size"]
    stride_h, stride_w = config["strides"]
    dilation_h, dilation_w = config["dilation_rate"]
    padding, filters = config["padding"], config["filters"]
    out = (
        conv_output_size(height, kernel_height, stride_h, padding, dilation_h),
        conv_output_size(width, kernel_width, stride_w, padding, dilation_w),
        filters,
    )
    weights = kernel_height * kernel_width * channels * filters
    biases = filters if config["use_bias"] else 0
    formula = f"{kernel_height}*{kernel_width}*{channels}*{filters}" + (
        f" + {filters}" if biases else ""
    )
    return out, weights + biases, formula, out[0] * out[1] * weights


def _pool(config, shape):
    height, width, channels = shape
    pool_h, pool_w = config["pool_size"]
    stride_h, stride_w = config["strides"] or config["pool_size"]
    padding = config["padding"]
    out = (
        conv_output_size(height, pool_h, stride_h, padding),
        conv_output_size(width, pool_w, stride_w, padding),
        channels,
    )
    return out, 0, "no weights", 0


def _dense(config, shape):
    (inputs,) = shape
    units = config["units"]
    biases = units if config["use_bias"] else 0
    formula = f"{inputs}*{units}" + (f" + {units}" if biases else "")
    return (units,), inputs * units + biases, formula, inputs * units


def _batch_norm(config, shape):
    # Running mean and variance, and a learned scale and offset unless switched off.
    channels = shape[-1]
    per_channel = 2 + bool(config.get("scale", True)) + bool(config.get("center", True))
    return tuple(shape), per_channel * channels, f"{per_channel}*{channels}", 0


def _global_pool(config, shape):
    return (shape[-1],), 0, "no weights", 0


def _flatten(config, shape):
    return (math.prod(shape),), 0, "no weights", 0


def _same_shape(config, shape):
    return tuple(shape), 0, "no weights", 0


_RULES = {
    "Conv2D": _conv,
    "MaxPooling2D": _pool,
    "AveragePooling2D": _pool,
    "Dense": _dense,
    "Flatten": _flatten,
    "Dropout": _same_shape,
    "Activation": _same_shape,
    "ReLU": _same_shape,
    "BatchNormalization": _batch_norm,
    "GlobalAveragePooling2D": _global_pool,
    "GlobalMaxPooling2D": _global_pool,
    "RandomFlip": _same_shape,
    "RandomTranslation": _same_shape,
    "Normalization": _same_shape,
    "Rescaling": _same_shape,
    "Scale": _same_shape,  # cnnbook.keras.fast_training's fixed factor
}


def trace(model, input_shape=None):
    """Output shape and parameter count of every layer, by the book's formulas.

    Parameters
    ----------
    model : keras.Sequential
        Built from these layers: Conv2D, MaxPooling2D, AveragePooling2D, Flatten,
        Dense, Dropout, Activation, ReLU, BatchNormalization, GlobalAveragePooling2D,
        GlobalMaxPooling2D, RandomFlip, RandomTranslation, Normalization, Rescaling and
        cnnbook's Scale.
    input_shape : tuple of int, optional
        Shape of one example, e.g. ``(32, 32, 3)``; default: the model's input shape.

    Returns
    -------
    list of LayerInfo
        One per layer, in order; shapes without the batch axis.

    Raises
    ------
    ValueError
        If the model has a layer the formulas do not cover.
    """
    shape = tuple(input_shape or model.input_shape[1:])
    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        # A subclass of a covered layer (such as fast_training's BatchNorm) follows its rule.
        known = [cls.__name__ for cls in type(layer).__mro__ if cls.__name__ in _RULES]
        rule = _RULES[known[0]] if known else None
        if rule is None:
            raise ValueError(
                f"trace() covers {', '.join(_RULES)}; received a {kind} layer ({layer.name!r})"
            )
        shape, parameters, formula, multiply_adds = rule(layer.get_config(), shape)
        rows.append(LayerInfo(layer.name, kind, shape, parameters, formula, multiply_adds))
    return rows


def format_table(rows):
    """The traced layers as a text table, with the total at the bottom.

    Parameters
    ----------
    rows : list of LayerInfo
        As returned by :func:`trace`.

    Returns
    -------
    str
    """
    lines = [f"{'layer':<14}{'output shape':<16}{'parameters':>12}   formula"]
    for row in rows:
        lines.append(
            f"{row.kind:<14}{str(row.output_shape):<16}{row.parameters:>12,}   {row.formula}"
        )
    lines.append(f"{'total':<30}{sum(row.parameters for row in rows):>12,}")
    return "\n".join(lines)
