"""Frames round a picture: what an alignment's window leaves outside it, read as a border, a bar, a thin
plain frame or a blurred fill rather than picture a trim cut off."""

from __future__ import annotations

import numpy as np

from .rules import RULES, Rules
from .signature import FINE, RIM, Frame


def bordered(src: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether what the window `unit` leaves of `src` (at 64 px gray) is, on two sides or more and every side
    where it is at least 2 px wide, a plain band, on average unlike the picture next to it and equal to it
    (within `rules.plain`) at no more than half the positions along it: a border or a canvas round the
    picture, not a trim (a trim cuts picture off; trimmed sky or studio white is as plain, but continues what
    it adjoins, except where the object reaches the new edge, which a trim does on one side). On one side
    only, a bar (_a_bar)."""
    bands, inside = [], []
    for axis in (0, 1):  # 0: x (columns), 1: y (rows)
        # the picture's lines across this axis, unsoftened: softening would mix a band one or two lines thick
        #   (a border 3 % wide) with the picture next to it
        lines = (src.fine.T if axis == 0 else src.fine).astype(np.float32)
        lo, hi = unit[axis, 2] * FINE, (unit[axis, 2] + unit[axis, axis]) * FINE
        first, last = int(np.ceil(lo)) + 1, int(np.floor(hi)) - 1  # the picture's own, off its edges
        if last - first < 4:
            return False
        inside.append((first, last))
        for band, inner in zip(_bands_outside(unit, axis), (slice(first, first + 2), slice(last - 2, last))):
            if band.stop - band.start >= 1:
                bands.append((lines[band], lines[inner]))
    if len(bands) == 1:
        (c0, c1), (r0, r1) = np.clip(inside, 0, FINE - 1)
        ring = np.concatenate([src.fine[r0, c0:c1], src.fine[r1, c0:c1], src.fine[r0:r1, c0], src.fine[r0:r1, c1]])
        return _a_bar(*bands[0], ring.astype(np.float32), rules)
    if not bands or max(float(outside.std()) for outside, _ in bands) > rules.plain:
        return False
    across = np.abs(np.concatenate([outside.mean(axis=0) - edge.mean(axis=0) for outside, edge in bands]))
    return float(across.mean()) > rules.unlike and (across <= rules.plain).mean() <= 0.5


def _bands_outside(unit: np.ndarray, axis: int) -> tuple[slice, slice]:
    """The lines of a 64-px plane (across `axis`: 0 columns, 1 rows) that the window `unit` leaves before and
    after it, less the line next to it, which squashing mixed of margin and picture (either may be empty)."""
    lo, hi = unit[axis, 2] * FINE, (unit[axis, 2] + unit[axis, axis]) * FINE
    return slice(0, int(np.floor(lo)) - 1), slice(int(np.ceil(hi)) + 1, FINE)


def _a_bar(outside: np.ndarray, edge: np.ndarray, ring: np.ndarray, rules: Rules) -> bool:
    """Whether a band left on one side only (its lines `outside`, the picture's first lines next to it `edge`,
    the picture's outermost lines all round `ring`) is a bar added to the picture (a status bar, a caption
    strip: `rules.bar_plain` of it one level, its caption aside), unlike the picture's edge next to it at all
    but `rules.bar_same` of the positions along it, and of a level found at no more than that share of the
    picture's rim: a trim of studio white next to an object that reaches the new edge leaves a band of the
    white that surrounds the object elsewhere."""
    level = float(np.median(outside))
    plain = float((np.abs(outside - level) <= rules.plain).mean())
    across = np.abs(np.median(outside, axis=0) - edge.mean(axis=0))
    return plain >= rules.bar_plain and (_caption(outside, edge, level, rules) or (
        float(across.mean()) > rules.unlike and (across <= rules.plain).mean() <= rules.bar_same
        and float((np.abs(ring - level) <= rules.plain).mean()) <= rules.bar_same))


def _caption(outside: np.ndarray, edge: np.ndarray, level: float, rules: Rules) -> bool:
    """Whether a band of the picture's own background holds writing apart from the picture: a caption on a
    strip the colour of the background it was added to. Along the band, `rules.caption_ink` of the positions
    or more have a line far from the band's level (`rules.unlike`) where the picture's edge next to them is
    plain at that level, `rules.caption_run` of them in a row at least (a word; stars cut off a night sky are
    dots): what a trim cuts off continues into the picture (an object cut through crosses the new edge), a
    caption stops at the strip."""
    ink = (np.abs(outside - level) > rules.unlike).any(axis=0) & (np.abs(edge - level) <= rules.plain).all(axis=0)
    return float(ink.mean()) >= rules.caption_ink and _longest_run(ink) >= rules.caption_run


def _longest_run(flags: np.ndarray) -> int:
    """The most True values of `flags` (1-d) in a row."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


def plain_frame(src: Frame, dst: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether the window `unit` leaves `src` in a plain frame too thin for bordered() at 64 px (a 3 % frame
    of a 300-px picture is under 2 px there): on `rules.frame_sides` sides or more, the rim lines of the
    margin (at the largest detail side, the last one, which mixes frame and picture, left out) vary along
    them by under `rules.frame_plain` of the contrast, where `dst`'s own edge lines vary by more than
    `rules.edge_varies`; with a margin on fewer sides, on each of them (a bar added to one side). A trim of
    studio white all round cuts white from white: its edge is as plain. With a margin on `rules.frame_sides`
    sides or more, a side also counts where the picture's edge varies only faintly (a star field, a night
    sky: `rules.edge_faint`) and the margin under `rules.frame_flatter` of that: a black frame round a dark
    picture is flatter than the darkest sky, whose stars and noise vary along every line."""
    depth = [int(np.floor(margin)) - 1 for margin in _rim_margins(src, unit)]  # rim lines of margin, per side
    sides = sum(lines >= 1 for lines in depth)
    all_round = sides >= rules.frame_sides
    framed = 0
    for k, lines in enumerate(depth):
        if lines >= 1:
            spread, edge = float(src.rim[k, 1, :lines].max()), float(dst.rim[k, 1, :2].min())  # along their lines
            framed += spread < rules.frame_plain and (
                edge > rules.edge_varies or (all_round and edge > rules.edge_faint and spread < rules.frame_flatter * edge))
    return sides > 0 and framed >= min(sides, rules.frame_sides)


def _rim_margins(src: Frame, unit: np.ndarray) -> list[float]:
    """How many rim lines (at the largest detail side) deep the window `unit` leaves a margin of `src` on each
    side: left, right, top, bottom, as the rim holds them."""
    w, h = src.sides(src.detail[0][0])
    margins = (unit[0, 2], 1 - unit[0, 2] - unit[0, 0], unit[1, 2], 1 - unit[1, 2] - unit[1, 1])
    return [margin * n for margin, n in zip(margins, (w, w, h, h))]


def filled(src: Frame, dst: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether the window `unit` leaves `src` on the picture blurred and stretched (a social network's fill)
    rather than trimmed: where the margin varies along its lines (no plain band, which bordered() judges) at
    least two rim lines deep past the three next to the picture, its fine detail as a share of `dst`'s own
    edge lines' is under `rules.min_frame_detail` on some side or, with a margin all round, under
    `rules.min_surround_detail` over those sides together. A trim continues the picture, whose edge has about
    as much detail as what was cut off; a fill has next to none, though a smooth picture's edge has little.
    A fill of a smooth picture can vary along its lines less than `rules.frame_spread`: a margin all round that
    varies at all (`rules.fill_spread`) is a fill too where, on every side, the edge lines next to it have
    detail (`rules.fill_edge_detail`) and it under `rules.min_frame_detail` of theirs."""
    sides, varying, faint = 0, [], 0
    for k, margin in enumerate(_rim_margins(src, unit)):
        lines = min(int(np.floor(margin)) - 3, RIM)  # the band's kernel carries the picture's edge 3 lines out
        if lines >= 2:
            sides += 1
            detail, spread = (float(src.rim[k, n, :lines].mean()) for n in (0, 1))
            edge = float(dst.rim[k, 0, 1:4].mean())
            if spread > rules.frame_spread:
                varying.append((detail, edge))
            faint += (spread > rules.fill_spread and edge >= rules.fill_edge_detail
                      and detail < rules.min_frame_detail * edge)
    if any(detail < rules.min_frame_detail * max(edge, 1e-6) for detail, edge in varying) or faint == 4:
        return True
    return (sides == 4 and bool(varying)
            and sum(d for d, _ in varying) < rules.min_surround_detail * max(sum(e for _, e in varying), 1e-6))


def framed(src: Frame, dst: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether what the window `unit` leaves of `src` is a frame round `dst`: a plain border or bar, a thin plain
    frame, or a blurred fill."""
    return bordered(src, unit, rules) or plain_frame(src, dst, unit, rules) or filled(src, dst, unit, rules)


def _own_plain_edges(src: Frame, dst: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether, on every side where the window `unit` leaves `src` a band (as bordered() reads them, at 64 px),
    `dst`'s own outer lines there are plain and of the margin's level (within `rules.plain` and `rules.unlike`):
    the margin then continues what `dst` has at its edge (a letterboxed photo trimmed, its bars cut through),
    which a frame round `dst` does not. A window refined without `dst`'s outer lines can be a line off, which
    the frame tests alone, reading the lines of `src` inside the window, take for a bar."""
    sides = 0
    for axis in (0, 1):  # 0: x (columns), 1: y (rows)
        lines = (src.fine.T if axis == 0 else src.fine).astype(np.float32)
        own = (dst.fine.T if axis == 0 else dst.fine).astype(np.float32)
        for band, edge in zip(_bands_outside(unit, axis), (own[:2], own[-2:])):
            if band.stop - band.start < 1:
                continue
            sides += 1
            if float(edge.std()) > rules.plain or abs(float(np.median(edge)) - float(np.median(lines[band]))) > rules.unlike:
                return False
    return sides > 0
