#!/usr/bin/env python3
"""End-to-end `neardup scan` images/s next to the decode ceiling and imagehash pHash, same files, same
number of workers. Prints a table, writes JSON.

  bench/throughput.py [--n 200] [--workers 2] [--rounds 3] [--bench bench-data/dev] [--breakdown] [--check-cost]
                      [--repeat] [--sets 4MP] [--verify-settings] [--kept-decodes] [--peak-rss N] [--processes]
                      [--catalogue]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SIZES = {"0.3MP": (640, 480), "4MP": (2304, 1728)}
PHOTOS = REPO / "bench-data" / "throughput"  # the photo sets, made once and kept


def photo_sources() -> list[Path]:
    """Distinct photos to scale: the shared training and dev originals (1,107), else the bundled samples.
    Scaling the same few photos over and over would make every image a duplicate of dozens of others, a
    collection no user has, and time the duplicate handling instead of the ingestion."""
    shared = REPO.parent / "shared" / "data"
    found = sorted(p for sub in ("train", "dev") for p in (shared / sub).rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return found or sorted((REPO / "samples" / "originals").glob("*.jpg"))


def make_photos(name: str, size: tuple[int, int], n: int) -> list[str]:
    """Photo-like JPEGs: distinct photos scaled to `size`, with grain so they compress like photos, in
    PHOTOS/NAME-n: a folder per count, since a scan reads its whole folder (a larger run's files left there
    would join a smaller run's scans and not its decode and pHash rates)."""
    out = PHOTOS / f"{name}-{n}"
    out.mkdir(parents=True, exist_ok=True)
    sources = photo_sources()
    rng = np.random.default_rng(0)
    scaled: dict[int, np.ndarray] = {}  # a run longer than the sources cycles them: scale each once
    paths = []
    for i in range(n):
        p = out / f"p{i:05d}.jpg"
        if not p.exists():
            k = i % len(sources)
            im = scaled.get(k)
            if im is None:
                im = np.asarray(Image.open(sources[k]).convert("RGB").resize(size, Image.BICUBIC))
                if n > len(sources):
                    scaled[k] = im
            a = im.astype(np.int16) + rng.integers(-12, 12, (size[1], size[0], 3), dtype=np.int16)
            Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(p, quality=88)
        paths.append(str(p))
    return paths


def decode_only(path: str, size: int) -> None:
    """The least any tool must do: read the file and decode it (JPEG draft) to the encoder's input."""
    from neardup.encoder.decode import open_image, read_bytes, to_input

    to_input(open_image(read_bytes(path), draft_to=2 * size)[0], size)


def with_copies(paths: list[str], out: Path) -> str:
    """A folder of the photos and, for every other one, a re-encoded, slightly brighter copy: a collection
    with many duplicate groups, so the report has as many thumbnails to show as a real one."""
    out.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(paths):
        target = out / Path(p).name
        if not target.exists():
            os.link(p, target)  # the same file, inside the scanned folder (a symlink out of it is refused)
        copy = out / f"{Path(p).stem}_copy.jpg"
        if i % 2 == 0 and not copy.exists():
            im = Image.open(p)
            im.point(lambda v: min(255, int(v * 1.05))).save(copy, quality=80)
    return str(out)


def report_rates(folder: str, workers: int, model: str) -> dict:
    """A --no-verify scan, then its outputs with and without the report: images/s of the two jobs a user runs."""
    from neardup.config import Settings
    from neardup.pipeline.outputs import write_outputs
    from neardup.pipeline.scan import Scanner

    with tempfile.TemporaryDirectory() as data:
        scanner = Scanner(Settings(data_dir=data, decode_threads=workers, model=model, verify=False))
        scanner.rt.encoder()
        t = time.perf_counter()
        res = scanner.scan(folder)
        scan_s = time.perf_counter() - t
        times = {}
        for report in (False, True):
            t = time.perf_counter()
            write_outputs(res, Path(data) / f"out-{report}", report=report)
            times[report] = time.perf_counter() - t
    n = len(res.images) + len(res.failed)
    return {"images": n, "pairs": len(res.pairs), "scan_s": scan_s, "no_report": n / (scan_s + times[False]),
            "report": n / (scan_s + times[True]), "ratio": (scan_s + times[False]) / (scan_s + times[True])}


def catalogue(photos: list[str]) -> Path:
    """The 4MP set's photos as a catalogue with many near-copies among them: the benchmark generator of
    ../shared/bench (make_benchmark.py) run over them at their own size, a sixth of them with six copies each
    (re-encoded, resized, PNG, cropped, mirrored, turned, recoloured, overlaid, bordered, blurred), the rest alone.
    Made once, kept beside the photos."""
    import subprocess

    out = PHOTOS / f"4MP-catalogue-{len(photos)}"
    if not (out / "truth.json").exists():
        queries = len(photos) // 6
        subprocess.run([sys.executable, str(REPO.parent / "shared" / "bench" / "make_benchmark.py"),
                        str(Path(photos[0]).parent), str(out), "--queries", str(queries), "--distractors",
                        str(len(photos) - queries), "--max-side", str(max(SIZES["4MP"])), "--seed", "2"],
                       check=True, capture_output=True)
    return out


def catalogue_rates(photos: list[str], rounds: int, workers: int, model: str, size: int) -> dict:
    """The decode ceiling, pHash, the default scan with its report and a --no-verify scan without it, on the
    4MP catalogue (catalogue()), taken in turn `rounds` times; medians, each ratio within its round."""
    paths = sorted(str(p) for p in catalogue(photos).iterdir() if p.suffix in (".jpg", ".png"))
    taken = in_turn(paths, rounds, workers, model, size, {"default": {"report": True}, "no_verify": {"verify": False}})
    with_ratios(taken, (("default", "default"), ("no_verify", "no_verify")))
    return {"images": len(paths), **{k: float(np.median([r[k] for r in taken])) for k in taken[0]}, "rounds": taken}


def phash(path: str) -> None:
    import imagehash

    with Image.open(path) as im:
        imagehash.phash(im)


def rate(fn, paths, workers, pool) -> float:
    t = time.perf_counter()
    with pool(workers) as ex:
        list(ex.map(fn, paths, chunksize=8) if pool is ProcessPoolExecutor else ex.map(fn, paths))
    return len(paths) / (time.perf_counter() - t)


def neardup_rate(paths_dir: str, workers: int, model: str, verify: bool = True, report: bool = False,
                 **settings) -> float:
    """A first scan's rate, as a user's scan of a new folder runs: nothing kept from an earlier scan of the same
    files in this process (verification's cache of keypoint views would spare a later round its decodes, the
    remembered same-frame results its pair checks). `report`: its outputs and report.html timed with it, as
    `neardup scan` writes them by default."""
    from neardup.config import Settings
    from neardup.pipeline import labels
    from neardup.pipeline import verify as verification
    from neardup.pipeline.outputs import write_outputs
    from neardup.pipeline.scan import Scanner

    verification.VIEWS.clear()
    labels.CHECKED.clear()
    with tempfile.TemporaryDirectory() as data:
        scanner = Scanner(Settings(data_dir=data, decode_threads=workers, model=model, verify=verify, **settings))
        scanner.rt.encoder()  # model load is start-up, not throughput
        t = time.perf_counter()
        res = scanner.scan(paths_dir)
        if report:
            write_outputs(res, Path(data) / "out", report=True)
        return (len(res.images) + len(res.failed)) / (time.perf_counter() - t)


RATED = (("neardup", "neardup"), ("no_verify", "neardup_no_verify"))  # ratio name, rate key


def in_turn(paths: list[str], rounds: int, workers: int, model: str, size: int, scans: dict) -> list[dict]:
    """`rounds` rounds of the decode ceiling, pHash and a neardup scan per entry of `scans` ({name: settings}),
    taken in turn, so a change in the machine's speed between rounds moves every rate of a round alike."""
    from functools import partial

    folder = str(Path(paths[0]).parent)
    taken = []
    for _ in range(rounds):
        r = {"decode_ceiling": rate(partial(decode_only, size=size), paths, workers, ThreadPoolExecutor),
             "phash": rate(phash, paths, workers, ProcessPoolExecutor)}
        r.update({name: neardup_rate(folder, workers, model, **kw) for name, kw in scans.items()})
        taken.append(r)
    return taken


def with_ratios(taken: list[dict], rated) -> None:
    """Each round of in_turn() with its rates over its own decode ceiling and pHash, as "NAME/ceiling" and
    "NAME/phash" (`rated`: (NAME, rate key) pairs)."""
    for r in taken:
        r.update({f"{label}/{base}": r[ours] / r[theirs] for label, ours in rated
                  for base, theirs in (("ceiling", "decode_ceiling"), ("phash", "phash"))})


def measure(name: str, paths: list[str], rounds: int, workers: int, model: str, size: int) -> dict:
    """One set's row: the decode ceiling, pHash and neardup (verifying and not) taken in turn `rounds` times;
    rates and ratios are the medians over rounds, each ratio taken within its round."""
    taken = in_turn(paths, rounds, workers, model, size, {"neardup_no_verify": {"verify": False}, "neardup": {}})
    with_ratios(taken, RATED)
    row = {"set": name, "images": len(paths), **{k: float(np.median([r[k] for r in taken])) for k in taken[0]}}
    if rounds > 1:
        row["rounds"] = taken
    return row


VERIFY_SETTINGS = {"the model's own": {}, "5 nearest": {"verify_k": 5}, "reach 1.25": {"verify_reach": 1.25},
                   "reach 1.3": {"verify_reach": 1.3}, "reach 1.75": {"verify_reach": 1.75}}


def distinct_settings(model: str) -> dict:
    """VERIFY_SETTINGS less those that come to what an earlier one does with this model (a model that checks
    its 5 nearest: its own settings are "5 nearest")."""
    from neardup.config import Settings
    from neardup.encoder.artifact import read_info
    from neardup.pipeline.verify import settings_for

    info, seen = read_info(model), set()
    out = {}
    for name, kw in VERIFY_SETTINGS.items():
        checks = settings_for(Settings(**kw), info)
        key = (checks.verify_k, checks.verify_reach)
        if key not in seen:
            seen.add(key)
            out[name] = kw
    return out


def verify_settings_rates(paths: list[str], rounds: int, workers: int, model: str, size: int) -> dict:
    """Verifying scans of one set under each of VERIFY_SETTINGS that differ for this model (docs/verification.md
    weighs what each finds), in turn with the decode ceiling and pHash: median images/s, and median ratios to
    pHash within each round."""
    taken = in_turn(paths, rounds, workers, model, size, distinct_settings(model))
    return {"rates": {k: float(np.median([t[k] for t in taken])) for k in taken[0]},
            "x_phash": {k: float(np.median([t[k] / t["phash"] for t in taken])) for k in taken[0]}, "rounds": taken}


def encoder_rate(model: str, n: int = 2048, batch_size: int = 64) -> float:
    """The encoder alone, on pixels already decoded: what inference costs per image."""
    from neardup.encoder.artifact import Encoder

    enc = Encoder(model, batch_size)
    x = np.random.default_rng(0).integers(0, 255, (n, enc.size, enc.size, 3)).astype(np.uint8)
    enc.embed(x[:enc.batch_size])
    rates = []
    for _ in range(2):  # the first full pass still warms up: report the better one
        t = time.perf_counter()
        enc.embed(x)
        rates.append(n / (time.perf_counter() - t))
    return max(rates)


def view_rates(model: str) -> dict[str, float]:
    """The encoder alone with the model's own backbone wrapped for 1, 2 and 8 views: the cost of invariance."""
    from neardup.encoder import artifact
    from neardup.encoder.model import symmetric
    from neardup.encoder.train import backbone_of

    info = artifact.read_info(model)
    backbone = backbone_of(model)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for group in ("none", "flip", "dihedral"):
            path = Path(tmp) / f"{group}.keras"
            artifact.save(backbone if group == "none" else symmetric(backbone, group), path, info.thresholds)
            rates[group] = encoder_rate(str(path))
    return rates


def breakdown(paths_dir: str, workers: int, model: str, verify: bool) -> dict:
    """Where a scan's time goes: calls, seconds and CPU seconds of the calling threads (summed over threads) of
    its parts, timed by wrapping them, and the whole process's CPU. Verifying: verification's keypoint views,
    pair verdicts and RANSAC fits, the files it reads again (a scan's kept decodes spare most), and the encoder (whose work runs on TensorFlow's own threads: its seconds,
    not its caller's CPU, are what it costs). Without verification: reading and hashing the files, decoding,
    the perceptual hashes, the registry, the index step, the same-frame check of its pairs (the signatures
    of the paired images, each file read and decoded again, and the pair checks) and the group rules' pass over
    the stored pairs round them; the encoder is what the process's CPU leaves. The scan runs without the
    processes a scan of many images checks its pairs in (pipeline/processes.py), so that every part's CPU is
    this process's."""
    import threading

    import neardup.pipeline.embed
    import neardup.pipeline.index
    import neardup.pipeline.labels
    import neardup.pipeline.scan
    import neardup.pipeline.verify
    from neardup.encoder.artifact import Encoder
    from neardup.pipeline.verify import Verifier
    from neardup.storage.registry import Registry

    spent, lock = {}, threading.Lock()  # part: [calls, seconds, CPU seconds], every part listed, called or not
    if verify:
        wrapped = [(Verifier, "view"), (Verifier, "verdict"), (Verifier, "fit"), (Encoder, "embed"),
                   (neardup.pipeline.verify, "read_bytes")]  # the files verification reads again
    else:
        wrapped = [(neardup.pipeline.embed, "read_item"), (neardup.pipeline.embed, "decode"),
                   (neardup.pipeline.labels, "sign"), (neardup.pipeline.embed.phash, "dihedral"),
                   (Registry, "vectors_for"), (Registry, "record_items"), (Registry, "store_vectors"),
                   (neardup.pipeline.scan, "index_batch"), (neardup.pipeline.labels, "difference"),
                   (neardup.pipeline.index, "regrouped"), (Encoder, "embed")]
    originals = {(owner, name): getattr(owner, name) for owner, name in wrapped}

    def timed(name, fn):
        def run(*args, **kwargs):
            t, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    spent[name][0] += 1
                    spent[name][1] += time.perf_counter() - t
                    spent[name][2] += time.thread_time() - cpu
        return run

    for (owner, name), fn in originals.items():
        label = f"{getattr(owner, '__name__', owner).split('.')[-1]}.{name}"
        spent[label] = [0, 0.0, 0.0]
        setattr(owner, name, timed(label, fn))
    many, neardup.pipeline.scan.MANY = neardup.pipeline.scan.MANY, float("inf")
    try:
        t, cpu = time.perf_counter(), time.process_time()
        neardup_rate(paths_dir, workers, model, verify)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    finally:
        neardup.pipeline.scan.MANY = many
        for (owner, name), fn in originals.items():
            setattr(owner, name, fn)
    return {"wall_s": wall, "process_cpu_s": cpu,
            **{name: {"calls": n, "s": s, "cpu_s": c} for name, (n, s, c) in spent.items()}}


def swapped_rates(paths_dir: str, workers: int, model: str, rounds: int, owner, name: str, without) -> dict:
    """--no-verify scans as they run ("with") and with `owner.name` set to `without`, in turn `rounds` times,
    which first taking turns (a round's first scan runs a little slower); the loss is the median over rounds of
    1 - (with / without), each round's two scans a few seconds apart."""
    made = getattr(owner, name)
    taken = []
    for k in range(rounds):
        rates = {}
        for which, value in (("with", made), ("without", without))[::1 if k % 2 == 0 else -1]:
            setattr(owner, name, value)
            try:
                rates[which] = neardup_rate(paths_dir, workers, model, verify=False)
            finally:
                setattr(owner, name, made)
        taken.append({**rates, "loss": 1 - rates["with"] / rates["without"]})
    return {"with": float(np.median([t["with"] for t in taken])),
            "without": float(np.median([t["without"] for t in taken])),
            "loss": float(np.median([t["loss"] for t in taken])), "rounds": taken}


def check_cost(paths_dir: str, workers: int, model: str, rounds: int) -> dict:
    """What the same-frame check costs a --no-verify scan: scans with and without the signatures (the pair checks
    then see none and label every pair a match), swapped_rates()."""
    import neardup.pipeline.labels

    return swapped_rates(paths_dir, workers, model, rounds, neardup.pipeline.labels, "signed", lambda *args: {})


def processes_gain(paths_dir: str, workers: int, model: str, rounds: int) -> dict:
    """What the same-frame check's processes (pipeline/processes.py) give a --no-verify scan: scans that may fork
    them and scans that never do (as a scan of fewer than scan.MANY images), swapped_rates(); a negative loss is
    a gain."""
    import neardup.pipeline.scan

    return swapped_rates(paths_dir, workers, model, rounds, neardup.pipeline.scan, "MANY", float("inf"))


def kept_decodes_rates(paths_dir: str, workers: int, model: str, rounds: int) -> dict:
    """What signing from the scan's own decodes saves: scans with the decodes kept (the settings' default) and
    without (`scan_decodes_mb` 0: each paired file read and decoded again), with and without verification, the
    two in turn `rounds` times (which first alternating); medians and the rounds."""
    taken: dict[str, list[float]] = {}
    for k in range(rounds):
        for verify in (False, True):
            for kept in (True, False)[::1 if k % 2 == 0 else -1]:
                name = f"{'verify' if verify else 'no_verify'}_{'kept' if kept else 'read_again'}"
                taken.setdefault(name, []).append(
                    neardup_rate(paths_dir, workers, model, verify, **({} if kept else {"scan_decodes_mb": 0})))
    return {**{name: float(np.median(r)) for name, r in taken.items()}, "rounds": taken}


def repeat_run(paths_dir: str, workers: int, model: str) -> dict:
    """What stored results save: one collection scanned with verification, scanned again (vectors and verdicts
    stored by content: nothing decoded for either), then swept twice (the nightly job: the first sweep after
    a scan, and the next night's)."""
    from neardup.config import Settings
    from neardup.pipeline.scan import Scanner
    from neardup.pipeline.sweep import sweep

    out = {}
    with tempfile.TemporaryDirectory() as data:
        scanner = Scanner(Settings(data_dir=data, decode_threads=workers, model=model))
        scanner.rt.encoder()
        for name in ("first_scan_s", "second_scan_s"):
            t = time.perf_counter()
            scanner.scan(paths_dir)
            out[name] = time.perf_counter() - t
        for name in ("sweep_s", "next_sweep_s"):
            t = time.perf_counter()
            sweep(scanner.rt, "default")
            out[name] = time.perf_counter() - t
    return out


def peak_rss_of_scan(n: int, workers: int, model: str, kept_mb: int, verify: bool) -> tuple[float, float]:
    """RSS (MB) once the encoder is loaded, and the highest RSS during one scan of n distinct 320x240 photos
    (sampled every 50 ms)."""
    import threading

    import psutil

    from neardup.config import Settings
    from neardup.pipeline.scan import Scanner

    paths = make_photos("rss", (320, 240), n)
    proc, done = psutil.Process(), threading.Event()
    with tempfile.TemporaryDirectory() as data:
        scanner = Scanner(Settings(data_dir=data, decode_threads=workers, model=model, scan_decodes_mb=kept_mb,
                                   verify=verify))
        scanner.rt.encoder()
        start = peak = proc.memory_info().rss / 2**20

        def sample():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, proc.memory_info().rss / 2**20)
                done.wait(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        scanner.scan(str(Path(paths[0]).parent))
        done.set()
        sampler.join()
    return start, peak


def peak_rss(n: int, workers: int, model: str) -> dict:
    """peak_rss_of_scan() verifying and not, with the scan's decodes kept (the default budget) and without,
    each scan in a fresh process: what the kept decodes cost in memory."""
    import multiprocessing

    from neardup.config import Settings

    budget = Settings().scan_decodes_mb
    out = {}
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1) as pool:
        for verify in (True, False):
            for kept in (budget, 0):
                out[f"{'verifying' if verify else 'no_verify'}_kept_{kept}mb"] = pool.submit(
                    peak_rss_of_scan, n, workers, model, kept, verify).result()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--bench", type=Path, default=REPO / "bench-data" / "dev")
    ap.add_argument("--model", default=None, help="Encoder to measure: a shipped model's name or a .keras file "
                                                  "(default: the shipped default).")
    ap.add_argument("--peak-rss", type=int, default=0,
                    help="Also the highest RSS of scans of this many images, with the scan's decodes kept and not.")
    ap.add_argument("--views", action="store_true",
                    help="Also time the encoder alone with its backbone wrapped for 1, 2 and 8 views.")
    ap.add_argument("--breakdown", action="store_true",
                    help="Also time scans of the 0.3 MP and 4 MP sets (and with --catalogue the 4 MP catalogue) by "
                         "part, verifying and not.")
    ap.add_argument("--check-cost", action="store_true",
                    help="Also time --no-verify scans of each set with and without the same-frame check's "
                         "signatures (at least 3 rounds).")
    ap.add_argument("--processes", action="store_true",
                    help="Also time --no-verify scans of each set with and without the same-frame check's "
                         "processes (at least 3 rounds).")
    ap.add_argument("--repeat", action="store_true",
                    help="Also time a second verifying scan of the 0.3 MP set and two sweeps of it (stored verdicts).")
    ap.add_argument("--catalogue", action="store_true",
                    help="Also time the default scan with its report on the 4MP photos with many near-copies among "
                         "them (../shared/bench's generator), next to the decode ceiling, pHash and --no-verify.")
    ap.add_argument("--report", action="store_true",
                    help="Also time a --no-verify scan of the 4MP set with copies, with and without its report.")
    ap.add_argument("--kept-decodes", action="store_true",
                    help="Also time scans of the 4MP set with copies with the scan's decodes kept for the signatures "
                         "and without (scan_decodes_mb 0), verifying and not (at least 3 rounds).")
    ap.add_argument("--rounds", type=int, default=1,
                    help="Measure each set this many times, the four rates in turn, and report medians: each ratio "
                         "compares rates of one round, taken a minute or two apart, so a change in the machine's "
                         "speed between sets or rounds does not skew it.")
    ap.add_argument("--sets", nargs="+", choices=[*SIZES, "dev benchmark"], default=None,
                    help="Measure only these sets (default: all).")
    ap.add_argument("--verify-settings", action="store_true",
                    help="Also time verifying scans of the 4 MP set under other verification settings (the 5 "
                         "nearest, narrower and wider reaches), in turn with the ceiling and pHash.")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "throughput.json")
    a = ap.parse_args()
    from neardup.encoder.artifact import DEFAULT_MODEL, read_info, resolve

    model = resolve(a.model) if a.model else str(DEFAULT_MODEL)
    size = read_info(model).input_size
    encoder_alone = encoder_rate(model)
    sets = {name: make_photos(name, wh, a.n) for name, wh in SIZES.items()}
    if (a.bench / "truth.json").exists():
        sets["dev benchmark"] = sorted(str(p) for p in a.bench.iterdir() if p.suffix in (".jpg", ".png"))
    rows = [measure(name, paths, a.rounds, a.workers, model, size) for name, paths in sets.items()
            if a.sets is None or name in a.sets]
    print(f"workers: {a.workers}, model {read_info(model).version}, input {size}px, "
          f"encoder alone {encoder_alone:.0f} img/s")
    print("| set | images | decode ceiling img/s | pHash img/s | neardup img/s | (--no-verify) | neardup/ceiling "
          "| neardup/pHash | (--no-verify)/ceiling | (--no-verify)/pHash |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['images']} | {r['decode_ceiling']:.0f} | {r['phash']:.0f} | {r['neardup']:.0f} | "
              f"{r['neardup_no_verify']:.0f} | {r['neardup/ceiling']:.2f} | {r['neardup/phash']:.2f} | "
              f"{r['no_verify/ceiling']:.2f} | {r['no_verify/phash']:.2f} |")
    for r in filter(lambda r: "rounds" in r, rows):
        print(f"{r['set']}, round by round: " + "; ".join(
            f"--no-verify {t['no_verify/ceiling']:.2f} of the ceiling, {t['no_verify/phash']:.2f}x pHash "
            f"(ceiling {t['decode_ceiling'] / t['phash']:.2f}x pHash)" for t in r["rounds"]))
    out = {"workers": a.workers, "model": read_info(model).version, "encoder_alone": encoder_alone, "rows": rows}
    if a.views:
        out["views"] = view_rates(model)
        print("encoder alone, img/s: " + ", ".join(f"{g} {r:.0f}" for g, r in out["views"].items()))
    if a.breakdown:
        runs = [("0.3MP", "breakdown", True), ("0.3MP", "breakdown_no_verify", False),
                ("4MP", "breakdown_4MP", True), ("4MP", "breakdown_4MP_no_verify", False)]
        if "dev benchmark" in sets:  # most of its images in pairs: what the check costs where copies abound
            runs.append(("dev benchmark", "breakdown_dev_no_verify", False))
        timed = dict(sets)
        if a.catalogue:  # 4 MP photos, a sixth of them with six copies: where the default scan's time goes there
            timed["4MP catalogue"] = sorted(str(p) for p in catalogue(sets["4MP"]).iterdir()
                                            if p.suffix in (".jpg", ".png"))
            runs += [("4MP catalogue", "breakdown_catalogue", True),
                     ("4MP catalogue", "breakdown_catalogue_no_verify", False)]
        for name, key, verifying in runs:
            folder, n = str(Path(timed[name][0]).parent), len(timed[name])
            out[key] = parts = breakdown(folder, a.workers, model, verifying)
            print(f"{'verifying' if verifying else '--no-verify'} scan of the {name} set by part "
                  f"({parts['wall_s']:.1f} s in all, process CPU {1000 * parts['process_cpu_s'] / n:.2f} ms an image; "
                  "seconds and CPU seconds summed over threads" + ("; verdicts include their fits):" if verifying else "):"))
            for part_name, part in parts.items():
                if isinstance(part, dict):
                    print(f"  {part_name}: {part['calls']} calls, {part['s']:.1f} s, {part['cpu_s']:.1f} s CPU, "
                          f"{1000 * part['cpu_s'] / n:.2f} ms CPU an image")
            if not verifying:
                check = sum(parts[p]["cpu_s"] for p in ("labels.sign", "labels.difference") if p in parts)
                print(f"  the same-frame check (signatures and pair checks): {check / parts['process_cpu_s']:.1%} "
                      "of the process's CPU")
    if a.check_cost:
        for name in sets:
            out[f"check_cost_{name}"] = c = check_cost(str(Path(sets[name][0]).parent), a.workers, model,
                                                       max(3, a.rounds))
            print(f"the same-frame check on the {name} set, --no-verify: {c['with']:.0f} images/s with it, "
                  f"{c['without']:.0f} without: it costs {c['loss']:.1%} of the throughput (median of "
                  f"{len(c['rounds'])} rounds: " + ", ".join(f"{t['loss']:.1%}" for t in c["rounds"]) + ")")
    if a.processes:
        for name in (n for n in sets if a.sets is None or n in a.sets):
            out[f"processes_{name}"] = g = processes_gain(str(Path(sets[name][0]).parent), a.workers, model,
                                                          max(3, a.rounds))
            print(f"the same-frame check's processes on the {name} set, --no-verify: {g['with']:.1f} images/s "
                  f"with them, {g['without']:.1f} without (median of {len(g['rounds'])} rounds: "
                  + ", ".join(f"{t['with']:.1f} / {t['without']:.1f}" for t in g["rounds"]) + ")")
    if a.repeat:
        out["repeat"] = r = repeat_run(str(Path(sets["0.3MP"][0]).parent), a.workers, model)
        n = len(sets["0.3MP"])
        print(f"0.3MP set, {n} images, one collection: verifying scan {r['first_scan_s']:.1f} s, the same scan again "
              f"{r['second_scan_s']:.1f} s ({n / r['second_scan_s']:.0f} images/s), sweep {r['sweep_s']:.1f} s, "
              f"the next night's sweep {r['next_sweep_s']:.1f} s")
    if a.verify_settings:
        out["verify_settings"] = v = verify_settings_rates(sets["4MP"], a.rounds, a.workers, model, size)
        print(f"verifying scans of the 4MP set ({len(sets['4MP'])} distinct photos), images/s (x pHash), medians of "
              f"{a.rounds} round(s): decode ceiling {v['rates']['decode_ceiling']:.1f}, pHash {v['rates']['phash']:.1f}")
        for name in VERIFY_SETTINGS:  # a setting that comes to an earlier one's checks with this model is not run
            print(f"  {name}: {v['rates'][name]:.1f} ({v['x_phash'][name]:.2f})" if name in v["rates"]
                  else f"  {name}: the checks of a setting above")
    if a.catalogue:
        out["catalogue"] = c = catalogue_rates(sets["4MP"], a.rounds, a.workers, model, size)
        print(f"4MP catalogue with near-copies ({c['images']} images), images/s, medians of {len(c['rounds'])} "
              f"round(s): decode ceiling {c['decode_ceiling']:.1f}, pHash {c['phash']:.1f}, the default scan with its "
              f"report {c['default']:.1f} ({c['default/ceiling']:.2f} of the ceiling, {c['default/phash']:.2f}x pHash), "
              f"--no-verify without it {c['no_verify']:.1f} ({c['no_verify/ceiling']:.2f}, {c['no_verify/phash']:.2f}x)")
    if a.report:
        folder = with_copies(sets["4MP"], PHOTOS / f"4MP-copies-{a.n}")
        out["report"] = r = report_rates(folder, a.workers, model)
        print(f"4MP with copies ({r['images']} images, {r['pairs']} pairs), --no-verify: {r['no_report']:.1f} images/s "
              f"without the report, {r['report']:.1f} with it ({r['ratio']:.2f}x)")
    if a.kept_decodes:
        folder = with_copies(sets["4MP"], PHOTOS / f"4MP-copies-{a.n}")
        out["kept_decodes"] = k = kept_decodes_rates(folder, a.workers, model, max(3, a.rounds))
        print(f"4MP with copies, images/s with the scan's decodes kept for the signatures (each paired file read "
              f"again), medians of {len(k['rounds']['verify_kept'])} rounds: --no-verify {k['no_verify_kept']:.1f} "
              f"({k['no_verify_read_again']:.1f}), verifying {k['verify_kept']:.1f} ({k['verify_read_again']:.1f})")
    if a.peak_rss:
        out["peak_rss"] = p = peak_rss(a.peak_rss, a.workers, model)
        print(f"RSS of a scan of {a.peak_rss} images, each in a fresh process, after start-up -> highest: "
              + ", ".join(f"{k} {start:.0f} -> {peak:.0f} MB" for k, (start, peak) in p.items()))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
