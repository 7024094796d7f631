"""The embed step: read each file once, hash it, reuse a stored vector for known bytes, else decode and
embed. Decoding runs on a pool of threads (Pillow and TensorFlow release the GIL) while the encoder eats
fixed-size batches, so inference overlaps decoding.
"""
from __future__ import annotations

import io
from collections import deque
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
from PIL import Image

from encoder.decode import DecodeError, content_hash, decode, read_bytes

from storage.registry import Recorded

from .runtime import PathNotAllowed, Runtime


@dataclass
class Item:
    path: str  # as submitted
    image_id: int | None = None
    content_hash: str = ""
    vector: np.ndarray | None = None
    error: str | None = None
    pixels: np.ndarray | None = None
    width: int = 0
    height: int = 0
    size_bytes: int = 0
    embedded: bool = False  # went through the encoder (False: a stored vector was reused)


def _header_size(data: bytes) -> tuple[int, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as im:
                return im.size
        except Exception:
            return 0, 0


def prepare(rt: Runtime, path: str, size: int, model_version: str, extra_roots=(), check_roots=True) -> Item:
    """Everything that can be done for one file without the model; never raises.
    `check_roots=False` only for paths the registry already accepted."""
    item = Item(path)
    try:
        real = rt.check_path(path, extra_roots) if check_roots else path
        data = read_bytes(real)
        item.size_bytes = len(data)
        item.content_hash = content_hash(data)
        known = rt.registry.vectors_for([item.content_hash], model_version)
        if known:  # the same bytes were embedded before: skip decoding (exact duplicate or rescan)
            item.vector = known[item.content_hash]
            item.width, item.height = _header_size(data)
        else:
            dec = decode(data, size)
            item.pixels, item.width, item.height = dec.pixels, dec.width, dec.height
    except (DecodeError, PathNotAllowed) as exc:
        item.error = str(exc)
    except Exception as exc:  # a bug or an exotic failure must still cost one image, not the batch
        item.error = f"unexpected error: {type(exc).__name__}: {exc}"
    return item


def embed_paths(rt: Runtime, paths: Iterable[str], collection: str, batch_id: str | None = None,
                extra_roots=(), on_item: Callable[[Item], None] | None = None, encoder=None) -> Iterator[Item]:
    """Yield every path as an Item with a vector, or with an error; registry rows written for both."""
    enc = encoder or rt.encoder()
    pending: list[Item] = []

    def flush():
        todo = {it.content_hash: it for it in pending if it.pixels is not None}  # equal bytes: embed once
        if todo:
            vecs = enc.embed(np.stack([it.pixels for it in todo.values()]))
            by_hash = dict(zip(todo, vecs))
            for it in pending:
                if it.pixels is not None:
                    it.vector, it.pixels, it.embedded = by_hash[it.content_hash], None, True
            rt.registry.store_vectors(enc.version, by_hash)
        ids = rt.registry.record_items(collection, [
            Recorded(it.path, reason=it.error) if it.error else
            Recorded(it.path, it.content_hash, it.width, it.height, it.size_bytes) for it in pending], batch_id)
        for it, image_id in zip(pending, ids):
            it.image_id = image_id
            if on_item:
                on_item(it)
        done = list(pending)
        pending.clear()
        return done

    with ThreadPoolExecutor(rt.settings.threads) as pool:
        work = (lambda p=p: prepare(rt, p, enc.size, enc.version, extra_roots) for p in paths)
        for item in bounded_map(pool, work, window=4 * enc.batch_size):
            pending.append(item)
            if len(pending) >= enc.batch_size:
                yield from flush()
        yield from flush()


def bounded_map(pool, calls, window: int):
    """Like pool.map over zero-argument calls, in order, with at most `window` in flight (flat memory)."""
    inflight = deque()
    for call in calls:
        inflight.append(pool.submit(call))
        if len(inflight) >= window:
            yield inflight.popleft().result()
    while inflight:
        yield inflight.popleft().result()
