"""`neardup evaluate`: score a scan against a labelled truth.json, with the definitions of
`../shared/bench/score.py` (precision/recall per label, AP and recall at precision 0.99 over the
neighbour ranking, recall per edit family when the truth names them).
"""
from __future__ import annotations

import itertools

import numpy as np

from neardup.encoder.metrics import average_precision, recall_at_precision


def truth_pairs(truth: dict) -> tuple[set, set]:
    level = truth.get("level", {})
    every, benign = set(), set()
    for group in truth["groups"]:
        for a, b in itertools.combinations(sorted(group), 2):
            every.add((a, b))
            if level.get(a, "duplicate") == "duplicate" and level.get(b, "duplicate") == "duplicate":
                benign.add((a, b))
    return every, benign


def _key(a, b):
    return (a, b) if a <= b else (b, a)


def _ranked(scored: dict, positives: set) -> tuple[float, float]:
    pairs = list(scored)
    d = np.array([scored[p] for p in pairs], np.float64)
    pos = np.array([p in positives for p in pairs], bool)
    return average_precision(d, pos, len(positives)), recall_at_precision(d, pos, 0.99, len(positives))


def score(truth: dict, pairs, neighbors=()) -> dict:
    """pairs: (a, b, distance, label) with names as in truth; neighbors: (query, neighbour, distance)."""
    every, benign = truth_pairs(truth)
    flagged = {_key(a, b) for a, b, _, _ in pairs if a != b}
    dup = {_key(a, b) for a, b, _, label in pairs if a != b and label == "duplicate"}
    res = {
        "true_pairs": len(every), "true_duplicate_pairs": len(benign), "flagged": len(flagged),
        # a duplicate label on an edited copy, or between a benign and an edited copy, is wrong: ops merge it
        "dup_precision": len(dup & benign) / max(1, len(dup)), "dup_precision_any": len(dup & every) / max(1, len(dup)),
        "dup_recall": len(dup & benign) / max(1, len(benign)),
        "match_precision": len(flagged & every) / max(1, len(flagged)),
        "match_recall": len(flagged & every) / max(1, len(every)),
    }
    if neighbors:
        scored: dict = {}
        for q, n, d in neighbors:
            k = _key(q, n)
            if k[0] != k[1]:
                scored[k] = min(float(d), scored.get(k, float(d)))
        res["ap"], res["r_at_p99"] = _ranked(scored, every)
        res["dup_ap"], res["dup_r_at_p99"] = _ranked({k: v for k, v in scored.items() if k in benign or k not in every},
                                                     benign)
    by_tf: dict = {}  # per edit family: original-copy pairs flagged, labelled duplicate, in all
    for group in truth["groups"]:
        for c in group[1:]:
            hit = by_tf.setdefault(truth.get("transforms", {}).get(c, "?"), [0, 0, 0])
            hit[0] += _key(group[0], c) in flagged
            hit[1] += _key(group[0], c) in dup
            hit[2] += 1
    res["recall_by_transform"] = {t: round(h / n, 3) for t, (h, _, n) in sorted(by_tf.items())}
    res["duplicate_by_transform"] = {t: round(d / n, 3) for t, (_, d, n) in sorted(by_tf.items())}
    return res
