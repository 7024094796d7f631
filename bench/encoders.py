#!/usr/bin/env python3
"""The encoders alone: parameters, multiply-adds per image and images/s on this machine's cores, through LiteRT
(the CPU default) and through Keras on TensorFlow (not for a model pinned to its flatbuffer), for the shipped
models and (--candidates, Keras only) the untrained shapes a CPU student could take. Prints a table, writes JSON.

  bench/encoders.py [--candidates] [--start-up] [--models M.keras ...] [--seconds 9] [--rounds 3]
                    [--json bench/results/encoders.json]

--start-up also starts fresh processes that load the default encoder and embed one batch, through LiteRT from
its cached flatbuffer (no TensorFlow imported) and through Keras: seconds to the first vectors, and peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def multiply_adds(model) -> int:
    """Per image: every convolution and dense layer, nested models counted each time they are called."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += multiply_adds(layer) * sum(1 for node in layer._inbound_nodes)
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw = layer.kernel.shape[:2]
            _, h, w, c = layer.output.shape
            total += h * w * c * kh * kw
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, _ = layer.kernel.shape
            _, h, w, c = layer.output.shape
            total += h * w * c * kh * kw * cin
        elif isinstance(layer, keras.layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def rate(embed, size: int, seconds: float, batch: int = 256) -> float:
    import numpy as np

    x = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), np.uint8)
    embed(x)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        embed(x)
        n += batch
    return n / (time.perf_counter() - t)


def candidates():
    """(name, model): plain CNNs a student could be, and EfficientNet-Lite0's trunk at smaller inputs."""
    from neardup.encoder.model import build_encoder, build_pretrained_encoder

    for size, width in ((64, 24), (64, 32), (80, 24), (80, 32), (96, 24)):
        yield f"plain {size} px, width {width}, one pass", build_encoder(size, 256, width)
    for size in (64, 80, 96, 128, 160):
        yield f"EfficientNet-Lite0 {size} px", build_pretrained_encoder(size, 256, pretrained=None)


STARTED = """
import sys, time
t = time.perf_counter()
import numpy as np
from neardup.encoder.artifact import Encoder
enc = Encoder(inference=sys.argv[1])
enc.embed(np.zeros((64, enc.size, enc.size, 3), np.uint8))
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM"))  # kB, this image's
print(time.perf_counter() - t, int(peak) / 1024, "tensorflow" in sys.modules)
"""


def runtimes(path) -> tuple[str, ...]:
    """The runtimes a model runs through: LiteRT and Keras, or its pinned flatbuffer alone (LiteRT)."""
    from neardup.encoder.artifact import read_info

    return ("litert",) if read_info(path).litert else ("litert", "keras")


def start_up(rounds: int) -> list[dict]:
    """Fresh processes, in turn: the default encoder loaded and one batch embedded, through each runtime."""
    import subprocess

    import numpy as np

    from neardup.encoder.artifact import DEFAULT_MODEL, Encoder

    Encoder(inference="litert")  # its flatbuffer converted and cached, as after a first start
    taken: dict[str, list[list[float]]] = {}
    for _ in range(rounds):
        for inference in runtimes(DEFAULT_MODEL):
            out = subprocess.run([sys.executable, "-c", STARTED, inference], capture_output=True, text=True,
                                 check=True, cwd=REPO).stdout.split()
            taken.setdefault(inference, []).append([float(out[0]), float(out[1]), out[2] == "True"])
    return [{"runtime": k, "seconds": float(np.median([t[0] for t in v])), "peak_rss_mb": float(np.median([t[1] for t in v])),
             "imports_tensorflow": any(t[2] for t in v)} for k, v in taken.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", action="store_true")
    ap.add_argument("--start-up", action="store_true")
    ap.add_argument("--models", nargs="*", default=[], help="also these .keras files (variants not shipped)")
    ap.add_argument("--seconds", type=float, default=9.0, help="per encoder and runtime, over all rounds")
    ap.add_argument("--rounds", type=int, default=3, help="each runtime this many times in turn; medians")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "encoders.json")
    a = ap.parse_args()
    import numpy as np

    from neardup.encoder.artifact import Encoder, shipped_files

    rows = []
    for path, names in [*shipped_files().items(), *((Path(m), [Path(m).stem]) for m in a.models)]:
        encoders = [Encoder(path, batch_size=256, inference=inference) for inference in runtimes(path)]
        rates: dict[str, list[float]] = {}
        for _ in range(a.rounds):  # in turn: the machine's speed drifts between rounds, not within one
            for enc in encoders:
                rates.setdefault(enc.runtime, []).append(rate(enc.embed, enc.size, a.seconds / a.rounds))
        first = encoders[0]
        rows.append({"name": " = ".join(names), "version": first.version, "input": first.size,
                     "params": first.model.count_params(), "macs": multiply_adds(first.model),
                     "images_per_s": float(np.median(rates["litert"])) if "litert" in rates else None,
                     "images_per_s_keras": float(np.median(rates["keras"])) if "keras" in rates else None})
    if a.candidates:
        for name, model in candidates():
            size = model.input_shape[1]
            rows.append({"name": name, "version": "untrained", "input": size, "params": model.count_params(),
                         "macs": multiply_adds(model),
                         "images_per_s": None,
                         "images_per_s_keras": rate(lambda x: model.predict_on_batch(x.astype(np.float32)), size,
                                                    a.seconds)})
    print(f"encoders alone, batches of 256, {os.cpu_count()} cores, medians of {a.rounds} rounds")
    print("| encoder | version | input px | parameters | M multiply-adds / image | images/s, LiteRT | images/s, Keras |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        lite, keras = (f"{r[k]:.0f}" if r[k] else "–" for k in ("images_per_s", "images_per_s_keras"))
        print(f"| {r['name']} | {r['version']} | {r['input']} | {r['params']:,} | {r['macs'] / 1e6:.0f} | "
              f"{lite} | {keras} |")
    if a.start_up:
        started = start_up(a.rounds)
        print(f"\nstart-up of the default encoder in a fresh process, to its first batch's vectors, medians of {a.rounds}")
        print("| runtime | seconds | peak RSS, MB | imports TensorFlow |")
        print("|---|---|---|---|")
        for r in started:
            print(f"| {r['runtime']} | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | {'yes' if r['imports_tensorflow'] else 'no'} |")
        rows.append({"start_up": started})
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(rows, indent=1))
    print(f"written {a.json}")


if __name__ == "__main__":
    main()
