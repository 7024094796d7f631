"""neardup.embed and neardup.index: the ingestion path of a submitted batch, and how its messages are sent."""
from __future__ import annotations

import os
import random
import time

from celery import shared_task
from celery.exceptions import Reject, SoftTimeLimitExceeded

from neardup.errors import InvalidCollectionName, LockBusy, OutOfTime
from neardup.storage.collection import checked
from neardup.storage.db import in_chunks

from .context import collection_lock, runtime

TRANSIENT = (OSError, ConnectionError)


def checked_message(collection, paths, batch_id):
    """Validate a message's fields; a malformed one is refused (not retried) with a logged reason."""
    try:
        checked(collection)
    except InvalidCollectionName as exc:
        raise Reject(f"malformed message: {exc}", requeue=False) from None
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise Reject("malformed message: paths must be a list of strings", requeue=False)
    if batch_id is not None and not isinstance(batch_id, str):
        raise Reject("malformed message: batch_id must be a string", requeue=False)


EMBED_TIME_LIMIT = float(os.environ.get("NEARDUP_EMBED_TIME_LIMIT", "600"))  # seconds for one message's images


@shared_task(name="neardup.embed", bind=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=20,
          soft_time_limit=EMBED_TIME_LIMIT + 30, time_limit=EMBED_TIME_LIMIT + 90)
def embed(self, collection=None, paths=None, batch_id=None):
    """The step's own deadline stops it while files are read or decoded; Celery's limits are the backstop
    for time spent elsewhere."""
    checked_message(collection, paths, batch_id)
    from neardup.pipeline.steps import embed_step, timed_out

    try:
        produced = embed_step(runtime(), collection, paths, batch_id, deadline=time.monotonic() + EMBED_TIME_LIMIT)
    except (OutOfTime, SoftTimeLimitExceeded):
        if batch_id is None:
            raise  # the task fails, acknowledged: never re-sent
        produced = timed_out(runtime(), collection, paths, batch_id, EMBED_TIME_LIMIT)
    for generation, ids in produced.items():
        if ids:
            index.apply_async(kwargs=dict(collection=collection, generation=generation, image_ids=ids,
                                          batch_id=batch_id))
    return {g: len(ids) for g, ids in produced.items()}


@shared_task(name="neardup.index", bind=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=20,
          soft_time_limit=3600, time_limit=3660)
def index(self, collection=None, generation=None, image_ids=None, batch_id=None):
    if not isinstance(generation, str) or not isinstance(image_ids, list):
        raise Reject("malformed index message", requeue=False)
    checked_message(collection, [], batch_id)
    from neardup.pipeline import verify as second_stage
    from neardup.pipeline.steps import index_step, sign_step
    from neardup.storage.registry import ImageStatus

    from .verify import send_verify

    rt = runtime()
    verifying = second_stage.enabled(rt.settings)
    sign_step(rt, collection, generation, [int(i) for i in image_ids])  # pairs with what was indexed since embedding
    # one writer per collection; a busy lock sends the task back to the queue for a moment instead of
    # holding this worker slot (work for other collections goes on)
    try:
        with collection_lock(collection):
            states = index_step(rt, collection, generation, [int(i) for i in image_ids], verifying)
    except LockBusy:
        # waiting for a busy lock never uses up the retry budget of transient errors
        raise self.retry(countdown=1 + random.random(), max_retries=self.request.retries + 1) from None
    if verifying:  # also those a delivery of this message killed after its commit left waiting
        send_verify(self.app, collection, [r.id for r in rt.registry.images(ids=image_ids)
                                           if r.status == ImageStatus.VERIFYING], batch_id)
    return states


def send_batch(app, collection: str, files: list[str], batch_id: str, batch_size: int) -> None:
    """The embed messages of a batch, `batch_size` paths each, through `app` (the Celery app of the caller's
    broker)."""
    for part in in_chunks(files, batch_size):
        app.send_task("neardup.embed", kwargs=dict(collection=collection, paths=part, batch_id=batch_id),
                      queue="embed")


def resend_missing(app, rt, batch_id: str) -> int:
    """Send again what a batch still lacks (a message lost with Redis, say); safe to repeat."""
    from neardup.storage.registry import FINAL, ImageStatus

    from .verify import send_verify

    states = rt.registry.batch_states(batch_id)
    collection = rt.registry.batch(batch_id).collection
    missing = [p for p, row in states.items() if row is None or row.status not in FINAL]
    verifying = [states[p].id for p in missing if states[p] is not None and states[p].status == ImageStatus.VERIFYING]
    embedding = [p for p in missing if states[p] is None or states[p].status != ImageStatus.VERIFYING]
    if embedding:
        send_batch(app, collection, embedding, batch_id, rt.settings.batch_size)
    for part in in_chunks(verifying, rt.settings.batch_size):
        send_verify(app, collection, part, batch_id)
    return len(missing)
