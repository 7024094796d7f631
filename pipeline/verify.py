"""Second stage: geometric verification of the pairs the embedding is unsure about.

At 64 px the encoder cannot tell a 50% crop of a photo from a look-alike photo, and look-alike star fields
crowd the top of its ranking. Local features can: ORB keypoints of both images at `side` px, matched with
Lowe's ratio test, then a RANSAC similarity transform (shift, scale, tilt: what crops, borders, resizes and
rotations do; the mirrored image is tried too). Many inliers under a sane transform: the same picture.
Plenty of keypoints on both sides and next to no inliers: different pictures. Anything else (flat images,
tiny thumbnails, missing files) leaves the embedding's verdict alone.

Only the grey zone is checked: pairs above the duplicate threshold that are under the match threshold or
among each image's k nearest within `radius`. Verified pairs move inside the match threshold, refuted ones
out to `radius` (2.5 times the match threshold unless set); every other distance is the embedding's.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from encoder.decode import DecodeError, open_image, read_bytes
from storage.db import in_chunks

from .ingest import label_for

cv2.setNumThreads(1)  # parallelism comes from the thread pool over pairs


@dataclass(frozen=True)
class Keypoints:
    points: np.ndarray  # (n, 2) float32, pixel positions at the working size
    descriptors: np.ndarray | None  # (n, 32) uint8 ORB descriptors

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class Verifier:
    side: int = 384  # working size: big enough for crops at half scale, small enough to decode in draft mode
    features: int = 1000
    ratio: float = 0.75  # Lowe's ratio test: a match must be clearly better than the second best
    min_inliers: int = 12  # RANSAC inliers that make a pair the same picture
    refute_below: int = 4  # fewer inliers than this, with `min_keypoints` on both sides: different pictures
    min_keypoints: int = 100
    max_scale: float = 4.0  # a transform shrinking or growing more than this is a degenerate fit

    def keypoints(self, path: str, mirrored: bool = False) -> tuple[Keypoints, Keypoints | None] | None:
        """ORB keypoints of an image and, if asked, of its mirror image; None if it cannot be read."""
        try:
            im, _ = open_image(read_bytes(path), draft_to=self.side)
        except DecodeError:
            return None
        im.thumbnail((self.side, self.side), Image.BILINEAR)
        gray = np.asarray(im.convert("L"))
        return self._detect(gray), self._detect(np.ascontiguousarray(gray[:, ::-1])) if mirrored else None

    def _detect(self, gray: np.ndarray) -> Keypoints:
        orb = cv2.ORB_create(nfeatures=self.features, fastThreshold=10)
        kps, des = orb.detectAndCompute(gray, None)
        return Keypoints(np.float32([k.pt for k in kps]).reshape(-1, 2), des)

    def inliers(self, a: Keypoints, b: Keypoints) -> int:
        """RANSAC inliers of the best similarity transform from a's keypoints to b's (0: no sane fit)."""
        if a.descriptors is None or b.descriptors is None or len(a) < 8 or len(b) < 8:
            return 0
        matches = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
        good = [m[0] for m in matches if len(m) == 2 and m[0].distance < self.ratio * m[1].distance]
        if len(good) < 6:
            return 0
        src = a.points[[m.queryIdx for m in good]]
        dst = b.points[[m.trainIdx for m in good]]
        transform, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, maxIters=2000,
                                                      ransacReprojThreshold=self.side / 150, confidence=0.995)
        if transform is None or mask is None:
            return 0
        scale = float(np.hypot(transform[0, 0], transform[0, 1]))
        if not 1 / self.max_scale <= scale <= self.max_scale:
            return 0
        return int(mask.sum())

    def verdict(self, a, b) -> int | None:
        """Inliers if the pair is verified (the same picture), -1 if refuted, None if the features cannot tell.
        a, b: `keypoints()` results; b's mirror image is tried too when it has one."""
        if a is None or b is None:
            return None
        best = self.inliers(a[0], b[0])
        if best < self.min_inliers and b[1] is not None:
            best = max(best, self.inliers(a[0], b[1]))  # a mirrored copy
        if best >= self.min_inliers:
            return best
        if best < self.refute_below and min(len(a[0]), len(b[0])) >= self.min_keypoints:
            return -1
        return None


def radius_for(settings, thresholds: dict) -> float:
    return settings.verify_radius or 2.5 * thresholds["match"]


def rescore(candidates: dict[tuple[int, int], float], paths: dict[int, str], thresholds: dict, radius: float,
            verifier: Verifier, threads: int, max_pairs: int, chunk: int = 4000) -> dict[tuple[int, int], float]:
    """{(a, b): distance after verification} for the candidate pairs whose verdict changes their distance.
    At most `max_pairs`, the closest first: a bound on what a sweep of a dense catalogue can cost.

    Pairs go in chunks sorted by image, so each chunk decodes its images once and memory stays bounded.
    The mirror image is needed on one side of a pair only (flipped and cropped copies: 15% of the dev
    benchmark's flip+text+resize family is found only that way)."""
    dup, match = thresholds["duplicate"], thresholds["match"]
    todo = [k for k, d in candidates.items() if dup < d <= radius and k[0] in paths and k[1] in paths]
    todo = sorted(sorted(todo, key=candidates.get)[:max_pairs])
    out = {}
    with ThreadPoolExecutor(threads) as pool:
        for part in in_chunks(todo, chunk):
            ids = sorted({i for pair in part for i in pair})
            mirrored = {b for _, b in part}
            feats = dict(zip(ids, pool.map(lambda i: verifier.keypoints(paths[i], i in mirrored), ids)))
            verdicts = pool.map(lambda pair: verifier.verdict(feats[pair[0]], feats[pair[1]]), part)
            for pair, v in zip(part, verdicts):
                d = candidates[pair]
                if v is None:
                    continue
                if v < 0:
                    out[pair] = max(d, radius)
                else:  # more inliers, closer to the duplicate threshold; never past it (a crop is no duplicate)
                    out[pair] = min(d, dup + (match - dup) * verifier.min_inliers / v)
    return out


def candidate_pairs(pairs, neighbors) -> dict[tuple[int, int], float]:
    """Every recorded pair and every (query, neighbour), keyed (low id, high id)."""
    found = {(a, b): d for a, b, d, _ in pairs}
    for q, n, d in neighbors:
        found.setdefault((min(q, n), max(q, n)), d)
    return found


def apply(res, candidates: dict, paths: dict[int, str], settings, neighbors: int) -> int:
    """Verify a ScanResult's grey zone in place: its pairs and its `neighbors` nearest per image take the
    distances after verification. Returns how many pairs were verified or refuted."""
    th = res.thresholds
    radius = radius_for(settings, th)
    changed = rescore(candidates, paths, th, radius, Verifier(), settings.threads, settings.verify_max_pairs)
    scored = {k: changed.get(k, d) for k, d in candidates.items()}
    res.pairs = sorted(((a, b, round(d, 6), label_for(d, th)) for (a, b), d in scored.items() if d <= th["match"]),
                       key=lambda p: (p[2], p[0], p[1]))
    if neighbors:
        per_query: dict[int, list] = {}
        for q, n, d in res.neighbors:
            per_query.setdefault(q, []).append((scored.get((min(q, n), max(q, n)), d), n))
        res.neighbors = [(q, n, d) for q, near in per_query.items() for d, n in sorted(near)[:neighbors]]
    else:
        res.neighbors = []
    return len(changed)
