"""The Python client for ingestion jobs: submit images to the queue, follow a batch to its end.

    from neardup.worker.client import Client
    handle = Client().submit(["/data/uploads/2026-11-23"], collection="catalog")
    print(handle.result(timeout=600))
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass

from neardup.config import Settings, load
from neardup.encoder.decode import find_images
from neardup.storage.collection import checked
from neardup.storage.registry import FINAL, ImageStatus

log = logging.getLogger("neardup")
WAITS_ON = {ImageStatus.QUEUED: "embed", ImageStatus.PENDING: "index", ImageStatus.VERIFYING: "verify"}  # the queue
#   whose step an image in this state waits for


def expand(paths: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files as given, directories walked, absolute (any worker on the shared volume finds them); and
    (path, reason) for what walking them could not list (broken or looping symlinks, unreadable folders)."""
    out, failed = [], []
    for p in paths:
        p = os.path.abspath(p)
        found, lost = find_images(p) if os.path.isdir(p) else ([p], [])
        out.extend(found)
        failed.extend(lost)
    return list(dict.fromkeys(out)), failed


def consumed_queues(app, timeout: float = 1.0) -> set[str] | None:
    """The queues the running workers consume, as they answer Celery's inspect broadcast within `timeout`
    seconds (an empty set: no worker answered; None: the broker cannot be asked)."""
    from kombu.exceptions import OperationalError
    from redis import RedisError

    try:
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
    except (OperationalError, RedisError, OSError):
        return None
    return {q["name"] for queues in replies.values() for q in queues or ()}


def task_result(res, queue: str, notice=None, ask_after: float = 10.0):
    """A queued task's result (a Celery AsyncResult sent to `queue`), waited for as long as it takes; if it is
    not back after `ask_after` seconds and no running worker consumes `queue`, says so once through `notice`
    (default: the "neardup" logger's warning) instead of waiting for ever without a word."""
    from celery.exceptions import TimeoutError as NotYet

    told = False
    while True:
        try:
            return res.get(timeout=ask_after)
        except NotYet:
            served = None if told else consumed_queues(res.app)
            if served is not None and queue not in served:
                (notice or log.warning)(unserved_text([queue]))
                told = True


def unserved_text(queues: list[str]) -> str:
    """What to tell a user who waits on queues that no running worker consumes."""
    names = ",".join(queues)
    return (f"no running worker consumes the {names} queue{'s' if len(queues) > 1 else ''}; start one: "
            f"neardup worker -Q {names}")


class Client:
    def __init__(self, settings: Settings | None = None):
        from neardup.pipeline.runtime import Runtime
        from neardup.worker.app import app

        self.settings = settings or load()
        self.app = app
        if app.conf.broker_url != self.settings.broker_url:  # settings given in code win over the environment
            app.conf.update(broker_url=self.settings.broker_url, result_backend=self.settings.broker_url)
        self.rt = Runtime(self.settings)

    def submit(self, paths: list[str], collection: str = "default", batch_size: int | None = None) -> "BatchHandle":
        """Queue the files and the images under the folders of `paths` as one batch. PathNotAllowed without
        image roots; NoImages where folders alone were given and hold no image (a mistyped folder);
        ModelUnavailable where the collection's model is gone (an upgrade re-made its file: every embed step
        would fail until the collection is rolled out)."""
        from neardup.encoder.decode import no_images_text
        from neardup.errors import NoImages, PathNotAllowed
        from neardup.storage.registry import Recorded

        checked(collection)
        for generation in filter(None, self.rt.generations(collection)):
            self.rt.model_path(generation)
        if not self.settings.roots:
            raise PathNotAllowed("no image roots configured: set NEARDUP_ROOTS (or `roots` in neardup.toml) to the "
                                 "folders the workers may read")
        listed, failed = expand(paths)
        if paths and not listed and not failed and all(os.path.isdir(p) for p in paths):
            raise NoImages(no_images_text(", ".join(paths)))
        files = []
        for p in listed:  # refused here, with the reason a worker would give, instead of queued to fail there
            try:
                self.rt.check_path(p)
                files.append(p)
            except PathNotAllowed as exc:
                failed.append((p, str(exc)))
        batch_id = uuid.uuid4().hex
        self.rt.registry.record_batch(batch_id, collection, files + [p for p, _ in failed])
        if failed:  # what could not be listed is part of the batch, failed with its reason, never dropped
            self.rt.registry.record_items(collection, [Recorded(p, reason=r) for p, r in failed], batch_id)
        self._send(collection, files, batch_id, batch_size)
        return BatchHandle(self, batch_id)

    def remove(self, paths: list[str], collection: str = "default", missing: bool = False):
        """Take images out of a collection (pipeline/remove.py), under its writer lock: a Removal of the paths
        removed and of those it does not hold."""
        from neardup.pipeline.remove import remove
        from neardup.tasks.context import collection_lock

        return remove(self.rt, collection, paths, missing,
                      lambda: collection_lock(collection, wait=None, url=self.settings.broker_url))

    def _send(self, collection, files, batch_id, batch_size=None):
        from neardup.tasks.ingest import send_batch

        send_batch(self.app, collection, files, batch_id, batch_size or self.settings.batch_size)

    def reconcile(self, batch_id: str) -> int:
        """Send again what a batch still lacks (a message lost with Redis, say); safe to repeat."""
        from neardup.tasks.ingest import resend_missing

        return resend_missing(self.app, self.rt, batch_id)

    def in_flight(self) -> int | None:
        """Ingestion messages the broker holds, waiting or unacknowledged (None: it cannot be asked)."""
        from neardup.tasks.context import in_flight

        return in_flight(self.settings.broker_url)

    def handle(self, batch_id: str) -> "BatchHandle":
        return BatchHandle(self, batch_id)


@dataclass
class BatchHandle:
    client: Client
    batch_id: str

    def status(self, verified: bool = True, explain: bool = False) -> dict:
        """Each image's state. An image waiting for the verify step is `verifying` and not done; with
        `verified=False` it counts as done, with the embedding's answer (`"verified": false` beside it).
        `explain`: a match also says why it is not a duplicate (`"why"`, as the report says it)."""
        rt = self.client.rt
        states = rt.registry.batch_states(self.batch_id)
        waiting = [row for row in states.values() if row and row.status == ImageStatus.VERIFYING]
        found = {}
        if waiting and not verified:  # the labels of their pairs as the index step recorded them
            collection = rt.registry.batch(self.batch_id).collection
            generation, _ = rt.generations(collection)
            found = {(a, b): label for a, b, _, label in rt.registry.pairs_of(collection, generation,
                                                                            [r.id for r in waiting])}
        items = []
        for path, row in states.items():
            state = row.status if row else ImageStatus.QUEUED
            item = {"path": path, "state": state}
            if row and row.status == ImageStatus.VERIFYING and not verified:
                pair = tuple(sorted((row.id, row.of_image))) if row.of_image is not None else None
                state = item["state"] = found.get(pair, ImageStatus.INDEXED)
                item["verified"] = False
            if row and state in (ImageStatus.DUPLICATE, ImageStatus.MATCH):
                item.update(of=row.of_image, distance=row.distance)
            if row and row.status == ImageStatus.FAILED:
                item["reason"] = row.reason
            items.append(item)
        earlier = {it["of"] for it in items if "of" in it}
        paths = {r.id: r.path for r in rt.registry.images(ids=sorted(earlier))} if earlier else {}
        for it in items:  # the earlier copies by their paths, read at once
            if "of" in it:
                it["of"] = paths.get(it["of"], it["of"])
        matched = {it["path"]: states[it["path"]] for it in items
                   if explain and it["state"] == ImageStatus.MATCH and states[it["path"]].of_image is not None}
        if matched:
            from neardup.pipeline.labels import Frames

            frames = Frames.of(rt, [i for row in matched.values() for i in (row.id, row.of_image)])
            for it in items:
                if it["path"] in matched:
                    it["why"] = frames.why(matched[it["path"]].id, matched[it["path"]].of_image, labelled_match=True)
        counts: dict[str, int] = {}
        for it in items:
            counts[it["state"]] = counts.get(it["state"], 0) + 1
        done = sum(counts.get(s, 0) for s in FINAL)
        return {"batch_id": self.batch_id, "total": len(items), "done": done, "counts": counts, "items": items}

    def result(self, timeout: float | None = None, poll: float = 0.5, stall: float = 60.0, progress=None,
               verified: bool = True, explain: bool = False, notice=None, ask_after: float = 10.0) -> dict:
        """Wait for every image to reach its final state (`verified=False`: the embedding's answer, as soon
        as every image is indexed; `explain`: see status()). What makes no progress is sent again: at once when
        the broker holds no ingestion message at all (they were lost), else after `stall` seconds; never more
        often than every `stall` seconds. A batch that has not moved for `ask_after` seconds asks the workers
        which queues they consume, at most every `stall` seconds, and says once, through `notice` (default:
        the "neardup" logger's warning), which queue its images wait on that none consumes: a deployment
        without a verify worker would otherwise wait for ever, without a word."""
        start = last_change = time.time()
        last_resend = start - stall
        last_done = -1
        asked, told = None, False
        while True:
            st = self.status(verified)
            if progress:
                progress(st)
            if st["done"] == st["total"]:
                return self.status(verified, explain) if explain else st
            now = time.time()
            if st["done"] != last_done:
                last_done, last_change = st["done"], now
            elif now - last_change > stall or (now - last_change > 2 * poll and now - last_resend > stall
                                               and self.client.in_flight() == 0):
                self.client.reconcile(self.batch_id)  # lost: at once, but not again within `stall` (a failing task)
                last_change = last_resend = now
            if not told and now - last_change > ask_after and (asked is None or now - asked > stall):
                asked = now
                idle = self.unserved(st)
                if idle:
                    (notice or log.warning)(unserved_message(self.batch_id, idle, verified))
                    told = True
            if timeout is not None and now - start > timeout:
                raise TimeoutError(f"batch {self.batch_id}: {st['done']}/{st['total']} done after {timeout}s")
            time.sleep(poll)

    def unserved(self, st: dict) -> dict[str, int]:
        """{queue: images of this batch waiting on it} for the queues that no running worker consumes, of those
        its unfinished images wait on (status() `st`); {} when the workers cannot be asked."""
        waiting = {WAITS_ON[state]: n for state, n in st["counts"].items() if state in WAITS_ON}
        consumed = consumed_queues(self.client.app) if waiting else None
        return {} if consumed is None else {q: n for q, n in waiting.items() if q not in consumed}


def unserved_message(batch_id: str, idle: dict[str, int], verified: bool) -> str:
    """What to tell a user whose batch waits on queues no worker consumes (BatchHandle.unserved())."""
    text = (f"batch {batch_id}: " + ", ".join(f"{n} image(s) wait on {q}" for q, n in idle.items()) + "; "
            + unserved_text(list(idle)))
    if verified and set(idle) == {"verify"}:
        text += " (or take the embedding's answer without verification: --fast, result(verified=False))"
    return text
