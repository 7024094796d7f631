"""`neardup search`: the nearest stored images of query files, which are embedded but not stored."""
from __future__ import annotations

import numpy as np

from neardup.encoder import phash
from neardup.encoder.decode import decode, read_bytes, signature_of
from neardup.encoder.frame import WHY, explained
from neardup.errors import DecodeError

from .agreement import Agreement
from .labels import Frames, label_for
from .runtime import Runtime
from .siblings import beside


def search_images(settings, paths: list[str], collection: str, k: int = 10) -> dict:
    """{query path: its k nearest stored images (hit()), or why it could not be read}, searched with the model
    the collection is indexed with (after a roll-out, the new one). LookupError: the collection holds nothing."""
    rt = Runtime(settings)
    generation, _ = rt.generations(collection)
    if generation is None:
        raise LookupError(f"collection {collection!r} has nothing indexed")
    enc = rt.encoder_for(generation)
    th = rt.thresholds(enc.info)
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
        hits = agreement.nearest_to(phash.dihedral(pixels), index.nearest(np.asarray(vec), 4 * k + 1))[:k]
        rows = {r.id: r for r in rt.registry.images(ids=[i for i, _ in hits])}
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


def hit(path: str, distance: float, thresholds: dict, why: str | None) -> dict:
    """One neighbour of a query: its label, and for a match why it is not a duplicate (explained(): None for a
    duplicate)."""
    label = label_for(distance, thresholds, why is None)
    return {"path": path, "distance": round(distance, 6), "label": label,
            **({"why": WHY.get(why, "")} if label == "match" else {})}
