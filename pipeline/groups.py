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


KEEPER_RULE = ("the copy most others share the frame of (its duplicates outnumber those of any edited copy), "
               "then the most pixels, then the largest file")


def keeper(members, pairs=()) -> object:
    """The copy to keep. Edited copies (cropped, bordered, turned, overlaid) hang off the picture they came
    from by match pairs, while re-encoded and resized copies share its frame (duplicate pairs): so first the
    largest set of members joined by duplicate pairs, then within it the most pixels, then the largest
    file (least re-encoded), then the first seen."""
    ids = {m.id for m in members}
    same_frame = components([(a, b) for a, b, _, label in pairs if label == "duplicate" and a in ids and b in ids])
    cluster_of = {i: len(group) for group in same_frame for i in group}
    return max(members, key=lambda m: (cluster_of.get(m.id, 1), (m.width or 0) * (m.height or 0),
                                       m.size_bytes or 0, -m.id))
