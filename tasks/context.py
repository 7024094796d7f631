"""The per-process Runtime of a worker: created on first use, in the process that uses it."""
from __future__ import annotations

import os

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


LOCK_TIMEOUT = float(os.environ.get("NEARDUP_LOCK_TIMEOUT", "120"))


def collection_lock(collection: str):
    """One index writer per collection across all workers; expires if its holder dies."""
    return redis_client().lock(f"neardup:index-lock:{collection}", timeout=LOCK_TIMEOUT, blocking_timeout=None)
