"""The last results a long-lived process computed, kept by key up to a count or a weight (least recently used
first out)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable


class Recent:
    """A thread-safe least-recently-used store: a worker meets an original in the pairs of batch after batch,
    and a scan labels its pairs when it indexes them and again after verification. `size` bounds the count of
    values, or with `weight` their summed weight (bytes, say)."""

    def __init__(self, size: int, weight: Callable[[object], int] | None = None):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()
        self.weight, self.total = weight or (lambda value: 1), 0

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self._drop(key)
            self.items[key] = value
            self.total += self.weight(value)
            while self.total > self.size:
                self._drop(next(iter(self.items)))

    def pop(self, key):
        """The value under `key`, taken out (None if there is none)."""
        with self.lock:
            return self._drop(key)

    def _drop(self, key):
        value = self.items.pop(key, None)
        if value is not None:
            self.total -= self.weight(value)
        return value

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.total = 0
