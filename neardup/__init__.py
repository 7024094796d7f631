"""neardup: find near-duplicate images. `neardup.find_duplicates("photos/")` for a folder; the queue, the CLI
and the parts behind them live in neardup.worker, neardup.tasks, neardup.pipeline, neardup.storage and
neardup.encoder."""
from __future__ import annotations

from typing import NamedTuple


class Copy(NamedTuple):
    """Another image that is a copy: `label` is "duplicate" (the same picture: safe to merge) or "match" (an
    edited copy: for a person to look at); `distance` is the embedding's, after verification."""
    path: str
    label: str
    distance: float


def find_duplicates(folder: str, settings=None, collection: str = "default") -> dict[str, list[Copy]]:
    """{path: [Copy, nearest first]} for every readable image under `folder`, paths relative to it (images
    with no copy map to []). `settings`: a `neardup.config.Settings` (default: `neardup.config.load()`, i.e.
    NEARDUP_* variables, neardup.toml, defaults). Vectors are kept in the settings' data directory, so a
    second call embeds only new or changed files."""
    from neardup.config import load
    from neardup.pipeline.scan import Scanner

    res = Scanner(settings or load(), collection).scan(folder)
    found: dict[str, list[Copy]] = {res.rel(i): [] for i in sorted(res.images, key=res.rel)}
    for a, b, distance, label in res.pairs:
        found[res.rel(a)].append(Copy(res.rel(b), label, distance))
        found[res.rel(b)].append(Copy(res.rel(a), label, distance))
    return found


__all__ = ["Copy", "find_duplicates"]
