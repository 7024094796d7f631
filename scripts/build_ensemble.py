#!/usr/bin/env python3
"""Build the shipped ensemble encoder: the EfficientNet-Lite0 student at 80 px and `cnn-64` (resized to its
64 px in the graph) as one Keras model, their unit vectors weighted (squared distances add 1 : WEIGHT),
projected to 256 dimensions by the principal axes of the training photos' joined vectors, normalised last;
then calibrated like a trained model (thresholds on the student's held-out split, crowding reference from
its training photos of `train/`). Nothing is trained: a few minutes on 2 cores.

  python scripts/build_ensemble.py [--out encoder/default/ensemble.keras] [--weight 0.5] [--dim 256]
                                   [--student S] [--flip-student] [--input N] [--also MODEL:WEIGHT ...]

`--input N` gives the student's network, with its weights, an input of N px (the ensemble's too), and
`--flip-student` makes the student flip-invariant (the sum of its embeddings of the picture and its mirror
image) and `--also` adds further members, each resized in the graph to its own input: the variants the model
card lists beside the shipped one.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from neardup.encoder import artifact  # noqa: E402
from neardup.encoder.decode import find_images, to_input  # noqa: E402
from neardup.encoder.model import build_pretrained_encoder, ensemble, symmetric  # noqa: E402
from neardup.encoder.train import TrainConfig, load_pool, recalibrate, split  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", default=str(artifact.SHIPPED["efficientnet-lite0-80"]))
    ap.add_argument("--pixels", default=str(artifact.SHIPPED["cnn-64"]))
    ap.add_argument("--photos", nargs="+", default=[str(REPO.parent / "shared" / "data" / d) for d in ("train", "extra")])
    ap.add_argument("--reference", default=str(REPO.parent / "shared" / "data" / "train"))
    ap.add_argument("--weight", type=float, default=0.5, help="cnn-64's share of the squared distance (the student's: 1)")
    ap.add_argument("--dim", type=int, default=256, help="dimensions kept by the projection (0: no projection)")
    ap.add_argument("--flip-student", action="store_true", help="the student made flip-invariant")
    ap.add_argument("--input", type=int, default=0, help="the student's input in px (0: as it was trained)")
    ap.add_argument("--also", nargs="*", default=[], metavar="MODEL:WEIGHT", help="further members")
    ap.add_argument("--out", type=Path, default=REPO / "build" / "models" / "ensemble.keras")
    a = ap.parse_args()
    t0 = time.time()
    student_info = artifact.read_info(a.student)
    trained = student_info.training["config"]
    split_of = {"seed": trained["seed"], "val_fraction": trained["val_fraction"], "max_side": trained["max_side"],
                "reference": os.path.relpath(a.reference, REPO)}  # what `neardup calibrate` reads back
    cfg = TrainConfig(**split_of)
    named = [(a.student, 1.0), (a.pixels, a.weight)] + [(m, float(w)) for m, w in (x.rsplit(":", 1) for x in a.also)]
    members = []
    for i, (path, weight) in enumerate(named):
        member = artifact.load_keras(path)
        if member.name in {m.name for m, _ in members}:  # two EfficientNets: one model holds no name twice
            member.name = f"{member.name}_{i}"
        if i == 0 and a.input and a.input != student_info.input_size:  # its layers take any size: the weights by name
            member = build_pretrained_encoder(a.input, student_info.dim, pretrained=path, name=member.name)
        members.append((symmetric(member, "flip") if i == 0 and a.flip_student else member, weight))
    size = a.input or student_info.input_size
    paths = [p for d in a.photos for p in find_images(d)[0]]
    _, train_paths = split(paths, cfg)
    images, _ = load_pool(train_paths, cfg.max_side)
    joined = ensemble(members, size).predict(np.stack([to_input(im, size) for im in images]), verbose=0)
    _, energy, axes = np.linalg.svd(joined, full_matrices=False)  # uncentred: the projection stays linear
    dim = a.dim or joined.shape[1]
    model = ensemble(members, size, projection=axes[:dim].T if a.dim else None)
    kept = float((energy[:dim] ** 2).sum() / (energy ** 2).sum())
    training = {"config": {**split_of, "input_size": size, "dim": dim},
                "members": {Path(m).name: [artifact.read_info(m).version, w] for m, w in named},
                "flip_student": a.flip_student,
                "projection": f"principal axes of the {len(images)} training photos' joined vectors, "
                              f"{kept:.1%} of their energy" if a.dim else "none",
                "recipe": " ".join(["scripts/build_ensemble.py", *sys.argv[1:]]), "data_hash": student_info.training.get("data_hash")}
    artifact.save(model, a.out, student_info.thresholds, training=training)
    figures = recalibrate(str(a.out), paths, cfg)
    info = artifact.read_info(a.out)
    info.training["seconds"] = round(time.time() - t0, 1)
    info.verification = {"reach": 1.4}  # what verification needs (docs/verification.md)
    artifact.write_info(a.out, info)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
