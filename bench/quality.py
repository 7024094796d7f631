#!/usr/bin/env python3
"""neardup against perceptual hashing on a near-duplicate benchmark, in one run, scored by the benchmark's
own score.py. Prints a side-by-side table (overall and per edit family) and writes JSON.

  bench/quality.py                                   # the dev benchmark (built first if missing)
  bench/quality.py --bench DIR                       # any benchmark folder with truth.json
  bench/quality.py --source PHOTOS --seed 5 --bench bench-data/heldout   # build one from other photos
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_BENCH = REPO.parent / "shared" / "bench"
sys.path.insert(0, str(REPO))
COLUMNS = ["ap", "r_at_p99", "dup_precision", "dup_recall", "match_precision", "match_recall"]


def build(source: Path, bench: Path, queries: int, distractors: int, seed: int) -> None:
    subprocess.run([sys.executable, str(SHARED_BENCH / "make_benchmark.py"), str(source), str(bench),
                    "--queries", str(queries), "--distractors", str(distractors), "--seed", str(seed)], check=True)


def score(bench: Path, out: Path) -> dict:
    js = out / "score.json"
    subprocess.run([sys.executable, str(SHARED_BENCH / "score.py"), str(bench / "truth.json"), str(out / "pairs.csv"),
                    "--neighbors", str(out / "neighbors.csv"), "--json", str(js)], check=True, capture_output=True)
    return json.loads(js.read_text())


def truth_kinds(bench: Path):
    """A benchmark's truth.json, each image's group, and what an image of a group is: "original" (no level),
    "benign copy" (level duplicate) or "edited copy" (level match)."""
    truth = json.loads((bench / "truth.json").read_text())
    group = {name: g for g, names in enumerate(truth["groups"]) for name in names}
    kinds = {"duplicate": "benign copy", "match": "edited copy"}
    return truth, group, lambda name: kinds.get(truth["level"].get(name), "original")


COLOUR_EDITS = ("grayscale", "saturation")  # make_benchmark.py's edits of the colours alone


def colourless(path: Path) -> bool:
    """Whether a picture is gray in every pixel (its channels within 2 levels of each other: JPEG's rounding)."""
    rgb = np.asarray(Image.open(path).convert("RGB"), np.int16)
    return int((rgb.max(axis=2) - rgb.min(axis=2)).max()) <= 2


def invisible_edits(bench: Path) -> set[str]:
    """The edited copies whose edit changed nothing a pixel shows: a colour edit (COLOUR_EDITS) of a picture with
    no colour. Its pixels are the original's re-encoded; no check on pixels can tell it from a benign copy."""
    truth = json.loads((bench / "truth.json").read_text())
    out = set()
    for original, *copies in truth["groups"]:
        recoloured = [c for c in copies if truth["transforms"].get(c) in COLOUR_EDITS]
        if recoloured and colourless(bench / original):
            out.update(recoloured)
    return out


def duplicate_pairs(pairs_csv: Path) -> set[tuple[str, str]]:
    """The pairs labelled duplicate, by file name, once each (as score.py counts them)."""
    with open(pairs_csv, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        return {tuple(sorted((os.path.basename(row["a"]), os.path.basename(row["b"]))))
                for row in csv.DictReader(fh) if row["label"] == "duplicate" and row["a"] != row["b"]}


def wrong_duplicates(bench: Path, pairs_csv: Path) -> dict[str, int]:
    """The duplicate labels score.py counts wrong, by what the pair is: an edited copy and its original, a benign
    copy of it or another edited copy, or pictures of different groups. A benchmark with several copies of each
    original has many more pairs of copies than pairs with the original, and a benign copy (smaller, softer,
    re-encoded) hides an edit from the same-frame check more easily than the original. Pairs whose edited
    copies are all invisible edits (invisible_edits(): a gray picture made gray) are counted apart."""
    _, group, kind = truth_kinds(bench)
    invisible = invisible_edits(bench)
    out = {"edited copy and original": 0, "edited copy and benign copy": 0, "two edited copies": 0,
           "different groups": 0, "colour edit of a gray picture": 0}
    for a, b in duplicate_pairs(pairs_csv):
        if a not in group or group[a] != group.get(b):
            out["different groups"] += 1
            continue
        pair = [kind(a), kind(b)]
        if "edited copy" not in pair:
            continue
        if all(name in invisible for name in (a, b) if kind(name) == "edited copy"):
            out["colour edit of a gray picture"] += 1
            continue
        pair.remove("edited copy")
        out["two edited copies" if pair[0] == "edited copy" else f"edited copy and {pair[0]}"] += 1
    return out


def label_errors_by_kinds(bench: Path, pairs_csv: Path, top: int = 10) -> dict[str, dict[str, int]]:
    """The label's errors inside groups by the two copies' kinds (truth.json's transforms; "original" for the
    original), the `top` most common: duplicate labels on pairs with an edited copy, and pairs of benign copies
    (or a benign copy and its original) not labelled duplicate. score.py's duplicate_by_transform sees the pairs
    with the original only; most pairs of a group are two copies, where a benign copy (a thumbnail, a trim)
    hides an edit or an edit hides a benign copy's change."""
    truth, group, kind = truth_kinds(bench)
    made = {name: truth["transforms"].get(name, "original") for names in truth["groups"] for name in names}
    duplicates = duplicate_pairs(pairs_csv)
    wrong, missed = Counter(), Counter()
    for names in truth["groups"]:
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                key = " + ".join(sorted((made[a], made[b])))
                edited = "edited copy" in (kind(a), kind(b))
                labelled = tuple(sorted((a, b))) in duplicates
                if edited and labelled:
                    wrong[key] += 1
                elif not edited and not labelled:
                    missed[key] += 1
    return {"wrong duplicate": dict(wrong.most_common(top)), "missed duplicate": dict(missed.most_common(top))}


def visible_wrong(wrong: dict[str, int]) -> int:
    """The wrong duplicate labels of wrong_duplicates() but those of invisible edits (a gray picture made gray)."""
    return sum(wrong.values()) - wrong["colour edit of a gray picture"]


def visible_dup_precision(pairs_csv: Path, wrong: dict[str, int]) -> float:
    """dup_precision with the invisible edits' duplicate labels counted right (wrong_duplicates' counts)."""
    labelled = len(duplicate_pairs(pairs_csv))
    return 1 - visible_wrong(wrong) / max(1, labelled)


def first_unrelated(bench: Path, neighbors_csv: Path, n: int = 5) -> list[dict]:
    """The first `n` pairs of different groups in score.py's ranking (each pair at its least distance), with the
    share of true pairs ranked ahead of each: what sets r_at_p99, which ends where they add up to 1 %."""
    truth, group, _ = truth_kinds(bench)
    true_pairs = sum(len(g) * (len(g) - 1) // 2 for g in truth["groups"])
    scored: dict[tuple[str, str], float] = {}
    with open(neighbors_csv, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        for row in csv.DictReader(fh):
            a, b = sorted((os.path.basename(row["query"]), os.path.basename(row["neighbor"])))
            if a != b:
                scored[a, b] = min(float(row["distance"]), scored.get((a, b), float("inf")))
    found, out = 0, []
    for (a, b), d in sorted(scored.items(), key=lambda kv: kv[1]):
        if a in group and group[a] == group.get(b):
            found += 1
        elif len(out) < n:
            out.append({"a": a, "b": b, "distance": round(d, 4), "recall_ahead": round(found / true_pairs, 4)})
    return out


def keepers(bench: Path, groups_json: Path) -> dict:
    """What the suggested keeper is, over the groups that hold an original of the benchmark: the original, a
    benign copy of it (same frame: right by the keeper rule if it is the largest) or an edited copy (never right
    while an unedited copy is in the group); and how each copy kept was made ("copies kept")."""
    truth, group, kind = truth_kinds(bench)
    out = {"original": 0, "benign copy": 0, "edited copy": 0}
    made = Counter()
    for found in json.loads(groups_json.read_text())["groups"]:
        names = [os.path.basename(m["path"]) for m in found["members"]]
        if any(name in group and kind(name) == "original" for name in names):
            chosen = os.path.basename(found["keeper"])
            out[kind(chosen)] += 1
            if kind(chosen) != "original":
                made[truth["transforms"].get(chosen, "?")] += 1
    return {**out, "copies kept": dict(made.most_common())}


def merges(bench: Path, groups_json: Path) -> dict:
    """What groups.json's labels against each keeper would merge without a look: the copies labelled duplicate
    that are the keeper's picture and neither of them edited (right) or not (wrong: an edited copy, an edited
    keeper, another picture); and of the copies that could be merged so, the share labelled duplicate."""
    _, group, kind = truth_kinds(bench)
    unedited = {name for name in group if kind(name) != "edited copy"}
    right = wrong = could = 0
    for found in json.loads(groups_json.read_text())["groups"]:
        keeper = os.path.basename(found["keeper"])
        for m in found["members"]:
            name = os.path.basename(m["path"])
            same = {name, keeper} <= unedited and group[name] == group[keeper] and name != keeper
            could += same
            if m.get("label") == "duplicate":
                right, wrong = right + same, wrong + (not same)
    return {"merge_precision": right / max(right + wrong, 1), "merge_recall": right / max(could, 1),
            "wrong merges": wrong}


def match_reasons(bench: Path, res) -> dict[str, dict[str, int]]:
    """Per edit (truth.json's transforms), what the report tells a person about the copies labelled a match of
    their original: the keys of WHY (encoder/frame/rules.py) the scan's explained() gives, most common first."""
    truth, _, _ = truth_kinds(bench)
    made = dict(truth["transforms"])
    ids = {res.rel(i): i for i in res.images}
    labelled = {(a, b): label for a, b, _, label in res.pairs}
    asked = [(ids[names[0]], ids[copy], made[copy]) for names in truth["groups"] for copy in names[1:]
             if names[0] in ids and copy in ids]
    asked = [(a, b, edit) for a, b, edit in asked if labelled.get((min(a, b), max(a, b))) == "match"]
    frames = res.frames([i for a, b, _ in asked for i in (a, b)])
    out: dict[str, Counter] = {}
    for a, b, edit in asked:
        out.setdefault(edit, Counter())[frames.told(a, b) or "siblings"] += 1
    return {edit: dict(c.most_common()) for edit, c in sorted(out.items())}


def run_neardup(bench: Path, out: Path, model: str | None) -> tuple[dict, float]:
    from neardup.config import load
    from neardup.pipeline.outputs import write_outputs
    from neardup.pipeline.scan import Scanner

    with tempfile.TemporaryDirectory() as data:
        settings = load(data_dir=data, model=model or None)  # NEARDUP_* variables still apply
        scanner = Scanner(settings, "bench")
        t = time.time()
        res = scanner.scan(str(bench), neighbors=10)
        seconds = time.time() - t
        write_outputs(res, out, report=False)
        told = match_reasons(bench, res)
    figures = score(bench, out)
    figures["match_reasons"] = told
    figures["wrong_duplicates"] = wrong_duplicates(bench, out / "pairs.csv")
    figures["dup_precision_visible"] = visible_dup_precision(out / "pairs.csv", figures["wrong_duplicates"])
    figures["label_errors"] = label_errors_by_kinds(bench, out / "pairs.csv")
    figures["keepers"] = keepers(bench, out / "groups.json")
    figures["merges"] = merges(bench, out / "groups.json")
    figures["first_unrelated"] = first_unrelated(bench, out / "neighbors.csv")
    figures["thresholds"] = res.thresholds
    figures["model_version"] = res.model_version
    return figures, len(res.images) / seconds


def run_phash(bench: Path, out: Path, method: str) -> tuple[dict, float]:
    t = time.time()
    subprocess.run([sys.executable, str(SHARED_BENCH / "baseline_phash.py"), str(bench), str(out), "--method", method],
                   check=True, capture_output=True)
    images = sum(1 for p in bench.iterdir() if p.suffix in (".jpg", ".png"))
    seconds = time.time() - t
    figures = {**score(bench, out), "wrong_duplicates": wrong_duplicates(bench, out / "pairs.csv")}
    figures["dup_precision_visible"] = visible_dup_precision(out / "pairs.csv", figures["wrong_duplicates"])
    return figures, images / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=REPO / "bench-data" / "dev")
    ap.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "dev")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--distractors", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", help="a .keras encoder (default: the shipped one)")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "quality.json")
    a = ap.parse_args()
    if not (a.bench / "truth.json").exists():
        build(a.source, a.bench, a.queries, a.distractors, a.seed)
    work = a.json.parent / ("quality-" + a.bench.name)
    results = {}
    results["neardup"], nd_speed = run_neardup(a.bench, work / "neardup", a.model)
    results["phash"], ph_speed = run_phash(a.bench, work / "phash", "phash")
    results["dhash"], dh_speed = run_phash(a.bench, work / "dhash", "dhash")
    speeds = {"neardup": nd_speed, "phash": ph_speed, "dhash": dh_speed}

    print(f"benchmark: {a.bench} ({results['neardup']['true_pairs']} true pairs)")
    print("| method | " + " | ".join(COLUMNS) + " | images/s |")
    print("|---|" + "---|" * (len(COLUMNS) + 1))
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r.get(c, 0):.3f}" for c in COLUMNS) + f" | {speeds[name]:.0f} |")
    print("share of duplicate labels on pairs that are no copies at all (1 - dup_precision_any): "
          + ", ".join(f"{name} {1 - r.get('dup_precision_any', 1):.3f}" for name, r in results.items()))
    print("wrong duplicate labels by pair: " + "; ".join(
        f"{name} " + ", ".join(f"{k} {v}" for k, v in r["wrong_duplicates"].items()) for name, r in results.items()))
    print("dup_precision with the duplicate labels of colour edits of gray pictures counted right (their pixels "
          "are the original's): " + ", ".join(f"{name} {r['dup_precision_visible']:.3f}" for name, r in results.items()))
    for error, counts in results["neardup"]["label_errors"].items():
        print(f"neardup's most common {error} labels by the two copies' kinds: "
              + ("; ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    kept = results["neardup"]["keepers"]
    print("neardup's suggested keepers, in the groups with an original: "
          + ", ".join(f"{k} {v}" for k, v in kept.items() if k != "copies kept")
          + "; the copies kept: " + (", ".join(f"{k} {v}" for k, v in kept["copies kept"].items()) or "none"))
    merged = results["neardup"]["merges"]
    print("groups.json's copies labelled duplicate of their keeper (merged without a look): precision "
          f"{merged['merge_precision']:.3f}, recall {merged['merge_recall']:.3f}, wrong {merged['wrong merges']}")
    print("neardup's first unrelated pairs (distance, share of true pairs ranked ahead): " + "; ".join(
        f"{p['a']} {p['b']} {p['distance']:.3f} {p['recall_ahead']:.3f}" for p in results["neardup"]["first_unrelated"]))
    families = sorted(results["neardup"]["recall_by_transform"])
    print("\nPer edit: the share of original-copy pairs found, then labelled duplicate (1 is right for benign "
          "copies, 0 for edits)")
    print("| edit | " + " | ".join(f"found: {m}" for m in results) + " | " + " | ".join(f"duplicate: {m}" for m in results)
          + " |")
    print("|---|" + "---|" * 2 * len(results))
    for f in families:
        print(f"| {f} | " + " | ".join(f"{r['recall_by_transform'].get(f, 0):.2f}" for r in results.values()) + " | "
              + " | ".join(f"{r.get('duplicate_by_transform', {}).get(f, 0):.2f}" for r in results.values()) + " |")
    print("\nPer edit: why the copies labelled a match of their original are matches, as the report tells it "
          "(encoder/frame/rules.py WHY's keys, count)")
    for edit, told in results["neardup"]["match_reasons"].items():
        print(f"| {edit} | " + ", ".join(f"{why} {n}" for why, n in told.items()) + " |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"bench": str(a.bench), "results": results, "images_per_s": speeds}, indent=1))
    print(f"\nwritten {a.json}")


if __name__ == "__main__":
    main()
