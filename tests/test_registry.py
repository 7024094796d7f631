"""The registry's lookups by image id: what they return, on SQLite and PostgreSQL, and, on SQLite, that they
look the ids up rather than read the whole collection (a queue batch's steps would grow with it)."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import event, text

from neardup.storage import db
from neardup.storage.registry import Recorded, Registry
from tests.test_index import postgresql_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request, tmp_path):
    url, drop = (f"sqlite:///{tmp_path / 'neardup.db'}", lambda: None) if request.param == "sqlite" \
        else postgresql_schema()
    try:
        yield Registry(db.connect(url))
    finally:
        drop()


def filled(registry: Registry) -> tuple[list[int], list[int]]:
    """Two collections of 30 images with vectors (the last 5 of each without), and pairs in the first."""
    ids = {c: registry.record_items(c, [Recorded(f"/{c}/{i}.jpg", f"{c}{i}", 8, 8, 1) for i in range(30)])
           for c in ("mine", "other")}
    registry.store_vectors("m", {f"{c}{i}": np.full(4, i, np.float32) for c in ids for i in range(25)})
    mine = ids["mine"]
    with registry.engine.begin() as conn:
        registry.add_pairs(conn, "mine", "g", [(mine[i], mine[i + 1], 0.1, "match") for i in range(0, 28, 2)])
    return mine, ids["other"]


def test_lookups_by_id_return_the_collection_s_own_images(registry):
    mine, other = filled(registry)
    asked = mine[20:] + other[:10]  # ids of both collections: only this collection's count
    assert [r.id for r in registry.images(ids=asked, collection="mine")] == mine[20:]
    assert sorted(registry.vectors_by_image("mine", "m", asked)) == mine[20:25]
    assert float(registry.vectors_by_image("mine", "m", [mine[21]])[mine[21]][0]) == 21.0
    found = registry.pairs_of("mine", "g", [mine[3], mine[4]])  # b of one pair, a of the next
    assert [(a, b) for a, b, _, _ in found] == [(mine[2], mine[3]), (mine[4], mine[5])]
    with registry.engine.begin() as conn:
        registry.remove(conn, "mine", [mine[5]])
    assert [(a, b) for a, b, _, _ in registry.pairs_of("mine", "g", mine)] == [
        (mine[i], mine[i + 1]) for i in range(0, 28, 2) if i != 4]


def test_sqlite_looks_ids_up_by_the_primary_key(tmp_path):
    registry = Registry(db.connect(f"sqlite:///{tmp_path / 'neardup.db'}"))
    mine, _ = filled(registry)
    plans = []
    with registry.engine.connect() as conn:
        def explain(statement, params):
            if statement.lstrip().upper().startswith("SELECT"):
                plans.append(" ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                                             params).all()))
        event.listen(registry.engine, "before_cursor_execute", lambda c, cur, s, p, *_: explain(s, p))
        registry.images(ids=mine[:3], collection="mine")
        registry.vectors_by_image("mine", "m", mine[:3])
        registry.pairs_of("mine", "g", mine[:3])
    assert len(plans) == 4, plans
    for plan in plans[:2]:
        assert "SEARCH images USING INTEGER PRIMARY KEY" in plan, plan
    assert "(collection=? AND generation=? AND a=?)" in plans[2] and "b=?" in plans[3], plans[2:]


def test_an_index_added_since_a_database_was_made_is_created_when_it_is_opened(tmp_path):
    url = f"sqlite:///{tmp_path / 'neardup.db'}"
    engine = db.connect(url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_pairs_b"))  # a database made before the index existed
    db.connect(url)
    with engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
    assert "ix_pairs_b" in names


def test_a_batch_is_answered_only_by_what_its_own_worker_recorded(registry):
    """A path that failed in one batch and is submitted again: the later batch waits for its own worker (the
    file may be there now), and so does the broker's reconcile; then both batches follow the path's new row."""
    import time

    registry.record_batch("first", "c", ["/x.jpg"])
    registry.record_items("c", [Recorded("/x.jpg", reason="file not found")], "first")
    registry.record_batch("again", "c", ["/x.jpg"])
    assert registry.batch_states("first")["/x.jpg"].status == "failed"
    assert registry.batch_states("again") == {"/x.jpg": None}
    now = time.time()
    assert registry.incomplete_batches(now - 60, now + 1) == ["again"]
    registry.record_items("c", [Recorded("/x.jpg", "h1", 8, 8, 1)], "again")
    assert registry.batch_states("again")["/x.jpg"].status == "pending"
    assert registry.batch_states("first")["/x.jpg"].status == "pending"
    assert sorted(registry.incomplete_batches(now - 60, now + 1)) == ["again", "first"]  # the index step's turn
    registry.record_items("c", [Recorded("/y.jpg", "h2", 8, 8, 1)], "sent-by-a-producer")  # no batch recorded
    assert [r.batch_id for r in registry.images(collection="c") if r.path == "/y.jpg"] == ["sent-by-a-producer"]


def test_batches_made_before_the_reached_paths_were_kept_are_answered_as_they_were(tmp_path):
    url = f"sqlite:///{tmp_path / 'neardup.db'}"
    registry = Registry(db.connect(url))
    registry.record_batch("old", "c", ["/x.jpg"])
    registry.record_items("c", [Recorded("/x.jpg", "h1", 8, 8, 1)], "old")
    with registry.engine.begin() as conn:
        conn.execute(text("DROP TABLE batch_seen"))  # a database made before the table existed
    registry = Registry(db.connect(url))
    assert registry.batch_states("old")["/x.jpg"].status == "pending"
