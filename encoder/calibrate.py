"""Thresholds per model, from held-out originals with benign and edited copies, among many distractors.

`duplicate`: the largest distance at which benign copies are still found with precision >= the target
(edited copies left out of that ranking); `match`: the same over every true pair. The distractors matter as
much as the copies: a real collection holds far more unrelated look-alikes than a few hundred validation
images, so the training images join the calibration set as distractors (measured: with validation images
alone, thresholds came out ~30% looser than what the dev benchmark tolerates at the same precision).
"""
from __future__ import annotations

import numpy as np

from .metrics import pair_table, threshold_at_precision

DUPLICATE_PRECISION = 0.995
MATCH_PRECISION = 0.96


def with_distractors(embeddings, groups, levels, distractors):
    """Append distractor embeddings (each alone: group -1) to a labelled validation set."""
    return (np.concatenate([embeddings, distractors]), np.concatenate([groups, -np.ones(len(distractors), int)]),
            np.concatenate([levels, np.zeros(len(distractors), int)]))


def calibrate(embeddings: np.ndarray, groups: np.ndarray, levels: np.ndarray,
              dup_precision: float = DUPLICATE_PRECISION, match_precision: float = MATCH_PRECISION,
              crowding=None) -> dict:
    d, same, benign = pair_table(embeddings, groups, levels, crowding)
    keep = benign | ~same
    duplicate = threshold_at_precision(d[keep], benign[keep], dup_precision)
    match = threshold_at_precision(d, same, match_precision)
    return {"duplicate": round(min(duplicate, match), 5), "match": round(max(duplicate, match), 5)}
