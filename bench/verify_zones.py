#!/usr/bin/env python3
"""What verification does at each distance, against a benchmark's truth: the figures its two bounds rest on.

A verifying scan of each benchmark with every pair past the duplicate threshold checked (`verify_from` 0),
then, per band of the embedding's distance over the match threshold:
- the pairs checked, the true copies among them, the unrelated pairs inside the match threshold before and
  after verification, the true copies it moved out (refuted) and those it brought in;
- the nearest unrelated pair checked (where `verify_from` may start: nearer pairs need no check);
- per perceptual-hash gate of the pixel check (Verifier.degraded_copy, `blur_hash_bits`), the true and the
  unrelated pairs it confirms among those it was asked about.

Prints tables and writes JSON.

  bench/verify_zones.py [--bench bench-data/dev bench-data/seed7 ...] [--model M]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GATES = (4, 5, 6, 7, 8)  # hash gates of the pixel check tried
COUNTS = ("checked", "true", "unrelated_inside_before", "unrelated_inside_after", "true_moved_out", "true_brought_in")


def zones(bench: Path, model: str | None = None) -> dict:
    """The tables of one benchmark folder (truth.json beside its images)."""
    from neardup.config import load
    from neardup.pipeline import verify
    from neardup.pipeline.scan import Scanner

    truth = json.loads((bench / "truth.json").read_text())
    group = {name: g for g, names in enumerate(truth["groups"]) for name in names}
    checked, asked, names = [], [], {}
    rescore, view, degraded = verify.rescore, verify.Verifier.view, verify.Verifier.degraded_copy

    def recorded_rescore(todo, paths, thresholds, *args, **kwargs):
        out = rescore(todo, paths, thresholds, *args, **kwargs)
        checked.extend((Path(paths[a]).name, Path(paths[b]).name, d, out.get((a, b), d), thresholds["match"])
                       for (a, b), d in todo.items() if a in paths and b in paths)
        return out

    def named_view(self, path, *args, **kwargs):
        found = view(self, path, *args, **kwargs)
        if found is not None:
            names[id(found)] = Path(path).name
        return found

    def recorded_degraded(self, a, b):
        asked.append((names.get(id(a)), names.get(id(b)),
                      {bits: degraded(dataclasses.replace(self, blur_hash_bits=bits), a, b) for bits in GATES}))
        return degraded(self, a, b)

    verify.VIEWS.clear()  # every view made here, and named (views are kept by content across scans)
    verify.rescore, verify.Verifier.view, verify.Verifier.degraded_copy = recorded_rescore, named_view, recorded_degraded
    try:
        with tempfile.TemporaryDirectory() as data:
            Scanner(load(data_dir=data, model=model or None, verify_from=0.0), "bench").scan(str(bench))
    finally:
        verify.rescore, verify.Verifier.view, verify.Verifier.degraded_copy = rescore, view, degraded

    def same(a, b) -> bool:
        return a in group and group.get(a) == group.get(b)

    bands: dict[str, Counter] = {}
    nearest_unrelated = float("inf")
    for a, b, before, after, match in checked:
        true = same(a, b)
        band = "proposed" if before == float("inf") else f"{int(10 * before / match) / 10:.1f}"
        c = bands.setdefault(band, Counter())
        c.update(checked=1, true=true, unrelated_inside_before=not true and before <= match,
                 unrelated_inside_after=not true and after <= match, true_moved_out=true and before <= match < after,
                 true_brought_in=true and after <= match < before)
        if not true:
            nearest_unrelated = min(nearest_unrelated, before / match)
    gates = {bits: Counter() for bits in GATES}
    for a, b, found in asked:
        for bits, confirmed in found.items():
            gates[bits].update(true=confirmed and same(a, b), unrelated=confirmed and not same(a, b))
    return {"bands": {k: {n: int(bands[k][n]) for n in COUNTS} for k in sorted(bands, key=_band_order)},
            "nearest_unrelated": nearest_unrelated,
            "gates": {bits: {n: int(c[n]) for n in ("true", "unrelated")} for bits, c in gates.items()}}


def _band_order(band: str) -> float:
    return float("inf") if band == "proposed" else float(band)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, nargs="+", default=[REPO / "bench-data" / "dev"])
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "verify_zones.json")
    a = ap.parse_args()
    out = {}
    for bench in a.bench:
        found = out[bench.name] = zones(bench, a.model)
        print(f"\n{bench.name}: nearest unrelated pair checked at {found['nearest_unrelated']:.3f} x the match "
              "threshold")
        print("| distance / match | " + " | ".join(COUNTS) + " |")
        print("|---" * (len(COUNTS) + 1) + "|")
        for band, row in found["bands"].items():
            print(f"| {band} | " + " | ".join(str(row[n]) for n in COUNTS) + " |")
        print("| hash gate, bits | " + " | ".join(str(bits) for bits in GATES) + " |")
        print("|---" * (len(GATES) + 1) + "|")
        for n in ("true", "unrelated"):
            print(f"| pixel check confirms, {n} | " + " | ".join(str(found["gates"][b][n]) for b in GATES) + " |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
