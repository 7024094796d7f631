#!/usr/bin/env python3
"""What the crowding penalty (encoder/crowding.py) does to the embedding alone, per benchmark.

- The ranking: ap and r_at_p99 of every image's 10 nearest, by plain and by penalised distance (the
  benchmark's own score.py).
- Verification's reach: the share of copies among an image's 40 nearest that lie within each reach × the
  match threshold, and how many unrelated images among its 10 nearest do.
- The reference: the same ranking with half the shipped reference, and with every photo under --photos.

Prints tables and writes JSON.

  bench/crowding.py [--model default] [--bench bench-data/dev bench-data/seed7 ...] [--photos ../shared/data/train]
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
REACHES = (1.25, 1.3, 1.4, 1.5, 1.75, 2.0)


def embed(enc, paths: list[Path]) -> np.ndarray:
    """The encoder's vectors of these files, decoded as a scan decodes them."""
    from neardup.encoder.decode import decode, read_bytes

    with ThreadPoolExecutor(4) as pool:
        pixels = list(pool.map(lambda p: decode(read_bytes(str(p)), enc.size).pixels, paths))
    return enc.embed(np.stack(pixels))


def ranking(bench: Path, names: list[str], d: np.ndarray) -> dict:
    """ap and r_at_p99 of every image's 10 nearest by the distances `d`, scored by the benchmark's score.py."""
    from quality import score

    d = d.copy()
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1)[:, :10]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "pairs.csv").write_text("a,b,distance,label\n")
        with open(out / "neighbors.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["query", "neighbor", "distance"])
            w.writerows((names[i], names[j], f"{d[i, j]:.6f}") for i in range(len(names)) for j in near[i])
        figures = score(bench, out)
    return {"ap": figures["ap"], "r_at_p99": figures["r_at_p99"]}


def reach_table(names: list[str], d: np.ndarray, truth: dict, match: float) -> dict:
    """For each reach: the share of copies among each image's 40 nearest within reach × match, and the number
    of unrelated images among its 10 nearest within it."""
    index = {n: i for i, n in enumerate(names)}
    same = np.zeros(d.shape, bool)
    for group in truth["groups"]:
        for a, b in itertools.permutations(group, 2):
            same[index[a], index[b]] = True
    d = d.copy()
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1)
    rows = np.arange(len(names))[:, None]
    d40, same40 = d[rows, order[:, :40]] / match, same[rows, order[:, :40]]
    d10, other10 = d[rows, order[:, :10]] / match, ~same[rows, order[:, :10]]
    return {r: {"copies_within": float(np.mean(d40[same40] <= r)), "unrelated_within": int(np.sum((d10 <= r) & other10))}
            for r in REACHES}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default", help="a shipped model's name or a .keras file")
    ap.add_argument("--bench", type=Path, nargs="+",
                    default=[REPO / "bench-data" / n for n in ("dev", "seed7", "seed11", "seed13")])
    ap.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "data" / "train",
                    help="a reference made of every photo here is compared with the shipped one")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "crowding.json")
    a = ap.parse_args()
    from neardup.encoder import artifact, crowding
    from neardup.encoder.decode import find_images

    path = artifact.resolve(a.model)
    enc = artifact.Encoder(path)
    shipped = crowding.load(Path(path), enc.info.crowding)
    if shipped is None:
        raise SystemExit(f"{a.model} has no crowding reference")
    match = enc.info.thresholds["match"]
    references = {"shipped": shipped, "half of it": crowding.fit(shipped.reference[::2]),
                  f"every photo of {a.photos.name}/": crowding.fit(embed(enc, [Path(p) for p in find_images(str(a.photos))[0]]))}
    out = {"model": enc.version, "match": match, "reference_photos": {k: len(c.reference) for k, c in references.items()},
           "benches": {}}
    for bench in a.bench:
        files = sorted(p for p in bench.iterdir() if p.suffix in (".jpg", ".png"))
        names = [p.name for p in files]
        v = embed(enc, files)
        plain = np.sqrt(np.maximum(2 - 2 * v @ v.T, 0))
        penalised = shipped.distances(v, v)
        row = {"plain": ranking(bench, names, plain), "penalised": ranking(bench, names, penalised),
               "references": {k: ranking(bench, names, c.distances(v, v)) for k, c in references.items() if k != "shipped"},
               "reach": reach_table(names, penalised, json.loads((bench / "truth.json").read_text()), match)}
        out["benches"][bench.name] = row
    print(f"model {enc.version}, match threshold {match}; references: "
          + ", ".join(f"{k} {n} photos" for k, n in out["reference_photos"].items()))
    print("\nembedding alone, 10 nearest of each image (ap / r_at_p99)\n")
    names = [k for k in references if k != "shipped"]
    print("| benchmark | plain distance | with the penalty | " + " | ".join(f"reference: {k}" for k in names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for b, row in out["benches"].items():
        cells = [row["plain"], row["penalised"], *(row["references"][k] for k in names)]
        print(f"| {b} | " + " | ".join(f"{c['ap']:.3f} / {c['r_at_p99']:.3f}" for c in cells) + " |")
    print("\nwithin reach × the match threshold, penalised distances: copies among the 40 nearest (share) / "
          "unrelated among the 10 nearest (count)\n")
    print("| benchmark | " + " | ".join(f"{r} ×" for r in REACHES) + " |")
    print("|---|" + "---|" * len(REACHES))
    for b, row in out["benches"].items():
        print(f"| {b} | " + " | ".join(f"{row['reach'][r]['copies_within']:.3f} / {row['reach'][r]['unrelated_within']}"
                                     for r in REACHES) + " |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
