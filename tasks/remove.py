"""neardup.remove: images taken out of a collection (pipeline/remove.py), for producers that only speak to the
broker; on the index queue, under the collection's writer lock."""
from __future__ import annotations

import random

from celery import shared_task
from celery.exceptions import Reject

from neardup.errors import LockBusy

from .context import collection_lock, runtime
from .ingest import TRANSIENT, checked_message


@shared_task(name="neardup.remove", bind=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=20)
def remove(self, collection=None, paths=None, missing=False):
    checked_message(collection, paths, None)
    if not isinstance(missing, bool):
        raise Reject("malformed remove message: missing must be true or false", requeue=False)
    from neardup.pipeline.remove import remove as take_out

    try:
        done = take_out(runtime(), collection, paths, missing, lambda: collection_lock(collection))
    except LockBusy:
        raise self.retry(countdown=1 + random.random(), max_retries=self.request.retries + 1) from None
    return {"removed": done.removed, "unknown": done.unknown}
