#!/usr/bin/env python3
"""How far each kind of copy moves a picture's tones (signature.Frame.tones: each channel's mean and spread
over the 32-px grid) from its original's, on a benchmark folder with truth.json: the measure behind the
keeper's SAME_TONES (pipeline/groups.py), which tells the unadjusted copies of a set sharing a frame from the
brightened, recoloured or given more contrast. Per kind: the median, 90th percentile and largest distance
(the largest change of one of the six, in levels of 0..255), and the share within SAME_TONES. Prints a table,
writes JSON. What the keeper then picks is `bench/quality.py`'s "suggested keepers" line.

Also, for each copy of its original's shape whose long side differs from the original's by ENLARGED_FROM or
more, whether the larger of the two looks enlarged from the smaller: the log of the ratio of their Laplacian
energies per pixel (each at its own full size) over the log of the ratio of their pixel counts, inverted. An
enlargement by a smooth interpolation adds pixels and no detail: about 2. A photo keeps about as much detail
per pixel at every size: about 0, but a soft one is an enlargement of its own sharper detail. Where the two
kinds overlap, the keeper cannot prefer the smaller copy without losing some originals.

  bench/keepers.py [--bench bench-data/dev] [--json bench/results/keepers.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ENLARGED_FROM = 1.15  # the least ratio of long sides judged: nearer sizes hold too little detail to tell apart


def laplacian_energy(path: Path) -> tuple[float, tuple[int, int]]:
    """The mean squared 4-neighbour Laplacian of a picture's gray levels at its full size, and that size."""
    from PIL import Image

    with Image.open(path) as im:
        y = np.asarray(im.convert("L"), np.float32)
    lap = 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
    return float((lap ** 2).mean()), (y.shape[1], y.shape[0])


def enlargement(larger: tuple[float, tuple[int, int]], smaller: tuple[float, tuple[int, int]]) -> float | None:
    """laplacian_energy() of two pictures, the one with more pixels first, to how enlarged it looks from the
    other (2: by a smooth interpolation; about 0: a photo and its reduction), None where their shapes or sizes
    are too near."""
    (e_large, large), (e_small, small) = larger, smaller
    if abs(np.log(large[0] / large[1]) - np.log(small[0] / small[1])) > 0.01 or \
            max(large) < ENLARGED_FROM * max(small):
        return None
    return float(np.log(max(e_large, 1e-6) / max(e_small, 1e-6)) / np.log(small[0] * small[1] / (large[0] * large[1])))


def main() -> None:
    from neardup.encoder.decode import read_bytes, signature_of
    from neardup.pipeline.groups import SAME_TONES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=REPO / "bench-data" / "dev")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "keepers.json")
    a = ap.parse_args()
    truth = json.loads((a.bench / "truth.json").read_text())
    kinds = truth["transforms"]

    def tones(name: str) -> np.ndarray:
        return signature_of(read_bytes(str(a.bench / name))).tones

    moved: dict[str, list[float]] = {}
    enlarged: dict[str, list[float]] = {}  # "kind, larger": the enlargement index of each judged pair
    for group in truth["groups"]:
        original = next((f for f in group if kinds.get(f) is None), None)
        if original is None:
            continue
        own, own_energy = tones(original), laplacian_energy(a.bench / original)
        for f in group:
            if f != original:
                moved.setdefault(kinds[f], []).append(float(np.abs(tones(f) - own).max()))
                if truth["level"].get(f) != "duplicate":  # an edited copy is no candidate keeper
                    continue
                energy = laplacian_energy(a.bench / f)
                copy_larger = np.prod(energy[1]) > np.prod(own_energy[1])
                pair = (energy, own_energy) if copy_larger else (own_energy, energy)
                if (index := enlargement(*pair)) is not None:
                    enlarged.setdefault(f"{kinds[f]}, {'copy' if copy_larger else 'original'} larger", []).append(index)
    rows = [{"kind": kind, "copies": len(d), "median": float(np.median(d)), "p90": float(np.percentile(d, 90)),
             "max": max(d), "within": float(np.mean(np.array(d) <= SAME_TONES))} for kind, d in sorted(moved.items())]
    print(f"{a.bench}: the tones' distance from the original (levels), SAME_TONES = {SAME_TONES}")
    print("| copy | copies | median | p90 | max | within SAME_TONES |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kind']} | {r['copies']} | {r['median']:.2f} | {r['p90']:.2f} | {r['max']:.2f} | {r['within']:.2f} |")
    judged = [{"pair": pair, "pairs": len(d), "min": min(d), "median": float(np.median(d)), "max": max(d)}
              for pair, d in sorted(enlarged.items())]
    print(f"\nhow enlarged the larger of an original and its benign copy looks (long sides {ENLARGED_FROM}x apart or more)")
    print("| copy, which is larger | pairs | min | median | max |")
    print("|---|---|---|---|---|")
    for r in judged:
        print(f"| {r['pair']} | {r['pairs']} | {r['min']:.2f} | {r['median']:.2f} | {r['max']:.2f} |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"bench": str(a.bench), "same_tones": SAME_TONES, "kinds": rows,
                                  "enlarged_from": ENLARGED_FROM, "enlargement": judged}, indent=1))
    print(f"written {a.json}")


if __name__ == "__main__":
    main()
