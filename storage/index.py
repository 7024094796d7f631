"""A collection's vector index for one generation (model version): sealed Annoy segments plus a buffer.

New vectors land in a small buffer searched exactly with NumPy; a full buffer is sealed into an immutable
Annoy segment; segments of one level are merged in the background of ingestion (tiered, like an LSM tree);
removed images are tombstones until a seal or merge leaves their vectors out (a removed image submitted again
is revived in place while tombstoned, else added anew). Queries merge results from every segment and the
buffer (DESIGN.md 3).

The caller serialises writers per collection (one index worker, or a lock); readers reload whenever the
collection's epoch, bumped on every commit, has moved.

Merges run in a separate process (`background_merges`): re-adding a level's vectors to a new Annoy index is
Python-bound work that would otherwise stall ingestion for seconds. The writer swaps a finished merge in on
its next commit, under its lock, and only if every segment it replaces is still live; until then the
merged segments keep answering queries, so nothing is ever missing or counted twice.
"""
from __future__ import annotations

import multiprocessing
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import and_, delete, func, insert, select, update

from neardup.encoder import crowding
from neardup.errors import StaleIndex

from . import db, segments
from .collection import checked
from .segments import Segment

_merger: ProcessPoolExecutor | None = None


def _merge_in_background(*args) -> Future:
    """segments.merge_files(*args) in the merge process: one per writer process, forked on first use, and again
    if it died (killed: the merge it ran failed, and was thrown away). Not spawned: a spawned process imports
    the caller's main script again, which runs a script that does not guard its scan a second time. It runs
    merge_files alone (Annoy, NumPy, files), never the encoder a writer may have loaded."""
    global _merger
    if _merger is not None:
        try:
            return _merger.submit(segments.merge_files, *args)
        except BrokenProcessPool:
            pass
    _merger = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    return _merger.submit(segments.merge_files, *args)


@dataclass
class PendingMerge:
    members: list[int]
    level: int
    file: str
    last_seq: int
    future: Future
    dropped: frozenset  # the tombstoned images it leaves out: none of them may have been revived meanwhile


def index_root(data_dir: str | Path, collection: str) -> Path:
    """The folder of a collection's indexes: a folder per generation (model version) below it."""
    return Path(data_dir) / "index" / checked(collection)


class CollectionIndex:
    def __init__(self, engine, data_dir: str | Path, collection: str, generation: str, dim: int,
                 buffer_capacity: int = 20_000, merge_fanout: int = 8, background_merges: bool = False,
                 crowding=None):
        """`generation`: the model version its vectors are stored under in the registry; `crowding`: the
        model's (encoder/crowding.py), whose penalty every distance it reports includes."""
        self.engine = engine
        self.crowding = crowding
        self.background_merges = background_merges
        self.pending: list[PendingMerge] = []
        self.root = index_root(data_dir, collection) / generation
        self.collection, self.generation, self.dim = collection, generation, dim
        self.buffer_capacity, self.merge_fanout = buffer_capacity, merge_fanout
        self.epoch = None
        self.segments: dict[int, Segment] = {}
        self._ids, self._crowds, self._n = np.empty(0, np.int64), np.empty(0, np.float32), 0
        self._buffer_version = 0  # moves whenever the buffer's rows do
        self._set_buffer(np.empty(0, np.int64), np.empty((0, dim), np.float32))
        self._set_tombstones(set())
        self._revived: set[int] = set()  # tombstoned images the commit under way brings back
        self.next_seq = 0
        with engine.begin() as conn:
            conn.execute(db.insert_ignore(conn, db.collections).values(name=collection, generation=None, epoch=0))

    # --- the buffer: preallocated, so appending a batch copies the batch, not the buffer ----------------
    def _set_buffer(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        known = dict(zip(self.buffer_ids.tolist(), self.buffer_crowds.tolist()))  # kept, not worked out again
        cap = max(self.buffer_capacity, len(ids)) + 4096
        self._ids = np.empty(cap, np.int64)
        self._vecs = np.empty((cap, self.dim), np.float32)
        self._crowds = np.zeros(cap, np.float32)
        self._n = 0
        self._append(ids, vecs, known)

    def _append(self, ids: np.ndarray, vecs: np.ndarray, known: dict | None = None) -> None:
        """Add to the buffer, with each vector's crowding (`known`: those already worked out, by image id)."""
        if self._n + len(ids) > len(self._ids):
            held_ids, held_vecs = self.buffer_ids.copy(), self.buffer_vecs.copy()
            self._set_buffer(np.concatenate([held_ids, ids]), np.concatenate([held_vecs, vecs]))
            return
        self._buffer_version += 1
        self._ids[self._n:self._n + len(ids)] = ids
        self._vecs[self._n:self._n + len(ids)] = vecs
        if self.crowding is not None and len(ids):
            known = known or {}
            todo = [n for n, i in enumerate(ids.tolist()) if i not in known]
            crowd = np.array([known.get(i, 0.0) for i in ids.tolist()], np.float32)
            if todo:
                crowd[todo] = self.crowding.of(vecs[todo])
            self._crowds[self._n:self._n + len(ids)] = crowd
        self._n += len(ids)

    @property
    def buffer_ids(self) -> np.ndarray:
        return self._ids[:self._n]

    @property
    def buffer_vecs(self) -> np.ndarray:
        return self._vecs[:self._n]

    @property
    def buffer_crowds(self) -> np.ndarray:
        return self._crowds[:self._n]

    def _penalised(self, d: np.ndarray, query_crowd, crowd) -> np.ndarray:
        return d if self.crowding is None else self.crowding.adjusted(d, query_crowd, crowd)

    def _crowds_of(self, queries: np.ndarray):
        return self.crowding.of(queries) if self.crowding is not None else np.zeros(len(queries), np.float32)

    def pair_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distances between two sets of vectors as this index reports them (crowding penalty included)."""
        crowd_a = self._crowds_of(a)
        crowd_b = crowd_a if b is a else self._crowds_of(b)  # the index step pairs a batch with itself
        return self._penalised(exact_distances(a, b), crowd_a[:, None], crowd_b[None, :])

    @property
    def levels(self) -> dict[int, int]:
        return {s: seg.level for s, seg in self.segments.items()}

    def _key(self, table):
        return and_(table.c.collection == self.collection, table.c.generation == self.generation)

    # --- reading ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload what changed since the last look (segments, buffer, tombstones)."""
        with self.engine.connect() as conn:
            epoch = conn.execute(select(db.collections.c.epoch).where(
                db.collections.c.name == self.collection)).scalar_one()
            if epoch == self.epoch:
                return
            seg_rows = conn.execute(select(db.segments.c.segment, db.segments.c.level, db.segments.c.file,
                                           db.segments.c.last_seq).where(self._key(db.segments))).all()
            sealed_seq = max((r.last_seq for r in seg_rows), default=0)
            buf = conn.execute(
                select(db.index_items.c.image_id, db.vectors.c.vector)
                .select_from(db.index_items.join(db.images, db.images.c.id == db.index_items.c.image_id)
                             .join(db.vectors, and_(db.vectors.c.content_hash == db.images.c.content_hash,
                                                    db.vectors.c.model_version == self.generation)))
                .where(and_(self._key(db.index_items), db.index_items.c.seq > sealed_seq))
                .order_by(db.index_items.c.seq)).all()
            self.next_seq = (conn.execute(select(func.max(db.index_items.c.seq))
                                          .where(self._key(db.index_items))).scalar() or 0) + 1
            tombstones = set(conn.execute(select(db.tombstones.c.image_id).where(self._key(db.tombstones))).scalars())
            if tombstones != self.tombstones:
                self._set_tombstones(tombstones)
        live = {r.segment for r in seg_rows}
        for gone in set(self.segments) - live:
            self.segments.pop(gone).close()
        for seg, level, file, last_seq in seg_rows:
            if seg not in self.segments:
                self.segments[seg] = Segment(self.root / file, level, last_seq)
        self._set_buffer(np.array([r[0] for r in buf], np.int64),
                         np.stack([np.frombuffer(r[1], np.float32) for r in buf]) if buf
                         else np.empty((0, self.dim), np.float32))
        self._count_dead()
        self.epoch = epoch

    def _count_dead(self) -> None:
        """How many tombstoned images each segment still holds. A search asks a segment for that many more
        neighbours than it wants, so that enough live ones remain: asking every segment for as many more as
        the collection has tombstones would make each search pay for every removal ever made. Counted again
        only where the tombstones (_set_tombstones) or the segments changed."""
        self.dead = {s: self.dead[s] if s in self.dead else int(np.count_nonzero(self._tombstoned(seg.ids)))
                     for s, seg in self.segments.items()}

    def __len__(self) -> int:
        return len(self.buffer_ids) + sum(len(s) for s in self.segments.values()) - len(self.tombstones)

    def indexed(self, image_ids) -> set[int]:
        """Which of these images this generation holds live: a retried batch must not add them twice (one it
        holds removed is indexed again: revived, commit())."""
        return set(self.order(image_ids)) - self.tombstones

    def order(self, image_ids) -> dict[int, int]:
        """{image id: its place in the order of arrival} for the images among these that it holds."""
        ids = [int(i) for i in image_ids]
        with self.engine.connect() as conn:
            return dict(conn.execute(select(db.index_items.c.image_id, db.index_items.c.seq).where(and_(
                self._key(db.index_items), db.index_items.c.image_id.in_(ids)))).all())

    def within(self, queries: np.ndarray, radius: float, most: int = 0) -> list[list[tuple[int, float]]]:
        """For each query, every stored image within `radius` ([(image_id, distance), ...]), or only its `most`
        nearest of them when `most` > 0 (ties to the lower id of those found: all of the buffer's, a few times
        `most` of a segment's): a picture stored a thousand times over then costs `most` pairs a copy, not a
        thousand."""
        results: list[list[tuple[int, float]]] = [[] for _ in range(len(queries))]
        crowd = self._crowds_of(queries)  # the penalty only adds: whatever is within it, raw, is searched
        # 256 queries against 4,096 buffered vectors at a time: temporaries of one size (4 MB) however full
        # the buffer, which the allocator reuses; growing ones (up to 20 MB each at 20,000) kept a scan's
        # memory climbing until the buffer was sealed
        ids, vecs, crowds = self.buffer_ids, self.buffer_vecs, self.buffer_crowds
        dead = self._buffer_tombstoned()  # never among the `most` nearest
        for start in range(0, len(queries), 256):
            for first in range(0, len(ids), 4096):
                d = self._penalised(exact_distances(queries[start:start + 256], vecs[first:first + 4096]),
                                    crowd[start:start + 256, None], crowds[None, first:first + 4096])
                d[:, dead[first:first + 4096]] = np.inf
                for qi, bj in zip(*np.nonzero(_hits(d, ids[first:first + 4096], radius, most))):
                    results[start + qi].append((int(ids[first + bj]), float(d[qi, bj])))
        rows = np.asarray(queries, np.float32).tolist()
        for s, seg in self.segments.items():
            for qi, q in enumerate(rows):
                local, dist = seg.within(q, radius, most=crowding.candidates(most) + self.dead.get(s, 0) if most else 0)
                if self.crowding is not None and len(local):
                    dist = self._penalised(dist, crowd[qi], seg.crowds(local, self.crowding))
                    local, dist = local[dist <= radius], dist[dist <= radius]
                results[qi].extend((int(seg.ids[i]), float(x)) for i, x in zip(local, dist))
        if self.tombstones:
            results = [[(i, x) for i, x in r if i not in self.tombstones] for r in results]
        return [nearest_of(r, most) for r in results]

    def live(self):
        """(image ids, vectors) of everything live in this generation: segment by segment, then the buffer.
        Each segment's vectors come through a mapping of their own, released when the caller moves on."""
        for seg in list(self.segments.values()):
            ids = np.asarray(seg.ids)
            keep = ~self._tombstoned(ids)
            yield ids[keep], np.load(seg.base.with_suffix(".vec.npy"), mmap_mode="r")[keep]
        if len(self.buffer_ids):
            keep = ~self._buffer_tombstoned()
            yield self.buffer_ids[keep], self.buffer_vecs[keep]

    def _set_tombstones(self, tombstones: set[int]) -> None:
        """The tombstones, as a set and sorted (searched by every query: not made again for each)."""
        self.tombstones = tombstones
        self._sorted_tombstones = np.sort(np.fromiter(tombstones, np.int64, len(tombstones)))
        self._buffer_dead = None
        self.dead: dict[int, int] = {}  # segment -> how many tombstoned images it holds (_count_dead)

    def _tombstoned(self, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` are tombstoned (a binary search in the sorted tombstones)."""
        ids, dead = np.asarray(ids, np.int64), self._sorted_tombstones
        if not len(dead):
            return np.zeros(len(ids), bool)
        return dead[np.minimum(np.searchsorted(dead, ids), len(dead) - 1)] == ids

    def _buffer_tombstoned(self) -> np.ndarray:
        """_tombstoned() of the buffer, kept until the buffer or the tombstones change."""
        key = self._buffer_version
        if self._buffer_dead is None or self._buffer_dead[0] != key:
            self._buffer_dead = (key, self._tombstoned(self.buffer_ids))
        return self._buffer_dead[1]

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest by the distance this index reports: with a crowding penalty, ranked again among
        more of the nearest by plain distance (crowding.candidates)."""
        return self.nearest_each(np.asarray(query, np.float32)[None], k)[0]

    def nearest_each(self, queries: np.ndarray, k: int, block: int = 256) -> list[list[tuple[int, float]]]:
        """nearest() of each row of `queries`, the buffer's distances computed a block of queries at a time
        (one matrix product, not one per query: a batch's neighbours, a scan's neighbour lists)."""
        queries = np.asarray(queries, np.float32).reshape(-1, self.dim)
        want = k if self.crowding is None else crowding.candidates(k)
        out = []
        for start in range(0, len(queries), block):
            part = queries[start:start + block]
            crowds = self._crowds_of(part)
            found: list[list] = [[] for _ in part]  # per query, (ids, distances) arrays: the buffer's, each segment's
            if len(self.buffer_ids):
                d = self._penalised(exact_distances(part, self.buffer_vecs), crowds[:, None], self.buffer_crowds)
                d[:, self._buffer_tombstoned()] = np.inf
                near = np.argpartition(d, want, axis=1)[:, :want] if d.shape[1] > want else \
                    np.broadcast_to(np.arange(d.shape[1]), d.shape)  # the buffer holds up to 20,000
                for row, cols in enumerate(near):
                    found[row].append((self.buffer_ids[cols], d[row, cols]))
            for s, seg in self.segments.items():
                for row, query in enumerate(part):
                    idx, dist = seg.annoy.get_nns_by_vector(query, want + self.dead.get(s, 0), include_distances=True)
                    dist = np.asarray(dist)
                    if self.crowding is not None and idx:
                        dist = self._penalised(dist, crowds[row], seg.crowds(np.asarray(idx), self.crowding))
                    found[row].append((np.asarray(seg.ids)[idx], dist))
            out += [self._nearest_first(parts, k) for parts in found]
        return out

    def _nearest_first(self, parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> list[tuple[int, float]]:
        """The k nearest [(image id, distance)] of a query's candidates from the buffer and the segments, but
        the tombstoned (ties in the order found)."""
        if not parts:
            return []
        ids = np.concatenate([p[0] for p in parts]).astype(np.int64, copy=False)
        dist = np.concatenate([np.asarray(p[1], np.float64) for p in parts])
        keep = (dist != np.inf) & ~self._tombstoned(ids)
        ids, dist = ids[keep], dist[keep]
        first = np.argsort(dist, kind="stable")[:k]
        return list(zip(ids[first].tolist(), dist[first].tolist()))

    def nearest_others(self, vectors: dict, k: int) -> dict[int, list[tuple[int, float]]]:
        """{image: nearest_each() of its vector, the image itself left out} for {image: vector}: the neighbours
        of images the index holds (a scan's neighbour lists, the queue's verify step)."""
        ids = list(vectors)
        found = self.nearest_each(np.stack([vectors[i] for i in ids]), k) if ids else []
        return {i: [(n, d) for n, d in near if n != i] for i, near in zip(ids, found)}

    # --- writing (one writer per collection) ---------------------------------------------------------
    def commit(self, conn, image_ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Bump the epoch, then append vectors to the buffer inside the caller's transaction: a writer that
        committed first (another scan of the same images) is seen by the epoch, not by a duplicate row.
        Tombstoned images among them are revived in place: a tombstoned vector is still stored, and it is the
        same vector (the same content). Returns which were appended (for after_commit)."""
        self._bump(conn)
        image_ids = np.asarray(image_ids, np.int64)
        revived = [int(i) for i in image_ids if int(i) in self.tombstones]
        appended = ~np.isin(image_ids, revived)
        self._forget(conn, db.tombstones, revived)
        if appended.any():
            conn.execute(insert(db.index_items), [
                dict(collection=self.collection, generation=self.generation, image_id=int(i),
                     seq=self.next_seq + n) for n, i in enumerate(image_ids[appended])])
        self._revived = set(revived)
        return appended

    def after_commit(self, image_ids: np.ndarray, vecs: np.ndarray) -> None:
        """Keep the in-memory view in step with what was just committed (the images commit() appended), then
        seal/merge if due."""
        if self._revived:
            self._set_tombstones(self.tombstones - self._revived)
            self._revived = set()
            self._count_dead()
        self._append(np.asarray(image_ids, np.int64), np.asarray(vecs, np.float32).reshape(-1, self.dim))
        self.next_seq += len(image_ids)
        self.epoch = self._committed_epoch
        self.install_merges()
        if len(self.buffer_ids) >= self.buffer_capacity:
            self.seal()
        self.merge()

    def _bump(self, conn) -> None:
        """Move the epoch, refusing if anybody wrote since our last look: what we searched is then stale,
        and committing would miss pairs (DESIGN.md invariant 2). The caller rolls back and retries. One
        compare-and-set: SQLite's driver reads outside the write transaction, so a read, then a write, could
        both see the epoch before another writer's commit."""
        moved = conn.execute(update(db.collections).where(
            (db.collections.c.name == self.collection) & (db.collections.c.epoch == self.epoch))
            .values(epoch=db.collections.c.epoch + 1))
        if moved.rowcount != 1:
            self.epoch = None
            raise StaleIndex(f"{self.collection}: another writer committed since this index was read")
        self._committed_epoch = self.epoch + 1

    def _forget(self, conn, table, image_ids) -> None:
        """Delete this generation's rows of `table` for these images, in the caller's transaction."""
        for part in db.in_chunks(list(image_ids), 500):
            conn.execute(delete(table).where(and_(self._key(table), table.c.image_id.in_(part))))

    def tombstone(self, image_ids) -> None:
        """tombstone() these images, in every generation that holds them, in a transaction of its own."""
        with self.engine.begin() as conn:
            tombstone(conn, self.collection, image_ids)
        self.epoch = None  # tombstones are re-read on the next refresh

    def merge(self) -> None:
        """Merge `merge_fanout` segments of one level into one of the next level, while any level is full
        (in the background, if so configured: then at most one merge is under way at a time)."""
        while not self.pending:
            by_level: dict[int, list[int]] = {}
            for seg_id, seg in sorted(self.segments.items()):
                by_level.setdefault(seg.level, []).append(seg_id)
            full = [(lv, segs) for lv, segs in sorted(by_level.items()) if len(segs) >= self.merge_fanout]
            if not full:
                return
            level, members = full[0]
            members = members[: self.merge_fanout]
            last_seq = max(self.segments[s].last_seq for s in members)
            file = f"merge-{uuid.uuid4().hex[:12]}"  # unique: another writer may record segments meanwhile
            dropped = frozenset(self.tombstones)
            args = (self.root / file, [self.segments[s].base for s in members], sorted(dropped))
            if self.background_merges:
                self.pending.append(PendingMerge(members, level + 1, file, last_seq,
                                                 _merge_in_background(*args), dropped))
                return
            segments.merge_files(*args)
            self._record_segment(file, level + 1, replaces=members, last_seq=last_seq,
                                 dropped=self._left_out(members, dropped))

    def install_merges(self, wait: bool = False) -> None:
        """Swap in the background merges that have finished (all of them, waiting, if `wait`). A merge
        whose inputs another writer has replaced meanwhile is thrown away."""
        for job in list(self.pending):
            if not (wait or job.future.done()):
                continue
            self.pending.remove(job)
            failed = job.future.exception() is not None
            if failed or not all(m in self.segments for m in job.members):
                segments.remove(self.root / job.file)
                continue
            dropped = self._left_out(job.members, job.dropped)
            if not dropped <= self.tombstones:  # it left out an image submitted again since
                segments.remove(self.root / job.file)
                continue
            self._record_segment(job.file, job.level, replaces=job.members, last_seq=job.last_seq, dropped=dropped)
        if wait:  # the swap may have filled the next level: merge that too, until nothing is left to do
            self.merge()
            if self.pending:
                self.install_merges(wait=True)

    def _left_out(self, members: list[int], dropped: frozenset) -> frozenset:
        """The images of these segments that a merge leaving out `dropped` leaves out."""
        held = np.concatenate([np.asarray(self.segments[s].ids) for s in members])
        return frozenset(held[np.isin(held, np.fromiter(dropped, np.int64, len(dropped)))].tolist())

    def seal(self) -> None:
        """Buffer -> new level-0 segment: files first (atomic), then one transaction records it."""
        if not len(self.buffer_ids):
            return
        file = f"seg-{uuid.uuid4().hex[:12]}"
        keep = ~self._buffer_tombstoned()
        segments.build(self.root / file, self.buffer_ids[keep], self.buffer_vecs[keep])
        self._record_segment(file, 0, replaces=[], last_seq=self.next_seq - 1,
                             dropped=frozenset(self.buffer_ids[~keep].tolist()))

    def _record_segment(self, file: str, level: int, replaces: list[int], last_seq: int,
                        dropped: frozenset = frozenset()) -> None:
        """Record built segment files as the next segment, retiring those it replaces, in one transaction.
        The tombstoned images it left out (`dropped`: of the buffer, or of the segments it replaces) are gone from
        the generation with it: their tombstones and index entries too, so that a tombstone always stands for a
        vector still stored, and such an image submitted again is added anew."""
        seg = Segment(self.root / file, level, last_seq)
        with self.engine.begin() as conn:  # the registry's numbering: it holds every live segment, ours too
            seg_id = (conn.execute(select(func.max(db.segments.c.segment))
                                   .where(self._key(db.segments))).scalar() or 0) + 1
            conn.execute(insert(db.segments).values(collection=self.collection, generation=self.generation,
                                                    segment=seg_id, level=level, count=len(seg), file=file,
                                                    last_seq=last_seq))
            if replaces:
                conn.execute(delete(db.segments).where(and_(self._key(db.segments),
                                                            db.segments.c.segment.in_(replaces))))
            for table in (db.tombstones, db.index_items):
                self._forget(conn, table, sorted(dropped))
            self._bump(conn)
        if dropped:
            self._set_tombstones(self.tombstones - dropped)
        for old in replaces:  # readers holding an mmap keep working on the unlinked file
            gone = self.segments.pop(old)
            gone.close()
            segments.remove(gone.base)
        self.segments[seg_id] = seg
        if not replaces:  # sealed from the buffer
            self._n = 0
            self._buffer_version += 1
        self._count_dead()
        self.epoch = self._committed_epoch


def tombstone(conn, collection: str, image_ids) -> int:
    """In the caller's transaction: tombstone these images in every generation of the collection that holds
    them (its live one, one being rebuilt), and move the collection's epoch, so that
    every reader reloads and a writer that searched before this commits nothing on that view (it searches
    again). Returns how many (image, generation) entries it tombstoned."""
    items = db.index_items.c
    held = []
    generations = conn.execute(select(items.generation).where(items.collection == collection).distinct()).scalars()
    ids = sorted({int(i) for i in image_ids})
    for generation in list(generations):  # looked up by the whole key: a million entries are not read per chunk
        for part in db.in_chunks(ids, 500):
            held += [(generation, i) for i in conn.execute(select(items.image_id).where(and_(
                items.collection == collection, items.generation == generation, items.image_id.in_(part)))).scalars()]
    if held:
        conn.execute(db.insert_ignore(conn, db.tombstones), [
            dict(collection=collection, generation=g, image_id=int(i)) for g, i in held])
    conn.execute(update(db.collections).where(db.collections.c.name == collection)
                 .values(epoch=db.collections.c.epoch + 1))
    return len(held)


def _hits(d: np.ndarray, ids: np.ndarray, radius: float, most: int) -> np.ndarray:
    """Where the distances `d` (queries x `ids`) are within `radius`: in each row only its `most` nearest if
    `most` > 0 (ties to the lower id), so that a copy among thousands of its picture's is not listed with all."""
    hit = d <= radius
    for row in np.flatnonzero(hit.sum(axis=1) > most) if most else ():
        cols = np.flatnonzero(hit[row])
        hit[row] = False
        hit[row, cols[np.lexsort((ids[cols], d[row, cols]))[:most]]] = True
    return hit


def nearest_of(found: list[tuple[int, float]], most: int) -> list[tuple[int, float]]:
    """The `most` nearest of [(image_id, distance)], ties to the lower id (the copy stored first); all if 0."""
    return sorted(found, key=lambda t: (t[1], t[0]))[:most] if most else found


def exact_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between unit vectors, (len(a), len(b)). Below 1e-3 is float32 rounding of
    equal vectors, reported as 0."""
    d2 = np.asarray(a @ b.T, np.float32)
    d2 *= -2.0
    d2 += 2.0
    d2[d2 < 1e-6] = 0.0
    return np.sqrt(d2, out=d2)
