#!/usr/bin/env python3
"""How the same-frame check's rules (encoder/frame/rules.py Rules) trade duplicate precision against recall: each
benchmark is scanned once, every image in a found pair gets its signature, and the found pairs are labelled
again under each variant of the rules (which pairs are found does not depend on them), then scored by the
benchmark's score.py. The first row, the shipped rules, gives the scan's own labels. Prints a table and writes JSON.

  bench/frame_rules.py [--bench bench-data/dev bench-data/unseen ...] [--variant "max_blur=1.4;max_trim=0.08" ...]

Without --variant, each threshold is tried 20 % tighter, one at a time (TIGHTER). Each variant's pair labels go
through the group rules (pipeline/siblings.py), as the scan's do; the last rows give the shipped pair check's
labels with the rule of siblings alone (no outvoting), and with neither.
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import math
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.quality import run_neardup, score, visible_wrong, wrong_duplicates  # noqa: E402

TIGHTER = {  # each rule 20 % stricter: a duplicate must pass by a margin
    "max_residual": 0.08, "max_local": 22.4, "gain": (0.8, 1.25), "colour": (0.28, 0.8), "chroma_gain": 1.16,
    "min_sharpness": 0.84, "max_blur": 1.36, "max_grain": 1.6, "max_peaks": 0.048, "max_turned_detail": 0.2, "max_overlay": 4.8,
    "max_fine_residual": 0.16, "max_finer_overlay": 5.6, "max_aspect_change": 0.064, "max_trim": 0.08,
}
PAIRS_ONLY = "shipped rules, the pair check alone (no group rule)"
SIBLINGS_ONLY = "shipped rules, the rule of siblings alone (no outvoting)"


def signatures(bench: Path, rows: list[dict]) -> dict:
    from neardup.encoder.decode import signature_of

    names = sorted({r[side] for r in rows for side in ("a", "b")})
    return {n: signature_of((bench / n).read_bytes()) for n in names}


def labelled(rows: list[dict], frames: dict, rules, grouped: bool = True) -> tuple[list[dict], int]:
    """The scan's pairs (pairs.csv rows) labelled under `rules`, then (if `grouped`) the group rules, and how many
    labels that changes."""
    from neardup.encoder.frame import same_frame
    from neardup.pipeline.siblings import demoted

    same = {tuple(sorted((r["a"], r["b"]))): same_frame(frames[r["a"]], frames[r["b"]], rules) for r in rows}
    gone = demoted(list(same), same.__getitem__, frames.get) if grouped else set()
    out = [{**r, "label": "duplicate" if same[key] and key not in gone else "match"}
           for r in rows for key in [tuple(sorted((r["a"], r["b"])))]]
    return out, sum(r["label"] != o["label"] for r, o in zip(rows, out))


def relabelled(bench: Path, scan: Path, rows: list[dict], frames: dict, rules, grouped: bool = True) -> dict:
    """The benchmark's figures for the scan's pairs labelled under `rules` (and the group rules if `grouped`), and
    how many labels changed."""
    out_rows, changed = labelled(rows, frames, rules, grouped)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        with open(out / "pairs.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["a", "b", "distance", "label"])
            w.writeheader()
            w.writerows(out_rows)
        shutil.copy(scan / "neighbors.csv", out / "neighbors.csv")
        s = score(bench, out)
        wrong = wrong_duplicates(bench, out / "pairs.csv")
    return {"dup_precision": s["dup_precision"], "dup_recall": s["dup_recall"], "changed": changed,
            "wrong_visible": visible_wrong(wrong)}


def parsed(text: str) -> tuple[str, dict]:
    """A variant from "FIELD=VALUE[;FIELD=VALUE...]" (VALUE a Python literal)."""
    return text, {f.strip(): ast.literal_eval(v) for f, v in (part.split("=", 1) for part in text.split(";"))}


def main() -> None:
    from neardup.encoder.frame import RULES
    from neardup.pipeline import siblings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, nargs="+",
                    default=[p for p in (REPO / "bench-data" / n for n in ("dev", "unseen")) if p.exists()])
    ap.add_argument("--variant", nargs="*", default=None, metavar="FIELD=VALUE")
    ap.add_argument("--model", default=None)
    ap.add_argument("--reuse", action="store_true", help="label the pairs of an earlier run's scans again")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "frame_rules.json")
    a = ap.parse_args()
    variants = [("shipped rules", {})] + (
        [parsed(v) for v in a.variant] if a.variant is not None else [(f"{k}={v}", {k: v}) for k, v in TIGHTER.items()])
    results: dict = {name: {} for name, _ in variants}
    results[SIBLINGS_ONLY] = {}
    results[PAIRS_ONLY] = {}
    for bench in a.bench:
        scan = a.json.parent / f"frame-rules-{bench.name}"
        if not (a.reuse and (scan / "pairs.csv").exists()):
            run_neardup(bench, scan, a.model)
        with open(scan / "pairs.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        frames = signatures(bench, rows)
        for name, change in variants:
            results[name][bench.name] = relabelled(bench, scan, rows, frames, replace(RULES, **change))
        with mock.patch.object(siblings, "OUTVOTING", math.inf):
            results[SIBLINGS_ONLY][bench.name] = relabelled(bench, scan, rows, frames, RULES)
        results[PAIRS_ONLY][bench.name] = relabelled(bench, scan, rows, frames, RULES, grouped=False)
    if any(r["changed"] for r in results["shipped rules"].values()):
        print("the shipped rules relabel some of the scan's pairs: the signatures differ from the scan's")
    print("| rules | " + " | ".join(f"{b.name}: dup P / R (wrong)" for b in a.bench) + " |")
    print("|---|" + "---|" * len(a.bench))
    for name, per in results.items():
        print(f"| {name} | " + " | ".join(
            f"{r['dup_precision']:.3f} / {r['dup_recall']:.3f} ({r['wrong_visible']})" for r in per.values()) + " |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(results, indent=1))
    print(f"\nwritten {a.json}")


if __name__ == "__main__":
    main()
