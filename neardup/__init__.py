"""neardup: find near-duplicate images. `neardup.find_duplicates("photos/")` or `neardup.find_groups("photos/")`
for a folder; the queue, the CLI and the parts behind them live in neardup.worker, neardup.tasks,
neardup.pipeline, neardup.storage and neardup.encoder."""
from __future__ import annotations

import logging
from typing import NamedTuple

log = logging.getLogger("neardup")


class Copy(NamedTuple):
    """Another image that is a copy: `label` is "duplicate" (the same picture: safe to merge) or "match" (an
    edited copy: for a person to look at); `distance` is the embedding's, after verification."""
    path: str
    label: str
    distance: float


class Group(NamedTuple):
    """Copies of one picture: the suggested `keeper` (an unedited copy, the
    largest of those sharing a frame), its `duplicates`
    (the same picture: merge them into it) and `matches` (edited copies, and copies not shown to be the same
    picture as the keeper: for a person to look at), paths relative to the folder."""
    keeper: str
    duplicates: list[str]
    matches: list[str]


def find_duplicates(folder: str, settings=None, collection: str = "default") -> dict[str, list[Copy]]:
    """{path: [Copy, nearest first]} for every readable image under `folder`, paths relative to it (images
    with no copy map to []). `settings`: a `neardup.config.Settings` (default: `neardup.config.load()`, i.e.
    NEARDUP_* variables, neardup.toml, defaults). Vectors are kept in the settings' data directory, so a
    second call embeds only new or changed files. Files that cannot be read are left out, each named in a
    warning of the "neardup" logger with its reason (what a scan's failed.csv lists)."""
    res = _scanned(folder, settings, collection)
    found: dict[str, list[Copy]] = {res.rel(i): [] for i in sorted(res.images, key=res.rel)}
    for a, b, distance, label in res.pairs:
        found[res.rel(a)].append(Copy(res.rel(b), label, distance))
        found[res.rel(b)].append(Copy(res.rel(a), label, distance))
    return found


def find_groups(folder: str, settings=None, collection: str = "default") -> list[Group]:
    """The groups of copies under `folder`, largest first, each copy labelled against the group's keeper as
    groups.json labels it: what a dedup job acts on (merge the duplicates, queue the matches for review).
    `settings`, `collection` and unreadable files as for find_duplicates()."""
    from neardup.pipeline.outputs import groups_of

    groups = groups_of(_scanned(folder, settings, collection))
    return [Group(g["keeper"], *([m["path"] for m in g["members"] if m["label"] == label]
                                 for label in ("duplicate", "match"))) for g in groups]


def _scanned(folder: str, settings, collection: str):
    """A scan of `folder`, its unreadable files told to the logger."""
    from neardup.config import load
    from neardup.pipeline.scan import Scanner

    res = Scanner(settings or load(), collection).scan(folder)
    for path, reason in res.failed:
        log.warning("%s: left out: %s", path, reason)
    return res


__all__ = ["Copy", "Group", "find_duplicates", "find_groups"]
