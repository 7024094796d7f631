"""The last results a long-lived process computed, kept by key up to a count (least recently used first out)."""
from __future__ import annotations

import threading
from collections import OrderedDict


class Recent:
    """A thread-safe least-recently-used store: a worker meets an original in the pairs of batch after batch,
    and a scan labels its pairs when it indexes them and again after verification."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
