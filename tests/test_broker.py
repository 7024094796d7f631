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


def test_a_task_finishing_after_its_channel_closed_acknowledges_without_stopping_the_worker(tmp_path):
    """A task that ends after Redis went away acknowledges its message on the closed channel of a collected
    connection. That ack went through the detached transport and raised AttributeError (seen stopping a
    worker whose consumer then never took another task). It is now skipped, and the message is not lost: it
    stays unacknowledged in Redis and a new connection restores it once the visibility timeout passes."""
    import time

    import neardup.worker.app  # noqa: F401  (applies the guard)

    redis = RedisServer(tmp_path)
    redis.start()
    try:
        options = {"visibility_timeout": 1}
        conn = Connection(redis.url, transport_options=options)
        queue = conn.SimpleQueue("held")
        queue.put({"image": 2})
        message = queue.get(timeout=5)
        conn._do_close_transport()
        conn.default_channel.close()
        message.ack()  # raised AttributeError before the guard
        time.sleep(1.5)
        fresh = Connection(redis.url, transport_options=options)
        fresh.default_channel.qos.restore_visible()
        again = fresh.SimpleQueue("held").get(timeout=5)
        assert again.payload == {"image": 2}
        again.ack()
        fresh.release()
    finally:
        redis.kill()


def test_schedules_are_read_in_cron_s_own_field_order():
    """`0 3 * * 1` is Mondays at 03:00, as cron reads it (celery's crontab() takes the day of the week third: given
    the fields in cron's order it would read the 1 as January); beat sends the weekly housekeeping."""
    from neardup.worker.app import app, cron

    monday = cron("0 3 * * 1")
    assert monday.day_of_week == {1} and monday.month_of_year == set(range(1, 13))
    assert cron("30 4 1 6 *").day_of_month == {1} and cron("30 4 1 6 *").month_of_year == {6}
    assert app.conf.beat_schedule["prune"]["task"] == "neardup.prune"
