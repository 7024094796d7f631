"""The queue's units of work, as plain functions (the Celery tasks only call these).

embed_step: decode and embed a message's paths with the model of every live generation of the collection.
index_step: make them visible in a generation, under the collection's writer lock; a message for a
generation that is no longer live is re-embedded for the live one, so a model switch loses nothing.
sign_step: before the lock, the same-frame signatures and checks the index step's pairs will need: the embed step
makes them from the decodes it holds, the index task again for pairs with images indexed since.
"""
from __future__ import annotations

import logging

import numpy as np

from neardup.storage.registry import UNUSABLE, ImageStatus

from .embed import decode_item, embed_decoded, embed_paths, read_item
from .index import index_batch, sign_ahead

log = logging.getLogger(__name__)


def target_generations(rt, collection: str) -> list[str]:
    current, building = rt.generations(collection)
    current = current or rt.encoder().version
    return [current] + ([building] if building and building != current else [])


def embed_step(rt, collection: str, paths: list[str], batch_id: str | None,
               deadline: float | None = None) -> dict[str, list[int]]:
    """Returns {generation: [image ids embedded for it]}; failures are recorded per path. OutOfTime (from
    pipeline.embed) once files are still being read at `deadline` (time.monotonic()). The live generation's
    pairs are signed here (sign_step), from the decodes the encoder was given, not from the files again, unless
    Settings.embed_signs is off."""
    out: dict[str, list[int]] = {}
    with rt.keeping_decodes():
        for n, generation in enumerate(target_generations(rt, collection)):
            enc = rt.encoder_for(generation)
            ids = [it.image_id for it in embed_paths(rt, paths, collection, batch_id, encoder=enc, deadline=deadline)
                   if not it.error]
            out[generation] = ids
            if not ids:
                break
            if n == 0 and rt.settings.embed_signs:
                sign_step(rt, collection, generation, ids)
            paths = [r.path for r in rt.registry.images(ids=ids)]  # the rebuild generation needs only the good ones
    return out


def timed_out(rt, collection: str, paths: list[str], batch_id: str, limit: float) -> dict[str, list[int]]:
    """After a message's embed step ran out of time: the paths it recorded go on to the index step as usual,
    the rest are failed with the reason (a file that hangs is reported, never sent again)."""
    from neardup.storage.registry import Recorded

    rows = {r.path: r for r in rt.registry.images(collection=collection, batch_id=batch_id, live_only=True)}
    unfinished = [p for p in paths if p not in rows]
    reason = f"timed out: reading and embedding the message's {len(paths)} images took over {limit:.0f} s"
    rt.registry.record_items(collection, [Recorded(p, reason=reason) for p in unfinished], batch_id)
    pending = [rows[p].id for p in paths if p in rows and rows[p].status == ImageStatus.PENDING]
    return {target_generations(rt, collection)[0]: pending}


def vectors_of(rt, image_ids: list[int], generation: str) -> tuple[list[int], np.ndarray]:
    """Vectors of images under one model, embedding (from their files) those that lack one."""
    rows = [r for r in rt.registry.images(ids=image_ids) if r.status not in UNUSABLE]
    known = rt.registry.vectors_for([r.content_hash for r in rows], generation)
    missing = [r for r in rows if r.content_hash not in known]
    if missing:
        enc = rt.encoder_for(generation)
        items = [decode_item(read_item(rt, r.path, check_roots=False), enc) for r in missing]
        embed_decoded(rt, enc, items)
        known.update({it.content_hash: it.vector for it in items if it.vector is not None})
    rows = [r for r in rows if r.content_hash in known]
    vecs = np.stack([known[r.content_hash] for r in rows]) if rows else np.empty((0, 1), np.float32)
    return [r.id for r in rows], vecs


def index_step(rt, collection: str, generation: str, image_ids: list[int], verifying: bool = False) -> dict:
    """Index images into `generation`, or into the live generations if it is no longer live; `verifying`:
    the live generation's images then wait for the verify step. The caller holds the collection's writer
    lock."""
    current, building = rt.adopt_generation(collection, generation)
    targets = [generation] if generation in (current, building) else [g for g in (current, building) if g]
    outcomes = {}
    for target in targets:
        ids, vecs = vectors_of(rt, image_ids, target)
        if not ids:
            continue
        info = rt.model_info(target)
        index = rt.index(collection, target, info.dim)
        result = index_batch(rt, index, ids, vecs, rt.thresholds(info), record_outcomes=(target == current),
                             verifying=verifying and target == current)
        if target == current:
            outcomes = result
    return {str(k): v[0] for k, v in outcomes.items()}


def sign_step(rt, collection: str, generation: str, image_ids: list[int]) -> None:
    """The same-frame signatures and pair checks that indexing these images (embedded for `generation`) will
    need, made without the collection's lock (index.sign_ahead). Only a head start: what fails here is logged,
    and the index step signs and checks what is still missing."""
    try:
        current, building = rt.generations(collection)
        if current is not None and generation not in (current, building):  # the index step re-embeds these
            return
        vectors = rt.registry.vectors_by_image(collection, generation, image_ids)
        if vectors:
            info = rt.model_info(generation)
            sign_ahead(rt, rt.index(collection, generation, info.dim), np.fromiter(vectors, np.int64),
                       np.stack(list(vectors.values())), rt.thresholds(info))
    except Exception:
        log.warning("signing ahead of the index step failed for %s", collection, exc_info=True)
