"""neardup.retrain: train on the collection, promote only if at least as good, then roll the new
generation out under the collection's writer lock."""
from __future__ import annotations

import logging

from celery import shared_task

from .context import collection_lock, runtime

log = logging.getLogger(__name__)


@shared_task(name="neardup.retrain")
def retrain(collection="default", config=None, force=False):
    from neardup.pipeline.retrain import retrain as run

    return run(runtime(), collection, config or {}, force=bool(force), log=log.info,
               lock=lambda: collection_lock(collection, wait=None))
