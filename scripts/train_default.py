#!/usr/bin/env python3
"""Train the shipped encoders: the EfficientNet-Lite0 teacher, then a CPU student distilled from it (the same
trunk at 80 px, which learns the teacher's embeddings of edited views of each photo).

  KERAS_BACKEND=jax python scripts/train_default.py --stage teacher --views 0 --workers 16   # the shipped
        # teacher, on a GPU (the .keras files load under TensorFlow)
  python scripts/train_default.py --stage student --teacher encoder/default/efficientnet-lite0.keras   # its
        # student, on 2 CPU cores
  KERAS_BACKEND=jax python scripts/train_default.py --workers 15 --views 48 --batch-images 160 \
        --epochs 400 400 --minutes 4.8 2.7    # both on a GPU, within ten minutes (encoder/MODEL_CARD.md)

--views N: each stage makes N views of every photo once, by --workers processes, before it trains (the
teacher draws its pairs from them, the student learns the teacher's embeddings of them); with --views 0 the
teacher edits afresh for every batch, in --workers threads. With --minutes, the learning rate decays over each
stage's time budget instead of its epochs. Needs the installed package (`make install`). Writes
OUT/teacher.keras and OUT/student.keras (+ .json sidecars with thresholds and validation figures, + crowding
references).
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
              neighbour_batches=0.25, max_side=288, geometric=0.15, colour_jitter=0.1)
TEACHER = dict(COMMON, input_size=224, learning_rate=3e-4)
STUDENT = dict(COMMON, input_size=80, learning_rate=5e-4)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", nargs="+", default=[str(SHARED / d) for d in ("train", "extra")])
    ap.add_argument("--out", type=Path, default=Path("build/models"))
    ap.add_argument("--stage", choices=["teacher", "student", "both"], default="both")
    ap.add_argument("--teacher", help="an existing teacher for --stage student")
    ap.add_argument("--epochs", type=int, nargs=2, default=(60, 60), metavar=("TEACHER", "STUDENT"),
                    help="at most this many epochs (with --minutes, the budget usually ends training first)")
    ap.add_argument("--minutes", type=float, nargs=2, default=None, metavar=("TEACHER", "STUDENT"),
                    help="each stage's time budget, views included")
    ap.add_argument("--views", type=int, default=40, help="views made of each photo once, per stage (0: the "
                    "teacher's fresh for every batch, the student's 40)")
    ap.add_argument("--batch-images", type=int, default=96, help="photos a batch, two views of each")
    ap.add_argument("--workers", type=int, default=2, help="processes that make the views")
    ap.add_argument("--validate-every", type=int, default=25, help="epochs between validation figures")
    a = ap.parse_args()
    paths = sorted(p for d in a.photos for p in find_images(d)[0])
    a.out.mkdir(parents=True, exist_ok=True)
    teacher = a.teacher or str(a.out / "teacher.keras")
    minutes = a.minutes or (None, None)
    # the crowding reference: the training photos of the first folder (train/), so the photos of the others
    # (extra/, from which the held-out draw extra5 is made) do not judge their own copies
    extra = dict(workers=a.workers, validate_every=a.validate_every, reference=a.photos[0], batch_images=a.batch_images)
    stages = [("teacher", teacher, dict(TEACHER, cached_views=a.views), a.epochs[0], minutes[0]),
              ("student", str(a.out / "student.keras"), dict(STUDENT, teacher=teacher, teacher_views=a.views or 40),
               a.epochs[1], minutes[1])]
    for name, out, recipe, epochs, budget in stages:
        if a.stage in (name, "both"):
            t = time.time()
            info = train(paths, out, TrainConfig(**recipe, **extra, epochs=epochs, max_minutes=budget))
            print(json.dumps({name: info["version"], "seconds": round(time.time() - t), **info["metrics"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
