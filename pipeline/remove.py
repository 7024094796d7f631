"""Taking images out of a collection: a listing deleted, a takedown, a file gone from the catalogue.

A removed image is no longer found, paired, swept or reported: its vector is tombstoned in every generation of
the collection, its pairs go, and its state becomes `removed`, all in one transaction. An upload that copies
it is then a new picture, not a duplicate of something that no longer exists. Submitted or scanned again, it
comes back (pipeline/index.py).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from neardup.storage.collection import checked
from neardup.storage.index import tombstone

from .siblings import regrouped


@dataclass
class Removal:
    removed: list[str]  # paths taken out
    unknown: list[str]  # paths asked for that the collection does not hold


def take_out(conn, rt, collection: str, ids) -> None:
    """In the caller's transaction: tombstone these images everywhere, drop their pairs, mark them removed
    (an image already replaced by a newer file keeps that state), and relabel the pairs round them that the
    group rules judged by them (pipeline/siblings.py)."""
    groups = {generation: regrouped(rt, collection, generation, [],
                                    gone=[p[:2] for p in rt.registry.pairs_of(collection, generation, ids)])
              for generation in rt.generations(collection) if generation}
    tombstone(conn, collection, ids)
    rt.registry.remove(conn, collection, ids)
    for generation, group in groups.items():
        rt.registry.relabel_pairs(conn, collection, generation, group.changed)


def remove_gone(rt, collection: str, root: str, listed: list[str], failed: list[tuple[str, str]]) -> int:
    """Remove the collection's images under the folder `root` whose files are gone (not `listed` by its walk,
    and no longer there at all): a re-scan of a folder forgets what was deleted from it. Nothing is removed
    where the walk could not list everything (`failed` names a folder it could not read): an unmounted share
    must not empty a collection. Returns how many were removed."""
    if not os.path.isdir(root) or any(reason.startswith("cannot list") for _, reason in failed):
        return 0
    listed, under = set(listed), root.rstrip(os.sep) + os.sep
    return len(_remove_where(rt, collection, lambda path: path.startswith(under) and path not in listed
                             and not os.path.lexists(path), under=under))


def remove(rt, collection: str, paths=(), missing: bool = False, lock=contextlib.nullcontext) -> Removal:
    """Remove the collection's images at `paths` (a folder: every image under it, file or not still there),
    and with `missing` every image whose file is gone from a folder that is still there: a folder that is not
    (a share not mounted where this runs) removes nothing unless named, and a path kept relative is not looked
    for from wherever this runs. `lock`: the collection's writer lock, where
    workers may be writing (the index step's epoch check keeps a writer that searched before the removal from
    committing on that view anyway)."""
    checked(collection)
    wanted = {os.path.abspath(p) for p in paths}
    folders = tuple(p.rstrip(os.sep) + os.sep for p in wanted)
    found = set()

    def chosen(stored: str) -> bool:
        path = os.path.abspath(stored)  # a scan of an earlier release kept the path as it was given
        asked = path if path in wanted else next((f for f in folders if path.startswith(f)), None)
        found.add(asked)
        return asked is not None or (missing and os.path.isabs(stored) and not os.path.lexists(stored)
                                     and os.path.isdir(os.path.dirname(stored)))

    removed = [os.path.abspath(p) for p in _remove_where(rt, collection, chosen, lock)]
    return Removal(removed, sorted(p for p in wanted if p not in found and p.rstrip(os.sep) + os.sep not in found))


def _remove_where(rt, collection: str, chosen, lock=contextlib.nullcontext, under: str | None = None) -> list[str]:
    """Remove the collection's images whose kept path `chosen` accepts (of those under `under`, if given: see
    Registry.paths_in), in one transaction under `lock`; their paths."""
    picked = [(i, path) for i, path in rt.registry.paths_in(collection, under) if chosen(path)]
    if picked:
        with lock(), rt.engine.begin() as conn:
            take_out(conn, rt, collection, [i for i, _ in picked])
    return [path for _, path in picked]
