"""The image registry: what was submitted, what each image became, and the vectors keyed by content.

All writes are idempotent (keyed upserts), so a redelivered task repeats nothing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from sqlalchemy import and_, bindparam, case, delete, func, literal, or_, select, tuple_, update

from . import db
from .db import connect, in_chunks  # noqa: F401  (re-exported: the steps open and batch through here)


@dataclass
class ImageRow:
    id: int
    path: str
    content_hash: str
    status: str
    reason: str | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    of_image: int | None = None
    distance: float | None = None
    batch_id: str | None = None


class ImageStatus(StrEnum):
    """What became of an image (stored as its value)."""
    QUEUED = "queued"  # submitted, not yet seen by a worker (it has no row yet)
    PENDING = "pending"  # embedded, waiting for the index step
    INDEXED = "indexed"  # in the index, no earlier copy found
    DUPLICATE = "duplicate"  # in the index, the same picture as an earlier image
    MATCH = "match"  # in the index, an edited copy of an earlier image
    VERIFYING = "verifying"  # in the index, its pairs waiting for the verify step (pipeline/verify_batch.py)
    FAILED = "failed"  # unusable: the reason says why
    REPLACED = "replaced"  # a newer file at the same path took its place
    REMOVED = "removed"  # taken out of its collection (neardup remove); submitted again, it comes back


# the states a batch's images end in (an image removed since is done with too)
FINAL = (ImageStatus.INDEXED, ImageStatus.DUPLICATE, ImageStatus.MATCH, ImageStatus.FAILED, ImageStatus.REMOVED)
LIVE = (ImageStatus.INDEXED, ImageStatus.DUPLICATE, ImageStatus.MATCH, ImageStatus.VERIFYING)  # in the index
UNUSABLE = (ImageStatus.FAILED, ImageStatus.REPLACED, ImageStatus.REMOVED)  # no picture to use
GONE = (ImageStatus.REPLACED, ImageStatus.REMOVED)  # no longer in the collection: submitted again, a row revives
ID_CHUNK = 20_000  # image ids per IN list


def id_chunks(ids):
    """Sorted runs of at most ID_CHUNK image ids: bounded IN lists."""
    return db.in_chunks(sorted(map(int, ids)), ID_CHUNK)


def _collection_unindexed(collection: str):
    """images.collection == collection, for queries whose ids name the images: written as an expression no
    index serves, so the ids are looked up by the primary key. SQLite, without statistics, would read the
    collection's images through its index on the collection instead: a batch's lookups would grow with the
    collection (40 ms for 50 ids of 200,000 images, against 1-2 ms)."""
    return db.images.c.collection + "" == collection


def _gone_contents():
    """The content hashes whose every image row is removed or replaced (Registry.gone_contents)."""
    status = db.images.c.status
    return (select(db.images.c.content_hash).where(db.images.c.content_hash != "")
            .group_by(db.images.c.content_hash).having(func.sum(case((status.in_(GONE), 0), else_=1)) == 0))


def _count(conn, table, where) -> int:
    """The rows of `table` that `where` selects."""
    return conn.execute(select(func.count()).select_from(table).where(where)).scalar()


def _holds_picture():
    """Rows whose picture can be used: not failed, not replaced by a newer file at the same path, not removed."""
    return and_(*(db.images.c.status != s for s in UNUSABLE))  # not NOT IN: an executemany's WHERE takes it


def outcomes_from(pairs, seq: dict[int, int], ids) -> dict[int, tuple[str, int | None, float | None]]:
    """Each of `ids`' state as `pairs` (a, b, distance, label) decide it: the nearest pair with an image
    indexed before it (`seq`: image id -> order of arrival; ties: the lower id), duplicate or match of that
    one, else indexed."""
    nearest: dict[int, tuple[str, int, float]] = {}
    for a, b, d, label in pairs:
        if a not in seq or b not in seq:
            continue
        later, earlier = (a, b) if seq[a] > seq[b] else (b, a)
        if later not in nearest or (d, earlier) < (nearest[later][2], nearest[later][1]):
            nearest[later] = (label, earlier, d)
    return {i: nearest.get(i, (ImageStatus.INDEXED, None, None)) for i in ids}


@dataclass(eq=False)
class Recorded:
    """What the embed step learnt about one path: its content, or why it failed."""
    path: str
    content_hash: str = ""
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.reason is not None

    @property
    def status(self) -> str:
        return ImageStatus.FAILED if self.failed else ImageStatus.PENDING

    @property
    def key(self) -> tuple[str, str]:
        return self.path, self.content_hash


class Registry:
    def __init__(self, engine):
        self.engine = engine

    # --- images -------------------------------------------------------------------------------------
    def record_items(self, collection: str, items: list["Recorded"], batch_id: str | None = None) -> list[int]:
        """Register what one flush of the embed step saw, in one transaction; return the image ids in order.

        A readable image is keyed by (path, content): seen before and still live, it keeps its row and state;
        otherwise (new, replaced or removed) its row becomes `pending` and any earlier contents of that path
        become `replaced`. A failure is the row (path, "") in state `failed` with its reason.
        """
        now = time.time()
        paths = sorted({it.path for it in items})
        with self.engine.begin() as conn:
            before = self._rows_by_key(conn, collection, paths)
            fresh = [it for it in items if it.failed or before.get(it.key, (0, ImageStatus.REPLACED))[1] in GONE]
            if fresh:  # new rows, or rows revived or failed again: insert if missing, then overwrite
                fields = ("status", "reason", "width", "height", "size_bytes")
                conn.execute(db.insert_ignore(conn, db.images), [
                    dict(collection=collection, path=it.path, content_hash=it.content_hash, batch_id=batch_id,
                         updated_at=now, **{f: getattr(it, f) for f in fields}) for it in fresh])
                conn.execute(update(db.images).where(and_(
                    db.images.c.collection == collection, db.images.c.path == bindparam("_path"),
                    db.images.c.content_hash == bindparam("_hash"))).values(
                    batch_id=batch_id, updated_at=now, **{f: bindparam(f"_{f}") for f in fields}),
                    [dict(_path=it.path, _hash=it.content_hash, **{f"_{f}": getattr(it, f) for f in fields})
                     for it in fresh])
            kept = [before[it.key][0] for it in items if it not in fresh]
            if batch_id and kept:
                conn.execute(update(db.images).where(db.images.c.id.in_(kept)).values(batch_id=batch_id))
            if batch_id:  # what this batch asked is answered by these rows from now on (batch_states); a batch
                #   id no client recorded (a producer that speaks to the broker alone) marks nothing
                bi = db.batch_items.c
                for part in db.in_chunks(paths):
                    conn.execute(db.insert_ignore(conn, db.batch_seen).from_select(["batch_id", "path"], select(
                        bi.batch_id, bi.path).where(and_(bi.batch_id == batch_id, bi.path.in_(part)))))
            ids = {key: row[0] for key, row in self._rows_by_key(conn, collection, paths).items()}
            replacing = [dict(_path=it.path, _id=ids[it.key]) for it in fresh if not it.failed]
            if replacing:
                conn.execute(update(db.images).where(and_(
                    db.images.c.collection == collection, db.images.c.path == bindparam("_path"),
                    db.images.c.id != bindparam("_id"), db.images.c.status != ImageStatus.REPLACED)).values(
                    status=ImageStatus.REPLACED, updated_at=now), replacing)
        return [ids[it.key] for it in items]

    @staticmethod
    def _rows_by_key(conn, collection: str, paths: list[str]) -> dict[tuple[str, str], tuple[int, str]]:
        out = {}
        for part in db.in_chunks(paths):
            rows = conn.execute(select(db.images.c.id, db.images.c.path, db.images.c.content_hash,
                                       db.images.c.status).where(and_(
                db.images.c.collection == collection, db.images.c.path.in_(part))))
            out.update({(r.path, r.content_hash): (r.id, r.status) for r in rows})
        return out

    def set_outcomes(self, conn, outcomes: dict[int, tuple[str, int | None, float | None]]) -> None:
        """Final state of indexed images: {id: (indexed|duplicate|match, of_image, distance)}; an image removed
        or replaced meanwhile stays so."""
        if not outcomes:
            return
        now = time.time()
        conn.execute(update(db.images).where(and_(db.images.c.id == bindparam("_id"), _holds_picture())).values(
            status=bindparam("_status"), of_image=bindparam("_of"), distance=bindparam("_distance"), updated_at=now),
            [dict(_id=i, _status=s, _of=o, _distance=d) for i, (s, o, d) in outcomes.items()])

    def outcomes_in(self, collection: str, generation: str) -> dict[int, tuple[str, int | None, float | None]]:
        """Each image's state as `generation`'s own pairs decide it: the nearest pair with an image indexed
        before it there (duplicate or match of that one), else indexed; the states to switch to with it."""
        with self.engine.connect() as conn:
            seq = dict(conn.execute(select(db.index_items.c.image_id, db.index_items.c.seq).where(and_(
                db.index_items.c.collection == collection, db.index_items.c.generation == generation))).all())
            pairs = conn.execute(select(db.pairs.c.a, db.pairs.c.b, db.pairs.c.distance, db.pairs.c.label).where(
                and_(db.pairs.c.collection == collection, db.pairs.c.generation == generation))).all()
        return outcomes_from(pairs, seq, seq)

    def pairs_in(self, collection: str, generation: str) -> list[tuple[int, int, float, str]]:
        """The pairs `generation` recorded for a collection: (a, b, distance, label), a < b."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(db.pairs.c.a, db.pairs.c.b, db.pairs.c.distance,
                                                          db.pairs.c.label).where(and_(
                db.pairs.c.collection == collection, db.pairs.c.generation == generation)))]

    @staticmethod
    def add_pairs(conn, collection: str, generation: str, pairs: list[tuple[int, int, float, str]]) -> None:
        """Record pairs in the caller's transaction; a pair already recorded is kept as it is."""
        if pairs:
            conn.execute(db.insert_ignore(conn, db.pairs), [
                dict(collection=collection, generation=generation, a=a, b=b, distance=d, label=label)
                for a, b, d, label in pairs])

    @staticmethod
    def replace_pairs(conn, collection: str, generation: str, examined, kept: list[tuple[int, int, float, str]]) -> None:
        """In the caller's transaction: the `examined` (a, b) pairs become the `kept` ones (a verified distance
        and label each); an examined pair not kept is no pair."""
        key = and_(db.pairs.c.collection == collection, db.pairs.c.generation == generation)
        gone = sorted(set(examined) | {(a, b) for a, b, _, _ in kept})
        for part in db.in_chunks(gone, 500):
            conn.execute(delete(db.pairs).where(and_(key, tuple_(db.pairs.c.a, db.pairs.c.b).in_(part))))
        Registry.add_pairs(conn, collection, generation, kept)

    @staticmethod
    def relabel_pairs(conn, collection: str, generation: str, labels: dict[tuple[int, int], str]) -> None:
        """In the caller's transaction: these recorded pairs {(a, b): label} take a new label."""
        if labels:
            conn.execute(update(db.pairs).where(and_(
                db.pairs.c.collection == collection, db.pairs.c.generation == generation,
                db.pairs.c.a == bindparam("_a"), db.pairs.c.b == bindparam("_b"))).values(label=bindparam("_label")),
                [dict(_a=a, _b=b, _label=label) for (a, b), label in labels.items()])

    def pairs_of(self, collection: str, generation: str, ids) -> list[tuple[int, int, float, str]]:
        """The pairs `generation` recorded that name any of these images: (a, b, distance, label), a < b."""
        key = and_(db.pairs.c.collection == collection, db.pairs.c.generation == generation)
        cols = (db.pairs.c.a, db.pairs.c.b, db.pairs.c.distance, db.pairs.c.label)
        found = set()
        with self.engine.connect() as conn:  # by a, then by b: each side's own index (an OR of the two IN lists
            for part in id_chunks(ids):      # is read through neither: every pair of the generation)
                for side in (db.pairs.c.a, db.pairs.c.b):
                    found.update(tuple(r) for r in conn.execute(select(*cols).where(and_(key, side.in_(part)))))
        return sorted(found)

    def remove(self, conn, collection: str, ids) -> None:
        """In the caller's transaction: these images become `removed`, and every pair that names one goes (in
        every generation): no answer, sweep or report names them again."""
        now, key = time.time(), db.pairs.c.collection == collection
        for part in id_chunks(ids):
            conn.execute(update(db.images).where(and_(db.images.c.id.in_(part), _holds_picture())).values(
                status=ImageStatus.REMOVED, updated_at=now))
            for side in (db.pairs.c.a, db.pairs.c.b):  # each side by its own index (pairs_of)
                conn.execute(delete(db.pairs).where(and_(key, side.in_(part))))

    def paths_in(self, collection: str, under: str | None = None):
        """(id, path) of each image of the collection that holds a picture, streamed; with `under` (a folder
        path ending in a separator), those kept under it, and those whose names are not UTF-8 (kept encoded:
        the caller tells)."""
        path = db.images.c.path
        where = [db.images.c.collection == collection, _holds_picture()]
        if under is not None:
            where.append(or_(path.startswith(under, autoescape=True), path.startswith(db.FilePath.MARK)))
        with self.engine.connect() as conn:
            yield from conn.execution_options(yield_per=10_000).execute(
                select(db.images.c.id, path).where(and_(*where)).order_by(db.images.c.id))

    def replaced_at(self, ids) -> list[int]:
        """The images a newer file at the path of one of these took the place of."""
        newer, older = db.images.alias(), db.images
        with self.engine.connect() as conn:
            return sorted(i for part in id_chunks(ids) for i in conn.execute(
                select(older.c.id).select_from(newer.join(older, and_(
                    older.c.collection == newer.c.collection, older.c.path == newer.c.path)))
                .where(and_(newer.c.id.in_(part), older.c.status == ImageStatus.REPLACED))).scalars())

    def missing_from(self, collection: str, generation: str) -> list[int]:
        """Live images of the collection that `generation` does not index yet, or holds as removed (revived
        since, in another generation: a rollback's rebuild brings them back)."""
        with self.engine.connect() as conn:
            dead = select(db.tombstones.c.image_id).where(and_(
                db.tombstones.c.collection == collection, db.tombstones.c.generation == generation))
            done = select(db.index_items.c.image_id).where(and_(
                db.index_items.c.collection == collection, db.index_items.c.generation == generation,
                db.index_items.c.image_id.not_in(dead)))
            return list(conn.execute(select(db.images.c.id).where(and_(
                db.images.c.collection == collection, db.images.c.status.in_(LIVE),
                db.images.c.id.not_in(done))).order_by(db.images.c.id)).scalars())

    def generations(self, collection: str) -> tuple[str | None, str | None]:
        """(the generation that answers queries, a generation being rebuilt beside it or None)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(db.collections.c.generation, db.collections.c.building)
                               .where(db.collections.c.name == collection)).first()
        return (row.generation, row.building) if row else (None, None)

    def set_generations(self, collection: str, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(db.insert_ignore(conn, db.collections).values(name=collection, epoch=0))
            conn.execute(update(db.collections).where(db.collections.c.name == collection).values(**values))

    def collections_on(self, generation: str) -> list[str]:
        """The collections whose live generation is `generation`."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(db.collections.c.name).where(
                db.collections.c.generation == generation)).scalars())

    def images(self, ids=None, collection: str | None = None, batch_id: str | None = None,
               live_only: bool = False) -> list[ImageRow]:
        if ids is not None and len(ids) > ID_CHUNK:
            return [r for part in id_chunks(ids) for r in self.images(part, collection, batch_id, live_only)]
        q = select(*(db.images.c[f] for f in ImageRow.__dataclass_fields__))
        if ids is not None:
            q = q.where(db.images.c.id.in_(list(map(int, ids))))
        if collection is not None:
            q = q.where(db.images.c.collection == collection if ids is None else _collection_unindexed(collection))
        if batch_id is not None:
            q = q.where(db.images.c.batch_id == batch_id)
        if live_only:
            q = q.where(db.images.c.status != ImageStatus.REPLACED)
        with self.engine.connect() as conn:
            return [ImageRow(**r._mapping) for r in conn.execute(q.order_by(db.images.c.id))]

    # --- vectors ------------------------------------------------------------------------------------
    def vectors_for(self, hashes: list[str], model_version: str) -> dict[str, np.ndarray]:
        return {h: np.frombuffer(v, np.float32) for h, v in self.blobs_for(model_version, hashes).items()}

    def vectors_by_image(self, collection: str, model_version: str, ids=None) -> dict[int, np.ndarray]:
        """Every live image's stored vector under one model (or hash method or view), by image id: one join
        (per 20,000 ids when `ids` names the images wanted)."""
        if ids is not None and len(ids) > ID_CHUNK:
            return {i: v for part in id_chunks(ids)
                    for i, v in self.vectors_by_image(collection, model_version, part).items()}
        query = (select(db.images.c.id, db.vectors.c.vector)
                 .join(db.vectors, db.vectors.c.content_hash == db.images.c.content_hash)
                 .where(and_(db.vectors.c.model_version == model_version, _holds_picture())))
        if ids is None:
            query = query.where(db.images.c.collection == collection)
        else:
            query = query.where(and_(_collection_unindexed(collection), db.images.c.id.in_(list(map(int, ids)))))
        with self.engine.connect() as conn:
            return {i: np.frombuffer(v, np.float32) for i, v in conn.execute(query)}

    def store_vectors(self, model_version: str, vecs: dict[str, np.ndarray]) -> None:
        self.store_blobs(model_version, {h: np.asarray(v, np.float32).tobytes() for h, v in vecs.items()})

    def store_blobs(self, key: str, blobs: dict[str, bytes]) -> None:
        """Bytes kept per content hash under `key`: a model's vectors, or what the same-frame check keeps."""
        if blobs:
            with self.engine.begin() as conn:
                conn.execute(db.insert_ignore(conn, db.vectors), [
                    dict(content_hash=h, model_version=key, vector=b) for h, b in blobs.items()])

    def blobs_for(self, key: str, hashes) -> dict[str, bytes]:
        return dict(self._blob_rows(key, hashes, db.vectors.c.vector))

    def _blob_rows(self, key: str, hashes, *columns):
        """(content hash, *columns) of the blobs kept under `key` for these hashes."""
        with self.engine.connect() as conn:
            for part in db.in_chunks(sorted(set(hashes))):
                yield from conn.execute(select(db.vectors.c.content_hash, *columns).where(and_(
                    db.vectors.c.model_version == key, db.vectors.c.content_hash.in_(part)))).all()

    # --- perceptual-hash buckets ------------------------------------------------------------------------
    def store_hash_buckets(self, rows: dict[str, list[tuple[int, int, int, bool]]]) -> None:
        """Each file's perceptual hashes by chunk, as encoder/phash.py's buckets() gives them: (chunk, value,
        hash, own) rows per content hash."""
        flat = [dict(content_hash=h, chunk=c, value=v, hash=x, own=o) for h, got in rows.items() for c, v, x, o in got]
        with self.engine.begin() as conn:
            for part in in_chunks(flat, 5000):
                conn.execute(db.insert_ignore(conn, db.hash_buckets), part)

    def lacking_hash_buckets(self, key: str) -> list[str]:
        """Content hashes with perceptual hashes stored under `key` but no bucket rows (kept before there were)."""
        kept = select(db.hash_buckets.c.content_hash).where(db.hash_buckets.c.content_hash == db.vectors.c.content_hash)
        with self.engine.connect() as conn:
            return list(conn.execute(select(db.vectors.c.content_hash).where(
                and_(db.vectors.c.model_version == key, ~kept.exists()))).scalars())

    def hash_bucket_members(self, collection: str, keys, max_bucket: int) -> tuple[set[tuple[int, int, bool]], set]:
        """The hashes of `collection`'s live images in the buckets `keys` ((chunk, value) pairs): {(image id,
        hash, own)}; and the keys of the buckets that hold over `max_bucket` hashes, whose hashes are left out."""
        b, images = db.hash_buckets.c, db.images.c
        members, crowded = set(), set()
        by_chunk: dict[int, list[int]] = {}
        for c, v in keys:
            by_chunk.setdefault(c, []).append(v)
        # two indexed lookups joined here: the buckets' rows, then the collection's live images of their
        #   contents (SQLite plans the one join over the collection's images once per bucket value: a batch's
        #   cost would grow with the collection)
        with self.engine.connect() as conn:
            for c, values in sorted(by_chunk.items()):
                rows = [row for part in in_chunks(sorted(set(values))) for row in conn.execute(
                    select(b.content_hash, b.hash, b.own, b.value).where(and_(b.chunk == c, b.value.in_(part))))]
                owners: dict[str, list[int]] = {}
                for part in in_chunks(sorted({row[0] for row in rows})):
                    for i, content in conn.execute(select(images.id, images.content_hash).where(and_(
                            images.collection == collection, images.content_hash.in_(part), _holds_picture()))):
                        owners.setdefault(content, []).append(i)
                found: dict[int, list] = {}
                for content, h, o, v in rows:
                    found.setdefault(v, []).extend((i, h, o) for i in owners.get(content, ()))
                for v, got in found.items():
                    if len(got) > max_bucket:
                        crowded.add((c, v))
                    else:
                        members.update(got)
        return members, crowded

    def verdicts(self, keys, verifier: str) -> dict[tuple[str, str], tuple[bool | None, int, bool]]:
        """{(a hash, b hash): (same, inliers, duplicate)} stored for `keys` by this verifier (same None:
        undecided)."""
        wanted = set(keys)
        rows = self._pairs_by_content(db.verdicts, "verifier", verifier, {a for a, _ in wanted},
                                      "same", "inliers", "duplicate")
        return {(a, b): (None if same is None else bool(same), inliers, bool(dup))
                for a, b, same, inliers, dup in rows if (a, b) in wanted}

    def store_verdicts(self, verifier: str, found: dict[tuple[str, str], tuple[bool | None, int, bool]]) -> None:
        if not found:
            return
        with self.engine.begin() as conn:
            conn.execute(db.insert_ignore(conn, db.verdicts), [
                dict(a_hash=a, b_hash=b, verifier=verifier, same=None if same is None else int(same),
                     inliers=inliers, duplicate=int(dup)) for (a, b), (same, inliers, dup) in found.items()])

    def frame_checks(self, contents, checker: str) -> dict[tuple[str, str], str | None]:
        """{(a hash, b hash): the same-frame check's reason (None: a duplicate)} stored by this version of the
        check for the pairs among `contents` (content hashes; a hash < b hash)."""
        wanted = set(contents)
        rows = self._pairs_by_content(db.frame_checks, "checker", checker, wanted, "reason")
        return {(a, b): reason for a, b, reason in rows if b in wanted}

    def _pairs_by_content(self, table, version_column: str, version: str, firsts, *columns) -> list[tuple]:
        """(a hash, b hash, *columns) of a table of pairs by content (verdicts, frame_checks) stored under one
        version, for the pairs whose a hash is among `firsts`: read a chunk of hashes at a time."""
        t, out = table.c, []
        with self.engine.connect() as conn:
            for part in db.in_chunks(sorted(firsts), ID_CHUNK):
                out += conn.execute(select(t.a_hash, t.b_hash, *(t[c] for c in columns)).where(and_(
                    t[version_column] == version, t.a_hash.in_(part)))).all()
        return out

    def store_frame_checks(self, checker: str, found: dict[tuple[str, str], str | None]) -> None:
        if not found:
            return
        with self.engine.begin() as conn:
            conn.execute(db.insert_ignore(conn, db.frame_checks), [
                dict(a_hash=a, b_hash=b, checker=checker, reason=reason) for (a, b), reason in found.items()])

    # --- housekeeping -------------------------------------------------------------------------------
    def gone_contents(self):
        """The content hashes no collection holds any more: every image row with one was removed or replaced
        by a newer file (a failed row never had a picture). Streamed."""
        with self.engine.connect() as conn:
            yield from conn.execution_options(yield_per=10_000).execute(_gone_contents()).scalars()

    def prune(self, gone: list[str], keep_keys, verifier: str, checkers, dry_run: bool = False) -> dict[str, int]:
        """Delete (with `dry_run`, count) the rows no answer needs: whatever is kept by the `gone` contents
        (gone_contents(), sorted), blobs under keys other than `keep_keys` (model versions retired, older
        signatures), verdicts of another `verifier` and same-frame results of other `checkers`. Ops' labels
        stay: they are what retraining learns from. No row is in two parts, so a dry run counts what a run
        deletes. Returns the rows per part."""
        keep, v = sorted(keep_keys), db.vectors.c
        out = self._delete_where([("blobs under retired keys", db.vectors, v.model_version.not_in(keep))], dry_run)
        for name, table, where in (
                ("vectors and signatures of pictures gone", db.vectors,
                 lambda part: and_(v.model_version.in_(keep), v.content_hash.in_(part))),
                ("perceptual-hash buckets of pictures gone", db.hash_buckets,
                 lambda part: db.hash_buckets.c.content_hash.in_(part))):
            out[name] = self._delete_by_chunks(table, where, gone, dry_run)
        for name, table, version, current in (("verdicts", db.verdicts, "verifier", [verifier]),
                                              ("same-frame results", db.frame_checks, "checker", sorted(checkers))):
            c = table.c
            out.update(self._delete_where([(f"{name} of other versions", table, c[version].not_in(current))], dry_run))
            out[f"{name} of pictures gone"] = self._delete_pairs_naming(table, c[version].in_(current), gone, dry_run)
        return out

    def _delete_by_chunks(self, table, where_of, keys: list, dry_run: bool, chunk: int = 1000) -> int:
        """Delete (or count) the rows `where_of(part)` selects, a chunk of `keys` (content hashes, batch ids: the
        leading column of the table's key) a transaction: each chunk a lookup in the key."""
        n = 0
        for part in db.in_chunks(keys, chunk):
            with self.engine.begin() as conn:
                where = where_of(part)
                n += _count(conn, table, where) if dry_run else conn.execute(delete(table).where(where)).rowcount
        return n

    def _delete_pairs_naming(self, table, current, contents: list[str], dry_run: bool, chunk: int = 10_000) -> int:
        """Delete (or count) the rows of a table of pairs by content (verdicts, frame_checks) under the
        `current` version that name one of `contents`: by the first hash, a lookup in the key; by the second,
        one pass over the table a `chunk` of contents (a pair naming two of them counted by its first)."""
        c, named = table.c, set(contents)
        n = self._delete_by_chunks(table, lambda part: and_(current, c.a_hash.in_(part)), contents, dry_run)
        key = list(table.primary_key.columns)
        for part in db.in_chunks(contents, chunk):
            with self.engine.begin() as conn:
                rows = [tuple(r) for r in conn.execute(select(*key).where(and_(current, c.b_hash.in_(part))))
                        if r.a_hash not in named]
                for few in db.in_chunks(rows, 1000) if not dry_run else ():
                    conn.execute(delete(table).where(tuple_(*key).in_(few)))
            n += len(rows)
        return n

    def prune_generations(self, collection: str, kept, dry_run: bool = False) -> dict[str, int]:
        """Delete (or count) the collection's index rows (pairs, members, tombstones, segments) of every
        generation but those `kept`. The caller holds the collection's writer lock."""
        return self._delete_where([(f"{name} of retired generations", t, and_(
            t.c.collection == collection, t.c.generation.not_in(sorted(kept)))) for name, t in (
            ("pairs", db.pairs), ("index entries", db.index_items), ("tombstones", db.tombstones),
            ("segments", db.segments))], dry_run)

    def _delete_where(self, parts, dry_run: bool, batch: int = 20_000) -> dict[str, int]:
        """Each (name, table, condition)'s rows deleted, or counted; deleted by ranges of `batch` rows in key
        order, a transaction each: SQLite has one writer, and workers wait for it (db.connect's busy timeout)
        only so long. A worker that needs a row deleted meanwhile makes it again. {name: rows}."""
        out: dict[str, int] = {}
        for name, table, where in parts:
            if dry_run:
                with self.engine.connect() as conn:
                    out[name] = out.get(name, 0) + _count(conn, table, where)
                continue
            columns = list(table.primary_key.columns)
            key, last, n = tuple_(*columns), None, 0
            while True:
                after = where if last is None else and_(where, key > tuple_(*map(literal, last)))
                with self.engine.begin() as conn:
                    rows = conn.execute(select(*columns).where(after).order_by(*columns).limit(batch)).all()
                    if rows:
                        last = tuple(rows[-1])
                        n += conn.execute(delete(table).where(and_(after, key <= tuple_(*map(literal, last))))).rowcount
                if len(rows) < batch:
                    break
            out[name] = out.get(name, 0) + n
        return out

    def prune_batches(self, created_before: float, dry_run: bool = False) -> dict[str, int]:
        """Delete (or count) the batches created before `created_before` and what each asked for (batch_items:
        a row per path, the registry's largest table after a while); `neardup status` then calls them unknown.
        Their images stay."""
        with self.engine.connect() as conn:
            old = sorted(conn.execute(select(db.batches.c.id)
                                      .where(db.batches.c.created_at < created_before)).scalars())
        return {"paths of old batches": self._delete_by_chunks(
                    db.batch_items, lambda part: db.batch_items.c.batch_id.in_(part), old, dry_run),
                "paths their workers reached": self._delete_by_chunks(
                    db.batch_seen, lambda part: db.batch_seen.c.batch_id.in_(part), old, dry_run),
                "old batches": self._delete_by_chunks(db.batches, lambda part: db.batches.c.id.in_(part), old, dry_run)}

    def collections(self) -> dict[str, tuple[str | None, str | None]]:
        """{collection: (the generation that answers, the one being built)} of every collection."""
        c = db.collections.c
        with self.engine.connect() as conn:
            return {name: (g, b) for name, g, b in conn.execute(select(c.name, c.generation, c.building))}

    # --- batches and labels -------------------------------------------------------------------------
    def record_batch(self, batch_id: str, collection: str, paths: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(db.insert_ignore(conn, db.batches).values(
                id=batch_id, collection=collection, total=len(paths), created_at=time.time()))
            if paths:
                conn.execute(db.insert_ignore(conn, db.batch_items), [dict(batch_id=batch_id, path=p) for p in paths])

    def batch_states(self, batch_id: str) -> dict[str, ImageRow | None]:
        """Each path of a batch with the current row for it (None: not reached a worker yet). A path's row
        answers the batch only once the batch's own embed step has recorded the path: before, it is the answer
        to an earlier batch (a failure since put right, a file since replaced)."""
        with self.engine.connect() as conn:
            batch = conn.execute(select(db.batches).where(db.batches.c.id == batch_id)).first()
            if batch is None:
                raise KeyError(f"unknown batch {batch_id}")
            paths = list(conn.execute(select(db.batch_items.c.path).where(db.batch_items.c.batch_id == batch_id))
                         .scalars())
            seen = set(conn.execute(select(db.batch_seen.c.path).where(db.batch_seen.c.batch_id == batch_id))
                       .scalars())
            fields = [db.images.c[f] for f in ImageRow.__dataclass_fields__]
            rows = conn.execute(select(*fields).where(and_(
                db.images.c.collection == batch.collection, db.images.c.status != ImageStatus.REPLACED,
                db.images.c.path.in_(paths)))).all()
        found = {r.path: ImageRow(**r._mapping) for r in rows}
        return {p: found.get(p) if p in seen else None for p in paths}

    def incomplete_batches(self, newer_than: float, quiet_since: float) -> list[str]:
        """Batches created after `newer_than` with a path their workers have not yet brought to a final state
        (batch_states) that nothing happened to since `quiet_since` (neither created nor any of their images
        written)."""
        b, bi, im, seen = db.batches, db.batch_items, db.images, db.batch_seen
        final = im.c.status.in_(FINAL)
        done = (select(im.c.id).join(seen, seen.c.path == im.c.path)  # final, and reached by this batch
                .where(and_(im.c.collection == b.c.collection, im.c.path == bi.c.path, final, seen.c.batch_id == b.c.id)))
        touched = select(im.c.id).where(and_(im.c.batch_id == b.c.id, im.c.updated_at >= quiet_since))
        query = (select(b.c.id).join(bi, bi.c.batch_id == b.c.id)
                 .where(and_(b.c.created_at > newer_than, b.c.created_at < quiet_since, ~done.exists(),
                             ~touched.exists())).distinct())
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def batch(self, batch_id: str):
        with self.engine.connect() as conn:
            return conn.execute(select(db.batches).where(db.batches.c.id == batch_id)).first()

    def add_label(self, a_hash: str, b_hash: str, label: str) -> None:
        a_hash, b_hash = sorted((a_hash, b_hash))
        with self.engine.begin() as conn:
            conn.execute(db.insert_ignore(conn, db.labels).values(a_hash=a_hash, b_hash=b_hash, label=label,
                                                                  created_at=time.time()))
            conn.execute(update(db.labels).where(and_(db.labels.c.a_hash == a_hash, db.labels.c.b_hash == b_hash))
                         .values(label=label))

    def labels(self) -> list[tuple[str, str, str]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(db.labels.c.a_hash, db.labels.c.b_hash, db.labels.c.label))]
