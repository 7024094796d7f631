#!/usr/bin/env python3
"""Train the shipped encoders: the EfficientNet-Lite0 teacher, then a CPU student distilled from it (the same
trunk at 80 px, which learns the teacher's embeddings of 40 edited views of each photo).

  python scripts/train_default.py                      # both, on ../shared/data/train and extra
  KERAS_BACKEND=jax python scripts/train_default.py    # the same on a GPU (the .keras files load under TensorFlow)
  python scripts/train_default.py --stage student --teacher encoder/default/efficientnet-lite0.keras

Writes OUT/teacher.keras and OUT/student.keras (+ .json sidecars with thresholds and validation figures).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from neardup.encoder.decode import find_images  # noqa: E402
from neardup.encoder.train import TrainConfig, train  # noqa: E402

TEACHER = dict(arch="efficientnet", frozen_blocks=2, input_size=224, dim=256, symmetry="none", loss="contrastive",
               temperature=0.07, learning_rate=3e-4, batch_images=96, neighbour_batches=0.25, max_side=288,
               geometric=0.15, colour_jitter=0.1)
STUDENT = dict(arch="efficientnet", frozen_blocks=2, input_size=80, dim=256, symmetry="none", loss="contrastive",
               temperature=0.07, learning_rate=5e-4, batch_images=96, neighbour_batches=0.25, max_side=288,
               geometric=0.15, colour_jitter=0.1, teacher_views=40)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", nargs="+", default=[str(REPO.parent / "shared" / "data" / d) for d in ("train", "extra")])
    ap.add_argument("--out", type=Path, default=REPO / "build" / "models")
    ap.add_argument("--stage", choices=["teacher", "student", "both"], default="both")
    ap.add_argument("--teacher", help="an existing teacher for --stage student")
    ap.add_argument("--teacher-epochs", type=int, default=40)
    ap.add_argument("--student-epochs", type=int, default=60)
    ap.add_argument("--loss", choices=["contrastive", "triplet"], default="contrastive")
    ap.add_argument("--workers", type=int, default=2, help="threads that make the training views")
    ap.add_argument("--max-minutes", type=float, default=None, help="a time budget for each stage")
    ap.add_argument("--validate-every", type=int, default=5, help="epochs between validation figures")
    a = ap.parse_args()
    paths = sorted(p for d in a.photos for p in find_images(d)[0])
    a.out.mkdir(parents=True, exist_ok=True)
    teacher = a.teacher or str(a.out / "teacher.keras")
    # the crowding reference: the training photos of the first folder (train/), so the photos of the others
    # (extra/, from which the held-out draw extra5 is made) do not judge their own copies
    extra = dict(loss=a.loss, workers=a.workers, max_minutes=a.max_minutes, validate_every=a.validate_every,
                 reference=a.photos[0])
    if a.loss == "triplet":
        extra["margin"] = 0.3
    if a.stage in ("teacher", "both"):
        t = time.time()
        info = train(paths, teacher, TrainConfig(**{**TEACHER, **extra, "epochs": a.teacher_epochs}))
        print(json.dumps({"teacher": info["version"], "seconds": round(time.time() - t), **info["metrics"]}), flush=True)
    if a.stage in ("student", "both"):
        t = time.time()
        info = train(paths, str(a.out / "student.keras"),
                     TrainConfig(**{**STUDENT, **extra, "epochs": a.student_epochs, "teacher": teacher}))
        print(json.dumps({"student": info["version"], "seconds": round(time.time() - t), **info["metrics"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
