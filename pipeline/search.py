"""`neardup search`: the nearest stored images of query files, which are embedded but not stored."""
from __future__ import annotations

import numpy as np

from encoder.decode import DecodeError, decode_file

from .ingest import label_for
from .runtime import Runtime


def search_images(settings, paths: list[str], collection: str, k: int = 10) -> dict:
    rt = Runtime(settings)
    enc = rt.encoder()
    th = rt.thresholds(enc.info)
    index = rt.index(collection, enc.version, enc.info.dim)
    out: dict = {}
    for path in paths:
        try:
            vec = enc.embed(decode_file(path, enc.size).pixels[None])[0]
        except DecodeError as exc:
            out[path] = str(exc)
            continue
        hits = index.nearest(np.asarray(vec), k)
        rows = {r.id: r for r in rt.registry.images(ids=[i for i, _ in hits])}
        out[path] = [{"path": rows[i].path, "distance": round(d, 6), "label": label_for(d, th)}
                     for i, d in hits if i in rows]
    return out
