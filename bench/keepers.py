#!/usr/bin/env python3
"""How far each kind of copy moves a picture's tones (signature.Frame.tones: each channel's mean and spread
over the 32-px grid) from its original's, on a benchmark folder with truth.json: the measure behind the
keeper's SAME_TONES (pipeline/groups.py), which tells the unadjusted copies of a set sharing a frame from the
brightened, recoloured or given more contrast. Per kind: the median, 90th percentile and largest distance
(the largest change of one of the six, in levels of 0..255), and the share within SAME_TONES. Prints a table,
writes JSON. What the keeper then picks is `bench/quality.py`'s "suggested keepers" line.

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
    for group in truth["groups"]:
        original = next((f for f in group if kinds.get(f) is None), None)
        if original is None:
            continue
        own = tones(original)
        for f in group:
            if f != original:
                moved.setdefault(kinds[f], []).append(float(np.abs(tones(f) - own).max()))
    rows = [{"kind": kind, "copies": len(d), "median": float(np.median(d)), "p90": float(np.percentile(d, 90)),
             "max": max(d), "within": float(np.mean(np.array(d) <= SAME_TONES))} for kind, d in sorted(moved.items())]
    print(f"{a.bench}: the tones' distance from the original (levels), SAME_TONES = {SAME_TONES}")
    print("| copy | copies | median | p90 | max | within SAME_TONES |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kind']} | {r['copies']} | {r['median']:.2f} | {r['p90']:.2f} | {r['max']:.2f} | {r['within']:.2f} |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"bench": str(a.bench), "same_tones": SAME_TONES, "kinds": rows}, indent=1))
    print(f"written {a.json}")


if __name__ == "__main__":
    main()
