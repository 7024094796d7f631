"""The per-process Runtime of a worker: created on first use, in the process that uses it."""
from __future__ import annotations

import contextlib
import logging
import os
import threading

log = logging.getLogger(__name__)
_runtime = None
_pid = None


def runtime():
    global _runtime, _pid
    if _runtime is None or _pid != os.getpid():  # never reuse a parent's connections after fork
        from pipeline.runtime import Runtime
        from worker.config import load

        _runtime, _pid = Runtime(load()), os.getpid()
    return _runtime


def redis_client():
    import redis

    from worker.app import app

    return redis.Redis.from_url(app.conf.broker_url)


LOCK_TIMEOUT = float(os.environ.get("NEARDUP_LOCK_TIMEOUT", "10"))  # how long a dead holder keeps the lock


class LockBusy(Exception):
    """Another worker is writing this collection's index: the task is retried later, not left waiting."""


@contextlib.contextmanager
def collection_lock(collection: str, wait: float | None = 2.0):
    """One index writer per collection across all workers.

    The lock lives LOCK_TIMEOUT seconds and a heartbeat renews it while its holder works, so a holder that dies
    frees it within LOCK_TIMEOUT. A caller that cannot get it within `wait` seconds gets LockBusy (None: waits
    for it). A lock that expired under a stalled holder is not an error at release: the index step's epoch
    check already kept a late writer from committing on a stale view."""
    from redis.exceptions import LockError

    lock = redis_client().lock(f"neardup:index-lock:{collection}", timeout=LOCK_TIMEOUT, blocking_timeout=wait,
                               thread_local=False)
    if not lock.acquire():
        raise LockBusy(collection)
    stop = threading.Event()

    def heartbeat():
        while not stop.wait(LOCK_TIMEOUT / 3):
            try:
                lock.reacquire()
            except LockError:
                return

    beat = threading.Thread(target=heartbeat, name=f"lock-heartbeat-{collection}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        try:
            lock.release()
        except LockError:
            log.warning("index lock of %s had expired before its release (the holder stalled)", collection)
