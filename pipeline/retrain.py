"""Retraining and safe rollout (DESIGN.md invariant 4).

retrain: a new encoder from the collection's own distinct images (augmentation triplets) plus the pairs ops
confirmed, compared with the active model on one held-out validation set; promoted only if at least as good.
rollout: build the new model's generation beside the live one while ingestion goes on (new images are
embedded for both), then switch the collection's generation and the active model in one step.
"""
from __future__ import annotations

import contextlib
import os
import time

from neardup.encoder.train import TrainConfig, evaluate_model, load_pool, split, train, validation_set
from neardup.storage.collection import checked
from neardup.storage.registry import ImageStatus, in_chunks

from .steps import index_step


def distinct_images(rt, collection: str) -> list:
    """One row per distinct picture: images that were not found to copy an earlier one."""
    return [r for r in rt.registry.images(collection=collection) if r.status == ImageStatus.INDEXED]


def confirmed_groups(rt, rows) -> dict[str, str]:
    """{path: group} joining images that ops labelled duplicates of each other."""
    by_hash = {r.content_hash: r.path for r in rows}
    groups = {}
    for a, b, label in rt.registry.labels():
        if label == "duplicate" and a in by_hash and b in by_hash:
            groups[by_hash[b]] = groups.get(by_hash[a], by_hash[a])
            groups.setdefault(by_hash[a], by_hash[a])
    return groups


def at_least_as_good(new: dict, active: dict) -> bool:
    """The promotion rule: recall at precision 0.99 first (what ops feel: copies found with no false pair),
    average precision breaking ties."""
    return (new["r_at_p99"], new["ap"]) >= (active["r_at_p99"], active["ap"])


def retrain(rt, collection: str, config: dict | None = None, force: bool = False, log=print,
            lock=contextlib.nullcontext) -> dict:
    cfg = TrainConfig(**(config or {}))
    rows = distinct_images(rt, checked(collection))
    if len(rows) < 16:
        raise ValueError(f"collection {collection!r} has {len(rows)} distinct images; at least 16 are needed")
    paths = [r.path for r in rows]
    out = os.path.join(rt.settings.data_dir, "models", f"{collection}-{time.strftime('%Y%m%d-%H%M%S')}.keras")
    info = train(paths, out, cfg, log=log, groups=confirmed_groups(rt, rows))
    rt.models.register(info["version"], out, info)

    # both models judged on the same held-out images, each at thresholds calibrated on them
    val_paths, _ = split(paths, cfg)
    val_images, _ = load_pool(val_paths, cfg.max_side)
    active = rt.encoder()
    figures = {}
    for name, path, size in (("new", out, info["input_size"]), ("active", active.path, active.size)):
        vx, vg, vl = validation_set(val_images, size, cfg.seed + 1)
        figures[name] = evaluate_model(str(path), vx, vg, vl)
    result = {"version": info["version"], "previous": active.version, "figures": figures,
              "promoted": force or at_least_as_good(figures["new"], figures["active"])}
    if result["promoted"]:
        rollout(rt, collection, info["version"], lock)
    return result


def rollout(rt, collection: str, version: str, lock=contextlib.nullcontext, chunk: int = 256) -> None:
    """Re-embed the collection into `version`'s generation, then switch to it atomically."""
    rt.set_generations(collection, building=version)
    while True:
        todo = rt.registry.missing_from(collection, version)
        if not todo:
            break
        for part in in_chunks(todo, chunk):
            with lock():
                index_step(rt, collection, version, part)
    with lock():  # the last images ingested meanwhile, then the switch, with no writer in between
        for part in in_chunks(rt.registry.missing_from(collection, version), chunk):
            index_step(rt, collection, version, part)
        with rt.engine.begin() as conn:  # the images' states become what the new generation's pairs say
            rt.registry.set_outcomes(conn, rt.registry.outcomes_in(collection, version))
        rt.models.promote(version)
        rt.set_generations(collection, generation=version, building=None)


def promote(rt, version: str, roll_out: bool = False, lock_for=lambda collection: contextlib.nullcontext) -> list[str]:
    """Make `version` the active model, once it has been loaded (safe mode) and has embedded an image: a file
    that cannot serve is refused here, not found broken by every scan after it. New collections use it; with
    `roll_out`, so does every collection live on the model active before, re-embedded into `version`'s
    generation and switched as `rollout` does (how a registry moves to a new shipped default; `rollback`
    undoes both), and every collection live on an earlier version of `version`'s file (an upgrade re-made it:
    no file gives those vectors now). Returns the collections rolled out."""
    import numpy as np

    from neardup.encoder.artifact import Encoder

    row = rt.models.get(version)
    if row is None:
        raise KeyError(f"unknown model version {version}")
    try:
        enc = Encoder(row.path)
        vec = enc.embed(np.random.default_rng(0).integers(0, 256, (1, enc.size, enc.size, 3), np.uint8))
    except Exception as exc:
        raise ValueError(f"model {version} ({row.path}) cannot be used: {type(exc).__name__}: {exc}") from None
    rt.model_path(version)  # ModelUnavailable where its file now holds another version: checked before any switch
    if not np.all(np.isfinite(vec)) or abs(float(np.linalg.norm(vec)) - 1) > 1e-3:
        raise ValueError(f"model {version} does not produce unit vectors")
    before = rt.models.active()
    moved = []
    if roll_out:
        replaced = {m.version for m in rt.models.all() if m.path == row.path}  # this file's versions, earlier ones
        for old in sorted((replaced | ({before.version} if before else set())) - {version}):
            moved += rt.registry.collections_on(old)
    for collection in moved:
        rollout(rt, collection, version, lock_for(collection))
    rt.models.promote(version)
    return moved


def rollback(rt, lock_for=lambda collection: contextlib.nullcontext) -> str:
    """Make the previously active model active again, and switch every collection live on the current one
    back to the previous model's generation (the images ingested since re-embedded into it first, states
    revised, the switch atomic under the collection's lock). Returns the version now active."""
    row = rt.models.active()
    if row is None or not row.previous:
        raise LookupError("no earlier version to roll back to")
    rt.model_path(row.previous)  # ModelUnavailable where an upgrade re-made its file: no collection half switched
    for collection in rt.registry.collections_on(row.version):
        rollout(rt, collection, row.previous, lock_for(collection))
    rt.models.promote(row.previous)
    return row.previous
