"""The queue's second stage: a batch's pairs verified as a scan verifies them, once its images are indexed.

The index step records what the embedding finds and leaves each image `verifying`. This step gathers the
candidates a scan would give the batch's images among everything indexed so far (their pairs, their nearest
neighbours and the images they are among the nearest of, perceptual-hash neighbours, pairs two flagged
pairs apart), verifies them (pipeline/verify.py), and writes the outcome under
the collection's writer lock: each examined pair takes its verified distance and label or goes, each image
its final state (duplicate or match of its nearest earlier copy, or indexed). An image indexed later is
verified by its own batch's step, which sees these.

Verdicts are stored by content as they are reached, so a step that is killed and run again decides nothing
twice. The work is done twice over: once outside the lock (the verdicts, and the same-frame signatures and
checks of the pairs kept: the slow part), once under it with those stored (the stored pairs as they stand, and
the candidates gathered again if the index moved meanwhile: what another batch committed is counted), then
written in one transaction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neardup.storage.registry import ImageStatus, outcomes_from

from . import verify
from .agreement import Agreement
from .siblings import regrouped


def verify_batch(rt, collection: str, image_ids: list[int], lock) -> dict[int, str]:
    """Verify the pairs of the images among `image_ids` still `verifying` and give them their final state;
    `lock()` is a context manager holding the collection's writer lock. Returns {image id: state}."""
    generation, _ = rt.generations(collection)
    waiting = [r.id for r in rt.registry.images(ids=image_ids) if r.status == ImageStatus.VERIFYING]
    if not waiting or generation is None:
        return {}
    settings = verify.settings_for(rt.settings, rt.model_info(generation))  # what the generation's encoder needs
    if not verify.enabled(settings):  # turned off where this step runs: the index step's pairs stand
        th = rt.thresholds(rt.model_info(generation))
        with lock():
            return write(rt, collection, generation, waiting, Examined({}, set(), {}, th, set(waiting)))
    found = gather(rt, settings, collection, generation, waiting)
    ahead = examine(rt, settings, collection, generation, found)  # the verdicts, stored as they are reached
    verify.labelled(rt, ahead.images, ahead.kept, ahead.thresholds, grouped=False)  # and the kept pairs' checks
    with lock():
        still = [r.id for r in rt.registry.images(ids=waiting) if r.status == ImageStatus.VERIFYING]
        if still != waiting or rt.index(collection, generation, rt.model_info(generation).dim).epoch != found.epoch:
            found = gather(rt, settings, collection, generation, still)  # what was indexed or removed meanwhile
        return write(rt, collection, generation, still, examine(rt, settings, collection, generation, found))


@dataclass
class Examined:
    """What verification made of a batch's candidates."""
    kept: dict  # (a, b): distance after verification, for the pairs kept
    examined: set  # every pair flagged or checked: those not kept are no pairs
    images: dict  # image id: row, for every image these name
    thresholds: dict
    batch: set  # the batch's images that were examined (indexed, with a vector)


@dataclass
class Gathered:
    """A batch's candidates on one view of the index: they depend on nothing else (vectors and hashes are
    the images' own), so a view of the same epoch gives the same."""
    candidates: dict  # (a, b): distance, the pairs and neighbours a scan would check
    proposed: set  # (a, b): perceptual-hash neighbours
    batch: set  # the batch's images that the index holds (with a vector)
    thresholds: dict
    epoch: int  # the index's, as it was read


def gather(rt, settings, collection: str, generation: str, ids: list[int]) -> Gathered:
    """The batch's candidates as a scan would have them among everything indexed."""
    info = rt.model_info(generation)
    th = rt.thresholds(info)
    index = rt.index(collection, generation, info.dim)
    queries = rt.registry.vectors_by_image(collection, generation, ids)
    indexed = index.order(ids)
    ids = [i for i in ids if i in queries and i in indexed]
    batch = set(ids)
    radius = verify.radius_for(settings, th)
    k = verify.neighbours_to_find(settings, 0)

    agreement = Agreement(rt, collection, generation, th)  # the distances as the scan reports them

    def nearest_of(vecs: dict) -> dict:
        """{image: its k nearest [(image, distance)]} for {image: vector}."""
        return {i: near[:k] for i, near in agreement.nearest(index.nearest_others(vecs, 4 * k + 1)).items()}

    pairs = []
    vecs = np.stack([queries[i] for i in ids]) if ids else None
    for i, found in agreement.within(index, ids, vecs, th["match"], settings.max_partners).items():
        pairs += [(min(i, j), max(i, j), d, "") for j, d in found]
    near = nearest_of({i: queries[i] for i in ids})
    # the images these are among the nearest of: a scan counts the pair from either side
    others = {n for i in ids for n, d in near[i] if d <= radius} - batch
    near.update(nearest_of(rt.registry.vectors_by_image(collection, generation, sorted(others))))
    neighbors = [(x, n, d) for x, found in near.items() for n, d in found]
    candidates = {p: d for p, d in verify.candidates_for(pairs, neighbors, settings, th).items()
                  if p[0] in batch or p[1] in batch}

    return Gathered(candidates, hash_pairs(rt, collection, index, batch), batch, th, index.epoch)


def examine(rt, settings, collection: str, generation: str, found: Gathered) -> Examined:
    """The gathered candidates verified (verdicts stored as they are reached), with the stored pairs round them
    as they stand now."""
    batch = found.batch
    named = {i for pair in (*found.candidates, *found.proposed) for i in pair}
    # their partners' pairs count for pairs two apart (whose far ends must be at hand to be verified)
    context = {(a, b): d for a, b, d, _ in rt.registry.pairs_of(collection, generation, sorted(named - batch))
               if a not in batch and b not in batch}
    images = {r.id: r for r in rt.registry.images(ids=sorted(named | batch | {i for p in context for i in p}))}
    out = verify.settle(images, found.thresholds, settings, rt.registry, found.candidates, found.proposed, context)
    return Examined(out.kept, out.examined, images, found.thresholds, batch)


def hash_pairs(rt, collection: str, index, batch: set) -> set[tuple[int, int]]:
    """Perceptual-hash neighbours of the batch's images among the images the index holds."""
    found = verify.batch_hash_pairs(rt.registry, collection, batch)
    indexed = index.order({i for p in found for i in p})
    return {p for p in found if p[0] in indexed and p[1] in indexed}


def write(rt, collection: str, generation: str, ids: list[int], result: Examined) -> dict[int, str]:
    """In one transaction: the examined pairs as verified and each image's final state."""
    info = rt.model_info(generation)
    index = rt.index(collection, generation, info.dim)
    mine = set(ids) & result.batch
    group = regrouped(rt, collection, generation,
                      verify.labelled(rt, result.images, result.kept, result.thresholds, grouped=False),
                      gone=result.examined)  # and the stored pairs round them
    kept = group.written
    pairs = [(a, b, d, group.changed.get((a, b), label))
             for a, b, d, label in rt.registry.pairs_of(collection, generation, sorted(mine))
             if (a, b) not in result.examined]
    pairs += [p for p in kept if p[0] in mine or p[1] in mine]
    outcomes = outcomes_from(pairs, index.order({i for p in pairs for i in p[:2]} | mine), ids)
    others = group.states(rt, index, skip=ids)  # earlier images whose pairs the rule relabelled
    with rt.engine.begin() as conn:
        rt.registry.replace_pairs(conn, collection, generation, result.examined, kept)
        rt.registry.relabel_pairs(conn, collection, generation, group.changed)
        rt.registry.set_outcomes(conn, {**others, **outcomes})
    return {i: str(s) for i, (s, _, _) in outcomes.items()}

