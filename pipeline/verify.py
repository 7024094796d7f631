"""Second stage: geometric verification of the pairs the embedding is unsure about.

A small CPU encoder cannot always tell a 50% crop of a photo from a look-alike photo, and look-alike star
fields crowd the top of its ranking. Local features can: ORB keypoints of both images at `side` px, matched
both ways (each the other's nearest) and by Lowe's ratio test, then a RANSAC similarity transform (shift,
scale, tilt: what crops, borders, resizes and rotations do; the mirrored image is tried too). Many inliers
under a sane transform: the same picture.
Plenty of keypoints on both sides and next to no inliers: different pictures, unless their pixels say
otherwise first: a strongly blurred copy (no corners left for ORB) or a pixelated one (the corners of its
blocks, which match none of the picture's) is recognised by its pixels: their perceptual hashes agree, and
at 64 px in colour the sharper picture, blurred to match, equals the other, or both, blurred alike, equal
each other. Anything else (flat images, tiny thumbnails, missing files) leaves the embedding's verdict alone.

Only the grey zone is checked: pairs above the duplicate threshold (or, where the encoder was measured to
allow it, above `verify_from` times the match threshold: copies it is sure of) that are under the match
threshold or among each image's k nearest within `radius` (2.5 times the match threshold unless the settings
or the encoder say otherwise: a stronger embedding puts fewer copies far out). Verified pairs move inside the
match threshold, refuted ones out to `radius`; every other distance is the embedding's.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass

import cv2
import faiss
import numpy as np
from PIL import Image

from neardup.encoder import collage, phash
from neardup.encoder.decode import SIGNED, Kept, open_image, read_bytes
from neardup.errors import DecodeError
from neardup.storage.registry import in_chunks

from .groups import partners_of
from .labels import Frames, rows_in
from .recent import Recent
from .siblings import applied

cv2.setNumThreads(1)  # parallelism comes from the thread pool over pairs
VERDICT_LOGIC = 10  # bump when a change to the code below would change a verdict: stored ones are then not reused
MIN_SIDE = 16  # pictures narrower than this (at the working size) have no keypoints: ORB finds none under about
#   60 px, and a side of 1 px breaks its pyramid


@dataclass(frozen=True)
class Keypoints:
    points: np.ndarray  # (n, 2) float32, pixel positions at the working size
    descriptors: np.ndarray | None  # (n, 32) uint8 ORB descriptors
    width: int  # of the image they were found in (a first look is not enlarged to the working size)
    height: int

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class View:
    """What verification needs of one image: its keypoints, its mirror image's (if asked), a 64-px thumbnail."""
    straight: Keypoints
    mirrored: Keypoints | None
    thumb: np.ndarray  # (64, 64, 3) uint8, the whole picture squashed: colourfulness and the blurred-copy check
    coarse: bool = False  # looked at under the working size: a sharper look may decide what this one cannot
    cells: tuple[np.ndarray, ...] = ()  # a collage's cells (encoder/collage.py), squashed as `thumb` is (a first look)

    @functools.cached_property
    def cell_hashes(self) -> tuple[int, ...]:
        return tuple(phash.phash(cell) for cell in self.cells)

    @functools.cached_property
    def colour(self) -> float:
        """Mean |R-G| + |G-B|: 0 for grayscale, scaled by saturation edits (a global mean: 64 px do)."""
        rgb = self.thumb.astype(np.int16)
        return float(np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean())

    @functools.cached_property
    def phash(self) -> int:
        return phash.phash(self.thumb)


@dataclass(frozen=True)
class Fit:
    inliers: int  # RANSAC inliers of the similarity transform; 0: no sane fit
    same_frame: bool = False  # the whole picture at any size, no tilt, little shift: a re-encode or a trim


@dataclass(frozen=True)
class Verdict:
    same: bool  # verified the same picture (True) or refuted (False)
    inliers: int = 0
    duplicate: bool = False  # the same picture in the same frame and colours: a benign copy


@dataclass(frozen=True)
class Verifier:
    side: int = 384  # the working size: a first look shrinks a larger decode to it, a second look decodes to it
    features: int = 800  # ORB keypoints: at 256-384 px, 800 find the crops 500 found at 384-767 px
    ratio: float = 0.75  # Lowe's ratio test: a match must be clearly better than the second best
    min_inliers: int = 9  # RANSAC inliers that make a pair the same picture, of matches found both ways: a
    #   galaxy photo and a blurred copy of another reach 8 (seed 11, a pair the queue checks), and at 6
    #   unrelated pairs of the benchmark draws' scans pass (12 were needed with matches found one way)
    refute_below: int = 4  # fewer inliers than this, with `min_keypoints` on both sides: different pictures
    min_keypoints: int = 100
    max_scale: float = 4.0  # a transform shrinking or growing more than this is a degenerate fit
    frame_tolerance: float = 0.12  # same frame: scale and shift (of width, of height) within 12%, tilt < 2°
    colour_tolerance: float = 0.2  # same colours: colourfulness within 20%
    blur_hash_bits: int = 6  # a blurred or pixelated copy keeps its perceptual hash within this many bits (a
    #   256-px picture's 10-px blocks move it by 6; at 8 unrelated pairs pass: bench/verify_zones.py)
    blur_tolerance: float = 0.2  # ... and, blurred to match, differs by at most this RMS per unit of contrast
    alike_sigmas: tuple[float, ...] = (1.0, 1.5)  # the blurs (64-px pixels) under which a pixelated copy and its
    #   picture, both blurred, are compared: its 10-px blocks in a 1,024-px picture are under 1 px there
    blur_min_contrast: float = 6.0  # flatter thumbnails (RGB std, 0..255) are not judged: all flat pictures agree

    def key(self) -> str:
        """Names these settings and the verdict logic's version: stored verdicts are reused under it only."""
        return hashlib.sha256(repr((VERDICT_LOGIC, astuple(self))).encode()).hexdigest()[:16]

    def view(self, path: str, mirrored: bool = False, sharper: bool = False, kept: Kept | None = None) -> View | None:
        """Keypoints of an image and, if asked, of its mirror image; None if it cannot be read. A first look
        finds them in the decode the same-frame signature is made from (`kept`, where a scan kept it: the same
        pixels as decoding the file again, without the decode's cost), shrunk to the working size where larger.
        A `sharper` look, for a pair the first could not decide, decodes the file to the working size and
        enlarges what is still smaller to it (ORB's 31-px patches and borders leave a 100-px thumbnail next to no
        keypoints)."""
        try:
            if sharper:
                im = open_image(read_bytes(path), draft_to=self.side, keep_aspect=True)[0]
            else:
                im = kept.image if kept is not None else open_image(read_bytes(path), **SIGNED)[0]
        except DecodeError:
            return None
        boxes = kept.cells if kept is not None else None  # found in this decode when it was made
        if max(im.size) > self.side:
            im, boxes = im.copy(), None  # a kept decode stays as it is, for the signature
            im.thumbnail((self.side, self.side), Image.BILINEAR)
        coarse = max(im.size) < self.side
        if coarse and sharper:
            k = self.side / max(im.size)
            im = im.resize((max(1, round(im.width * k)), max(1, round(im.height * k))), Image.BICUBIC)
        cells = () if sharper else tuple(np.asarray(im.crop(box).resize((64, 64), Image.BOX))
                                         for box in (collage.cells(im) if boxes is None else boxes))
        straight, flipped = self._detect(np.asarray(im.convert("L")), mirrored)
        thumb = np.asarray(im.resize((64, 64), Image.BOX))
        return View(straight, flipped, thumb, coarse and not sharper, cells)

    def _detect(self, gray: np.ndarray, mirrored: bool = False) -> tuple[Keypoints, Keypoints | None]:
        """ORB keypoints, and those of the mirror image if asked; a soft or low-contrast image (strong blur,
        haze) is searched again at a lower corner threshold rather than left with too few to decide on. The
        mirror image's are the same corners mirrored (FAST and the corner score are symmetric), their
        orientation mirrored, described in the mirrored pixels: no second search."""
        for threshold in (10, 2):
            orb = cv2.ORB_create(nfeatures=self.features, fastThreshold=threshold)
            kps, des = orb.detectAndCompute(gray, None) if min(gray.shape) >= MIN_SIDE else ((), None)
            if len(kps) >= self.min_keypoints:
                break
        straight = Keypoints(np.float32(cv2.KeyPoint_convert(kps)).reshape(-1, 2), des, gray.shape[1], gray.shape[0])
        if not mirrored:
            return straight, None
        if not kps:  # nothing to mirror
            return straight, straight
        w, scale = gray.shape[1], orb.getScaleFactor()
        turned = [cv2.KeyPoint(_mirrored_x(k.pt[0], w, scale ** k.octave), k.pt[1], k.size, (180 - k.angle) % 360,
                               k.response, k.octave, k.class_id) for k in kps]
        turned, des = orb.compute(np.ascontiguousarray(gray[:, ::-1]), turned)
        return straight, Keypoints(np.float32(cv2.KeyPoint_convert(turned)).reshape(-1, 2), des, w, gray.shape[0])

    def matches(self, a: Keypoints, b: Keypoints) -> tuple[np.ndarray, np.ndarray]:
        """The indexes in a and in b of the keypoint pairs that pass the ratio test and are each other's nearest:
        between two star fields, or any two pictures of look-alike blobs, a keypoint's nearest is often a random
        one, which is seldom nearest the other way (matched one way only, two different galaxy photos of seed
        11 gave 13 inliers a RANSAC could fit). The way back is searched only for the keypoints of b the ratio
        test leaves: between different pictures, few (half a verdict's time went to searching all of them)."""
        nearest, distance = nearest_in(a.descriptors, b.descriptors, 2)
        passed = np.flatnonzero(distance[:, 0] < self.ratio * distance[:, 1])
        partners = nearest[passed, 0]
        asked = np.unique(partners)
        if not len(asked):
            return passed, partners
        back, _ = nearest_in(b.descriptors[asked], a.descriptors, 1)
        mutual = back[np.searchsorted(asked, partners), 0] == passed
        return passed[mutual], partners[mutual]

    def fit(self, a: Keypoints, b: Keypoints) -> Fit:
        """The best similarity transform from a's keypoints to b's, by RANSAC over their matches()."""
        if a.descriptors is None or b.descriptors is None or len(a) < 8 or len(b) < 8:
            return Fit(0)
        mine, theirs = self.matches(a, b)
        if len(mine) < 6:
            return Fit(0)
        src, dst = a.points[mine], b.points[theirs]
        transform, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, maxIters=2000,
                                                      ransacReprojThreshold=max(b.width, b.height) / 150,
                                                      confidence=0.995)
        if transform is None or mask is None:
            return Fit(0)
        scale = float(np.hypot(transform[0, 0], transform[0, 1]))
        if not 1 / self.max_scale <= scale <= self.max_scale:
            return Fit(0)
        tilt = abs(np.degrees(np.arctan2(transform[1, 0], transform[0, 0])))
        tol = self.frame_tolerance
        same_frame = (abs(scale * a.width / b.width - 1) <= tol and tilt < 2
                      and abs(transform[0, 2]) <= tol * b.width and abs(transform[1, 2]) <= tol * b.height)
        return Fit(int(mask.sum()), bool(same_frame))

    def verdict(self, a: View | None, b: View | None) -> Verdict | None:
        """Verified, refuted, or None where the features cannot tell. b's mirror image is tried too when
        it has one (a mirrored copy is never a benign duplicate)."""
        if a is None or b is None:
            return None
        best = self.fit(a.straight, b.straight)
        if best.inliers < self.min_inliers and b.mirrored is not None:
            flipped = self.fit(a.straight, b.mirrored)
            best = Fit(flipped.inliers) if flipped.inliers > best.inliers else best
        if best.inliers >= self.min_inliers:
            same_colours = abs(a.colour - b.colour) <= self.colour_tolerance * max(a.colour, b.colour) + 2
            return Verdict(True, best.inliers, best.same_frame and same_colours)
        if self.degraded_copy(a, b) or self.in_cell(a, b) or self.in_cell(b, a):  # verified at the match
            #   threshold's edge: a degraded copy or a collage's cell is no duplicate
            return Verdict(True, self.min_inliers)
        if best.inliers < self.refute_below and min(len(a.straight), len(b.straight)) >= self.min_keypoints:
            return Verdict(False)
        return None

    def in_cell(self, whole: View, other: View) -> bool:
        """Whether the other picture is one of the cells of `whole`, a collage (encoder/collage.py): its perceptual
        hash is the cell's (within phash.MAX_BITS) and, at 64 px in every colour channel, the two equal each other
        (as degraded_copy() compares). The keypoints of a cell, a fraction of the collage, are often too few."""
        for cell, bits in zip(whole.cells, whole.cell_hashes):
            if (other.phash ^ bits).bit_count() <= phash.MAX_BITS:
                x, y = cell.astype(np.float32), other.thumb.astype(np.float32)
                if min(x.std(), y.std()) >= self.blur_min_contrast and _rms(x, y) <= self.blur_tolerance * y.std():
                    return True
        return False

    def degraded_copy(self, a: View, b: View) -> bool:
        """Whether one picture is the other blurred (a strong blur leaves ORB no corners to match) or pixelated
        (ORB finds the corners of its blocks, which match none of the picture's): their perceptual hashes agree,
        and at 64 px in every colour channel either the sharper one, blurred by the best of a few strengths,
        equals the other, or both, blurred alike, equal each other. Asked before keypoints refute a pair. On
        five benchmark draws, the blurred copies keypoints left undecided differ from their originals by
        0.02-0.11 (RMS per unit of contrast), the closest unrelated undecided pair with hashes this close
        (look-alike nebulae) by 0.36."""
        if (a.phash ^ b.phash).bit_count() > self.blur_hash_bits:
            return False
        x, y = a.thumb.astype(np.float32), b.thumb.astype(np.float32)
        if min(x.std(), y.std()) < self.blur_min_contrast:
            return False
        for sigma in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0):  # in 64-px pixels; which side is sharper is unknown
            for sharp, soft in ((x, y), (y, x)):
                blurred = cv2.GaussianBlur(sharp, (0, 0), sigma) if sigma else sharp
                if _rms(blurred, soft) <= self.blur_tolerance * soft.std():
                    return True
        for sigma in self.alike_sigmas:
            p, q = (cv2.GaussianBlur(t, (0, 0), sigma) for t in (x, y))
            if _rms(p, q) <= self.blur_tolerance * min(p.std(), q.std()):
                return True
        return False


def _mirrored_x(x: float, width: int, scale: float) -> float:
    """Where a keypoint found at x lies in the mirror image, mirrored within its pyramid level (whose width
    ORB rounds): the descriptors are then those a search of the mirror image gives, not shifted by a fraction
    of a pixel at the coarser levels."""
    level = round(width / scale)
    return (level - 1 - x / scale) * scale


def _rms(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x - y) ** 2)))


def nearest_in(queries: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each query descriptor, the indexes and Hamming distances of its k nearest in `base` (exhaustive,
    by faiss: ~3x faster than OpenCV's brute-force matcher, which was nearly all of a verification's time)."""
    faiss.omp_set_num_threads(1)  # per thread in OpenMP: the callers are already one per core
    index = faiss.IndexBinaryFlat(base.shape[1] * 8)
    index.add(base)
    distance, nearest = index.search(queries, k)
    return nearest, distance


K, REACH = 10, 2.5  # what verification checks where neither the settings nor the encoder say otherwise


def settings_for(settings, info):
    """The settings with verification's `verify_k`, `verify_reach` and `verify_from` filled in where they are
    unset: what the encoder measured to need (its sidecar's "verification": a stronger embedding ranks copies
    near enough that fewer neighbours or a narrower grey zone do), else K, REACH and no pairs left unchecked."""
    own = info.verification
    return dataclasses.replace(settings, verify_k=first_set(settings.verify_k, own.get("k"), K),
                               verify_reach=first_set(settings.verify_reach, own.get("reach"), REACH),
                               verify_from=first_set(settings.verify_from, own.get("from"), 0.0))


def first_set(*values):
    return next(v for v in values if v is not None)


def radius_for(settings, thresholds: dict) -> float:
    """The farthest pair verification checks: the settings' radius, else their reach times the match threshold
    (the threshold in use: a collection's own thresholds move the grey zone with them)."""
    return settings.verify_radius or (settings.verify_reach or REACH) * thresholds["match"]


def checked_from(settings, thresholds: dict) -> float:
    """The nearest pair verification checks, exclusive: the duplicate threshold, or `verify_from` times the match
    threshold where that is farther. Nearer pairs are copies the embedding is sure of: where an encoder says so,
    no unrelated pair of the benchmark draws lies there, and verification only refuted true copies there
    (pixelated, small or flipped ones whose keypoints do not match; bench/verify_zones.py)."""
    return max(thresholds["duplicate"], (settings.verify_from or 0.0) * thresholds["match"])


def enabled(settings) -> bool:
    """Whether verification runs (verify_k unset: left to the encoder, which keeps it on)."""
    return bool(settings.verify) and settings.verify_k != 0


def neighbours_to_find(settings, neighbors: int) -> int:
    """How many nearest neighbours a scan or sweep must look up: those asked for, and verification's (its k
    past the neighbours that are duplicates already, up to k of them)."""
    return max(neighbors, 2 * settings.verify_k if enabled(settings) else 0)


def rescore(todo: dict[tuple[int, int], float], paths: dict[int, str], thresholds: dict, radius: float,
            verifier: Verifier, threads: int, max_pairs: int, known: "KnownVerdicts",
            chunk_images: int = 3000, decodes: Recent | None = None) -> dict[tuple[int, int], float]:
    """{(a, b): distance after verification} for the pairs of `todo` (pair: embedding distance, inf for a
    proposal the embedding did not rank) whose verdict changes their distance. Verdicts `known` from earlier
    runs are reused; at most `max_pairs` are reached anew, the closest first: a bound on what a sweep of a dense
    catalogue can cost, which moves on to further pairs as the nearer ones are stored.

    Pairs go in chunks sorted by image and naming at most `chunk_images` images (~60 KB of keypoints and
    thumbnail each), so each image is decoded once per chunk (once in all, in a scan of a few thousand) and
    memory stays bounded.
    The mirror image is needed on one side of a pair only (flipped and cropped copies: 15% of the dev
    benchmark's flip+text+resize family is found only that way)."""
    out = {}
    # each pair as verified: the mirror image is tried on the side with the greater content hash, so a verdict
    # does not depend on which image came first (ids are given in order of arrival)
    # (files of the same bytes need none)
    as_checked = {oriented(k, known.hashes): k for k in todo
                  if k[0] in paths and k[1] in paths and not same_bytes(k, known.hashes)}

    def settle(verdicts: dict) -> None:
        for pair, v in verdicts.items():
            if v is not None:
                k = as_checked[pair]
                out[k] = distance_after(v, todo[k], thresholds, radius, verifier.min_inliers)

    # a pair of the same two contents as a pair verified here (copies of copies) takes that pair's verdict
    fresh, first, twins = [], {}, {}
    for part in in_chunks(sorted(as_checked, key=lambda o: todo[as_checked[o]]), 50_000):
        stored = known.get(part)  # looked up a part at a time: bounded memory
        settle(stored)
        keys = known.keys(part)
        for k in (k for k in part if k not in stored):
            key = keys.get(k, k)
            if key in first:
                twins[k] = first[key]
            elif len(fresh) < max_pairs:
                first[key] = k
                fresh.append(k)
    verdicts, wanted = {}, set(twins.values())
    with ThreadPoolExecutor(threads) as pool:
        for part in by_images(sorted(fresh), chunk_images):
            mirrored = {b for _, b in part}
            views = _views({i for pair in part for i in pair}, paths, mirrored, verifier, pool, hashes=known.hashes,
                           decodes=decodes)
            reached = _verdicts(part, views, verifier, pool)
            undecided = [p for p, v in reached.items() if v is None and any(views[i] and views[i].coarse for i in p)]
            reached.update(_looked_at_sharper(undecided, views, paths, mirrored, verifier, pool, known.hashes))
            # not where a file could not be read: it may be back by the next run
            known.put({p: v for p, v in reached.items() if views[p[0]] and views[p[1]]})
            settle(reached)
            verdicts.update((p, v) for p, v in reached.items() if p in wanted)
    settle({k: verdicts.get(rep) for k, rep in twins.items()})
    return out


def same_bytes(pair: tuple[int, int], hashes: dict[int, str]) -> bool:
    """Whether the pair's two files hold the same bytes: one picture, nothing to verify."""
    a, b = (hashes.get(i) for i in pair)
    return a is not None and a == b


def oriented(pair: tuple[int, int], hashes: dict[int, str]) -> tuple[int, int]:
    """The pair with the image of the greater content hash second (the side whose mirror image is tried)."""
    a, b = pair
    return pair if hashes.get(a, "") <= hashes.get(b, "") else (b, a)


def distance_after(v: Verdict, d: float, thresholds: dict, radius: float, min_inliers: int) -> float:
    """A pair's distance once verified or refuted (d: the embedding's). A benign copy (same frame and colours)
    is a duplicate wherever the embedding put it (a trim or heavy re-encode can land past the match
    threshold); any other verified pair lands inside the match threshold, closer with more inliers but never
    past the duplicate threshold (a crop is no duplicate); a refuted pair moves out to `radius`."""
    dup, match = thresholds["duplicate"], thresholds["match"]
    if not v.same:
        return max(d, radius)
    if v.duplicate:
        return dup
    return min(d, dup + (match - dup) * min_inliers / v.inliers)


class KnownVerdicts:
    """Verdicts reached before, kept in the registry by the two pictures' content hashes: a nightly sweep
    meets the same grey zone every night, and a verdict depends on the two files and the verifier's settings
    only, never on the model, so it also outlives a model roll-out."""

    def __init__(self, registry, hashes: dict[int, str], verifier: Verifier):
        self.registry, self.hashes, self.verifier = registry, hashes, verifier.key()

    def keys(self, pairs) -> dict[tuple[int, int], tuple[str, str]]:
        """{pair: its two images' content hashes}, for the pairs whose images both have one."""
        return {(a, b): (self.hashes[a], self.hashes[b]) for a, b in pairs if self.hashes.get(a) and self.hashes.get(b)}

    def get(self, pairs) -> dict[tuple[int, int], Verdict | None]:
        keys = self.keys(pairs)
        stored = self.registry.verdicts(keys.values(), self.verifier)
        return {p: None if stored[k][0] is None else Verdict(*stored[k]) for p, k in keys.items() if k in stored}

    def put(self, verdicts: dict[tuple[int, int], Verdict | None]) -> None:
        keys = self.keys(verdicts)
        self.registry.store_verdicts(self.verifier, {
            keys[p]: (None, 0, False) if v is None else (v.same, v.inliers, v.duplicate)
            for p, v in verdicts.items() if p in keys})


VIEWS = Recent(1000)  # the views of the images verified last, by content and how they were made: a verify
#   worker meets an original in the pairs of batch after batch and decodes it once (~50 KB a view)


def _views(ids, paths, mirrored, verifier: Verifier, pool, sharper: bool = False, hashes=None,
           decodes: Recent | None = None) -> dict:
    """The views of images `ids`: remembered (VIEWS), else made from the decode a scan kept of their bytes
    (`decodes`, by content hash), else from their files."""
    hashes = hashes or {}
    settings = verifier.key()

    def key(i):
        return hashes[i], i in mirrored, sharper, settings

    ids = sorted(ids)
    views = {i: VIEWS.get(key(i)) for i in ids if hashes.get(i)}
    todo: dict = {}  # one decode per content: files of the same bytes share it
    for i in ids:
        if views.get(i) is None:
            todo.setdefault(key(i) if hashes.get(i) else i, []).append(i)

    def made(same):
        reuse = decodes is not None and not sharper and hashes.get(same[0])
        kept = decodes.get(hashes[same[0]]) if reuse else None
        return verifier.view(paths[same[0]], same[0] in mirrored, sharper, kept=kept)

    for same, view in zip(todo.values(), pool.map(made, todo.values())):
        views.update((i, view) for i in same)
        if view is not None and hashes.get(same[0]):
            VIEWS.put(key(same[0]), view)
    return views


def _verdicts(pairs, views: dict, verifier: Verifier, pool) -> dict:
    return dict(zip(pairs, pool.map(lambda pair: verifier.verdict(views[pair[0]], views[pair[1]]), pairs)))


def _looked_at_sharper(pairs, views: dict, paths, mirrored, verifier: Verifier, pool, hashes=None) -> dict:
    """The pairs among `pairs` that verification confirms once their images first looked at under the working
    size are looked at again at it (only those are decoded again): a crop of a 1,024-px photo drafted to 281 px
    keeps fewer corners than at 384, a thumbnail none until enlarged. Only confirmations count: an enlarged
    JPEG's blocks give keypoints that refute what they should not (dev benchmark, scaling every small image up:
    crop+jpeg30 0.81 -> 0.76)."""
    coarse = {i for pair in pairs for i in pair if views[i].coarse}
    sharper = {**views, **_views(coarse, paths, mirrored, verifier, pool, sharper=True, hashes=hashes)}
    return {pair: v for pair, v in _verdicts(pairs, sharper, verifier, pool).items() if v is not None and v.same}


def by_images(pairs, most: int):
    """Consecutive runs of `pairs` that name at most `most` distinct images each."""
    part, seen = [], set()
    for pair in pairs:
        if part and len(seen | set(pair)) > most:
            yield part
            part, seen = [], set()
        part.append(pair)
        seen.update(pair)
    if part:
        yield part


def candidate_pairs(pairs, neighbors, k: int, settled: float = -1.0) -> dict[tuple[int, int], float]:
    """Every recorded pair and every query's k nearest neighbours, not counting those at or under `settled`
    (duplicates already, which need no check: a photo with six copies would spend its k on them and never
    reach a further copy), keyed (low id, high id). (A caller may have asked for more neighbours than
    verification checks.)"""
    found = {(a, b): d for a, b, d, _ in pairs}
    for q, n, d in nearest_per_query(neighbors, k, settled):
        found.setdefault((min(q, n), max(q, n)), d)
    return found


def nearest_per_query(neighbors, k: int, beyond: float = -1.0) -> list[tuple[int, int, float]]:
    """The k nearest of each query's (query, neighbour, distance) rows, queries in first-seen order, and
    before them any at or under `beyond`, uncounted."""
    per_query: dict[int, list] = {}
    for q, n, d in neighbors:
        per_query.setdefault(q, []).append((d, n))
    out = []
    for q, near in per_query.items():
        near.sort()
        out += [(q, n, d) for d, n in near[:kept_past((d for d, _ in near), k, beyond)]]
    return out


def checked_of(nearest, settings, thresholds: dict) -> list:
    """Of one image's ascending (neighbour, distance) list, those verification would check: within its radius,
    its k past the neighbours that are duplicates already (what a sweep keeps when it writes no neighbours)."""
    radius = radius_for(settings, thresholds)
    within = [(n, d) for n, d in nearest if d <= radius]
    return within[:kept_past((d for _, d in within), settings.verify_k, thresholds["duplicate"])]


def kept_past(distances, k: int, beyond: float) -> int:
    """How many of a query's ascending neighbour distances make its k nearest past those at or under `beyond`
    (which come first, uncounted)."""
    return sum(1 for d in distances if d <= beyond) + k


def second_hop(scored: dict, match: float, most: int = 20) -> set[tuple[int, int]]:
    """Pairs two flagged pairs apart (a~b and b~c: a, c), through images with at most `most` partners: a
    heavy crop the embedding puts far from its original is often near another copy."""
    partners = partners_of(k for k, d in scored.items() if d <= match)
    return {(a, c) for near in partners.values() if len(near) <= most for a in near for c in near if a < c}


def candidates_for(pairs, neighbors, settings, thresholds: dict) -> dict[tuple[int, int], float]:
    """A scan's or sweep's `candidate_pairs` as verification counts them (its k, past the duplicates): computed
    once, for the proposals and for `apply`."""
    return candidate_pairs(pairs, neighbors, settings.verify_k, thresholds["duplicate"])


def hash_pairs(registry, collection: str, scope=None) -> set[tuple[int, int]]:
    """Pairs of images (in `scope`, if given) where the perceptual hash (encoder/phash.py) of one is within
    2 bits of the hash of the other or of one of its flips and quarter turns."""
    stored = registry.vectors_by_image(collection, phash.KEY)
    ids = [i for i in stored if scope is None or i in scope]
    return phash.near_pairs(np.array(ids, np.int64), [phash.from_stored(stored[i]) for i in ids])


def batch_hash_pairs(registry, collection: str, batch, unstored: dict[int, np.ndarray] | None = None
                     ) -> set[tuple[int, int]]:
    """The pairs of hash_pairs() with one of `batch`, read from the registry's buckets of the batch's hashes
    alone, not from every hash of the collection (the queue's verify step, batch after batch). `unstored`:
    {id: hashes (phash.dihedral())} of pictures the registry does not hold (a search's query), in the batch too."""
    fill_hash_buckets(registry)
    mine = [phash.from_stored(v) for v in registry.vectors_by_image(collection, phash.KEY, sorted(batch)).values()]
    unstored = unstored or {}
    keys = {(c, v) for hashes in [*mine, *unstored.values()] for c, v, _, _ in phash.buckets(hashes)}
    members, crowded = registry.hash_bucket_members(collection, keys, phash.MAX_BUCKET)
    members |= {(i, h, o) for i, hashes in unstored.items() for _, _, h, o in phash.buckets(hashes)}
    if not members:
        return set()
    ids, hashes, own = (np.array(column) for column in zip(*sorted(members)))
    return phash.pairs_among(ids.astype(np.int64), own.astype(bool), hashes.astype(np.int64).view(np.uint64),
                             among={*batch, *unstored}, crowded=crowded)


FILL_EVERY = 600.0  # seconds between two searches of a registry for hashes kept without their buckets
_FILLED: dict[str, float] = {}  # registry URL: when this process last completed its buckets (time.monotonic())


def fill_hash_buckets(registry) -> None:
    """Bucket rows for the files whose perceptual hashes were kept without them: before there were buckets,
    or, during a rolling upgrade, by a worker of an older release. At a process's first batch and every
    FILL_EVERY seconds after, so a hash kept by the last old worker has its buckets within that time."""
    url = str(registry.engine.url)
    if time.monotonic() - _FILLED.get(url, -FILL_EVERY) < FILL_EVERY:
        return
    for part in in_chunks(registry.lacking_hash_buckets(phash.KEY), 2000):
        registry.store_hash_buckets({h: phash.buckets(phash.from_stored(np.frombuffer(b, np.float32)))
                                     for h, b in registry.blobs_for(phash.KEY, part).items()})
    _FILLED[url] = time.monotonic()


def second_stage(rt, settings, res, scope, neighbors: int) -> int:
    """The second stage of a scan or a sweep, in place on its ScanResult: candidates from its pairs and
    neighbours, proposals from perceptual hashes among `scope` (image ids), all verified in one round.
    `settings`: settings_for() the scan's encoder. Returns how many pairs verification changed."""
    if not enabled(settings):
        return 0
    th = res.thresholds
    candidates = candidates_for(res.pairs, res.neighbors, settings, th)
    proposed = hash_pairs(rt.registry, res.collection, scope)
    unseen = {i for pair in proposed for i in pair} - set(res.images)
    res.images.update({r.id: r for r in rt.registry.images(ids=sorted(unseen))} if unseen else {})
    return apply(rt, res, settings, neighbors, candidates, proposed)


def apply(rt, res, settings, neighbors: int, candidates: dict, proposed=frozenset()) -> int:
    """Verify a ScanResult's grey zone in place: its pairs and its `neighbors` nearest per image take the
    distances after verification (`settle`). Returns how many pairs verification changed."""
    out = settle(res.images, res.thresholds, settings, rt.registry, candidates, proposed, decodes=rt.decodes)
    res.pairs = labelled(rt, res.images, out.kept, res.thresholds)
    rescored = [(q, n, out.scored.get((min(q, n), max(q, n)), d)) for q, n, d in res.neighbors]
    both_ways = [row for (a, b), d in out.joined.items() for row in ((a, b, d), (b, a, d))]
    res.neighbors = nearest_per_query(rescored + both_ways, neighbors) if neighbors else []
    return out.changed


@dataclass
class Settled:
    scored: dict  # (a, b): distance after verification, for every candidate and every pair verification joined
    joined: dict  # the pairs the embedding did not rank that verification found
    examined: set  # the pairs flagged by the embedding or checked: candidates, proposals, pairs two apart
    changed: int  # pairs whose distance verification changed
    match: float  # the match threshold: the pairs kept are those at or under it

    @property
    def kept(self) -> dict:
        return {k: d for k, d in self.scored.items() if d <= self.match}


def settle(images: dict, th: dict, settings, registry, candidates: dict, proposed=frozenset(),
           context: dict | None = None, decodes: Recent | None = None) -> Settled:
    """The grey zone of `candidates` (`candidates_for` some pairs and neighbours) and the `proposed` pairs
    (perceptual-hash neighbours), checked in one round so each image is decoded once; then pairs
    two flagged pairs apart, counting the `context` pairs (flagged before, not checked again). Pairs the
    embedding did not rank join when verified, at the verified distance. `images` must hold the rows of
    every image these pairs name. Verdicts are stored by content in the `registry` and reused."""
    radius = radius_for(settings, th)
    paths = {i: r.path for i, r in images.items()}
    verifier = Verifier()
    known = KnownVerdicts(registry, {i: r.content_hash for i, r in images.items()}, verifier)
    nearest = checked_from(settings, th)
    settled = {k for k, d in candidates.items() if d <= nearest}  # sure already: nothing to check
    todo = {k: d for k, d in candidates.items() if nearest < d <= radius}
    todo.update({k: float("inf") for k in proposed if k not in settled and k not in todo})

    def check(pairs: dict) -> dict:
        return rescore(pairs, paths, th, radius, verifier, settings.threads, settings.verify_max_pairs, known,
                       decodes=decodes)

    changed = check(todo)
    scored = {k: changed.get(k, d) for k, d in candidates.items()}
    joined = {k: d for k, d in changed.items() if k not in candidates and d <= th["match"]}
    scored.update(joined)
    context = context or {}
    two_apart = second_hop({**context, **scored}, th["match"]) - second_hop(context, th["match"])
    hops = {k: float("inf") for k in two_apart if k not in settled and k not in todo and k not in context}
    hopped = {k: d for k, d in check(hops).items() if d <= th["match"]}
    scored.update(hopped)
    joined.update(hopped)
    # examined: what the embedding flagged and what was checked (a far candidate left unchecked says nothing)
    examined = {k for k, d in candidates.items() if d <= th["match"]} | {
        k for k in (*todo, *hops) if k[0] in paths and k[1] in paths}
    return Settled(scored, joined, examined, len(changed) + len(hopped), th["match"])


def labelled(rt, images: dict, kept: dict, th: dict, grouped: bool = True) -> list[tuple[int, int, float, str]]:
    """(a, b, distance, label) of pairs {(a, b): distance}, nearest first: duplicate only where the two
    pictures share their frame (pipeline/labels.py) and, where `grouped`, no larger copies show an edit that one
    of them hides (pipeline/siblings.py; a queue step judges that with the stored pairs round its own)."""
    frames = Frames(rt, rows_in(images, kept))
    frames.check_ahead(kept)
    pairs = [(a, b, round(d, 6), frames.label(a, b, d, th)) for (a, b), d in kept.items()]
    pairs = applied(pairs, frames) if grouped else pairs
    frames.keep()
    return sorted(pairs, key=lambda p: (p[2], p[0], p[1]))
