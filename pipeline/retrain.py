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

from sqlalchemy import and_, select

from encoder.train import TrainConfig, evaluate_model, load_pool, split, train, validation_set
from storage import db
from storage.collection import checked

from .steps import index_step

LIVE = ("indexed", "duplicate", "match")


def distinct_images(rt, collection: str) -> list:
    """One row per distinct picture: images that were not found to copy an earlier one."""
    return [r for r in rt.registry.images(collection=collection) if r.status == "indexed"]


def confirmed_groups(rt, rows) -> dict[str, str]:
    """{path: group} joining images that ops labelled duplicates of each other."""
    by_hash = {r.content_hash: r.path for r in rows}
    groups = {}
    for a, b, label in rt.registry.labels():
        if label == "duplicate" and a in by_hash and b in by_hash:
            groups[by_hash[b]] = groups.get(by_hash[a], by_hash[a])
            groups.setdefault(by_hash[a], by_hash[a])
    return groups


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
    better = (figures["new"]["r_at_p99"], figures["new"]["ap"]) >= (figures["active"]["r_at_p99"], figures["active"]["ap"])
    result = {"version": info["version"], "previous": active.version, "figures": figures,
              "promoted": bool(better or force)}
    if result["promoted"]:
        rollout(rt, collection, info["version"], lock)
    return result


def missing_from(rt, collection: str, generation: str) -> list[int]:
    """Live images of the collection not yet in `generation`."""
    with rt.engine.connect() as conn:
        done = select(db.index_items.c.image_id).where(and_(
            db.index_items.c.collection == collection, db.index_items.c.generation == generation))
        return list(conn.execute(select(db.images.c.id).where(and_(
            db.images.c.collection == collection, db.images.c.status.in_(LIVE),
            db.images.c.id.not_in(done))).order_by(db.images.c.id)).scalars())


def rollout(rt, collection: str, version: str, lock=contextlib.nullcontext, chunk: int = 256) -> None:
    """Re-embed the collection into `version`'s generation, then switch to it atomically."""
    rt.set_generations(collection, building=version)
    while True:
        todo = missing_from(rt, collection, version)
        if not todo:
            break
        for part in db.in_chunks(todo, chunk):
            with lock():
                index_step(rt, collection, version, part)
    with lock():  # the last images ingested meanwhile, then the switch, with no writer in between
        for part in db.in_chunks(missing_from(rt, collection, version), chunk):
            index_step(rt, collection, version, part)
        rt.models.promote(version)
        rt.set_generations(collection, generation=version, building=None)
