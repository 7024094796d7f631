"""The distributed path against a real Redis and real Celery worker processes: concurrency, crashes,
Redis restarts, retraining with rollout, bad input through the queue."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image
from sqlalchemy import and_, select

from neardup.encoder.frame import WHY
from neardup.storage import db
from tests.cluster import Cluster, RedisServer, make_queue_images
from tests.conftest import sample_paths

pytestmark = pytest.mark.slow

FINAL = {"indexed", "duplicate", "match", "failed"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, tiny_model_module):
    tmp = tmp_path_factory.mktemp("cluster")
    redis = RedisServer(tmp)
    redis.start()
    images = tmp / "images"
    copies = make_queue_images(images, sample_paths())
    c = Cluster(tmp, redis, images, tiny_model_module)
    c.copies = copies
    yield c
    c.stop()
    redis.kill()


@pytest.fixture(scope="module")
def tiny_model_module(tmp_path_factory):
    import keras

    from neardup.encoder import artifact
    from neardup.encoder.model import build_encoder

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("qmodel") / "tiny.keras"
    artifact.save(build_encoder(input_size=32, dim=32, width=8), path, {"duplicate": 0.05, "match": 0.15})
    return str(path)


def client(cluster):
    from neardup.config import load
    from neardup.worker.client import Client

    return Client(load())


def pairs_by_path(rt, collection, generation):
    with rt.engine.connect() as conn:
        rows = conn.execute(select(db.pairs.c.a, db.pairs.c.b, db.pairs.c.label).where(and_(
            db.pairs.c.collection == collection, db.pairs.c.generation == generation))).all()
    paths = {r.id: r.path for r in rt.registry.images(collection=collection)}
    return {(min(paths[a], paths[b]), max(paths[a], paths[b]), label) for a, b, label in rows}


def assert_each_once(rt, collection, generation, paths):
    """Every path in exactly one final state; every live image indexed exactly once in the generation."""
    rows = [r for r in rt.registry.images(collection=collection) if r.status != "replaced" and r.path in paths]
    by_path = {}
    for r in rows:
        by_path.setdefault(r.path, []).append(r.status)
    assert set(by_path) == set(paths)
    assert all(len(v) == 1 and v[0] in FINAL for v in by_path.values()), by_path
    live = {r.id for r in rows if r.status != "failed"}
    with rt.engine.connect() as conn:
        ids = conn.execute(select(db.index_items.c.image_id).where(and_(
            db.index_items.c.collection == collection, db.index_items.c.generation == generation))).scalars().all()
    assert len(ids) == len(set(ids)), "an image indexed twice"
    assert live <= set(ids)


UNVERIFIED = dict(NEARDUP_VERIFY="0")  # the index step's own answer: what the embedding finds


def test_two_workers_concurrent_batches_find_what_scan_finds(cluster):
    """Index steps on two workers, batches racing: every pair the embedding finds in a scan, none twice
    (the verify step, which decides these pairs further, is tested below)."""
    w1, w2 = cluster.start_worker("w1", **UNVERIFIED), cluster.start_worker("w2", **UNVERIFIED)
    cl = client(cluster)
    files = sorted(str(p) for p in cluster.images.glob("*.jpg"))
    thirds = [files[i::3] for i in range(3)]  # copies and their originals land in different batches
    handles = [None] * 3

    def go(i):
        handles[i] = cl.submit(thirds[i], "concurrent")

    threads = [threading.Thread(target=go, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for h in handles:
        st = h.result(timeout=300)
        assert st["done"] == st["total"]
    assert_each_once(cl.rt, "concurrent", cluster.model_version, set(files))

    from neardup.config import load
    from neardup.pipeline.scan import Scanner
    scan = Scanner(load(verify=False), "scanned").scan(str(cluster.images))
    got = pairs_by_path(cl.rt, "concurrent", cluster.model_version)
    want = pairs_by_path(cl.rt, "scanned", scan.model_version)
    assert want and got == want
    for copy, original in cluster.copies.items():
        assert any({copy, original} == {a, b} for a, b, _ in got), (copy, original)
    states = {it["path"]: it for h in handles for it in h.status()["items"]}
    for copy, original in cluster.copies.items():
        if copy.endswith("_same.jpg"):  # byte-identical: whichever was indexed second is its duplicate at 0
            a, b = states[copy], states[original]
            assert (a.get("of"), a.get("distance")) == (original, 0) or (b.get("of"), b.get("distance")) == (copy, 0), (a, b)
    assert w1.poll() is None and w2.poll() is None


def test_worker_killed_and_redis_restarted_mid_batch_lose_nothing(cluster):
    cl = client(cluster)
    for w in list(cluster.workers):
        if w.poll() is None:
            cluster.kill_worker(w)
    victim = cluster.start_worker("victim", **UNVERIFIED)
    files = sorted(str(p) for p in cluster.images.glob("*.jpg"))
    handle = cl.submit(files, "crashy")
    deadline = time.time() + 120
    while handle.status()["done"] < 8 and time.time() < deadline:
        time.sleep(0.2)
    cluster.kill_worker(victim)  # SIGKILL in the middle of the batch
    survivor = cluster.start_worker("survivor", **UNVERIFIED)
    while handle.status()["done"] < len(files) * 0.6 and time.time() < deadline + 120:
        time.sleep(0.2)
    cluster.redis.kill()  # Redis dies with the queue in it (no persistence) ...
    time.sleep(1)
    cluster.redis.start()  # ... and comes back empty
    st = handle.result(timeout=400, stall=8)
    assert st["done"] == st["total"] == len(files)
    assert_each_once(cl.rt, "crashy", cluster.model_version, set(files))
    got = pairs_by_path(cl.rt, "crashy", cluster.model_version)
    want = pairs_by_path(cl.rt, "concurrent", cluster.model_version)
    assert got == want, "no pair lost to the crash"
    assert survivor.poll() is None


def test_bad_input_through_the_queue_fails_per_image(cluster, tmp_path):
    from neardup.worker.app import app
    from tests.badfiles import make_bad_files, non_utf8_name

    if not any(w.poll() is None for w in cluster.workers):
        cluster.start_worker("w3")
    cl = client(cluster)
    bad = make_bad_files(cluster.images / "bad", sorted(cluster.images.glob("*.jpg"))[0])
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(sorted(cluster.images.glob("*.jpg"))[0].read_bytes())
    missing = str(cluster.images / "gone.jpg")
    paths = [p for p, e in bad.items() if "symlink" not in e] + [str(outside), missing, str(cluster.images / "../etc")]
    # a malformed message and a pickle (never accepted): refused, logged, the worker keeps going
    from kombu import Producer

    app.send_task("neardup.embed", kwargs={"collection": 42, "paths": "nope"}, queue="embed")
    with app.connection_for_write() as conn:
        Producer(conn).publish(b"\x80\x04\x95 not json", routing_key="embed", serializer=None,
                               content_type="application/x-python-serialize", content_encoding="binary",
                               headers={"task": "neardup.embed", "id": "pickled-1"})
    st = cl.submit(paths, "badinput").result(timeout=300)
    reasons = {it["path"]: it.get("reason", "") for it in st["items"]}
    assert all(it["state"] == "failed" for it in st["items"]), st
    for path, expect in bad.items():
        if "symlink" not in expect:
            assert expect in reasons[path], (path, reasons[path])
    assert "outside the configured image roots" in reasons[str(outside)]
    assert "not found" in reasons[missing]
    good = cl.submit([sorted(str(p) for p in cluster.images.glob("*.jpg"))[0]], "badinput").result(timeout=120)
    assert good["counts"] != {"failed": 1}, "workers still process good images"
    # the folder itself: what its walk cannot list (broken and looping links) is in the batch, failed with
    # its reason; a name that is not UTF-8 is ingested under its own name
    odd = non_utf8_name(cluster.images / "bad", sorted(cluster.images.glob("*.jpg"))[0])
    walked = cl.submit([str(cluster.images / "bad")], "badfolder").result(timeout=300)
    states = {it["path"]: (it["state"], it.get("reason") or "") for it in walked["items"]}
    for path, expect in bad.items():
        assert states[path][0] == "failed" and expect in states[path][1], (path, states.get(path))
    assert states[odd][0] != "failed", states[odd]
    assert any(w.poll() is None for w in cluster.workers)


def test_retrain_and_rollout_while_ingesting(cluster):
    """A retrain on the train queue, promoted, rolled out while batches keep coming: nothing lost, no
    comparison across model versions, `neardup models` shows the switch."""
    from neardup.worker.app import app

    if not any(w.poll() is None for w in cluster.workers):
        cluster.start_worker("w4")
    trainer = cluster.start_worker("trainer", queues="train,index")
    cl = client(cluster)
    files = sorted(str(p) for p in cluster.images.glob("*.jpg") if "_" in p.stem)
    first = cl.submit(files[: len(files) // 2], "rollout").result(timeout=300)
    assert first["done"] == first["total"]
    old = cl.rt.generations("rollout")[0]

    config = {"epochs": 1, "input_size": 32, "dim": 32, "width": 8, "batch_images": 8, "max_side": 64,
              "val_fraction": 0.3}
    job = app.send_task("neardup.retrain", kwargs=dict(collection="rollout", config=config, force=True),
                        queue="train")
    later = []
    while not job.ready():  # ingestion goes on during training and rollout
        rest = files[len(files) // 2:]
        if len(later) < len(rest):
            later.append(cl.submit(rest[len(later):len(later) + 3], "rollout"))
        time.sleep(0.5)
    result = job.get(timeout=10)
    assert result["promoted"] and result["version"] != old
    assert later, "batches must have been submitted during the retrain"
    for h in later:
        h.result(timeout=300)
    cl.submit(files[len(files) // 2:], "rollout").result(timeout=300)  # the rest, after the switch too

    new = result["version"]
    current, building = cl.rt.generations("rollout")
    assert (current, building) == (new, None)
    assert_each_once(cl.rt, "rollout", new, set(files))
    with cl.rt.engine.connect() as conn:
        # every vector in the new generation was made by the new model (no cross-version comparison)
        ids = conn.execute(select(db.index_items.c.image_id).where(and_(
            db.index_items.c.collection == "rollout", db.index_items.c.generation == new))).scalars().all()
    rows = cl.rt.registry.images(ids=ids)
    assert set(cl.rt.registry.vectors_for([r.content_hash for r in rows], new)) == {r.content_hash for r in rows}
    proc = subprocess.run([sys.executable, "-m", "neardup", "models", "--json"], env=cluster.env,
                          capture_output=True, text=True, timeout=120)
    listed = {m["version"]: m["active"] for m in json.loads(proc.stdout)}
    assert listed[new] is True and listed[old] is False
    # what the trainer refuses comes back to `retrain --wait` as one line, not a worker's traceback
    refused = subprocess.run([sys.executable, "-m", "neardup", "retrain", "--collection", "empty", "--wait"],
                             env=cluster.env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "retraining refused" in refused.stderr and "Traceback" not in refused.stderr
    cluster.kill_worker(trainer)


def test_rollback_while_ingesting_switches_collections_back(cluster, tmp_path):
    """After the roll-out above, `neardup rollback` while batches keep coming: the collection goes back to the
    previous model's generation with every image in it once (those ingested meanwhile too), image states
    are what that generation's pairs say, and later ingestion and sweeps use it."""
    import shutil

    from neardup.pipeline.sweep import sweep

    if not any(w.poll() is None for w in cluster.workers):
        cluster.start_worker("w5")
    cl = client(cluster)
    new, _ = cl.rt.generations("rollout")
    previous = cl.rt.models.get(new).previous
    assert previous and previous != new
    extra = cluster.images / "after-rollout"
    extra.mkdir()
    sources = sorted(cluster.images.glob("*_q0.jpg"))[:6]
    copies = [str(shutil.copy(p, extra / f"again_{p.name}")) for p in sources]
    rollback = subprocess.Popen([sys.executable, "-m", "neardup", "rollback"], env=cluster.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    during = [cl.submit(copies[i:i + 2], "rollout") for i in range(0, 4, 2)]
    out, err = rollback.communicate(timeout=600)
    assert rollback.returncode == 0 and previous in out, err[-2000:]
    for h in during:
        assert h.result(timeout=300)["done"] == 2
    after = cl.submit(copies[4:], "rollout").result(timeout=300)
    assert after["done"] == 2

    assert cl.rt.generations("rollout") == (previous, None)
    assert cl.rt.models.active().version == previous
    live = {r.path for r in cl.rt.registry.images(collection="rollout") if r.status not in ("failed", "replaced")}
    assert set(copies) <= live
    assert_each_once(cl.rt, "rollout", previous, live)
    expected = cl.rt.registry.outcomes_in("rollout", previous)
    for r in cl.rt.registry.images(ids=list(expected)):
        assert (r.status, r.of_image) == expected[r.id][:2], r.path
    assert any(r.status == "duplicate" for r in cl.rt.registry.images(collection="rollout") if r.path in copies)
    res = sweep(cl.rt, "rollout")
    assert res.model_version == previous and res.pairs


def test_a_stale_index_lock_holds_up_only_its_own_collection(cluster):
    """A holder killed mid-step leaves its lock behind until it expires: the index tasks of that collection
    go back to the queue meanwhile instead of holding worker slots, so other collections go on."""
    import redis

    alive = [w for w in cluster.workers if w.poll() is None] or [cluster.start_worker("w-lock")]
    r = redis.Redis.from_url(cluster.redis.url)
    key = "neardup:index-lock:stale"
    r.set(key, "a holder that died")  # left behind; Redis would expire it after the holder's TTL
    cl = client(cluster)
    photos = sorted(str(p) for p in cluster.images.glob("*_q1.jpg"))
    stuck = [cl.submit([p], "stale") for p in photos[: len(alive) + 1]]  # more index tasks than worker slots
    fresh = cl.submit(photos[-2:], "fresh").result(timeout=120)
    assert fresh["done"] == fresh["total"] == 2 and r.exists(key)
    assert all(h.status()["done"] == 0 or h.status()["counts"].get("pending") for h in stuck)
    r.delete(key)  # the dead holder's lock expires
    for h in stuck:
        assert h.result(timeout=120)["counts"].get("failed", 0) == 0


def test_the_lock_heartbeat_keeps_a_slow_holder_owning_it(cluster, monkeypatch):
    import redis

    from neardup.tasks import context

    monkeypatch.setattr(context, "LOCK_TIMEOUT", 0.6)
    monkeypatch.setattr(context, "redis_client", lambda url=None: redis.Redis.from_url(cluster.redis.url))
    with context.collection_lock("slow"):
        time.sleep(2.0)  # three lifetimes of the lock: only the heartbeat keeps it
        with pytest.raises(context.LockBusy):
            with context.collection_lock("slow", wait=0.1):
                pass
    with context.collection_lock("slow", wait=0.1):  # released on the way out
        pass


def test_reconcile_resends_what_the_broker_lost_at_once(cluster):
    """No client waiting: the periodic reconcile finds a batch whose messages the broker lost (nothing of the
    ingestion queues left in Redis) and sends it again, however young the batch (here: quiet for 0 s, 30 by
    default)."""
    import redis

    from neardup.tasks.sweep import reconcile

    for w in list(cluster.workers):
        if w.poll() is None:
            cluster.kill_worker(w)
    cl = client(cluster)
    files = sorted(str(p) for p in cluster.images.glob("*_q2.jpg"))[:6]
    handle = cl.submit(files, "lost")
    r = redis.Redis.from_url(cluster.redis.url)
    assert cl.in_flight() >= 1
    for pattern in ("embed*", "index*", "unacked*"):  # the broker lost its messages (a Redis restarted empty),
        for key in list(r.scan_iter(match=pattern)):  # earlier tests' leftovers included; the batch is seconds old
            r.delete(key)
    assert cl.in_flight() == 0
    assert reconcile(lost_after_s=0) == {handle.batch_id: len(files)}
    assert reconcile(lost_after_s=0) == {}  # sent again and in flight now: a young batch is left alone
    cluster.start_worker("after-loss")
    deadline = time.time() + 180
    while handle.status()["done"] < len(files) and time.time() < deadline:
        time.sleep(0.3)
    st = handle.status()
    assert st["done"] == st["total"] == len(files) and "failed" not in st["counts"]
    assert_each_once(cl.rt, "lost", cl.rt.generations("lost")[0], set(files))


def test_a_message_past_its_time_limit_fails_what_it_did_not_reach(cluster, tmp_path):
    """Files that take too long are reported failed with the reason, never sent again; what the message had
    done goes on to the index. (Twelve 64-megapixel PNGs take seconds to decode; the limit here is 1 s.)"""
    from PIL import Image

    for w in list(cluster.workers):
        if w.poll() is None:
            cluster.kill_worker(w)
    slow_dir = cluster.images / "slow"
    slow_dir.mkdir()
    slow = []
    for n in range(12):
        Image.new("RGB", (8000, 8000), (n * 20, 90, 240 - n * 20)).save(slow_dir / f"big{n}.png", compress_level=1)
        slow.append(str(slow_dir / f"big{n}.png"))
    good = sorted(str(p) for p in cluster.images.glob("*_q3.jpg"))[:4]
    cluster.env["NEARDUP_EMBED_TIME_LIMIT"] = "1"
    try:
        worker = cluster.start_worker("hurried")
    finally:
        del cluster.env["NEARDUP_EMBED_TIME_LIMIT"]
    cl = client(cluster)
    warm = cl.submit(good[:1], "hurried").result(timeout=300)  # the worker has loaded the collection's model
    assert warm["done"] == 1
    st = cl.submit(good + slow, "hurried", batch_size=len(good) + len(slow)).result(timeout=300, stall=600)
    states = {it["path"]: (it["state"], it.get("reason") or "") for it in st["items"]}
    assert st["done"] == st["total"]
    timed_out = [p for p, (s, r) in states.items() if s == "failed" and "timed out" in r]
    assert timed_out and set(timed_out) <= set(slow + good)
    assert all(s != "failed" or "timed out" in r for s, r in states.values())
    assert worker.poll() is None
    cluster.kill_worker(worker)


def test_the_queue_answers_as_the_scan_with_a_verify_worker_killed(cluster):
    """Crops and mirrored crops with their originals, and two of them side by side, in batches: before any
    verify worker runs, the embedding's answer is there at once (`verified=False`) and every image waits in
    `verifying`; a verify worker killed (SIGKILL) in the middle and another one after it leave every image
    final, with the scan's pairs and labels (the two in the collage found by its cells, as the scan finds them)."""
    from tests.test_collage import PAIR, beside
    from tests.test_verify import make_crops

    for w in list(cluster.workers):
        if w.poll() is None:
            cluster.kill_worker(w)
    folder = cluster.images / "crops"
    folder.mkdir()
    make_crops(folder, side=384)
    names = [sample_paths()[i].name for i in PAIR]
    beside([Image.open(folder / name) for name in names]).save(folder / "beside.jpg", quality=85)
    files = sorted(str(p) for p in folder.glob("*.jpg"))
    cluster.start_worker("ingest", "embed,index")
    cl = client(cluster)
    handle = cl.submit(files, "verified")
    fast = handle.result(timeout=300, verified=False)
    assert fast["done"] == len(files) and all(it["verified"] is False for it in fast["items"])
    assert handle.status()["counts"] == {"verifying": len(files)} and handle.status()["done"] == 0

    victim = cluster.start_worker("verifier", "verify")
    deadline = time.time() + 180
    while handle.status()["done"] == 0 and time.time() < deadline:
        time.sleep(0.1)
    cluster.kill_worker(victim)
    assert 0 < handle.status()["done"] < len(files), "killed in the middle of the batch's verification"
    survivor = cluster.start_worker("verifier2", "verify")
    st = handle.result(timeout=400, stall=8)
    assert st["done"] == st["total"] == len(files) and "verifying" not in st["counts"]
    generation, _ = cl.rt.generations("verified")  # the active model (earlier tests rolled a new one out)
    assert_each_once(cl.rt, "verified", generation, set(files))

    from neardup.config import load
    from neardup.pipeline.scan import Scanner
    scan = Scanner(load(), "crops-scanned").scan(str(folder))
    assert scan.model_version == generation
    got = pairs_by_path(cl.rt, "verified", generation)
    want = {(*sorted((scan.images[a].path, scan.images[b].path)), label) for a, b, _, label in scan.pairs}
    assert want and got == want, (sorted(got - want), sorted(want - got))
    assert {(*sorted((str(folder / name), str(folder / "beside.jpg"))), "match") for name in names} <= want
    told = {it["path"]: it.get("why") for it in handle.status(explain=True)["items"] if it["state"] == "match"}
    assert told and all(why in WHY.values() for why in told.values()), told  # what a person is told about each
    assert survivor.poll() is None


def on_its_own(cluster, name: str, photo: int):
    """Every worker stopped (the test starts its own, with its settings), a new folder `name` of the images,
    and the bytes of the images' `photo`-th JPEG to fill it with."""
    for w in list(cluster.workers):
        if w.poll() is None:
            cluster.kill_worker(w)
    folder = cluster.images / name
    folder.mkdir()
    return folder, sorted(cluster.images.glob("*.jpg"))[photo].read_bytes()


def test_a_picture_queued_many_times_is_one_group_with_pairs_bounded_per_copy(cluster):
    """Forty files of one picture's bytes, queued in batches to workers that keep 3 partners an image: each
    file ends a duplicate of an earlier one at 0 (the first indexed), each is paired with at most 3 earlier
    files, and the pairs join all forty in one group (not 780 pairs)."""
    from neardup.pipeline.groups import components

    folder, data = on_its_own(cluster, "many", 0)
    files = []
    for k in range(40):
        (folder / f"copy_{k:02d}.jpg").write_bytes(data)
        files.append(str(folder / f"copy_{k:02d}.jpg"))
    cluster.start_worker("many", NEARDUP_MAX_PARTNERS="3", **UNVERIFIED)
    cl = client(cluster)
    st = cl.submit(files, "many").result(timeout=300)
    assert st["done"] == st["total"] == 40 and st["counts"] == {"indexed": 1, "duplicate": 39}, st["counts"]
    assert all(it.get("distance") == 0 for it in st["items"] if it["state"] == "duplicate")
    generation, _ = cl.rt.generations("many")
    pairs = pairs_by_path(cl.rt, "many", generation)
    assert len(pairs) <= 3 * 40 and {label for _, _, label in pairs} == {"duplicate"}
    assert components((a, b) for a, b, _ in pairs) == [sorted(files)]


def test_an_upload_copying_a_removed_image_is_a_new_picture_through_the_queue(cluster):
    """An image removed through the client (under the collection's lock, workers running), then another by a
    `neardup.remove` message: a later upload of the same bytes is paired with what is left, and the removed
    image's batch counts it done, as removed."""
    folder, data = on_its_own(cluster, "removal", 1)
    original, first, second, third = (folder / f"{name}.jpg" for name in ("original", "first", "second", "third"))
    for path in (original, first, second, third):
        path.write_bytes(data)
    cluster.start_worker("removal", **UNVERIFIED)
    cl = client(cluster)
    kept = cl.submit([str(original)], "removal")
    assert kept.result(timeout=300)["counts"] == {"indexed": 1}
    st = cl.submit([str(first)], "removal").result(timeout=300)
    assert st["items"][0]["state"] == "duplicate" and st["items"][0]["of"] == str(original)
    done = cl.remove([str(original)], "removal")
    assert done.removed == [str(original)] and done.unknown == []
    st = cl.submit([str(second)], "removal").result(timeout=300)
    assert st["items"][0]["state"] == "duplicate" and st["items"][0]["of"] == str(first)
    assert kept.status()["counts"] == {"removed": 1} and kept.status()["done"] == 1
    sent = cl.app.send_task("neardup.remove", kwargs=dict(collection="removal", paths=[str(first)]), queue="index")
    assert sent.get(timeout=120) == {"removed": [str(first)], "unknown": []}  # by a producer of messages alone
    st = cl.submit([str(third)], "removal").result(timeout=300)
    assert st["items"][0]["state"] == "duplicate" and st["items"][0]["of"] == str(second)
    generation, _ = cl.rt.generations("removal")
    assert all(str(original) not in pair[:2] for pair in pairs_by_path(cl.rt, "removal", generation))


def test_a_path_submitted_again_is_answered_for_its_file_as_it_is_now(cluster):
    """An upload path used again: missing at first (failed), then there, then holding another picture. Each
    batch waits for its own worker and answers for the file as it is then, not with what an earlier batch of
    the same path was told."""
    folder, data = on_its_own(cluster, "again", 0)
    original, upload = folder / "original.jpg", folder / "upload.jpg"
    original.write_bytes(data)
    cluster.start_worker("again", **UNVERIFIED)
    cl = client(cluster)
    assert cl.submit([str(original)], "again").result(timeout=300)["counts"] == {"indexed": 1}
    st = cl.submit([str(upload)], "again").result(timeout=300)
    assert st["items"][0]["state"] == "failed" and "not found" in st["items"][0]["reason"]
    upload.write_bytes(data)
    st = cl.submit([str(upload)], "again").result(timeout=300)
    assert st["items"][0]["state"] == "duplicate" and st["items"][0]["of"] == str(original), st
    upload.write_bytes(sorted(cluster.images.glob("*.jpg"))[3].read_bytes())  # another picture
    st = cl.submit([str(upload)], "again").result(timeout=300)
    assert st["items"][0]["state"] != "duplicate", st
    live = [r for r in cl.rt.registry.images(collection="again") if r.path == str(upload) and r.status != "replaced"]
    assert [r.status for r in live] == [st["items"][0]["state"]]


def test_housekeeping_on_the_sweep_queue_deletes_what_a_removed_picture_left(cluster):
    """`neardup.prune` (beat sends it weekly) on a sweep worker: a dry run counts and keeps, a run deletes the
    vectors of a picture no collection holds any more."""
    folder, data = on_its_own(cluster, "housekeeping", 2)
    picture = folder / "gone.jpg"
    im = Image.open(io.BytesIO(data)).convert("RGB")
    im.paste((255, 0, 0), (0, 0, 8, 8))  # bytes of its own: no other image of the cluster holds them
    im.save(picture, quality=90)
    cluster.start_worker("housekeeper", queues="embed,index,sweep", **UNVERIFIED)
    cl = client(cluster)
    assert cl.submit([str(picture)], "housekeeping").result(timeout=300)["counts"] == {"indexed": 1}
    (row,) = cl.rt.registry.images(collection="housekeeping")
    generation, _ = cl.rt.generations("housekeeping")
    assert cl.rt.registry.vectors_for([row.content_hash], generation)
    assert cl.remove([str(picture)], "housekeeping").removed == [str(picture)]
    dry = cl.app.send_task("neardup.prune", kwargs={"dry_run": True}, queue="sweep").get(timeout=300)
    assert dry["dry_run"] and dry["rows"]["vectors and signatures of pictures gone"] >= 1, dry
    assert cl.rt.registry.vectors_for([row.content_hash], generation), "a dry run deletes nothing"
    done = cl.app.send_task("neardup.prune", queue="sweep").get(timeout=300)
    assert done["rows"]["vectors and signatures of pictures gone"] >= 1, done
    assert not cl.rt.registry.vectors_for([row.content_hash], generation)


def test_an_image_removed_while_its_pairs_wait_for_verification_is_left_out_of_them(cluster):
    """Two files of one picture indexed, waiting for a verify worker; one is removed meanwhile. While none runs,
    waiting for the batch and `neardup status` say that no worker consumes the verify queue. When a verify
    worker comes, the other ends indexed with no pair, the removed one stays removed, and the batch is done."""
    folder, data = on_its_own(cluster, "pending-removal", 2)
    files = [folder / "a.jpg", folder / "b.jpg"]
    for path in files:
        path.write_bytes(data)
    cluster.start_worker("no-verify-queue", queues="embed,index")
    cl = client(cluster)
    handle = cl.submit([str(p) for p in files], "pending-removal")
    deadline = time.time() + 300
    while handle.status()["counts"] != {"verifying": 2}:
        assert time.time() < deadline, handle.status()["counts"]
        time.sleep(0.5)
    told = []

    class Told(Exception):
        pass

    def notice(text):
        told.append(text)
        raise Told  # the wait would go on until a verify worker comes: the test ends it here

    with pytest.raises(Told):
        handle.result(timeout=120, ask_after=0, notice=notice)
    assert "2 image(s) wait on verify; no running worker consumes the verify queue" in told[0], told
    assert "start one: neardup worker -Q verify" in told[0] and "--fast" in told[0], told
    shown = subprocess.run([sys.executable, "-m", "neardup", "status", handle.batch_id], env=cluster.env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "0/2 done: verifying 2" in shown.stdout, shown.stdout + shown.stderr
    assert "2 image(s) wait on verify; no running worker consumes the verify queue" in shown.stderr, shown.stderr
    generation, _ = cl.rt.generations("pending-removal")
    assert len(pairs_by_path(cl.rt, "pending-removal", generation)) == 1
    assert cl.remove([str(files[1])], "pending-removal").removed == [str(files[1])]
    cluster.start_worker("verify-only", queues="verify")
    st = handle.result(timeout=300)
    assert st["done"] == 2 and st["counts"] == {"indexed": 1, "removed": 1}, st["counts"]
    assert pairs_by_path(cl.rt, "pending-removal", generation) == set()


def test_a_queued_sweep_with_no_sweep_worker_says_so(cluster):
    """`neardup sweep --queue` waits for its result as long as it takes; with no worker on the sweep queue it
    says, on stderr, which queue is unserved and how to start a worker for it, instead of waiting without a word."""
    proc = subprocess.Popen([sys.executable, "-m", "neardup", "sweep", "--queue", "--collection", "unserved"],
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        deadline = time.time() + 120
        while not any("warning:" in line for line in lines):
            assert proc.poll() is None and time.time() < deadline, lines  # still waiting, and not for ever
            time.sleep(0.5)
        told = next(line for line in lines if "warning:" in line)
        assert "no running worker consumes the sweep queue; start one: neardup worker -Q sweep" in told
    finally:
        proc.kill()
        proc.wait()
