#!/usr/bin/env python3
"""The throughput benchmark on a machine with a GPU: the encoder alone at GPU batch sizes, the decode ceiling
of all the machine's cores, and end-to-end `neardup scan` (with and without verification) on the same photo
sets as bench/throughput.py. Without a GPU it measures the same on the CPU and says so (the GPU code path is
Keras's device placement; nothing here needs CUDA). Prints a table, writes JSON.

On the device machine (PyTorch and JAX, no TensorFlow; the keras wheel carried):
  KERAS_BACKEND=jax bench/gpu.py --n 2000
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import throughput  # noqa: E402  (the same sets, ceiling, pHash and scan timings)


def accelerators() -> list[str]:
    """The devices Keras's backend will place the encoder on, other than the CPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform != "cpu"]
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices("GPU")]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=256, help="Encoder batch (64 on CPU is as fast).")
    ap.add_argument("--model", default="ensemble-224",
                    help="The model GPU workers run (a shipped name or a .keras file). The default model runs its "
                         "8-bit flatbuffer on the CPU wherever it is.")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "gpu.json")
    a = ap.parse_args()
    import keras

    from neardup.encoder.artifact import Encoder, read_info, resolve

    model = resolve(a.model)
    size = read_info(model).input_size
    devices = accelerators()
    sizes = (64, a.batch_size, 4 * a.batch_size)
    alone = {bs: throughput.encoder_rate(model, n=8 * bs, batch_size=bs) for bs in sizes}
    rows = []
    for name, wh in throughput.SIZES.items():
        paths = throughput.make_photos(name, wh, a.n)
        folder = str(Path(paths[0]).parent)
        ceiling = throughput.rate(partial(throughput.decode_only, size=size), paths, a.workers, ThreadPoolExecutor)
        ph = throughput.rate(throughput.phash, paths, a.workers, ProcessPoolExecutor)
        plain = throughput.neardup_rate(folder, a.workers, model, verify=False, batch_size=a.batch_size)
        full = throughput.neardup_rate(folder, a.workers, model, verify=True, batch_size=a.batch_size)
        rows.append({"set": name, "images": len(paths), "decode_ceiling": ceiling, "phash": ph,
                     "neardup_no_verify": plain, "neardup": full, "no_verify/ceiling": plain / ceiling,
                     "neardup/ceiling": full / ceiling})
    where = ", ".join(devices) if devices else "no GPU found: everything below ran on the CPU"
    runtime = Encoder(model).runtime  # LiteRT where there is no GPU, or for a model pinned to its flatbuffer
    print(f"backend {keras.backend.backend()}, the encoder through {runtime}, {where}; {a.workers} decode workers; "
          f"model {read_info(model).version}")
    print("encoder alone, img/s: " + ", ".join(f"batch {bs}: {r:.0f}" for bs, r in alone.items()))
    print("| set | images | decode ceiling | pHash | neardup --no-verify | neardup | --no-verify/ceiling | neardup/ceiling |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['images']} | {r['decode_ceiling']:.0f} | {r['phash']:.0f} | "
              f"{r['neardup_no_verify']:.0f} | {r['neardup']:.0f} | {r['no_verify/ceiling']:.2f} | "
              f"{r['neardup/ceiling']:.2f} |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"backend": keras.backend.backend(), "devices": devices, "workers": a.workers,
                                  "model": read_info(model).version, "encoder_alone": alone, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
