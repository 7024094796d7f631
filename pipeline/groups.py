"""Duplicate groups: connected components of the flagged pairs, each with a suggested keeper."""
from __future__ import annotations

import math
import statistics


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


KEEPER_RULE = ("in the largest set of copies joined by duplicate pairs, one that no more of its partners there call "
               "a match than a duplicate, no frame round it, of the set's shape (a border or a bar changes it; a copy "
               "in no set: of the group's), then the most pixels, then the largest file")
SAME_SHAPE = 0.01  # |log| of an aspect ratio's difference from its set's median: rounding in a resize stays under it


def keeper(members, pairs=(), framed=frozenset()) -> object:
    """The copy to keep. Edited copies (cropped, bordered, turned, overlaid) hang off the picture they came
    from by match pairs, while re-encoded and resized copies share its frame (duplicate pairs): so first the
    largest set of members joined by duplicate pairs. An edited copy the same-frame check let into that set
    (a thin border, a bar over a plain edge) is still a match of some of it, and a border or a bar adds pixels
    and changes the picture's shape: so within the set, a member no more of whose partners there call it a
    match than a duplicate, then one no frame is round (`framed`: ids), then one of the set's own shape (where no
    copy shares a frame with another, of the shape most of the group has), then the most pixels, then the
    largest file (least re-encoded), then the first seen."""
    ids = {m.id: m for m in members}
    sets = components([(a, b) for a, b, _, label in pairs if label == "duplicate" and a in ids and b in ids])
    set_of = {i: k for k, group in enumerate(sets) for i in group}
    votes = {i: 0 for i in ids}  # duplicate partners in its set, less match partners there
    for a, b, _, label in pairs:
        if a in set_of and set_of[a] == set_of.get(b):
            for i in (a, b):
                votes[i] += 1 if label == "duplicate" else -1
    shape = {i: math.log((m.width or 1) / (m.height or 1)) for i, m in ids.items()}
    usual = {k: statistics.median(shape[i] for i in group) for k, group in enumerate(sets)}
    usual[None] = statistics.median(shape.values())  # a copy in no set: of the group's own shape

    def rank(m):
        k = set_of.get(m.id)
        in_set = (1 if k is None else len(sets[k]), k is None or votes[m.id] >= 0, m.id not in framed,
                  abs(shape[m.id] - usual[k]) < SAME_SHAPE)
        return (*in_set, (m.width or 0) * (m.height or 0), m.size_bytes or 0, -m.id)

    return max(members, key=rank)
