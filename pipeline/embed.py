"""The embed step: read each file once, hash it, reuse a stored vector for known bytes, else decode and
embed. Reading and decoding run on a pool of threads (Pillow and TensorFlow release the GIL) while the
encoder eats fixed-size batches, so inference overlaps decoding; the registry is asked and written once per
batch, not per image.
"""
from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
from PIL import Image

from neardup.encoder import phash
from neardup.encoder.decode import Kept, content_hash, decode, read_bytes
from neardup.errors import DecodeError, OutOfTime, PathNotAllowed
from neardup.storage.registry import Recorded, in_chunks

from .runtime import Runtime


@dataclass
class Item:
    path: str  # as submitted
    image_id: int | None = None
    content_hash: str = ""
    vector: np.ndarray | None = None
    error: str | None = None
    pixels: np.ndarray | None = None
    hashes: np.ndarray | None = None  # perceptual hashes of the pixels and a collage's cells (encoder/phash.py),
    #   made beside the decode
    width: int = 0
    height: int = 0
    size_bytes: int = 0
    embedded: bool = False  # went through the encoder (False: a stored vector was reused)
    data: bytes | None = None  # the file's bytes, between reading and decoding
    kept: Kept | None = None  # the decode, between decoding and the scan's store of them (Runtime.decodes)


def _header_size(data: bytes) -> tuple[int, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as im:
                return im.size
        except Exception:
            return 0, 0


def read_item(rt: Runtime, path: str, extra_roots=(), check_roots: bool = True) -> Item:
    """Read and hash one file; never raises. `check_roots=False` only for paths the registry accepted."""
    item = Item(path)
    try:
        item.data = read_bytes(rt.check_path(path, extra_roots) if check_roots else path)
        item.size_bytes = len(item.data)
        item.content_hash = content_hash(item.data)
    except (DecodeError, PathNotAllowed) as exc:
        item.error = str(exc)
    except Exception as exc:  # a bug or an exotic failure must still cost one image, not the batch
        item.error = f"unexpected error: {type(exc).__name__}: {exc}"
    return item


def decode_item(item: Item, enc, keep: bool = False) -> Item:
    """Pixels for the encoder `enc` and their perceptual hashes and the decode itself (if asked, where it can be
    signed: encoder/decode.py decode), or only the header's size when the bytes already have a vector; never
    raises."""
    if item.data is None:
        return item
    try:
        if item.vector is not None:  # these bytes were embedded before
            item.width, item.height = _header_size(item.data)
        else:
            dec = decode(item.data, enc.size, keep, enc.boxed)
            item.width, item.height = dec.width, dec.height
            item.pixels, item.kept = dec.pixels, dec.kept
            item.hashes = phash.with_cells(dec.pixels, dec.cells)
    except DecodeError as exc:
        item.error = str(exc)
    except Exception as exc:
        item.error = f"unexpected error: {type(exc).__name__}: {exc}"
    item.data = None
    return item


def waited(future, deadline: float | None):
    """A pool future's result, or OutOfTime once the deadline (time.monotonic()) has passed."""
    if deadline is None:
        return future.result()
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        raise OutOfTime from None


def ready_chunks(rt: Runtime, pool, paths: Iterable[str], enc, extra_roots=(),
                 deadline: float | None = None) -> Iterator[list[Item]]:
    """Chunks (of the encoder's batch size) of Items ready for encoder `enc`. Files are read and hashed on the
    pool, stored vectors looked up once per chunk, the rest decoded on the pool; the next chunk decodes while
    the caller embeds this one."""
    reads = bounded_map(pool, (lambda p=p: read_item(rt, p, extra_roots) for p in paths), window=2 * enc.batch_size,
                        deadline=deadline)
    ahead = None
    for group in in_chunks(reads, enc.batch_size):
        readable = [it.content_hash for it in group if it.data is not None]
        known = rt.registry.vectors_for(readable, enc.version)
        for it in group:
            it.vector = known.get(it.content_hash)
        futures = [pool.submit(decode_item, it, enc, keep=rt.decodes is not None) for it in group]
        if ahead:
            yield [waited(f, deadline) for f in ahead]
        ahead = futures
    if ahead:
        yield [waited(f, deadline) for f in ahead]


def embed_paths(rt: Runtime, paths: Iterable[str], collection: str, batch_id: str | None = None,
                extra_roots=(), on_item: Callable[[Item], None] | None = None, encoder=None,
                deadline: float | None = None) -> Iterator[Item]:
    """Yield every path as an Item with a vector, or with an error; registry rows written for both.
    `deadline` (time.monotonic()): OutOfTime if files are still being read or decoded then (what was yielded
    is kept)."""
    enc = encoder or rt.encoder()
    with reading_pool(rt.settings.threads) as pool:
        for pending in ready_chunks(rt, pool, paths, enc, extra_roots, deadline):
            embed_decoded(rt, enc, pending)
            ids = rt.registry.record_items(collection, [
                Recorded(it.path, reason=it.error) if it.error else
                Recorded(it.path, it.content_hash, it.width, it.height, it.size_bytes) for it in pending], batch_id)
            for it, image_id in zip(pending, ids):
                it.image_id = image_id
                if it.kept is not None:
                    if (decodes := rt.decodes) is not None:  # a job of another thread may have ended its own
                        decodes.put(it.content_hash, it.kept)
                    it.kept = None
                if on_item:
                    on_item(it)
                yield it


@contextlib.contextmanager
def reading_pool(threads: int):
    """The threads that read and decode. Left by an exception (a task's time limit, say), it does not wait
    for them: a thread stuck in a read that never returns must not hold the step, or the worker, with it."""
    pool = ThreadPoolExecutor(threads)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def embed_decoded(rt: Runtime, enc, items: list[Item]) -> None:
    """Vectors for the items that carry pixels (equal bytes embedded once), stored under the model's version,
    and their perceptual hashes (the pair proposals of verification for turned and recoloured copies)."""
    todo = {it.content_hash: it for it in items if it.pixels is not None}
    if not todo:
        return
    by_hash = dict(zip(todo, enc.embed(np.stack([it.pixels for it in todo.values()]))))
    hashes = {h: phash.to_stored(it.hashes) for h, it in todo.items()}
    for it in items:
        if it.pixels is not None:
            it.vector, it.pixels, it.embedded = by_hash[it.content_hash], None, True
    rt.registry.store_vectors(enc.version, by_hash)
    # the buckets first: a step killed between the two writes leaves no hash that its buckets miss
    rt.registry.store_hash_buckets({h: phash.buckets(it.hashes) for h, it in todo.items()})
    rt.registry.store_vectors(phash.KEY, hashes)


def bounded_map(pool, calls, window: int, deadline: float | None = None):
    """Like pool.map over zero-argument calls, in order, with at most `window` in flight (flat memory)."""
    inflight = deque()
    for call in calls:
        inflight.append(pool.submit(call))
        if len(inflight) >= window:
            yield waited(inflight.popleft(), deadline)
    while inflight:
        yield waited(inflight.popleft(), deadline)
