"""Thresholds per model, from a validation set of originals with benign and edited copies.

`duplicate`: the largest distance at which benign copies are still found with precision >= the target
(edited copies left out of that ranking); `match`: the same over every true pair. Targets are set a little
stricter than the promises, because a real collection holds more unrelated pairs than the validation set.
"""
from __future__ import annotations

import numpy as np

from .metrics import pair_table, threshold_at_precision

DUPLICATE_PRECISION = 0.998
MATCH_PRECISION = 0.99


def calibrate(embeddings: np.ndarray, groups: np.ndarray, levels: np.ndarray,
              dup_precision: float = DUPLICATE_PRECISION, match_precision: float = MATCH_PRECISION) -> dict:
    d, same, benign = pair_table(embeddings, groups, levels)
    keep = benign | ~same
    duplicate = threshold_at_precision(d[keep], benign[keep], dup_precision)
    match = threshold_at_precision(d, same, match_precision)
    return {"duplicate": round(min(duplicate, match), 5), "match": round(max(duplicate, match), 5)}
