"""The Siamese encoder: one small CNN that maps an image to a unit vector (the same weights for every branch).

Built-in Keras layers only, so the saved `.keras` file loads with `safe_mode=True`; the last operation is the
L2 normalisation, so distances are Euclidean on the unit sphere (0..2).
"""
from __future__ import annotations

import os

import keras
import numpy as np
from keras import layers, ops

from . import efficientnet
from .artifact import PRETRAINED


def conv_block(x, filters: int, stride: int):
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.Activation("relu")(x)


def fixed_linear(weights: np.ndarray, name: str) -> keras.layers.Layer:
    """A frozen linear map over the last axis, from a built-in layer (safe_mode loads it)."""
    layer = layers.Dense(weights.shape[1], use_bias=False, trainable=False, name=name)
    layer.build((None, weights.shape[0]))
    layer.set_weights([weights.astype("float32")])
    return layer


def luma_layer() -> keras.layers.Layer:
    """RGB to luminance (ITU-R 601): grayscale and saturation edits leave the luminance of a picture as it
    was, so an encoder that sees only luminance is invariant to them."""
    return fixed_linear(np.array([[0.299], [0.587], [0.114]]), "luma")


def standardised_input(input_size: int, colour: str):
    """The image input (RGB, 0..255) and its standardised form: brightness and contrast changes vanish, faint
    detail (star fields) shows."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    if colour == "luma":
        x = luma_layer()(x)
    return inputs, layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False, name="standardise")(x)


def projection_head(pooled, dim: int):
    """Pooled features to the embedding; the L2 normalisation is the last operation."""
    x = layers.Dense(2 * dim, activation="relu")(pooled)
    return layers.UnitNormalization(name="embedding")(layers.Dense(dim)(x))


def build_encoder(input_size: int = 64, dim: int = 128, width: int = 32, colour: str = "rgb",
                  name: str = "neardup_encoder") -> keras.Model:
    inputs, x = standardised_input(input_size, colour)
    x = conv_block(x, width, 2)
    for mult in (1, 2, 4, 8):  # four stages, each: a 3x3 conv, then a strided one that doubles the channels
        x = conv_block(x, width * mult, 1)
        x = conv_block(x, width * mult * (2 if mult < 8 else 1), 2 if mult < 8 else 1)
    pooled = layers.Concatenate()([layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(x)])
    return keras.Model(inputs, projection_head(pooled, dim), name=name)


class MirrorTied(keras.constraints.Constraint):
    """Training only: keeps a conv kernel (or a BatchNorm vector) equal to its mirror image, so the layer maps
    a left-right flipped input to its flipped output with the two halves of its channels swapped (a channel and
    its mirror twin). Applied after each update: the average of the weights and their mirrored, twin-swapped
    copy. `paired_inputs`: whether the layer's input channels come in twins too (not the RGB image's)."""

    def __init__(self, paired_inputs: bool = True):
        self.paired_inputs = paired_inputs

    def __call__(self, w):
        if len(w.shape) == 1:  # a BatchNorm vector: twins share one value
            return (w + swap_halves(w, axis=0)) / 2
        mirrored = keras.ops.flip(w, axis=1)
        if self.paired_inputs:
            mirrored = swap_halves(mirrored, axis=2)
        return (w + swap_halves(mirrored, axis=3)) / 2

    def get_config(self):
        return {"paired_inputs": self.paired_inputs}


def swap_halves(w, axis: int):
    half = w.shape[axis] // 2
    first, second = keras.ops.split(w, [half], axis=axis)
    return keras.ops.concatenate([second, first], axis=axis)


def build_mirror_encoder(input_size: int = 64, dim: int = 128, width: int = 24, colour: str = "rgb",
                         train: bool = False, name: str = "neardup_mirror_encoder") -> keras.Model:
    """The encoder made exactly invariant to left-right flips in one pass (the `symmetric` wrapper takes two):
    every conv's channels come in mirror twins with tied weights (MirrorTied while training; after it, a
    plain Conv2D whose weights obey the tie), resolution halves by 2x2 average pooling (a strided conv pads
    one side only, which no mirror preserves), and the twins are averaged after global pooling."""
    def block(x, filters, paired=True):
        tie = MirrorTied(paired) if train else None
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_constraint=tie)(x)
        x = layers.BatchNormalization(momentum=0.9, gamma_constraint=MirrorTied() if train else None,
                                      beta_constraint=MirrorTied() if train else None)(x)
        return layers.Activation("relu")(x)

    def twins_averaged(x):
        channels = x.shape[-1]
        return layers.GlobalAveragePooling1D()(layers.Reshape((2, channels // 2))(x))

    inputs, x = standardised_input(input_size, colour)
    x = layers.AveragePooling2D(2)(block(x, width, paired=False))
    for mult in (1, 2, 4, 8):
        x = block(x, width * mult)
        if mult < 8:
            x = block(layers.AveragePooling2D(2)(x), width * mult * 2)
        else:
            x = block(x, width * mult)
    pooled = layers.Concatenate()([twins_averaged(layers.GlobalAveragePooling2D()(x)),
                                   twins_averaged(layers.GlobalMaxPooling2D()(x))])
    return keras.Model(inputs, projection_head(pooled, dim), name=name)


def untied(trained: keras.Model, input_size: int, dim: int, width: int, colour: str = "rgb") -> keras.Model:
    """The trained mirror encoder without its training-only constraints, BatchNorm statistics of twins averaged
    (their batches differed a little), so the saved model holds built-in layers only and is exactly invariant."""
    model = build_mirror_encoder(input_size, dim, width, colour)
    model.set_weights(trained.get_weights())
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.set_weights([keras.ops.convert_to_numpy(MirrorTied()(w)) for w in layer.get_weights()])
    return model


def mirror_layer(size: int, name: str) -> keras.layers.Layer:
    """A left-right flip: an anti-diagonal matrix across the width axis."""
    return fixed_linear(np.eye(size)[::-1], name)


def symmetric(backbone: keras.Model, group: str = "flip") -> keras.Model:
    """The backbone made exactly invariant to flips (group="flip") or to the 8 flips and quarter turns
    (group="dihedral"): the sum of its embeddings of every transformed view, normalised last."""
    size = backbone.input_shape[1]
    inputs = keras.Input((size, size, 3), name="image")
    flip = mirror_layer(size, "mirror_width")
    to_cols = layers.Permute((1, 3, 2))  # (H, W, C) -> (H, C, W): the width axis last, for the Dense

    def mirror(x):
        return to_cols(flip(to_cols(x)))

    def transpose(x):
        return layers.Permute((2, 1, 3))(x)

    turns = [inputs]
    if group == "dihedral":
        for _ in range(3):
            turns.append(mirror(transpose(turns[-1])))  # a transpose then a mirror is a quarter turn
    views = turns + [mirror(t) for t in turns]
    summed = layers.Add()([backbone(v) for v in views])
    outputs = layers.UnitNormalization(name="embedding")(summed)
    return keras.Model(inputs, outputs, name=f"{backbone.name}_{group}")


@keras.saving.register_keras_serializable("neardup")
class GeneralisedMeanPooling(keras.layers.Layer):
    """GeM pooling (Radenović et al.): the p-th root of the mean of x^p over the spatial axes, p learnt. Between
    average (p=1) and max (p large) pooling: the strongest responses dominate, as the salient parts of a
    picture should, without max pooling's blindness to everything else."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.initial_p, self.eps = p, eps

    def build(self, input_shape):
        self.p = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.initial_p), name="p")

    def call(self, x):
        # x^p as exp(p log x): the same values, but LiteRT runs POW by a slow reference kernel and EXP and LOG
        # by XNNPACK (bench/encoders.py)
        pooled = ops.mean(ops.exp(self.p * ops.log(ops.maximum(x, self.eps))), axis=(1, 2))
        return ops.exp(ops.log(pooled) / self.p)

    def get_config(self):
        return {**super().get_config(), "p": self.initial_p, "eps": self.eps}


def build_pretrained_encoder(input_size: int = 160, dim: int = 256, pretrained=PRETRAINED,
                             name: str = "neardup_efficientnet") -> keras.Model:
    """EfficientNet-Lite0's trunk (ImageNet weights from `pretrained`, if given), GeM pooling, a linear
    projection to `dim`, and the L2 normalisation last."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    pooled = GeneralisedMeanPooling(name="gem")(efficientnet.trunk(inputs))
    outputs = layers.UnitNormalization(name="embedding")(layers.Dense(dim, name="projection")(pooled))
    model = keras.Model(inputs, outputs, name=name)
    if pretrained:
        if not os.path.isfile(pretrained):
            raise FileNotFoundError(f"{pretrained} is missing: scripts/port_efficientnet_lite0.py writes it "
                                    "(a checkout of the repository has it)")
        from .artifact import load_keras

        source = {layer.name: layer for layer in load_keras(pretrained).layers}
        for layer in model.layers:
            if layer.weights and layer.name in source:
                layer.set_weights(source[layer.name].get_weights())
    return model


def ensemble(members: list[tuple[keras.Model, float]], input_size: int, projection: np.ndarray | None = None,
             name: str = "ensemble") -> keras.Model:
    """Several encoders as one: each embeds the image (resized in the graph to its own input), its unit vector
    weighted by the square root of its weight (squared distances add up by these weights); the concatenation,
    projected by a fixed matrix if given (to fewer dimensions), is normalised last. Encoders trained apart err
    apart: an ImageNet-pretrained one puts two photos of one kind of object close, one trained from scratch
    on pixels does not."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    parts = []
    for n, (member, weight) in enumerate(members):
        size = member.input_shape[1]
        x = inputs if size == input_size else layers.Resizing(size, size, "bilinear", name=f"resize_{n}")(inputs)
        parts.append(layers.Rescaling(float(np.sqrt(weight)), name=f"weight_{n}")(member(x)))
    x = layers.Concatenate(name="joined")(parts)
    if projection is not None:
        x = fixed_linear(projection, "projection")(x)
    return keras.Model(inputs, layers.UnitNormalization(name="embedding")(x), name=name)
