"""The Celery app: JSON only, late acks, one message at a time on the embed queue, queues per kind of work.

`celery -A neardup.worker.app worker -Q embed,index,verify` or `neardup worker -Q embed,index,verify`. The model
is loaded in each worker process after fork (`worker_process_init`), never in the parent.
"""
from __future__ import annotations

import os

from celery import Celery, signals
from celery.schedules import crontab
from kombu import Queue

from neardup.config import load


def cron(spec: str) -> crontab:
    """A schedule from a crontab line in cron's own order (minute hour day-of-month month day-of-week), which
    is not the order of celery's crontab() arguments (day of week third)."""
    minute, hour, day_of_month, month_of_year, day_of_week = spec.split()
    return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
                   day_of_week=day_of_week)


settings = load()
QUEUES = ("embed", "index", "verify", "sweep", "train")
VISIBILITY_TIMEOUT = 12 * 3600  # longer than the longest task (a retrain), so nothing is redelivered early

app = Celery("neardup", include=["neardup.tasks.ingest", "neardup.tasks.verify", "neardup.tasks.sweep",
                                    "neardup.tasks.retrain", "neardup.tasks.remove", "neardup.tasks.prune"])
app.conf.update(
    broker_url=settings.broker_url,
    result_backend=settings.broker_url,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_queues=[Queue(q) for q in QUEUES],
    task_default_queue="embed",
    task_routes={"neardup.embed": {"queue": "embed"}, "neardup.index": {"queue": "index"},
                 "neardup.remove": {"queue": "index"},
                 "neardup.verify": {"queue": "verify"},
                 "neardup.sweep": {"queue": "sweep"}, "neardup.reconcile": {"queue": "sweep"},
                 "neardup.prune": {"queue": "sweep"},
                 "neardup.retrain": {"queue": "train"}},
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    broker_connection_retry_on_startup=True,
    result_expires=7 * 24 * 3600,
    worker_hijack_root_logger=False,
    beat_schedule={
        **{f"nightly-sweep-{c}": {"task": "neardup.sweep", "schedule": cron(settings.sweep_schedule),
                                  "kwargs": {"collection": c}} for c in settings.sweep_collections},
        "reconcile": {"task": "neardup.reconcile", "schedule": 30.0},
        **({"prune": {"task": "neardup.prune", "schedule": cron(settings.prune_schedule)}}
           if settings.prune_schedule else {}),
    },
)
if settings.broker_url.startswith("rediss://"):
    import ssl

    tls = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    app.conf.broker_use_ssl = tls
    app.conf.redis_backend_use_ssl = tls


def _guard_channels_of_a_lost_connection() -> None:
    """After a lost broker connection, Celery 5.7 collects the connection (which detaches kombu's transport)
    and then closes it. Two things then went through the detached transport and raised AttributeError,
    which stopped the worker's consumer for good (a worker with a task in hand when Redis restarts):
    - the Redis channel's close puts back the messages it holds unacknowledged;
    - a task that finishes after that acknowledges (or rejects) its message on the closed channel.
    Nothing can be sent through a detached transport, so both are skipped: those messages come back
    through the visibility timeout or `neardup.reconcile`, as after a SIGKILL, and the tasks are idempotent."""
    from kombu.transport import redis
    from kombu.transport.virtual.base import QoS

    def attached(qos) -> bool:
        return getattr(qos.channel.connection, "client", None) is not None

    def unless_detached(method):
        def guarded(self, *args, **kwargs):
            return method(self, *args, **kwargs) if attached(self) else None
        guarded.__doc__ = method.__doc__
        return guarded

    QoS.restore_unacked_once = unless_detached(QoS.restore_unacked_once)
    redis.QoS.ack = unless_detached(redis.QoS.ack)
    redis.QoS.reject = unless_detached(redis.QoS.reject)


_guard_channels_of_a_lost_connection()


@signals.worker_process_init.connect
def _load_model_after_fork(**_):
    """Each pool process opens its own database connections and model (TensorFlow is not fork-safe)."""
    if os.environ.get("NEARDUP_PRELOAD", "1") == "1":
        from neardup.tasks.context import runtime

        runtime().encoder()
