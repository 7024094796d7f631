"""Corner views: a third way to propose pairs, for crops.

A crop of half to four fifths of a picture, scaled up to the encoder's 64 px, lands as far from its original
as unrelated look-alikes do (dev benchmark: median distance 0.83, behind ~10 unrelated photos), so the
nearest neighbours miss it. It lands much nearer one of its original's corners: the encoder's embeddings of
the four corner regions of each image, each 3/4 of the width and height, find the original among their
nearest neighbours for ~90% of the crops (62% by the whole picture alone). Proposed pairs are only kept if
verified (pipeline/verify.py), so what the corners bring in costs verification work, never precision.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

KEEP = 0.75  # each corner region's share of the width and of the height
ANCHORS = ((0, 0), (1, 0), (0, 1), (1, 1))  # top left, top right, bottom left, bottom right


def key(model_version: str) -> str:
    """The registry key of a model's corner vectors (they are embeddings: one set per model)."""
    return f"{model_version}:corners"


def views(im: Image.Image, size: int) -> np.ndarray:
    """(4, size, size, 3) uint8: the four corner regions of an RGB image, squashed to the encoder's input."""
    w, h = im.size
    cw, ch = max(1, round(w * KEEP)), max(1, round(h * KEEP))
    out = np.empty((len(ANCHORS), size, size, 3), np.uint8)
    for n, (ax, ay) in enumerate(ANCHORS):
        x, y = ax * (w - cw), ay * (h - ch)
        out[n] = np.asarray(im.resize((size, size), Image.BILINEAR, box=(x, y, x + cw, y + ch), reducing_gap=2.0))
    return out
