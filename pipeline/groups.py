"""The graph of flagged pairs: each image's partners, the connected groups, each with a suggested keeper."""
from __future__ import annotations

import math

import numpy as np


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


def partners_of(pairs) -> dict[int, set]:
    """{image: the images it is paired with} for (a, b) pairs, both ways."""
    partners: dict[int, set] = {}
    for a, b in pairs:
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    return partners


KEEPER_RULE = ("of the largest set of copies that are duplicates of each other, one that shows no edit (no more of "
               "them call it a match than a duplicate, no border or bar round it, the set's own shape and tones), "
               "then the one with the most pixels, then the largest file")
SAME_SHAPE = 0.01  # |log| of an aspect ratio's difference from its set's shape: rounding in a resize stays under it
SAME_TONES = 1.5  # levels (0..255): how far a copy's tones (signature.Frame.tones) may lie from its set's centre
#   (_off_tones) and still be unadjusted: re-encoding, conversion and upscaling move them by a quarter to one
#   level, a resize to half size by under one (90th percentiles), a brightness or contrast change of a few per
#   cent by several (bench/keepers.py); thumbnails move them more, and seldom compete on pixels
TONES_CAP = 5.0  # levels: the most one copy's distance counts towards where a set's centre lies
SMALL_SIDE = 0.5  # members whose long side is under this share of their set's largest are never the centre of its
#   tones: a reduction's tones are averaged over fewer pixels (a third-size copy of a 128-px photo, a 48-px
#   thumbnail: 4.3 levels off, bench/keepers.py) and may lie nearer an adjusted copy than the original does;
#   they still count towards where the centre lies, near the picture they were made from


def keeper(members, pairs=(), framed=frozenset(), tones=None) -> object:
    """The copy to keep. Edited copies (cropped, bordered, turned, overlaid) hang off the picture they came
    from by match pairs, while re-encoded and resized copies share its frame (duplicate pairs): so first the
    largest set of members joined by duplicate pairs. An edited copy the same-frame check let into that set
    (a thin border, a bar over a plain edge) is still a match of some of it, and a border or a bar adds pixels
    and changes the picture's shape: so within the set, a member no more of whose partners there call it a
    match than a duplicate, then one no frame is round (`framed`: ids), then one of the set's own shape (where no
    copy shares a frame with another, of the shape most of the group has), then one of the set's own tones
    (`tones`: id -> Frame.tones; a copy brightened or given more contrast, still the same frame, lies off the
    centre of a set that holds its original and that original's other copies), then the most pixels, then the
    largest file (least re-encoded), then the first seen. A set's shape is the one most of its members share
    (a thumbnail's sides, rounded to a few dozen pixels, are no median's to set: 48 x 33 of 301 x 204 is
    1.4 % off its shape)."""
    ids = {m.id: m for m in members}
    sets = components([(a, b) for a, b, _, label in pairs if label == "duplicate" and a in ids and b in ids])
    set_of = {i: k for k, group in enumerate(sets) for i in group}
    votes = {i: 0 for i in ids}  # duplicate partners in its set, less match partners there
    for a, b, _, label in pairs:
        if a in set_of and set_of[a] == set_of.get(b):
            for i in (a, b):
                votes[i] += 1 if label == "duplicate" else -1
    shape = {i: math.log((m.width or 1) / (m.height or 1)) for i, m in ids.items()}
    side = {i: max(m.width or 0, m.height or 0) for i, m in ids.items()}
    largest = [max(side[i] for i in group) for group in sets]
    small = {i for k, group in enumerate(sets) for i in group if side[i] < SMALL_SIDE * largest[k]}
    usual = {k: _shared_shape([shape[i] for i in group]) for k, group in enumerate(sets)}
    usual[None] = _shared_shape(list(shape.values()))  # a copy in no set: of the group's own shape

    def same_shape(i) -> bool:
        return usual[set_of.get(i)] is not None and abs(shape[i] - usual[set_of.get(i)]) < SAME_SHAPE

    off_tone = _off_tones(sets, tones or {}, same_shape, small)

    def rank(m):
        k = set_of.get(m.id)
        in_set = (1 if k is None else len(sets[k]), k is None or votes[m.id] >= 0, m.id not in framed,
                  same_shape(m.id), m.id not in off_tone)
        return (*in_set, (m.width or 0) * (m.height or 0), m.size_bytes or 0, -m.id)

    return max(members, key=rank)


def _shared_shape(shapes: list[float]) -> float | None:
    """The shape (log aspect ratio) that more of `shapes` share (within SAME_SHAPE) than any other, or None
    where two shapes tie: a border or a trim let into a set changes one member's shape, not most members'.
    Counted on the sorted shapes (a picture stored thousands of times is one set)."""
    x = np.sort(np.asarray(shapes, np.float64))
    shared = np.searchsorted(x, x + SAME_SHAPE, "left") - np.searchsorted(x, x - SAME_SHAPE, "right")
    leaders = x[shared == shared.max()]
    return float(leaders[0]) if leaders[-1] - leaders[0] < SAME_SHAPE else None


def _off_tones(sets, tones, same_shape, small) -> set:
    """The members of each set that are not its unadjusted picture by their tones, judged among the members
    of the set's shape (a trim changes what the tones are taken over). Re-encoded, resized and converted copies
    keep the original's tones, and each adjusted copy moves them its own way, away from the original and
    from the original's other copies: so the unadjusted picture is the member nearest to all the others
    (each distance counted up to TONES_CAP, so that one strongly recoloured copy weighs no more than a lightly
    brightened one; a `small` member's distances count, but it is never the centre), and the members within
    SAME_TONES of it. Under three such members there is nothing to judge by: either of two could be the
    adjusted one."""
    off = set()
    for group in sets:
        known = [i for i in group if i in tones and same_shape(i)]
        if len(known) < 3:
            continue
        stacked = np.array([tones[i] for i in known])
        # a row at a time: a picture stored thousands of times is one set
        spread = np.array([np.inf if i in small else np.minimum(np.abs(stacked - t).max(axis=1), TONES_CAP).sum()
                           for i, t in zip(known, stacked)])
        # members as near all the others as each other are centres alike (the one the set lists first must not
        #   put the other off its tones), equal tones one centre
        near = np.full(len(known), np.inf)
        for centre in np.unique(stacked[spread == spread.min()], axis=0):
            near = np.minimum(near, np.abs(stacked - centre).max(axis=1))
        off.update(i for i, d in zip(known, near) if d > SAME_TONES)
    return off
