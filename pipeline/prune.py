"""Housekeeping: what the registry and the data directory keep that no answer needs any more.

A removed listing leaves its vectors, signatures, hashes, verdicts and its preview (a small copy of the
picture) behind, every retrained model a full set of vectors and an index per collection, and every batch a
row per path it asked for. `neardup prune` deletes the data of pictures no collection holds (every file with
those bytes removed or replaced), the vectors and indexes of model versions that neither answer, nor are
being built, nor are the way back of a rollback, the cached results of older versions of the checks, and
batches older than a month. Ops' labels stay, and the images themselves. Safe beside running workers:
whatever it deletes that one of them needs again is made again (an image lacking a vector is embedded by the
index step, a pair lacking a verdict verified).
"""
from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass, field

from neardup.encoder import phash
from neardup.encoder.frame import CHECKER, FINEST_KEY, KEY, TOLD
from neardup.storage.index import index_root

from .verify import Verifier

RECENT_S = 24 * 3600  # a model version registered this recently is kept: a retrain may be about to roll it out
BATCH_DAYS = 30.0  # batches kept this long (what each asked for, its status); celery keeps a task's result 7 days


@dataclass
class Pruned:
    rows: dict[str, int] = field(default_factory=dict)  # registry rows, per what they held
    files: dict[str, int] = field(default_factory=dict)  # previews and index folders
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.rows.values()) + sum(self.files.values())


def kept_versions(rt) -> set[str]:
    """The model versions whose vectors and indexes stay: the active one and the one before it (the way back),
    every collection's live generation and the one being built, and any registered in the last RECENT_S. With
    no active model yet, every registered one."""
    rows = rt.models.all()
    active = next((r for r in rows if r.active), None)
    if active is None:
        return {r.version for r in rows}
    recent = time.time() - RECENT_S
    kept = {active.version, active.previous, *(r.version for r in rows if (r.created_at or 0) >= recent)}
    for generation, building in rt.registry.collections().values():
        kept |= {generation, building}
    return kept - {None}


def prune(rt, dry_run: bool = False, lock_for=lambda collection: contextlib.nullcontext,
          batch_days: float | None = None) -> Pruned:
    """Delete (with `dry_run`, count) what no answer needs (the module's docstring), and batches older than
    `batch_days` (None: BATCH_DAYS). `lock_for(collection)`: the collection's writer lock, held while its
    retired generations go (a rollout starting meanwhile is seen under it and kept)."""
    out = Pruned(dry_run=dry_run)
    versions, gone = kept_versions(rt), sorted(rt.registry.gone_contents())
    out.rows = rt.registry.prune(gone, versions | {phash.KEY, KEY, FINEST_KEY}, Verifier().key(), {CHECKER, TOLD}, dry_run)
    days = BATCH_DAYS if batch_days is None else batch_days
    out.rows.update(rt.registry.prune_batches(time.time() - days * 86400, dry_run))
    out.files["previews of pictures gone"] = _previews_of(rt, gone, dry_run)
    folders = 0
    for collection in rt.registry.collections():
        with lock_for(collection)():
            kept = versions | {g for g in rt.registry.collections().get(collection, ()) if g}
            for name, n in rt.registry.prune_generations(collection, kept, dry_run).items():
                out.rows[name] = out.rows.get(name, 0) + n
            root = index_root(rt.settings.data_dir, collection)
            for folder in sorted(root.iterdir()) if root.is_dir() else ():
                if folder.is_dir() and folder.name not in kept:
                    folders += 1
                    if not dry_run:
                        shutil.rmtree(folder, ignore_errors=True)
    out.files["index folders of retired generations"] = folders
    return out


def _previews_of(rt, gone: list[str], dry_run: bool) -> int:
    """Delete (or count) the previews of pictures no collection holds: a removed listing's thumbnail too."""
    if rt.previews is None:
        return 0
    n = 0
    for content in gone:
        path = rt.previews.path_for(content)
        if path.is_file():
            n += 1
            if not dry_run:
                path.unlink(missing_ok=True)
    return n
