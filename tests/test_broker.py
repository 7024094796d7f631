"""The worker's connection to Redis after the broker goes away: what Celery's reconnect does to the channel
it had must not stop the worker's consumer."""
from __future__ import annotations

from kombu import Connection

from tests.cluster import RedisServer


def test_a_channel_holding_unacked_messages_closes_after_its_transport_is_detached(tmp_path):
    """Celery collects a lost connection (detaching kombu's transport) before it closes it; closing a Redis
    channel then tries to put back the messages it holds unacknowledged, which raised AttributeError through
    the detached transport and stopped the consumer. neardup.worker.app skips that restore: the messages
    come back by the visibility timeout or neardup.reconcile."""
    import neardup.worker.app  # noqa: F401  (applies the guard)

    redis = RedisServer(tmp_path)
    redis.start()
    try:
        conn = Connection(redis.url)
        queue = conn.SimpleQueue("held")
        queue.put({"image": 1})
        queue.get(timeout=5)  # delivered, not acknowledged
        channel = conn.default_channel
        assert channel.qos._delivered, "the channel holds the message unacknowledged"
        conn._do_close_transport()  # what Connection.collect() leaves: the transport detached
        channel.close()
        assert channel.closed
    finally:
        redis.kill()
