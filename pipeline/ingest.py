"""The index step: the one place where vectors become visible (DESIGN.md invariant 2).

New vectors are searched against every segment, the buffer and each other; pairs under the match
threshold are recorded, each image gets its final state, and the vectors join the buffer, all in one
transaction. Images this generation already holds are skipped, so a redelivered batch adds nothing twice.
"""
from __future__ import annotations

import time

import numpy as np
from sqlalchemy.exc import OperationalError

from storage import db
from storage.index import CollectionIndex, StaleIndex, exact_distances


def label_for(distance: float, thresholds: dict) -> str | None:
    if distance <= thresholds["duplicate"]:
        return "duplicate"
    if distance <= thresholds["match"]:
        return "match"
    return None


def index_batch(rt, index: CollectionIndex, image_ids, vectors, thresholds: dict,
                record_outcomes: bool = True, attempts: int = 20) -> dict[int, tuple]:
    """Index (image_id, vector) pairs; return {image_id: (state, of_image, distance)} for the new ones.
    A generation being rebuilt beside the live one records its pairs but leaves image states alone.
    If another writer got in between our search and our commit, search again."""
    for attempt in range(attempts):
        try:
            return _index_once(rt, index, image_ids, vectors, thresholds, record_outcomes)
        except (StaleIndex, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _index_once(rt, index, image_ids, vectors, thresholds, record_outcomes):
    index.refresh()
    ids = np.asarray(image_ids, np.int64)
    vecs = np.asarray(vectors, np.float32).reshape(len(ids), -1)
    _, first = np.unique(ids, return_index=True)  # the same image twice in one batch counts once
    keep = np.sort(first)
    ids, vecs = ids[keep], vecs[keep]
    already = index.indexed(ids)
    fresh = np.array([i not in already for i in ids], bool)
    ids, vecs = ids[fresh], vecs[fresh]
    if not len(ids):
        return {}

    found = index.within(vecs, thresholds["match"])
    within_batch = exact_distances(vecs, vecs)
    rows, outcomes = {}, {}
    for qi, image_id in enumerate(ids):
        partners = [(other, d) for other, d in found[qi] if other != image_id]
        partners += [(int(ids[j]), float(within_batch[qi, j])) for j in range(qi)
                     if within_batch[qi, j] <= thresholds["match"]]
        for other, d in partners:
            a, b = sorted((int(image_id), int(other)))
            rows[(a, b)] = dict(collection=index.collection, generation=index.generation, a=a, b=b,
                                distance=round(float(d), 6), label=label_for(d, thresholds))
        if partners:
            other, d = min(partners, key=lambda t: t[1])
            outcomes[int(image_id)] = (label_for(d, thresholds), int(other), round(float(d), 6))
        else:
            outcomes[int(image_id)] = ("indexed", None, None)

    with rt.engine.begin() as conn:
        index.commit(conn, ids, vecs)
        if rows:
            conn.execute(db.insert_ignore(conn, db.pairs), list(rows.values()))
        if record_outcomes:
            rt.registry.set_outcomes(conn, outcomes)
    index.after_commit(ids, vecs)
    return outcomes
