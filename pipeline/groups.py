"""Duplicate groups: connected components of the flagged pairs, each with a suggested keeper."""
from __future__ import annotations


def components(pairs) -> list[list[int]]:
    """pairs: iterable of (a, b, ...) image ids; returns groups (sorted lists), largest first."""
    parent: dict[int, int] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, *_ in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))


def keeper(members) -> object:
    """The copy to keep: most pixels, then the largest file (least re-encoded), then the first seen."""
    return max(members, key=lambda m: ((m.width or 0) * (m.height or 0), m.size_bytes or 0, -m.id))
