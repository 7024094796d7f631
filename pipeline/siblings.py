"""The label rules over a group of copies rather than a pair: a duplicate pair is a match where the copies
round it show an edit that one of the two is too small, or too like the other, to show by itself.

Where T is a duplicate of O and of X by the pair check, O-X is a match because X is O edited in a way the check
tells the direction of (blurred: X the softer at their largest common side; framed: the frame round X;
encoder/frame edited()), and T is smaller than both, T-X is a match too: a 48-px thumbnail cannot show the
3-px blur or the thin border that its 1,024-px original shows against the edited copy (the rule of siblings).
Whatever the edit, a pair the check passes is a match where one of the two is a match of at least two of the
pictures paired with both that the other is a duplicate of, and of at least as many as it is a duplicate of
there, the pair itself counted (outvoted): a posterised copy that passes with a half-size copy and a thumbnail
of its photo, but not with the photo or the photo re-encoded, is a duplicate of none of them.
A scan or a sweep applies them to all its pairs at once (applied()), a search to the query's pairs with the
stored pairs among its hits (beside()); the queue's steps to the pairs a step adds, changes or drops and the
stored pairs round them (regrouped()), so that the stored labels are the rules over the pairs as they stand, in
whatever order the copies came. Both judge a pair by the pair check's verdicts on the pairs of a triangle it is a
side of, never by the rules' own labels.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from neardup.encoder.frame import edited
from neardup.storage.registry import ImageStatus, outcomes_from

from .groups import partners_of
from .labels import Frames

Pair = tuple[int, int]  # image ids, the lower first


def demoted(pairs, same, frame, targets=None) -> set[Pair]:
    """Those of `targets` (default: all `pairs`) that the rules make matches. `pairs`: every pair found round
    them; same(pair): the pair check's verdict on one (True: a duplicate); frame(image id): its signature (None:
    not judged)."""
    near = partners_of(pairs)
    size = {i: f.long_side for i in near if (f := frame(i)) is not None}
    edit = functools.cache(lambda o, x: edited(frame(o), frame(x)))
    out = set()
    for pair in pairs if targets is None else targets:
        if same(pair) and (outvoted(pair, near, same) or _sibling_edited(pair, near, same, size, edit)):
            out.add(pair)
    return out


OUTVOTING = 2  # the fewest pictures paired with both whose verdicts make a duplicate pair a match (outvoted())


def outvoted(pair: Pair, near: dict[int, set], same) -> bool:
    """Whether one of a pair is a match of at least OUTVOTING of the pictures paired with both that the other is
    a duplicate of, and of at least as many of them as it is a duplicate of itself, the other one counted: the
    pair check passes an edit where one picture is too small or too soft to show it, and its larger copies show
    it. Ops merge duplicates without looking: a copy unlike most of the other's duplicates is none of theirs."""
    a, b = pair
    common = near[a] & near[b]
    if len(common) < OUTVOTING:
        return False
    for v, o in ((a, b), (b, a)):
        against = sum(1 for w in common if same(_key(o, w)) and not same(_key(v, w)))
        if against >= max(OUTVOTING, 1 + sum(1 for w in common if same(_key(v, w)))):
            return True
    return False


def _sibling_edited(pair: Pair, near: dict[int, set], same, size: dict[int, int], edit) -> bool:
    """The rule of siblings: the smaller T of the pair, X the other, a duplicate of a larger O of which X is an
    edit the check tells the direction of."""
    a, b = pair
    if a not in size or b not in size or size[a] == size[b]:
        return False
    t, x = (a, b) if size[a] < size[b] else (b, a)
    return any(size.get(o, 0) > size[t] and same(_key(t, o)) and not same(_key(o, x)) and edit(o, x)
               for o in sorted(near[t] & near[x]))


def _key(a: int, b: int) -> Pair:
    return (a, b) if a < b else (b, a)


def applied(pairs, frames: Frames) -> list[tuple[int, int, float, str]]:
    """Pairs (a, b, distance, label by the pair check) with the rule's labels."""
    same = {(a, b): label == "duplicate" for a, b, _, label in pairs}
    gone = demoted(list(same), same.__getitem__, frames.by_id.get)
    return [(a, b, d, "match" if (a, b) in gone else label) for a, b, d, label in pairs]


@dataclass
class Regrouped:
    written: list  # the step's pairs (a, b, distance, label), with the rule's labels
    changed: dict  # {(a, b): label} for the stored pairs whose label the rule changes
    pairs: dict  # {(a, b): (distance, label)}: every pair round the step's images, as they will stand

    def states(self, rt, index, skip=()) -> dict:
        """The new states of the images of the changed pairs (but `skip`: the step's own) that have a final one,
        as the changed labels leave them, by the order in which `index` holds the images (outcomes_from)."""
        ids = {i for pair in self.changed for i in pair} - set(skip)
        if not ids:
            return {}
        settled = [r.id for r in rt.registry.images(ids=sorted(ids))
                   if r.status in (ImageStatus.INDEXED, ImageStatus.DUPLICATE, ImageStatus.MATCH)]
        mine = [(a, b, d, label) for (a, b), (d, label) in self.pairs.items() if a in ids or b in ids]
        return outcomes_from(mine, index.order({i for p in mine for i in p[:2]}), settled) if settled else {}


def regrouped(rt, collection: str, generation: str, written, gone=()) -> Regrouped:
    """The rule over what a step is about to store: `written`, pairs (a, b, distance, label by the pair check)
    that replace the stored ones among `gone` ((a, b): the pairs the step examined; one never stored was no pair)
    and any stored pair they name again. Every pair whose label the rule
    may change names an image of these (a triangle holding one of them has them on all its sides), and is judged
    with every pair round its two images."""
    new = {(a, b): (d, label) for a, b, d, label in written}
    touched = {i for pair in (*new, *gone) for i in pair}
    if not touched:
        return Regrouped(list(written), {}, {})

    def stored_of(ids):
        return {(a, b): (d, label) for a, b, d, label in rt.registry.pairs_of(collection, generation, sorted(ids))}

    first = stored_of(touched)
    gone = {p for p in gone if p in first and p not in new}  # an examined pair never stored was no pair before
    touched = {i for pair in (*new, *gone) for i in pair}
    first = {p: v for p, v in first.items() if p not in gone and (p[0] in touched or p[1] in touched)}
    stored = {p: v for p, v in stored_of({i for pair in (*first, *new) for i in pair}).items() if p not in gone}
    current = {**stored, **new}
    targets = [p for p in current if p[0] in touched or p[1] in touched]
    either = partners_of((*current, *gone))  # paired before the step or after it
    if not any(either[a] & either[b] for a, b in targets):  # in no triangle, then or now: the pair check's labels
        return Regrouped(list(written), {}, current)
    frames = Frames.of(rt, set(either))
    before = partners_of((*stored, *gone))  # who was paired with whom before the step
    size = {i: f.long_side for i, f in frames.by_id.items()}

    def could_have_been(a: int, b: int) -> bool:
        """Whether a stored pair may have been a duplicate that the rules made a match: only in triangles, with
        OUTVOTING pictures paired with both or a third picture larger than the smaller of the two."""
        common = before.get(a, set()) & before.get(b, set())
        if len(common) >= OUTVOTING:
            return True
        if a not in size or b not in size or size[a] == size[b]:
            return False
        small = min(size[a], size[b])
        return any(size.get(o, 0) > small for o in common)

    @functools.cache
    def same(pair: Pair) -> bool:
        """The pair check's verdict: a stored duplicate is one; a stored match was one only if the rule made it a
        match, which it can only have done in a triangle."""
        label = current[pair][1]
        if pair in new or label == "duplicate" or not could_have_been(*pair):
            return label == "duplicate"
        return frames.same(*pair)

    matches = demoted(list(current), same, frames.by_id.get, targets)
    labels = {p: "match" if p in matches else ("duplicate" if same(p) else "match") for p in targets}
    frames.keep()
    changed = {p: labels[p] for p in targets if p not in new and labels[p] != stored[p][1]}
    pairs = {**current, **{p: (current[p][0], label) for p, label in labels.items()}}
    return Regrouped([(a, b, d, labels[(a, b)]) for a, b, d, _ in written], changed, pairs)


def beside(rt, collection: str, generation: str, frame, frames: Frames, same: dict[int, bool]) -> set[int]:
    """The stored images that a picture not stored (a search's query) is no duplicate of by the rule: `frame`,
    its signature; `same`, the pair check's verdict on it with each stored image it is paired with (whose
    signatures `frames` holds); judged with the stored pairs among those images."""
    query = -1  # an id no stored image has, lower than all
    stored = {(a, b): label for a, b, _, label in rt.registry.pairs_of(collection, generation, sorted(same))
              if a in same and b in same}

    def verdict(pair: Pair) -> bool:
        if pair[0] == query:
            return same[pair[1]]
        return stored[pair] == "duplicate" or frames.same(*pair)

    mine = [(query, i) for i in sorted(same)]
    found = demoted([*mine, *stored], verdict, lambda i: frame if i == query else frames.by_id.get(i), mine)
    return {i for _, i in found}
