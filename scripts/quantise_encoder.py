#!/usr/bin/env python3
"""Pin an encoder to a LiteRT flatbuffer whose named layers' convolutions run in 8-bit integers, for CPU
workers, then calibrate it again (its vectors are the flatbuffer's: new thresholds, crowding reference and
version). The shipped default's `cnn-64` member: 1.8 times the encoder's rate on 2 cores, the same ranking
(encoder/MODEL_CARD.md). The activations are ranged on photos of the model's own training split; nothing
is trained: a few minutes on 2 cores.

  python scripts/quantise_encoder.py encoder/default/ensemble.keras --int8 neardup_encoder_flip
                                     [--photos TRAIN EXTRA] [--calibration 256]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from neardup.encoder import artifact, litert  # noqa: E402
from neardup.encoder.decode import find_images, to_input  # noqa: E402
from neardup.encoder.train import TrainConfig, load_pool, recalibrate, split  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--int8", nargs="+", required=True, metavar="LAYER",
                    help="layers (an ensemble's members) whose convolutions run in 8-bit integers")
    ap.add_argument("--photos", nargs="+", default=[str(REPO.parent / "shared" / "data" / d) for d in ("train", "extra")])
    ap.add_argument("--calibration", type=int, default=256, help="training photos the activations are ranged on")
    a = ap.parse_args()
    info = artifact.read_info(a.model)
    trained = info.training["config"]
    cfg = TrainConfig(**{k: trained[k] for k in ("seed", "val_fraction", "max_side", "reference")})
    paths = [p for d in a.photos for p in find_images(d)[0]]
    _, train_paths = split(paths, cfg)
    chosen = random.Random(cfg.seed).sample(train_paths, min(a.calibration, len(train_paths)))
    images, _ = load_pool(chosen, cfg.max_side)
    calibration = np.stack([to_input(im, info.input_size, artifact.boxed(info.input)) for im in images])
    blob = litert.quantised(artifact.load_keras(a.model), calibration.astype(np.float32), a.int8)
    info.litert = litert.pin(a.model, blob, info.input_size, 64, a.int8,
                             f"{len(images)} photos of the training split (seed {cfg.seed})")
    info.training["litert_recipe"] = " ".join(["scripts/quantise_encoder.py", *sys.argv[1:]])
    artifact.write_info(a.model, info)
    print(json.dumps(recalibrate(str(a.model), paths, cfg), indent=1))  # through the flatbuffer now
    return 0


if __name__ == "__main__":
    sys.exit(main())
