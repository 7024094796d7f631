#!/usr/bin/env python3
"""Train the shipped encoders: the EfficientNet-Lite0 teacher, then a CPU student distilled from it (the same
trunk at 80 px, which learns the teacher's embeddings of edited views of each photo). Each stage's views are
made once, before it trains, by --workers processes; with --minutes the learning rate decays over that budget.

  KERAS_BACKEND=jax python scripts/train_default.py --workers 16 --minutes 4 3   # on a GPU (the .keras
                                                        # files load under TensorFlow)
  python scripts/train_default.py                      # the same on the CPU, for days
  python scripts/train_default.py --stage student --teacher encoder/default/efficientnet-lite0.keras

Needs the installed package (`make install`). Writes OUT/teacher.keras and OUT/student.keras (+ .json sidecars
with thresholds and validation figures, + crowding references).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from neardup.encoder.decode import find_images
from neardup.encoder.train import TrainConfig, train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
COMMON = dict(arch="efficientnet", frozen_blocks=2, dim=256, symmetry="none", loss="contrastive", temperature=0.07,
              batch_images=160, neighbour_batches=0.25, max_side=288, geometric=0.15, colour_jitter=0.1)
TEACHER = dict(COMMON, input_size=224, learning_rate=3e-4)
STUDENT = dict(COMMON, input_size=80, learning_rate=5e-4)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", nargs="+", default=[str(SHARED / d) for d in ("train", "extra")])
    ap.add_argument("--out", type=Path, default=Path("build/models"))
    ap.add_argument("--stage", choices=["teacher", "student", "both"], default="both")
    ap.add_argument("--teacher", help="an existing teacher for --stage student")
    ap.add_argument("--epochs", type=int, nargs=2, default=(400, 400), metavar=("TEACHER", "STUDENT"),
                    help="at most this many epochs (with --minutes, the budget usually ends training first)")
    ap.add_argument("--minutes", type=float, nargs=2, default=None, metavar=("TEACHER", "STUDENT"),
                    help="each stage's time budget, views included")
    ap.add_argument("--views", type=int, default=48, help="views made of each photo, per stage")
    ap.add_argument("--workers", type=int, default=2, help="processes that make the views")
    ap.add_argument("--validate-every", type=int, default=25, help="epochs between validation figures")
    a = ap.parse_args()
    paths = sorted(p for d in a.photos for p in find_images(d)[0])
    a.out.mkdir(parents=True, exist_ok=True)
    teacher = a.teacher or str(a.out / "teacher.keras")
    minutes = a.minutes or (None, None)
    # the crowding reference: the training photos of the first folder (train/), so the photos of the others
    # (extra/, from which the held-out draw extra5 is made) do not judge their own copies
    extra = dict(workers=a.workers, validate_every=a.validate_every, reference=a.photos[0])
    stages = [("teacher", teacher, dict(TEACHER, cached_views=a.views), a.epochs[0], minutes[0]),
              ("student", str(a.out / "student.keras"), dict(STUDENT, teacher=teacher, teacher_views=a.views),
               a.epochs[1], minutes[1])]
    for name, out, recipe, epochs, budget in stages:
        if a.stage in (name, "both"):
            t = time.time()
            info = train(paths, out, TrainConfig(**recipe, **extra, epochs=epochs, max_minutes=budget))
            print(json.dumps({name: info["version"], "seconds": round(time.time() - t), **info["metrics"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
