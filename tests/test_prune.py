"""Housekeeping: `neardup prune` deletes what no answer needs (the data of pictures no collection holds, retired
model versions, results of older check versions) and nothing an answer needs: a scan after it gives the same
pairs, and a removed picture scanned again comes back as before."""
from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import func, insert, select

from neardup.pipeline.prune import prune
from neardup.pipeline.remove import remove
from neardup.pipeline.scan import Scanner
from neardup.pipeline.verify import Verifier
from neardup.storage import db
from neardup.storage.index import index_root
from tests.conftest import sample_paths
from tests.test_index import postgresql_schema


def catalogue(tmp_path):
    """Three distinct photos and a re-encoded copy of the first."""
    folder = tmp_path / "catalogue"
    folder.mkdir()
    for name, src in zip("abc", sample_paths()):
        im = Image.open(src).convert("RGB")
        im.thumbnail((256, 256))
        im.save(folder / f"{name}.jpg", quality=95)
    Image.open(folder / "a.jpg").save(folder / "a_copy.jpg", quality=80)
    return folder


def count(rt, table, where=None) -> int:
    with rt.engine.connect() as conn:
        q = select(func.count()).select_from(table)
        return conn.execute(q if where is None else q.where(where)).scalar()


def naming(table, contents):
    return table.c.a_hash.in_(contents) | table.c.b_hash.in_(contents)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_prune_deletes_what_no_answer_needs_and_a_scan_after_it_finds_the_same(settings, tiny_model, tmp_path,
                                                                               database):
    url, drop = ("", lambda: None) if database == "sqlite" else postgresql_schema()
    try:
        settings.database_url, settings.model = url, tiny_model
        pruned_and_scanned_again(settings, tmp_path)
    finally:
        drop()


def pruned_and_scanned_again(settings, tmp_path):
    folder = catalogue(tmp_path)
    scanner = Scanner(settings)
    rt = scanner.rt
    first = scanner.scan(str(folder))
    assert len(first.pairs) == 1, "the copy pairs with its original"
    rows = {r.path: r for r in rt.registry.images(collection="default")}
    a, copy, b = (rows[str(folder / n)] for n in ("a.jpg", "a_copy.jpg", "b.jpg"))
    gone = [a.content_hash, copy.content_hash]
    assert all(rt.previews.has(h) for h in gone) and count(rt, db.frame_checks, naming(db.frame_checks, gone))
    rt.registry.add_label(a.content_hash, copy.content_hash, "duplicate")

    # what older releases and retired models leave behind
    generation, _ = rt.generations("default")
    rt.models.promote(generation)  # the model in use is the active one, as in a registry that never named one
    old = time.time() - 30 * 24 * 3600
    with rt.engine.begin() as conn:
        conn.execute(insert(db.vectors), [dict(content_hash=b.content_hash, model_version="frame32x3v9", vector=b"x"),
                                          dict(content_hash=b.content_hash, model_version="retired0", vector=b"x")])
        conn.execute(insert(db.frame_checks), [dict(a_hash=b.content_hash, b_hash="f" * 64, checker="old",
                                                    reason=None)])
        conn.execute(insert(db.verdicts), [dict(a_hash=b.content_hash, b_hash="f" * 64, verifier="old", same=1,
                                                inliers=50, duplicate=1)])
        conn.execute(insert(db.models), [dict(version="retired0", path="/nowhere.keras", info={}, created_at=old,
                                              active=0)])
        conn.execute(insert(db.index_items), [dict(collection="default", generation="retired0", image_id=b.id, seq=0)])
        live = [b.content_hash, rows[str(folder / "c.jpg")].content_hash]
        conn.execute(insert(db.verdicts), [dict(a_hash=x, b_hash=y, verifier=Verifier().key(), same=0, inliers=0,
                                                duplicate=0) for x, y in ((live[0], gone[0]), (gone[1], live[1]),
                                                                          (live[0], live[1]))])
    retired = index_root(settings.data_dir, "default") / "retired0"
    retired.mkdir(parents=True)
    (retired / "segment-0.json").write_text("{}")

    assert remove(rt, "default", [str(folder / "a.jpg"), str(folder / "a_copy.jpg")]).removed
    vectors_before = count(rt, db.vectors)
    dry = prune(rt, dry_run=True)
    assert count(rt, db.vectors) == vectors_before and retired.is_dir() and all(rt.previews.has(h) for h in gone)
    done = prune(rt)
    assert done.rows == dry.rows and done.files == dry.files, "a dry run counts what a run deletes"
    assert done.rows["vectors and signatures of pictures gone"] >= 4  # two vectors, two signatures at least
    assert done.rows["blobs under retired keys"] == 2
    assert done.rows["same-frame results of other versions"] == 1 and done.rows["verdicts of other versions"] == 1
    assert done.rows["index entries of retired generations"] == 1
    assert done.files == {"previews of pictures gone": 2, "index folders of retired generations": 1}

    assert count(rt, db.vectors, db.vectors.c.content_hash.in_(gone)) == 0
    assert count(rt, db.frame_checks, naming(db.frame_checks, gone)) == 0
    assert count(rt, db.verdicts, naming(db.verdicts, gone)) == 0  # named first or second
    assert count(rt, db.verdicts, (db.verdicts.c.a_hash == live[0]) & (db.verdicts.c.b_hash == live[1])) == 1
    assert count(rt, db.hash_buckets, db.hash_buckets.c.content_hash.in_(gone)) == 0
    assert not any(rt.previews.has(h) for h in gone) and not retired.exists()
    assert count(rt, db.vectors, db.vectors.c.model_version == generation) == 2  # b and c: still held
    assert count(rt, db.index_items, db.index_items.c.generation == generation) == 4  # the live index untouched
    assert rt.registry.labels(), "ops' labels stay"
    assert prune(rt).total == 0, "nothing left to prune"

    # the removed files are still on disk: scanned again they come back, paired as before
    again = scanner.scan(str(folder))
    assert {(p[2], p[3]) for p in again.pairs} == {(p[2], p[3]) for p in first.pairs}
    assert count(rt, db.vectors, db.vectors.c.content_hash.in_(gone)) > 0 and all(rt.previews.has(h) for h in gone)


def test_prune_from_the_command_line_keeps_the_active_model_and_reports_counts(settings, tiny_model, tmp_path):
    from neardup.worker.cli import cli

    settings.model = tiny_model
    Scanner(settings).scan(str(catalogue(tmp_path)))
    args = ["--data-dir", settings.data_dir, "--model", tiny_model, "--json"]
    runner = CliRunner()
    dry = runner.invoke(cli, ["prune", "--dry-run", *args])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["dry_run"] is True
    done = runner.invoke(cli, ["prune", *args])
    assert done.exit_code == 0, done.output
    found = json.loads(done.output)
    assert found["rows"]["blobs under retired keys"] == 0  # the active model's vectors, the signatures, the hashes
    assert found["rows"]["same-frame results of other versions"] == 0
    plain = runner.invoke(cli, ["prune", "--data-dir", settings.data_dir, "--model", tiny_model])
    assert plain.exit_code == 0 and "deleted 0 row(s) and file(s)" in plain.output, plain.output


def test_rows_are_deleted_range_by_range_and_none_left_over_or_spared(settings):
    """Deleting by ranges of a few rows in key order, each a transaction: every matching row goes, across
    range ends and keys that share a prefix, and no other."""
    from neardup.pipeline.runtime import Runtime

    rt = Runtime(settings)
    rows = [dict(content_hash=f"{i:064x}", model_version=v, vector=b"x") for i in range(13) for v in ("old", "new")]
    with rt.engine.begin() as conn:
        conn.execute(insert(db.vectors), rows)
    where = db.vectors.c.model_version == "old"
    assert rt.registry._delete_where([("old", db.vectors, where)], dry_run=True) == {"old": 13}
    assert rt.registry._delete_where([("old", db.vectors, where)], dry_run=False, batch=4) == {"old": 13}
    assert count(rt, db.vectors, where) == 0 and count(rt, db.vectors) == 13


def test_batches_older_than_the_limit_are_forgotten_and_their_images_kept(settings):
    from sqlalchemy import update

    from neardup.pipeline.runtime import Runtime
    from neardup.storage.registry import Recorded

    rt = Runtime(settings)
    for batch, path in (("old", "/img/old.jpg"), ("new", "/img/new.jpg")):
        rt.registry.record_batch(batch, "default", [path])
        rt.registry.record_items("default", [Recorded(path, f"h-{batch}", 10, 10, 100)], batch)
    with rt.engine.begin() as conn:
        conn.execute(update(db.batches).where(db.batches.c.id == "old").values(created_at=time.time() - 31 * 86400))
    assert prune(rt, dry_run=True).rows["paths of old batches"] == 1
    done = prune(rt, batch_days=30)
    assert done.rows["paths of old batches"] == 1 and done.rows["old batches"] == 1
    assert done.rows["paths their workers reached"] == 1
    with pytest.raises(KeyError):
        rt.registry.batch_states("old")
    assert list(rt.registry.batch_states("new")) == ["/img/new.jpg"]
    assert {r.path for r in rt.registry.images(collection="default")} == {"/img/old.jpg", "/img/new.jpg"}
