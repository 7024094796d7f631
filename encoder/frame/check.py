"""The verdict on a pair of copies: a duplicate where no measure fails, else the reason it is a match, in
the order the measures run (difference()), and as the report tells it (explained())."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from .align import IDENTITY, TRIM_SOFTEN, Fit, _score, _trims, _within, aligned, refined, rotation, stretch, turn
from .compare import (
    _cheap,
    _clipped_cells,
    _differences,
    _failing,
    _fine_agrees,
    _in_common,
    _same_direction,
    cast,
    chroma_agrees,
    vignetting,
)
from .geometry import moved
from .margins import _own_plain_edges, framed
from .rules import LENIENT, RULES, WHOLE_PICTURE, Rules
from .signature import Frame

CHECKER = hashlib.sha256(repr(RULES).encode() + b"".join(
    p.read_bytes() for p in sorted(Path(__file__).parent.glob("*.py")))).hexdigest()[:16]  # the check's version:
#   its rules and code (this package's sources, the signature's key among them), under which its results are
#   stored (pipeline/labels.py); any change to them, and they are made again
TOLD = hashlib.sha256(b"explained " + CHECKER.encode()).hexdigest()[:16]  # ... and explained()'s
FRAME_FIT_MARGIN = 3  # lines of the 64-px trim left out when its window is refined for the frame tests (framed())


def same_frame(a: Frame | None, b: Frame | None, rules: Rules = RULES) -> bool:
    """Whether a pair of copies is a duplicate (True) rather than a match; no signature: not a duplicate."""
    return difference(a, b, rules) is None


def difference(a: Frame | None, b: Frame | None, rules: Rules = RULES) -> str | None:
    """Why a pair of copies is a match rather than a duplicate, as a key of WHY (None: a duplicate).
    The cheap measures first, then the pictures as they are (passing loosely, also any trim that fits better,
    for a frame it leaves), else the search over trims (the better way first,
    then the other, unless the first found a frame: one picture a trim of the other either way round); for what
    still looks a duplicate or a trim slightly off, the alignment refined at 64 px (turned or mirrored: a match;
    a border added: a match; a trim: compared again, better aligned); last, the detail's direction (untrimmed
    pairs), the chroma, overlays and the 64-px agreement, and the brightness in proportion (a vignette). A pair
    no trim explains is told by what its best trim fails, else by what the pictures as they are fail."""
    return _compared(a, b, rules)[0]


def framed_round(a: Frame | None, b: Frame | None) -> Frame | None:
    """The one of the two pictures a frame is round (a border, a bar, a fill), where the check finds one, also
    asked as explained() asks again (LENIENT): the picture the other's window lies in. A frame adds pixels, so
    the keeper of a group needs to know."""
    for rules in (RULES, *LENIENT):
        why, where = _compared(a, b, rules)
        if why == "frame":
            return where
    return None


def _compared(a: Frame | None, b: Frame | None, rules: Rules) -> tuple[str | None, Frame | None]:
    """difference(), and the picture the alignment that decided it lies in (a trim's larger picture)."""
    if a is None or b is None:
        return "unchecked", None
    if a.grid.tobytes() > b.grid.tobytes():  # one order, so the verdict does not depend on which came first
        a, b = b, a
    if a.plain and b.plain:  # nothing to align, sharpen or fit brightness by: their shape and colour only
        return _plain_difference(a, b, rules), None
    m = _cheap(a, b, rules)
    why = _failing(m, rules)
    if why:
        return why, None
    fit = _score(a, b)
    as_is = _fits(m, fit, False, rules) if m["aspect"] <= rules.max_stretch else "shape"
    if as_is is None:  # other shapes: only as a trim
        why = _judged(m, (fit, a, b, IDENTITY), a, b, rules)
        if why is None and fit.rms > rules.settled:  # a picture in a frame of a few per cent passes as it is too,
            #   loosely, when the refinement from the whole picture misses the window: a trim (less than TRIMMED
            #   of a side) that fits better is asked whether it leaves a frame
            for trim in aligned(a, b, rules.max_trim, rules.max_profile_error):
                if _trims(trim[3]) and trim[0].rms < fit.rms and _judged(m, trim, a, b, rules) == "frame":
                    return "frame", trim[1]
        return why, a
    if fit.rms > rules.search_above:  # too different for a trim to explain: not worth the search
        return as_is, None
    first = None
    for trim in aligned(a, b, rules.max_trim, rules.max_profile_error):  # the better way first
        why = _judged(m, trim, a, b, rules)
        if why is None or why == "frame":
            return why, trim[1]
        first = first or why
    return first or as_is, None


def _plain_difference(a: Frame, b: Frame, rules: Rules) -> str | None:
    """difference() of two solid colours: another shape, else another colour (rules.plain_colour)."""
    if abs(float(np.log(a.aspect / b.aspect))) > rules.max_aspect_change:
        return "shape"
    shift = np.abs(a.grid.mean(axis=(0, 1)) - b.grid.mean(axis=(0, 1))).max()
    return "colour" if shift > rules.plain_colour else None


UNKNOWN = object()  # explained()'s `known`: difference() of the pair not asked yet


def explained(a: Frame | None, b: Frame | None, known=UNKNOWN) -> str | None:
    """difference(), for the person who looks at the pair (`known`: difference(a, b), where the caller has it).
    A measure of the whole picture that fails first (its colours, contrast, sharpness or tones: WHOLE_PICTURE),
    or its shape, can be what a border, a crop or a turn did to it, so the pair is asked again without those
    measures, with every trim tried, then wider trims too (LENIENT: a border of 15 %). A frame or a turn found
    then is the reason; so is another shape where a whole-picture measure failed, and for a softer picture a
    picture that does not fit at all (a crop, enlarged, is softer). Last, pictures whose colour grids do not fit
    ("content") but whose 64-px gray pictures agree differ in colour. A pair told by its shape or its content
    is then asked how it moved (geometry.py): mirrored, turned by quarter turns, or cropped."""
    why = difference(a, b) if known is UNKNOWN else known
    how = functools.cache(lambda: moved(a, b))  # asked once at most: its template search is most of the cost
    unlike = False  # the pictures do not fit even without the whole-picture measures
    for rules in LENIENT if why in (*WHOLE_PICTURE, "shape") else ():
        other = difference(a, b, rules)
        if (other in ("frame", "turned") or (why != "shape" and other == "shape")
                or (why, other) == ("sharpness", "content")):
            return _how_moved(how, other)
        unlike = unlike or other == "content"
    if unlike and how():  # a picture in a collage of its own shape, whose colours differ
        return how()
    why = _how_moved(how, why)
    if why == "content":
        local, rms = _differences(a, b, None)[0]
        if local <= RULES.max_overlay and rms <= RULES.max_fine_residual:
            return "colour"
    return why


def _how_moved(how, why: str | None) -> str | None:
    """`why`, unless it is the pair's shape or content and the pair shows how one of them moved (`how()`, the
    pair's moved()): mirrored, turned by quarter turns, cropped (geometry.py)."""
    return (why in ("shape", "content") and how()) or why


def edited(a: Frame | None, b: Frame | None) -> bool:
    """Whether `b` is `a` edited in a way the check tells the direction of: blurred (a match for its sharpness,
    `b` the softer at the largest side both were measured at) or framed (a match for a frame, round `b`)."""
    if a is None or b is None:
        return False
    why = explained(a, b)
    if why == "sharpness":
        common = _in_common(a, b)
        return bool(common) and common[0][2] < common[0][1]
    return why == "frame" and framed_round(a, b) is b


def _judged(m: dict, alignment: tuple[Fit, Frame, Frame, np.ndarray], a: Frame, b: Frame,
            rules: Rules) -> str | None:
    """difference() for one alignment of the pair (fit, larger picture, trim, window); "frame" where what the
    window leaves is a frame (framed()): then the pair is a match whichever way round it is tried next (a copy in
    a blurred fill, squashed into a window of the picture, can pass for a trim of it)."""
    fit, src, dst, unit = alignment
    why = _fits(m, fit, src is b, rules)
    if why and fit.rms > rules.refine_below:  # too far off to be a trim
        return why
    fine = [(src, dst, unit), None]  # the fine comparison's alignments: the grids', else its own trim fit (the
    #   grids' first: a settled pair needs no warp, and most pass there)
    soften, better, level = 0.0, None, False  # level: the 128-px fit found no turn
    if unit is not IDENTITY or fit.rms > rules.settled:  # closer as they are: no turn or mirror, nothing to refine
        better = refined(src, dst, unit)
        unsure = better is not None and rules.max_rotation < rotation(better) <= 2 * rules.max_rotation
        if unsure and turn(better) <= rules.max_turn:  # a turn the 64-px fit is unsure of: the 128-px fit decides
            finer = refined(src, dst, better, finer=True)
            if finer is not None and rotation(finer) <= rules.max_fine_rotation:  # as in _turned_slightly()
                better, level = finer, True
        if better is not None and (turn(better) > rules.max_turn or rotation(better) > rules.max_rotation):
            return "turned"
        within = better is not None and _within(better, rules.max_trim)
        if framed(src, dst, better if within else unit, rules):  # not refined, or past max_trim: the search's own
            return "frame"  # window is judged
        if unit is not IDENTITY:
            # again without dst's outer lines: squashed to 64 px, a frame of a few per cent mixes into the lines of
            #   the picture next to it, and a fit over those lines can pull the window off the frame into the
            #   picture (a 4 % black frame round a landscape refined to 0.91 x 0.88 of the framed picture, not
            #   0.96 x 0.93: what is left outside it is then no plain band)
            edge_free = refined(src, dst, unit, FRAME_FIT_MARGIN)
            if (edge_free is not None and _within(edge_free, rules.max_trim) and framed(src, dst, edge_free, rules)
                    and not _own_plain_edges(src, dst, edge_free, rules)):
                return "frame"
        closer = _score(src, dst, better) if within else None
        # the pictures as they are, refined to fit them worse, drifted (along a tall, thin picture's long side,
        #   squashed to 64 px); a trim's refinement is kept: the search's window lies on a step of 1 %
        if closer is not None and (unit is not IDENTITY or closer.rms <= fit.rms):
            fit = min(fit, closer, key=lambda f: f.rms)
            fine, unit = [(src, dst, better)], better
            soften = TRIM_SOFTEN if _trims(better) else 0.0
    if why := _fits(m, fit, src is b, rules):
        return why
    if not stretch(src, dst, unit) <= rules.max_stretch:
        return "shape"
    if not _same_direction(m, unit, rules):
        return "sharpness"
    if not chroma_agrees(src, dst, unit, rules) or cast(src, dst, unit) > rules.max_cast:
        return "colour"
    clipped = _clipped_cells(src, dst, unit)  # fine's first alignment's: the overlay and vignette tests skip them
    if not _fine_agrees(a, b, fine, rules, soften, clipped):
        return "overlay"
    if vignetting(src, dst, unit, clipped) > rules.max_vignette:
        return "vignette"
    return "turned" if not level and _turned_slightly(src, dst, unit, better, rules) else None


def _turned_slightly(src: Frame, dst: Frame, unit: np.ndarray, coarse: np.ndarray | None, rules: Rules) -> bool:
    """Whether a pair that passes every other test is turned by about a degree, under what the 64-px refinement
    tells from a benign pair's (rules.max_rotation): where that refinement (`coarse`, made here for a pair that
    settled without one) turns it by rules.slight_turn or more, it is refined again at 128 px, which measures
    a turn to half the error. Last, as it costs a refinement that most duplicates were spared."""
    coarse = refined(src, dst, unit) if coarse is None else coarse
    if coarse is None or rotation(coarse) < rules.slight_turn:
        return False
    finer = refined(src, dst, coarse, finer=True)
    return finer is not None and rotation(finer) > rules.max_fine_rotation


def _fits(m: dict, fit: Fit, flipped: bool, rules: Rules) -> str | None:
    """What the cheap measures `m` with a fit of the grids (of b to a if `flipped`) fail first (_failing), if any."""
    return _failing({**m, **fit._replace(gain=1 / max(fit.gain, 1e-6) if flipped else fit.gain)._asdict()}, rules)
