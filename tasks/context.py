"""What every task shares: the per-process Runtime (created on first use, in the process that uses it), the\nbroker, and the per-collection index lock."""
from __future__ import annotations

import contextlib
import logging
import os
import threading

from neardup.errors import LockBusy

log = logging.getLogger(__name__)
_runtime = None
_pid = None


def runtime():
    global _runtime, _pid
    if _runtime is None or _pid != os.getpid():  # never reuse a parent's connections after fork
        from neardup.config import load
        from neardup.pipeline.runtime import Runtime

        _runtime, _pid = Runtime(load()), os.getpid()
    return _runtime


INGESTION_QUEUES = ("embed", "index", "verify")


def redis_client(url: str | None = None):
    """The broker's Redis: `url`, else the configured broker (what the worker's Celery app uses)."""
    import redis

    from neardup.config import load

    return redis.Redis.from_url(url or load().broker_url)


def in_flight(url: str | None = None) -> int | None:
    """Messages of the ingestion queues the broker holds: waiting, or delivered to a worker and not yet
    acknowledged (None: the broker cannot be asked). 0 while a batch is incomplete means its messages are
    gone (a Redis that restarted empty, say): what it lacks can be sent again at once."""
    import json

    import redis

    try:
        r = redis_client(url)
        waiting = sum(r.llen(key) for q in INGESTION_QUEUES for key in r.scan_iter(match=f"{q}*", _type="list"))
        delivered = sum(1 for raw in r.hvals("unacked") if json.loads(raw)[2] in INGESTION_QUEUES)
    except redis.RedisError:
        return None
    return waiting + delivered


LOCK_TIMEOUT = float(os.environ.get("NEARDUP_LOCK_TIMEOUT", "10"))  # how long a dead holder keeps the lock
LOCK_POLL = 0.01  # seconds between a waiting writer's tries: redis-py's 0.1 s default costs small batches, whose
#   index and verify steps hold the lock for tens of milliseconds, most of a step's time in waiting


@contextlib.contextmanager
def collection_lock(collection: str, wait: float | None = 2.0, url: str | None = None):
    """One index writer per collection across all workers.

    The lock lives LOCK_TIMEOUT seconds and a heartbeat renews it while its holder works, so a holder that dies
    frees it within LOCK_TIMEOUT. A caller that cannot get it within `wait` seconds gets LockBusy (None: waits
    for it). A lock that expired under a stalled holder is not an error at release: the index step's epoch
    check already kept a late writer from committing on a stale view."""
    from redis.exceptions import LockError

    lock = redis_client(url).lock(f"neardup:index-lock:{collection}", timeout=LOCK_TIMEOUT, blocking_timeout=wait,
                               sleep=LOCK_POLL, thread_local=False)
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
