"""Retrieval figures from distances and truth, the same definitions as `../shared/bench/score.py`.

Ties rank negatives first (pessimistic, as DISC21 does), so equal distances never flatter a model.
"""
from __future__ import annotations

import numpy as np


def ranked(distances: np.ndarray, positive: np.ndarray, n_positives: int | None = None):
    """Order pairs by distance, negatives first among ties; return cumulative true positives and ranks."""
    order = np.lexsort((positive.astype(np.int8), distances))
    hits = positive[order].astype(np.int64)
    tp = np.cumsum(hits)
    rank = np.arange(1, len(hits) + 1)
    total = int(positive.sum()) if n_positives is None else n_positives
    return order, hits, tp, rank, max(total, 1)


def average_precision(distances, positive, n_positives=None) -> float:
    _, hits, tp, rank, total = ranked(distances, positive, n_positives)
    return float(np.sum(hits * tp / rank) / total)


def recall_at_precision(distances, positive, precision: float = 0.99, n_positives=None) -> float:
    _, _, tp, rank, total = ranked(distances, positive, n_positives)
    ok = tp / rank >= precision
    return float(tp[ok].max() / total) if ok.any() else 0.0


def threshold_at_precision(distances, positive, precision: float) -> float:
    """The largest distance that keeps the precision of everything at or below it >= `precision`."""
    order, _, tp, rank, _ = ranked(distances, positive)
    ok = np.nonzero(tp / rank >= precision)[0]
    if not len(ok):
        return 0.0
    d = distances[order]
    i = ok.max()
    # stop before a tie with the next pair, which would fall inside the threshold too
    nxt = d[i + 1] if i + 1 < len(d) else d[i] + 1e-3
    return float(d[i] + (nxt - d[i]) / 2) if nxt > d[i] else float(np.nextafter(d[i], -np.inf))


def precision_recall(flagged: np.ndarray, positive: np.ndarray, wanted: np.ndarray | None = None):
    """Precision of the flagged pairs; recall over `wanted` positives (all positives by default)."""
    wanted = positive if wanted is None else wanted
    p = (flagged & positive).sum() / max(1, flagged.sum())
    r = (flagged & wanted).sum() / max(1, wanted.sum())
    return float(p), float(r)


def pair_table(embeddings: np.ndarray, groups: np.ndarray, levels: np.ndarray, crowding=None):
    """Every unordered pair of a labelled set: distance (with `crowding`'s penalty, if given), same group,
    and both in the benign level.

    groups: group id per image (-1 = alone); levels: 0 original, 1 benign copy, 2 edited copy.
    """
    i, j = np.triu_indices(len(embeddings), 1)
    d = np.sqrt(np.maximum(2 - 2 * np.sum(embeddings[i] * embeddings[j], axis=1), 0))
    if crowding is not None:
        crowd = crowding.of(embeddings)
        d = crowding.adjusted(d, crowd[i], crowd[j])
    same = (groups[i] == groups[j]) & (groups[i] >= 0)
    benign = same & (levels[i] < 2) & (levels[j] < 2)
    return d, same, benign


def summary(embeddings, groups, levels, thresholds: dict | None = None, crowding=None) -> dict:
    d, same, benign = pair_table(embeddings, groups, levels, crowding)
    out = {"ap": average_precision(d, same), "r_at_p99": recall_at_precision(d, same, 0.99)}
    if thresholds:
        out["dup_precision"], out["dup_recall"] = precision_recall(d <= thresholds["duplicate"], same, benign)
        out["match_precision"], out["match_recall"] = precision_recall(d <= thresholds["match"], same)
    return out
