"""neardup.prune: the housekeeping of pipeline/prune.py on the sweep queue, weekly by beat (`prune_schedule`),
each collection's retired generations deleted under its writer lock."""
from __future__ import annotations

from celery import shared_task

from .context import collection_lock, runtime


@shared_task(name="neardup.prune")
def prune(dry_run=False, batch_days=None):
    from neardup.pipeline.prune import prune as run

    if not isinstance(dry_run, bool) or batch_days is not None and (
            isinstance(batch_days, bool) or not isinstance(batch_days, (int, float)) or batch_days < 0):
        raise ValueError("dry_run must be true or false, batch_days a number of days")
    done = run(runtime(), dry_run, lock_for=lambda collection: (lambda: collection_lock(collection, wait=None)),
               batch_days=batch_days)
    return {"dry_run": dry_run, "rows": done.rows, "files": done.files}
