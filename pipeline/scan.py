"""`neardup scan`: the whole job in one process (no Redis): list, embed, index, collect the results.

The same embed and index steps the Celery tasks run; here they run back to back.
"""
from __future__ import annotations

import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from neardup.encoder.decode import find_images
from neardup.errors import ModelMismatch
from neardup.storage.collection import checked

from . import verify
from .agreement import Agreement
from .embed import embed_paths
from .index import index_batch
from .labels import Frames
from .remove import remove_gone
from .runtime import Runtime

MANY = 200  # images: a scan of this many or more may check its pairs in processes (pipeline/processes.py); a
#   smaller one has too few pairs to pay for forking them


@dataclass
class ScanResult:
    root: str
    collection: str
    model_version: str
    thresholds: dict
    images: dict = field(default_factory=dict)  # image id -> ImageRow, for every readable image in scope
    vectors: dict = field(default_factory=dict)  # image id -> vector
    failed: list = field(default_factory=list)  # (path, reason)
    pairs: list = field(default_factory=list)  # (a id, b id, distance, label), a < b
    neighbors: list = field(default_factory=list)  # (query id, neighbour id, distance)
    seconds: float = 0.0
    embedded: int = 0  # images that went through the encoder (the rest reused stored vectors)
    removed: int = 0  # images of the collection under the folder whose files were gone (pipeline/remove.py)
    total: int = 0  # images in scope (a sweep loads rows only for the images its outputs name)
    verified: int = 0  # grey-zone pairs whose distance geometric verification changed
    previews: object = None  # the Previews store the report takes thumbnails from (None: decode them)
    frames: object = None  # image ids -> their same-frame signatures (labels.Frames): why a match is one, for the
    #   report, and which copy a frame is round, for the keeper
    _rel: dict = field(default_factory=dict, repr=False)  # image id -> rel()

    def rel(self, image_id: int) -> str:
        """rel_path() of an image, worked out once: an image with many copies is named in every pair."""
        found = self._rel.get(image_id)
        if found is None:
            found = self._rel[image_id] = self.rel_path(self.images[image_id].path)
        return found

    @functools.cached_property
    def _root_is_folder(self) -> bool:
        return os.path.isdir(self.root)

    def rel_path(self, path: str) -> str:
        """A path as the outputs write it: relative to the scanned folder (as given, outside it)."""
        if not self._root_is_folder:
            return os.path.basename(path)
        rel = os.path.relpath(path, self.root)
        return path if rel.startswith("..") else rel


def listed(root: str) -> tuple[list[str], list[tuple[str, str]]]:
    """find_images() of `root` made absolute: the registry's paths name files wherever a scan is run."""
    return find_images(os.path.abspath(root))


class Scanner:
    """The Python API: `Scanner(settings).scan(DIR)` returns a ScanResult; `write_outputs` saves it."""

    def __init__(self, settings, collection: str = "default"):
        self.collection = checked(collection)
        self.rt = Runtime(settings)

    def encoder(self):
        """The model of the collection's live generation (after a roll-out or a rollback, that may not be
        the active one); for a new collection, the configured or active model."""
        live, _ = self.rt.generations(self.collection)
        if live is None:
            return self.rt.encoder()
        if self.rt.settings.model and self.rt.encoder().version != live:
            raise ModelMismatch(f"collection {self.collection!r} is indexed with model {live}, not "
                                f"{self.rt.encoder().version}: scan it without --model, roll it out to that model "
                                "(neardup promote MODEL --roll-out), or scan into another collection")
        return self.rt.encoder_for(live)

    def scan(self, root: str, neighbors: int = 0, progress=None, found=None) -> ScanResult:
        """`found`: find_images() of `root` made absolute, where the caller listed it already (a progress bar's
        total): a catalogue of millions of files is walked once."""
        t0 = time.time()
        if found is None:
            found = listed(root)
        with self.rt.in_processes(len(found[0]) >= MANY), self.rt.keeping_decodes():
            return self._scan(root, found, neighbors, progress, t0)

    def _scan(self, root: str, found, neighbors: int, progress, t0: float) -> ScanResult:
        rt = self.rt
        enc = self.encoder()
        th = rt.thresholds(enc.info)
        checks = verify.settings_for(rt.settings, rt.model_info(enc.version))  # as the queue reads it: registered
        res = ScanResult(os.path.abspath(root), self.collection, enc.version, th, previews=rt.previews,
                         frames=functools.partial(Frames.of, rt))
        paths, res.failed = found
        res.removed = remove_gone(rt, self.collection, res.root, paths, res.failed)
        extra_roots = [root if os.path.isdir(root) else os.path.dirname(os.path.abspath(root))]
        index = rt.index(self.collection, enc.version, enc.info.dim)
        rt.adopt_generation(self.collection, enc.version)  # a scanned collection can be swept and queued to later
        batch_ids, batch_vecs = [], []
        with Indexer(rt, index, th) as indexer:
            for item in embed_paths(rt, paths, self.collection, extra_roots=extra_roots, encoder=enc):
                if progress:
                    progress(1)
                if item.error:
                    res.failed.append((item.path, item.error))
                    continue
                res.vectors[item.image_id] = item.vector
                res.embedded += item.embedded
                batch_ids.append(item.image_id)
                batch_vecs.append(item.vector)
                if len(batch_ids) >= 4 * rt.settings.batch_size:
                    indexer.add(batch_ids, batch_vecs)
                    batch_ids, batch_vecs = [], []
            if batch_ids:
                indexer.add(batch_ids, batch_vecs)
        index.install_merges(wait=True)  # leave no merge half done when this process exits
        res.images = {r.id: r for r in rt.registry.images(ids=list(res.vectors))}
        res.total = len(res.images)
        res.pairs = sorted((p for p in rt.registry.pairs_in(self.collection, index.generation)
                            if p[0] in res.vectors and p[1] in res.vectors), key=lambda p: (p[2], p[0], p[1]))
        k = verify.neighbours_to_find(checks, neighbors)
        if k:
            res.neighbors = nearest_neighbors(rt, index, res.vectors, k, th)
        res.verified = verify.second_stage(rt, checks, res, set(res.images), neighbors)
        res.seconds = time.time() - t0
        return res


class Indexer:
    """Indexes a scan's batches in order on a thread of its own, one batch at a time, while the next batch is
    read, decoded and embedded: indexing labels the batch's pairs (their signatures, the same-frame check),
    work that would otherwise leave the decode threads idle. Leaving the block waits for the last batch and
    raises what indexing raised."""

    def __init__(self, rt, index, thresholds: dict):
        self.rt, self.index, self.thresholds = rt, index, thresholds
        self.pool, self.running = ThreadPoolExecutor(1), None

    def add(self, image_ids: list[int], vectors: list[np.ndarray]) -> None:
        """Index these once the batch before them is indexed (and raise what indexing that one raised)."""
        self.wait()
        self.running = self.pool.submit(index_batch, self.rt, self.index, image_ids, np.stack(vectors),
                                        self.thresholds)

    def wait(self) -> None:
        running, self.running = self.running, None
        if running is not None:
            running.result()

    def __enter__(self) -> "Indexer":
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                self.wait()
        finally:
            self.pool.shutdown(wait=True)


def nearest_neighbors(rt, index, vectors: dict, k: int, thresholds: dict) -> list[tuple[int, int, float]]:
    """The k nearest of every image among `vectors` (query id, neighbour id, distance), from the index, by the
    distance with hash agreement (pipeline/agreement.py)."""
    index.refresh()
    out = []
    found_all = Agreement(rt, index.collection, index.generation, thresholds).nearest(index.nearest_others(vectors, 4 * k + 1))
    for image_id, found in found_all.items():
        near = [(i, d) for i, d in found if i in vectors][:k]
        out += [(image_id, i, d) for i, d in near]
    return out
