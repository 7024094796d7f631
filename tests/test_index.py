"""The segmented index: buffer, sealing, merging, tombstones, and the index step's once-only writes."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from neardup.encoder import crowding
from neardup.encoder.artifact import DEFAULT_MODEL, read_info
from neardup.encoder.frame import FINE, GRID, RIM, Frame
from neardup.encoder.frame import KEY as FRAME_KEY
from neardup.pipeline.index import index_batch
from neardup.pipeline.remove import remove
from neardup.pipeline.runtime import Runtime
from neardup.storage import db
from neardup.storage.index import CollectionIndex, nearest_of
from neardup.storage.registry import Recorded


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def rt(settings):
    settings.buffer_capacity = 40
    settings.merge_fanout = 3
    return Runtime(settings)


def register(rt, n, start=0):
    """n images, each with a same-frame signature; image i+1 shares image i's for even i (as `planted`)."""
    rng = np.random.default_rng(start)
    frames = {i: Frame(rng.uniform(0, 255, (GRID, GRID, 3)).astype(np.float32), 1.0, ((10, 1.0),),
                       rng.integers(0, 256, (FINE, FINE), dtype=np.uint8), 10, ((0.0, 0.0),),
                       np.zeros((4, 2, RIM), np.float32))
              for i in range(start, start + n, 2)}
    rt.registry.store_blobs(FRAME_KEY, {f"h{i}": frames[i - (i - start) % 2].to_bytes()
                                        for i in range(start, start + n)})
    return rt.registry.record_items("c", [Recorded(f"/img/{i}.jpg", f"h{i}", 10, 10, 100)
                                         for i in range(start, start + n)])


def planted(n, dim=16, pairs=20, seed=0):
    """n random unit vectors; vector i+1 is a near copy of vector i for the first `pairs` even i."""
    rng = np.random.default_rng(seed)
    v = unit(rng.normal(size=(n, dim)))
    for i in range(0, 2 * min(pairs, n // 2), 2):
        v[i + 1] = unit(v[i] + rng.normal(scale=0.008, size=dim))
    return v


def exact_pairs(v, radius, crowd=None):
    d = np.sqrt(np.maximum(2 - 2 * v @ v.T, 0)) if crowd is None else crowd.distances(v, v)
    i, j = np.nonzero(np.triu(d <= radius, 1))
    return set(zip(i.tolist(), j.tolist()))


def with_crowding(rt, tmp_path, v, th, generation="gen1"):
    """Register `generation` as a model whose distances carry a crowding penalty, its reference photos
    crowding the first 60 of `v` (so their pairs must be closer to count) and nothing else."""
    rng = np.random.default_rng(9)
    dim = v.shape[1]
    reference = np.concatenate([unit(rng.normal(size=(150, dim))), unit(v[:60] + rng.normal(scale=0.02, size=(60, dim)))])
    crowd = crowding.fit(reference)
    path = tmp_path / "m.keras"
    info = dict(read_info(DEFAULT_MODEL).__dict__, dim=dim, thresholds=th, crowding=crowding.save(path, crowd))
    rt.models.register(generation, str(path), info)
    return rt.crowding(generation)


def stored_pairs(rt, ids):
    pos = {image_id: k for k, image_id in enumerate(ids)}
    with rt.engine.connect() as conn:
        return {(pos[a], pos[b]) for a, b in conn.execute(select(db.pairs.c.a, db.pairs.c.b))}


@pytest.mark.parametrize("crowded", [False, True])
def test_batches_across_seals_and_merges_find_every_pair(rt, tmp_path, crowded):
    v = planted(300, pairs=60)
    ids = register(rt, 300)
    th = {"duplicate": 0.05, "match": 0.15}
    crowd = with_crowding(rt, tmp_path, v, th) if crowded else None
    index = rt.index("c", "gen1", 16)
    order = np.random.default_rng(1).permutation(300)  # near copies land in different batches
    for chunk in np.array_split(order, 15):
        index_batch(rt, index, [ids[i] for i in chunk], v[chunk], th)
    assert index.segments, "the buffer must have been sealed"
    expected = exact_pairs(v, th["match"], crowd)
    assert len(index) == 300 and stored_pairs(rt, ids) == expected  # merges under way or not
    if crowded:  # the penalty mattered: some planted pairs are too crowded to count, the rest do
        assert 10 <= len(expected) < len(exact_pairs(v, th["match"]))
    index.install_merges(wait=True)  # merges run in a separate process; swap them in
    assert max(index.levels.values()) >= 1, "segments must have been merged"
    assert len(index) == 300
    fresh = CollectionIndex(rt.engine, rt.settings.data_dir, "c", "gen1", 16)  # what another process reads
    fresh.refresh()
    assert sorted(fresh.levels.values()) == sorted(index.levels.values())
    assert sum(map(len, fresh.segments.values())) == sum(map(len, index.segments.values())) == 300 - len(index.buffer_ids)


def test_a_background_merge_overtaken_by_another_writer_is_dropped(rt):
    """Writer A starts a merge in its merge process; writer B (another worker) merges the same segments
    first. A must throw its merge away: every image stays in exactly one live segment or the buffer."""
    v = planted(400)
    ids = register(rt, 400)
    th = {"duplicate": 0.05, "match": 0.15}
    rt.registry.store_vectors("gen1", {f"h{i}": v[i] for i in range(400)})
    a = CollectionIndex(rt.engine, rt.settings.data_dir, "c", "gen1", 16, 40, 3, background_merges=True)
    b = CollectionIndex(rt.engine, rt.settings.data_dir, "c", "gen1", 16, 40, 3, background_merges=False)
    chunks = np.array_split(np.arange(400), 20)
    for chunk in chunks[:6]:  # 120 vectors: three sealed segments, so A starts a merge
        index_batch(rt, a, [ids[i] for i in chunk], v[chunk], th)
    assert a.pending, "A must have a merge under way"
    started = set(a.pending[0].members)
    assert a.pending[0].future.exception(timeout=120) is None  # A's merge is built, not yet swapped in
    for chunk in chunks[6:8]:  # B reads A's segments and merges them itself, synchronously
        index_batch(rt, b, [ids[i] for i in chunk], v[chunk], th)
    assert not started & set(b.segments), "B must have merged the segments A had merged"
    for chunk in chunks[8:]:
        index_batch(rt, a, [ids[i] for i in chunk], v[chunk], th)
    a.install_merges(wait=True)
    live = np.concatenate([np.asarray(s.ids) for s in a.segments.values()] + [a.buffer_ids])
    assert sorted(live.tolist()) == sorted(ids)  # each image once: nothing lost, nothing twice
    assert stored_pairs(rt, ids) == exact_pairs(v, th["match"])
    files = {p.name.split(".")[0] for p in a.root.iterdir()}
    assert files == {s.base.name for s in a.segments.values()}  # the dropped merge left no files


def test_retried_batch_adds_nothing_twice(rt):
    v = planted(30)
    ids = register(rt, 30)
    th = {"duplicate": 0.05, "match": 0.15}
    index = rt.index("c", "gen1", 16)
    first = index_batch(rt, index, ids, v, th)
    again = index_batch(rt, rt.index("c", "gen1", 16), ids, v, th)
    assert len(first) == 30 and again == {}
    with rt.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.index_items)).scalar() == 30
    statuses = {r.status for r in rt.registry.images(collection="c")}
    assert statuses <= {"indexed", "duplicate", "match"} and "duplicate" in statuses


def test_a_fresh_process_sees_what_was_committed(rt, settings):
    v = planted(100)
    ids = register(rt, 100)
    index_batch(rt, rt.index("c", "g", 16), ids[:90], v[:90], {"duplicate": 0.05, "match": 0.15})
    other = Runtime(settings).index("c", "g", 16)
    assert len(other) == 90
    hits = other.within(v[90:], 0.15)
    assert [h for hits_q in hits for h in hits_q] == [], "the last 10 vectors have no near copy stored"
    assert other.nearest(v[0], 1)[0][0] == ids[0]


def test_tombstoned_images_are_not_found(rt):
    v = planted(60)
    ids = register(rt, 60)
    index = rt.index("c", "g", 16)
    index_batch(rt, index, ids, v, {"duplicate": 0.05, "match": 0.15})
    index.tombstone([ids[1]])
    index.refresh()
    assert ids[1] not in {i for i, _ in index.within(v[:1], 0.15)[0]}
    assert len(index) == 59


def test_a_bounded_search_past_many_removed_copies_still_gets_its_nearest_live_ones(rt):
    """100 copies of one vector, sealed into segments and merged, 60 of them then removed: a search bounded to
    7 still returns 7 copies, all live, at the unbounded search's distances; each segment asks for as many more
    as it holds removed images, not as many as the collection has."""
    rng = np.random.default_rng(4)
    base = unit(rng.normal(size=16))
    v = np.concatenate([np.repeat(base[None], 100, axis=0), unit(base + rng.normal(scale=0.02, size=(20, 16)))])
    ids = register(rt, 120)
    index = rt.index("c", "gen1", 16)
    for chunk in np.array_split(np.arange(120), 6):
        index_batch(rt, index, [ids[i] for i in chunk], v[chunk], {"duplicate": 0.05, "match": 0.15})
    removed = set(ids[10:70])
    index.tombstone(sorted(removed))
    index.refresh()
    held = {i for seg in index.segments.values() for i in seg.ids.tolist()}
    assert sum(index.dead.values()) == len(removed & held) > 0
    assert max(index.dead.values()) < len(removed & held) or len(index.segments) == 1
    everything = index.within(v[:1], 0.5)[0]
    bounded = index.within(v[:1], 0.5, most=7)[0]
    assert len(everything) == 60 and not {i for i, _ in everything} & removed
    assert len(bounded) == 7 and [d for _, d in bounded] == [d for _, d in nearest_of(everything, 7)]
    assert not {i for i, _ in index.nearest(v[0], 20)} & removed and len(index.nearest(v[0], 20)) == 20


def test_removed_images_indexed_again_are_found_once_each_wherever_their_vectors_were(rt):
    """Images removed from the buffer, from sealed segments and from segments merged since (which leave
    their vectors out, and their entries with them) are found again once each when indexed again: revived
    where their vector is still stored, appended anew where a seal or merge dropped it."""
    v = planted(300, pairs=150)
    ids = register(rt, 300)
    index = rt.index("c", "g", 16)
    th = {"duplicate": 0.05, "match": 0.15}
    for chunk in np.array_split(np.arange(200), 5):
        index_batch(rt, index, [ids[i] for i in chunk], v[chunk], th)
    copies = [1, 3, 41, 81, 121, 161, 199]  # near copies of 0, 2, 40, ...: indexed early and late
    removed = [ids[i] for i in copies]
    index.tombstone(removed)
    index.refresh()
    for chunk in np.array_split(np.arange(200, 300), 4):  # more seals: merges that drop what was removed
        index_batch(rt, index, [ids[i] for i in chunk], v[chunk], th)
    index.install_merges(wait=True)
    index.refresh()
    with rt.engine.connect() as conn:
        entries = set(conn.execute(select(db.index_items.c.image_id)).scalars())
    still = index.tombstones & set(removed)  # still stored, tombstoned; the others left out by a seal or merge
    assert 0 < len(still) < len(removed) and still == entries & set(removed)
    originals = v[[k - 1 for k in copies]]
    assert not any(i in {j for j, _ in f} for i, f in zip(removed, index.within(originals, 0.15)))
    index_batch(rt, index, removed, v[copies], th)
    index.refresh()
    found = index.within(originals, 0.15)
    assert [sum(j == i for j, _ in f) for i, f in zip(removed, found)] == [1] * len(removed)
    assert len(index) == 300 and not index.tombstones
    live = np.concatenate([ids_ for ids_, _ in index.live()])
    assert len(live) == len(set(live.tolist())) == 300
    with rt.engine.connect() as conn:
        items = conn.execute(select(db.index_items.c.image_id)).scalars().all()
    assert len(items) == len(set(items)) == 300


def test_a_background_merge_that_left_out_an_image_revived_meanwhile_is_thrown_away(rt):
    """A merge started while image X was removed leaves X's vector out; X is indexed again (revived in place)
    before the merge is swapped in: the merge is discarded, not installed, and X is found once."""
    rt.settings.background_merges = True
    v = planted(120, pairs=60)
    ids = register(rt, 120)
    index = rt.index("c", "g", 16)
    th = {"duplicate": 0.05, "match": 0.15}
    for start in (0, 40):  # two sealed segments
        index_batch(rt, index, ids[start:start + 40], v[start:start + 40], th)
    index.tombstone([ids[1]])
    index.refresh()
    index_batch(rt, index, ids[80:], v[80:], th)  # a third: their merge starts in the background, without X
    assert index.pending and ids[1] in index.pending[0].dropped
    index_batch(rt, index, [ids[1]], v[1:2], th)  # X back, in place, before the merge is swapped in
    index.install_merges(wait=True)
    index.refresh()
    assert [j for j, _ in index.within(v[:1], 0.15)[0]].count(ids[1]) == 1
    assert len(index) == 120 and not index.tombstones
    live = np.concatenate([found for found, _ in index.live()])
    assert sorted(live.tolist()) == sorted(ids)


def test_an_image_revived_in_one_generation_is_missing_from_another_that_holds_it_removed(rt):
    """Removed from two generations (the live one and the one a rollback would return to), then submitted
    again and revived in the live one only: the other lists it as missing, so a rollback brings it back."""
    v = planted(20)
    ids = register(rt, 20)
    th = {"duplicate": 0.05, "match": 0.15}
    for generation in ("g1", "g2"):  # each index reads its buffer back from the stored vectors
        rt.registry.store_vectors(generation, {f"h{i}": v[i] for i in range(20)})
    live, earlier = rt.index("c", "g2", 16), rt.index("c", "g1", 16)
    for index in (earlier, live):
        index_batch(rt, index, ids, v, th, record_outcomes=index is live)
    assert remove(rt, "c", ["/img/3.jpg"]).removed == ["/img/3.jpg"]
    assert rt.registry.missing_from("c", "g1") == [] and rt.registry.missing_from("c", "g2") == []
    rt.registry.record_items("c", [Recorded("/img/3.jpg", "h3", 10, 10, 100)])  # submitted again
    index_batch(rt, live, ids[3:4], v[3:4], th)
    assert rt.registry.missing_from("c", "g1") == [ids[3]] and rt.registry.missing_from("c", "g2") == []
    index_batch(rt, earlier, ids[3:4], v[3:4], th, record_outcomes=False)  # as the rollback's rebuild does
    earlier.refresh()
    assert rt.registry.missing_from("c", "g1") == [] and ids[3] in {i for i, _ in earlier.within(v[3:4], 0.15)[0]}


@pytest.mark.parametrize("capacity", [1000, 40])  # every vector in the buffer; most of them sealed in segments
def test_a_query_bounded_to_its_nearest_gets_them_among_a_hundred_equal_vectors(rt, capacity):
    """100 copies of one vector and 20 near it: within() bounded to `most` gives a copy its `most` nearest, at
    the distances of the unbounded search's nearest; from the buffer, the copies stored first among equals."""
    rng = np.random.default_rng(3)
    base = unit(rng.normal(size=16))
    v = np.concatenate([np.repeat(base[None], 100, axis=0), unit(base + rng.normal(scale=0.02, size=(20, 16)))])
    ids = register(rt, 120)
    rt.settings.buffer_capacity = capacity
    index = rt.index("c", "gen1", 16)
    for chunk in np.array_split(np.arange(120), 6):
        index_batch(rt, index, [ids[i] for i in chunk], v[chunk], {"duplicate": 0.05, "match": 0.15})
    assert bool(index.segments) == (capacity < 120)
    everything = index.within(v[:1], 0.5)[0]
    bounded = index.within(v[:1], 0.5, most=7)[0]
    assert len(everything) == 120 and len(bounded) == 7 and set(bounded) <= set(everything)
    assert [d for _, d in bounded] == [d for _, d in nearest_of(everything, 7)]
    if capacity > 120:
        assert bounded == nearest_of(everything, 7) == [(i, bounded[0][1]) for i in sorted(ids)[:7]]


def _connect_at(url: str, barrier) -> str:
    """A worker process's start: connect to the database (creating the schema) when the others do."""
    from neardup.storage.db import connect

    barrier.wait()
    try:
        connect(url).dispose()
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def postgresql_schema():
    """A new, empty schema in the PostgreSQL server of this machine, or a skip where none answers: (its
    database URL, a function that drops it)."""
    import uuid

    import sqlalchemy

    url = "postgresql://postgres@127.0.0.1:5432/test"
    try:
        admin = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
        schema = f"neardup_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # no server here: say so rather than pass silently
        pytest.skip(f"PostgreSQL not reachable at {url}: {exc}")

    def drop():
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
    return f"{url}?options=-csearch_path%3D{schema}", drop


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_workers_starting_together_on_a_new_database_all_connect(tmp_path, database):
    """Each worker process creates the schema it finds missing; started together, they race to create it."""
    import multiprocessing

    url, drop = (f"sqlite:///{tmp_path / 'neardup.db'}", lambda: None) if database == "sqlite" else postgresql_schema()
    try:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager, ctx.Pool(6) as pool:
            barrier = manager.Barrier(6)
            assert pool.starmap(_connect_at, [(url, barrier)] * 6) == ["ok"] * 6
    finally:
        drop()


def test_same_index_on_postgresql(settings):
    """The registry and index on PostgreSQL (NEARDUP_DATABASE_URL), as several machines would share them."""
    url, drop = postgresql_schema()
    try:
        settings.database_url = url
        settings.buffer_capacity, settings.merge_fanout = 40, 3
        rt = Runtime(settings)
        assert rt.engine.dialect.name == "postgresql"
        v = planted(150)
        ids = register(rt, 150)
        index = rt.index("c", "g", 16)
        for chunk in np.array_split(np.arange(150), 5):
            index_batch(rt, index, [ids[i] for i in chunk], v[chunk], {"duplicate": 0.05, "match": 0.15})
        assert stored_pairs(rt, ids) == exact_pairs(v, 0.15)
        assert index_batch(rt, index, ids, v, {"duplicate": 0.05, "match": 0.15}) == {}
        assert remove(rt, "c", ["/img/0.jpg", "/img/1.jpg"]).removed == ["/img/0.jpg", "/img/1.jpg"]
        index.refresh()
        assert {r.status for r in rt.registry.images(ids=ids[:2])} == {"removed"}
        assert not {ids[0], ids[1]} & {i for p in rt.registry.pairs_in("c", "g") for i in p[:2]}
        assert not {ids[0], ids[1]} & {i for i, _ in index.within(v[:2], 0.15)[0] + index.within(v[:2], 0.15)[1]}
        rt.registry.record_items("c", [Recorded("/img/1.jpg", "h1", 10, 10, 100)])  # submitted again
        index_batch(rt, index, ids[1:2], v[1:2], {"duplicate": 0.05, "match": 0.15})
        assert ids[1] in {i for i, _ in index.within(v[1:2], 0.15)[0]} and index.tombstones == {ids[0]}
        found = {("a" * 64, "b" * 64): (True, 40, False), ("a" * 64, "c" * 64): (None, 0, False)}
        for _ in range(2):  # the second store is a no-op, not a conflict
            rt.registry.store_verdicts("v1", found)
        assert rt.registry.verdicts([*found, ("b" * 64, "a" * 64)], "v1") == found
        assert rt.registry.verdicts(found, "v2") == {}
    finally:
        rt.engine.dispose()
        drop()


def test_sweep_of_a_segmented_index_finds_exactly_the_live_pairs(rt, settings, tmp_path):
    """The sweep's one-Annoy pass over sealed, merged, tombstoned segments plus the buffer, read by a fresh
    process, against exact search, with the model's crowding penalty."""
    from neardup.pipeline.sweep import sweep

    v = planted(300, pairs=60)
    v[299] = unit(v[2] + 0.005)  # a pair between the buffer and a merged segment
    ids = register(rt, 300)
    rt.registry.store_vectors("gen1", {f"h{i}": v[i] for i in range(300)})  # a fresh process reloads the buffer
    th = {"duplicate": 0.05, "match": 0.15}
    crowd = with_crowding(rt, tmp_path, v, th)
    rt.set_generations("c", generation="gen1")
    index = rt.index("c", "gen1", 16)
    for chunk in np.split(np.arange(300), [45, 90, 135, 180, 225, 270]):  # the last 30 stay in the buffer
        index_batch(rt, index, [ids[i] for i in chunk], v[chunk], th)
    index.install_merges(wait=True)
    index.tombstone([ids[0]])
    assert max(index.levels.values()) >= 1 and len(index.buffer_ids) > 0
    settings.verify = False  # the embedding's pairs (these images have no files to verify)
    res = sweep(Runtime(settings), "c")
    pos = {image_id: k for k, image_id in enumerate(ids)}
    expected = {(i, j) for i, j in exact_pairs(v, th["match"], crowd) if 0 not in (i, j)}
    assert {(pos[a], pos[b]) for a, b, _, _ in res.pairs} == expected
    assert res.total == 299 and 25 <= len(expected) < len(exact_pairs(v, th["match"]))  # the penalty mattered


def test_nearest_ranks_by_the_penalised_distance_in_buffer_and_segments(rt, tmp_path):
    """With a crowding penalty, nearest() and within() report the same distances as exact search with the
    penalty, whether the vectors sit in the buffer or in sealed segments."""
    v = planted(200, pairs=60)
    ids = register(rt, 200)
    th = {"duplicate": 0.05, "match": 0.3}
    crowd = with_crowding(rt, tmp_path, v, th)
    index = rt.index("c", "gen1", 16)
    exact = crowd.distances(v, v)
    for chunk in np.array_split(np.arange(200), 5):  # 40 a batch: four sealed segments and a full buffer
        index_batch(rt, index, [ids[i] for i in chunk], v[chunk], th)
    assert index.segments
    pos = {image_id: k for k, image_id in enumerate(ids)}
    for q in (0, 1, 7, 100, 199):
        near = index.nearest(v[q], 5)  # Annoy is approximate past the nearest few: the first two are exact
        assert [pos[i] for i, _ in near[:2]] == np.argsort(exact[q])[:2].tolist()
        assert np.allclose([d for _, d in near], [exact[q, pos[i]] for i, _ in near], atol=2e-3)
        assert [d for _, d in near] == sorted(d for _, d in near)
        found = {pos[i]: d for i, d in index.within(v[q:q + 1], 0.3)[0]}
        assert set(found) == set(np.nonzero(exact[q] <= 0.3)[0].tolist())
    # every query at once (blocks of 64 here) gives each one's nearest, tombstoned images left out of both
    index.tombstone([ids[1], ids[150]])
    index.refresh()
    each = index.nearest_each(v, 5, block=64)
    for q in range(200):
        alone = index.nearest(v[q], 5)
        assert [i for i, _ in each[q]] == [i for i, _ in alone] and np.allclose(
            [d for _, d in each[q]], [d for _, d in alone], atol=1e-5)
        assert ids[1] not in dict(alone) and ids[150] not in dict(alone)


def test_a_buffer_over_one_search_block_finds_every_pair(settings):
    """The buffer is searched 4,096 vectors at a time: copies of vectors on either side of each block edge
    are found, and the pairs are those an exhaustive search gives."""
    rt = Runtime(settings)  # the default buffer: 20,000 vectors, nothing sealed here
    rng = np.random.default_rng(5)
    base = unit(rng.normal(size=(8_500, 16)))
    edges = [0, 4095, 4096, 4097, 8191, 8192, 8499]
    copies = unit(base[edges] + rng.normal(scale=0.01, size=(len(edges), 16)))
    v = np.concatenate([base, copies])
    ids = register(rt, len(v))
    th = {"duplicate": 0.05, "match": 0.15}
    index = rt.index("c", "gen1", 16)
    index_batch(rt, index, ids[:8_500], base, th)
    index_batch(rt, index, ids[8_500:], copies, th)
    assert not index.segments and len(index.buffer_ids) == len(v)
    found = stored_pairs(rt, ids)
    assert {(e, 8_500 + k) for k, e in enumerate(edges)} <= found
    assert found == exact_pairs(v, th["match"])


UNGUARDED = """
import sys
import numpy as np
from neardup.config import Settings
from neardup.pipeline.index import index_batch
from neardup.pipeline.runtime import Runtime
from neardup.storage.registry import Recorded
print("the script ran", flush=True)  # a user's script with no `if __name__ == "__main__"`
rt = Runtime(Settings(data_dir=sys.argv[1], buffer_capacity=40, merge_fanout=3, background_merges=True))
ids = rt.registry.record_items("c", [Recorded(f"/x/{i}.jpg", f"h{i}", 8, 8, 10) for i in range(200)])
index = rt.index("c", "gen1", 16)
vectors = np.random.default_rng(1).normal(size=(200, 16)).astype(np.float32)
for start in range(0, 200, 40):  # five sealed segments of 40: three of them merged
    index_batch(rt, index, ids[start:start + 40], vectors[start:start + 40], {"duplicate": 0.05, "match": 0.15})
index.install_merges(wait=True)
print("levels", sorted(index.levels.values()), len(index), flush=True)
"""


def test_a_script_that_does_not_guard_its_main_code_merges_without_running_twice(tmp_path):
    """The merge process is forked: a spawned one would run the caller's script again (and scan again)."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "data")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("the script ran") == 1
    assert "levels [0, 0, 1] 200" in out.stdout
