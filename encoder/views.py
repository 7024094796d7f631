"""Training views made once, in worker processes: each photo, benign copies of it and edited copies of it, at
the input sizes that need them. Epochs then draw their pairs from these, so the accelerator is not kept waiting
on Pillow's edits (threads making them share one Python lock; processes do not)."""
from __future__ import annotations

import multiprocessing
import random
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image

from . import augment
from .decode import to_input

_photos: list[Image.Image] = []  # a worker's copy of the training photos, loaded once by _load


def of_photo(im: Image.Image, r: random.Random, n: int, geometric: float, colour: float) -> list[Image.Image]:
    """n views of a photo: itself, three benign copies (re-encoded), the rest training positives (augment.positive)."""
    made = [im] + [augment.jpeg(augment.benign(im, r), r.randint(40, 95)) for _ in range(min(3, n - 1))]
    return made + [augment.positive(im, r, geometric, colour) for _ in range(n - len(made))]


def _load(paths: list[str], max_side: int) -> None:
    from .train import load_pool

    _photos[:] = load_pool(paths, max_side)[0]


def _views(task: tuple) -> list[np.ndarray]:
    i, n, seed, geometric, colour, sizes = task
    made = of_photo(_photos[i], random.Random(f"{seed}:{i}"), n, geometric, colour)
    return [np.stack([to_input(v, s) for v in made]) for s in sizes]


def made(paths: list[str], max_side: int, n: int, sizes: tuple[int, ...], seed: int, geometric: float = 0.0,
         colour: float = 0.0, workers: int = 1, photos: list[Image.Image] | None = None) -> Iterator[list[np.ndarray]]:
    """For each photo in order, its n views as one (n, s, s, 3) uint8 array per size. The views of photo i
    depend on (seed, i) only, not on the number of workers. Workers are started fresh (forkserver), so this is
    safe after an accelerator's runtime has started in this process; each loads the photos itself. One worker
    makes them here, from `photos` where the caller holds them already (load_pool of `paths` at `max_side`)."""
    tasks = [(i, n, seed, geometric, colour, tuple(sizes)) for i in range(len(paths))]
    if workers <= 1:
        if photos is None:
            _load(paths, max_side)
        else:
            _photos[:] = photos
        try:
            yield from map(_views, tasks)
        finally:
            _photos.clear()
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, context, initializer=_load, initargs=(paths, max_side)) as pool:
        ahead: deque = deque()  # a few photos per worker in flight: views wait in memory only as long as that
        for task in tasks:
            ahead.append(pool.submit(_views, task))
            if len(ahead) > 4 * workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
