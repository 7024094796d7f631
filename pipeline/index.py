"""The index step: the one place where vectors become visible (DESIGN.md invariant 2).

New vectors are searched against every segment, the buffer and each other; pairs under the match
threshold are recorded, each image gets its final state, and the vectors join the buffer, all in one
transaction. Images this generation already holds are skipped, so a redelivered batch adds nothing twice;
one it holds as removed is searched and revived. What a file's new content replaced is removed first: a copy
of the old picture is no copy of what the path holds now.
"""
from __future__ import annotations

import time

import numpy as np
from sqlalchemy.exc import OperationalError

from neardup.errors import StaleIndex
from neardup.storage.index import CollectionIndex, nearest_of
from neardup.storage.registry import ImageStatus

from .agreement import Agreement
from .labels import Frames
from .remove import take_out
from .siblings import regrouped


def index_batch(rt, index: CollectionIndex, image_ids, vectors, thresholds: dict,
                record_outcomes: bool = True, verifying: bool = False, attempts: int = 20) -> dict[int, tuple]:
    """Index (image_id, vector) pairs; return {image_id: (state, of_image, distance)} for the new ones.
    A generation being rebuilt beside the live one records its pairs but leaves image states alone.
    `verifying`: the images wait in state `verifying` (their nearest earlier copy by the embedding kept
    beside it) for the verify step to decide their pairs. If another writer got in between our search and
    our commit, search again."""
    for attempt in range(attempts):
        try:
            return _index_once(rt, index, image_ids, vectors, thresholds, record_outcomes, verifying)
        except (StaleIndex, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _index_once(rt, index, image_ids, vectors, thresholds, record_outcomes, verifying):
    index.refresh()
    replaced = [i for i in rt.registry.replaced_at(image_ids) if i not in index.tombstones]
    if replaced and index.indexed(replaced):
        with rt.engine.begin() as conn:
            take_out(conn, rt, index.collection, replaced)
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

    partners = partners_of(rt, index, ids, vecs, thresholds)
    frames = Frames.of(rt, paired(partners))
    frames.check_ahead((image_id, other) for image_id, near in partners.items() for other, _ in near)
    rows, outcomes = {}, {}
    for image_id, near in partners.items():
        for other, d in near:
            a, b = sorted((image_id, other))
            rows[(a, b)] = (a, b, round(d, 6), frames.label(a, b, d, thresholds))
    frames.keep()
    group = regrouped(rt, index.collection, index.generation, list(rows.values()))  # and the pairs round them
    rows = {row[:2]: row for row in group.written}
    for image_id, near in partners.items():
        if near:  # the image's state: its nearest earlier copy
            other, d = min(near, key=lambda t: t[1])
            outcomes[image_id] = (rows[tuple(sorted((image_id, other)))][3], other, round(d, 6))
        else:
            outcomes[image_id] = (ImageStatus.INDEXED, None, None)
        if verifying:
            outcomes[image_id] = (ImageStatus.VERIFYING, *outcomes[image_id][1:])

    # earlier images whose pairs the rule relabelled
    others = group.states(rt, index, skip=ids.tolist()) if record_outcomes and group.changed else {}
    with rt.engine.begin() as conn:
        appended = index.commit(conn, ids, vecs)
        rt.registry.add_pairs(conn, index.collection, index.generation, group.written)
        rt.registry.relabel_pairs(conn, index.collection, index.generation, group.changed)
        if record_outcomes:
            rt.registry.set_outcomes(conn, {**others, **outcomes})
    index.after_commit(ids[appended], vecs[appended])
    return outcomes


def partners_of(rt, index: CollectionIndex, ids: np.ndarray, vecs: np.ndarray, thresholds: dict) -> dict[int, list]:
    """{image id: [(partner, distance)]}: the indexed images within the match threshold of each new one, and
    the earlier new ones of the batch, by the distance with hash agreement (pipeline/agreement.py); only the
    Settings.max_partners nearest of them if that is set."""
    match, most = thresholds["match"], rt.settings.max_partners
    agreement = Agreement(rt, index.collection, index.generation, thresholds)
    found = agreement.within(index, ids, vecs, match, most)
    within_batch = index.pair_distances(vecs, vecs)
    earlier = agreement.nearest({int(image_id): [(int(ids[j]), float(within_batch[qi, j])) for j in range(qi)
                                                 if within_batch[qi, j] <= match + agreement.by]
                                 for qi, image_id in enumerate(ids)})
    return {i: nearest_of(found[i] + [(o, d) for o, d in earlier[i] if d <= match], most) for i in found}


def paired(partners: dict[int, list]) -> set[int]:
    """The images of partners_of()'s pairs: those whose signatures the labels need."""
    return {i for image_id, near in partners.items() if near for i in (image_id, *(o for o, _ in near))}


def sign_ahead(rt, index: CollectionIndex, ids: np.ndarray, vecs: np.ndarray, thresholds: dict) -> None:
    """The same-frame signatures an index_batch of these images will need, and the checks of its pairs (stored
    by content), made beforehand on the index as it stands: the queue's steps call this before the index step
    takes the collection's lock, which reading the files and checking the pairs would otherwise hold (a pair
    with an image indexed in between is signed and checked under the lock)."""
    partners = partners_of(rt, index, ids, vecs, thresholds)
    frames = Frames.of(rt, paired(partners))
    for image_id, near in partners.items():
        for other, d in near:
            frames.label(image_id, other, d, thresholds)
    frames.keep()
