"""`neardup search`: the nearest stored images of query files, which are embedded but not stored."""
from __future__ import annotations

import numpy as np

from neardup.encoder import phash
from neardup.encoder.decode import content_hash, decode, read_bytes, signature_of
from neardup.encoder.frame import WHY, explained
from neardup.errors import DecodeError

from . import verify
from .agreement import Agreement
from .labels import Frames, label_for
from .runtime import Runtime
from .siblings import beside

QUERY = -1  # the query's id among the stored images' in verification's pairs: it has no row


def search_images(settings, paths: list[str], collection: str, k: int = 10) -> dict:
    """{query path: its k nearest stored images (hit()), or why it could not be read}, searched with the model
    the collection is indexed with (after a roll-out, the new one). LookupError: the collection holds nothing."""
    rt = Runtime(settings)
    generation, _ = rt.generations(collection)
    if generation is None:
        raise LookupError(f"collection {collection!r} has nothing indexed")
    enc = rt.encoder_for(generation)
    th = rt.thresholds(enc.info)
    checking = verify.settings_for(rt.settings, enc.info)
    index = rt.index(collection, generation, enc.info.dim)
    agreement = Agreement(rt, collection, generation, th)  # the distances as a scan reports them
    out: dict = {}
    for path in paths:
        try:
            data = read_bytes(path)
            pixels = decode(data, enc.size, boxed=enc.boxed).pixels
            vec = enc.embed(pixels[None])[0]
        except DecodeError as exc:
            out[path] = str(exc)
            continue
        hashes = phash.dihedral(pixels)
        wanted = 4 * verify.neighbours_to_find(checking, k) + 1
        hits, rows = agreement.nearest_to(hashes, index.nearest(np.asarray(vec), wanted)), {}
        if verify.enabled(checking):
            hits, rows = verified(rt, checking, th, collection, (path, content_hash(data), hashes), hits)
        hits = hits[:k]
        unread = [i for i, _ in hits if i not in rows]
        rows.update({r.id: r for r in rt.registry.images(ids=unread)} if unread else {})
        close = [rows[i] for i, d in hits if i in rows and d <= th["match"]]
        frames = Frames(rt, close)  # the signatures only pairs need, the query's too
        try:
            query = signature_of(data) if close else None
        except DecodeError:
            query = None  # its pairs are matches
        why = {row.id: explained(query, frames.by_id.get(row.id)) for row in close}
        for i in beside(rt, collection, generation, query, frames, {i: w is None for i, w in why.items()}):
            why[i] = "siblings"  # an edit its larger copies show (pipeline/siblings.py)
        # (no label past the match distance, whatever the frames)
        out[path] = [hit(rows[i].path, d, th, why.get(i)) for i, d in hits if i in rows]
    return out


def verified(rt, settings, th: dict, collection: str, query: tuple, hits: list[tuple[int, float]]
             ) -> tuple[list[tuple[int, float]], dict]:
    """The query's nearest (`hits`, ascending) with the distances verification gives the pairs a scan would
    check if the query (path, content hash, phash.dihedral()) were one of its images: its neighbours in the
    grey zone (verify.checked_of) and the stored pictures its perceptual hashes propose (a quarter turn).
    A crop the embedding puts past the match threshold is found, an unrelated look-alike inside it refuted.
    Nearest first again, and the registry rows of the images checked."""
    path, digest, hashes = query
    nearest = verify.checked_from(settings, th)
    todo = {(QUERY, i): d for i, d in verify.checked_of(hits, settings, th) if d > nearest}
    settled = {i for i, d in hits if d <= nearest}
    todo.update({pair: float("inf") for pair in verify.batch_hash_pairs(rt.registry, collection, (), {QUERY: hashes})
                 if pair not in todo and pair[1] not in settled})
    rows = {r.id: r for r in rt.registry.images(ids=sorted(i for _, i in todo))}
    verifier = verify.Verifier()
    known = verify.KnownVerdicts(rt.registry, {QUERY: digest, **{i: r.content_hash for i, r in rows.items()}}, verifier)
    after = verify.rescore(todo, {QUERY: path, **{i: r.path for i, r in rows.items()}}, th,
                           verify.radius_for(settings, th), verifier, settings.threads, settings.verify_max_pairs, known)
    near = dict(hits)
    near.update((i, d) for (_, i), d in after.items() if i in near or d <= th["match"])
    return sorted(near.items(), key=lambda h: (h[1], h[0])), rows


def hit(path: str, distance: float, thresholds: dict, why: str | None) -> dict:
    """One neighbour of a query: its label, and for a match why it is not a duplicate (explained(): None for a
    duplicate)."""
    label = label_for(distance, thresholds, why is None)
    return {"path": path, "distance": round(distance, 6), "label": label,
            **({"why": WHY.get(why, "")} if label == "match" else {})}
