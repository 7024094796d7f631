"""neardup.verify: a batch's pairs verified (pipeline/verify_batch.py) and its images given their final state."""
from __future__ import annotations

import functools
import random

from celery import shared_task
from celery.exceptions import Reject

from neardup.errors import LockBusy

from .context import collection_lock, runtime
from .ingest import TRANSIENT, checked_message


@shared_task(name="neardup.verify", bind=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=20,
             soft_time_limit=3600, time_limit=3660)
def verify(self, collection=None, image_ids=None, batch_id=None):
    if not isinstance(image_ids, list) or not all(isinstance(i, int) for i in image_ids):
        raise Reject("malformed verify message: image_ids must be a list of integers", requeue=False)
    checked_message(collection, [], batch_id)
    from neardup.pipeline.verify_batch import verify_batch

    try:
        states = verify_batch(runtime(), collection, image_ids, functools.partial(collection_lock, collection, 30.0))
    except LockBusy:  # the verdicts reached so far are stored: the retry reuses them
        raise self.retry(countdown=1 + random.random(), max_retries=self.request.retries + 1) from None
    return {str(k): v for k, v in states.items()}


def send_verify(app, collection: str, image_ids: list[int], batch_id: str | None) -> None:
    if image_ids:
        app.send_task("neardup.verify", kwargs=dict(collection=collection, image_ids=[int(i) for i in image_ids],
                                                    batch_id=batch_id), queue="verify")
