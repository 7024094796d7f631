"""Commands that run in this process, with no Redis: scan, search, train, evaluate."""
from __future__ import annotations

import json
import os
import sys

import click
from tqdm import tqdm

from .common import cli, collection_option, settings_options, table, to_act_on


@cli.command()
@click.argument("directory", type=click.Path(exists=True))
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Folder for the outputs [default: "
              "./neardup-scan-NAME, NAME the scanned folder's].")
@click.option("--neighbors", "-k", type=click.IntRange(min=0), default=0, help="Also write the K nearest of every image.")
@collection_option()
@click.option("--no-report", is_flag=True, help="Skip report.html.")
@settings_options
def scan(directory, out, neighbors, collection, no_report, settings):
    """Find near-duplicates among the images under DIRECTORY; write pairs.csv, groups.json, failed.csv,
    report.html (and neighbors.csv with -k). Unchanged files reuse their stored vectors."""
    from neardup.encoder.decode import no_images_text
    from neardup.errors import ModelMismatch, ModelUnavailable
    from neardup.pipeline.outputs import write_outputs
    from neardup.pipeline.scan import Scanner, listed

    found, unlisted = listing = listed(directory)
    if not found and not unlisted:
        raise click.ClickException(no_images_text(directory))
    out = out or f"neardup-scan-{os.path.basename(os.path.abspath(directory))}"
    scanner = Scanner(settings, collection)
    try:
        with tqdm(total=len(found), unit="img", desc="scan", file=sys.stderr, disable=None) as bar:
            res = scanner.scan(directory, neighbors=neighbors, progress=bar.update, found=listing)
    except (ModelMismatch, ModelUnavailable) as exc:  # a collection indexed with another model
        raise click.ClickException(str(exc))
    counts = write_outputs(res, out, report=not no_report)
    labels = [p[3] for p in res.pairs]
    click.echo(table([
        ("images", len(res.images)), ("failed", len(res.failed)),
        ("duplicate pairs", labels.count("duplicate")), ("match pairs", labels.count("match")),
        ("groups", counts["groups"]), *to_act_on(counts), *([("gone from disk", res.removed)] if res.removed else []),
        ("seconds", f"{res.seconds:.1f}"),
        ("images/s", f"{(len(res.images) + len(res.failed)) / max(res.seconds, 1e-9):.1f}"),
        ("model", res.model_version), ("outputs", out)]
        + ([("report", os.path.join(out, "report.html"))] if not no_report else [])), err=True)


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@collection_option()
@click.option("-k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@settings_options
def search(images, collection, k, as_json, settings):
    """The K nearest stored images of each IMAGE, with distances and labels."""
    from neardup.pipeline.search import search_images

    try:
        results = search_images(settings, list(images), collection, k)
    except LookupError as exc:
        raise click.ClickException(str(exc))
    if as_json:
        click.echo(json.dumps(results, indent=1))
        return
    for query, hits in results.items():
        click.echo(f"{query}:")
        if isinstance(hits, str):
            click.echo(f"  failed: {hits}")
            continue
        click.echo(table([(h["path"], f'{h["distance"]:.4f}', h["label"] or "-", h.get("why", "")) for h in hits],
                         ("neighbor", "distance", "label", "why")))


@cli.command()
@click.argument("directories", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, help="MODEL.keras to write.")
@click.option("--arch", type=click.Choice(["plain", "efficientnet"]), default="plain", show_default=True,
              help="plain: a small CNN for the CPU; efficientnet: EfficientNet-Lite0 from its ImageNet weights.")
@click.option("--frozen-blocks", type=int, default=0, show_default=True,
              help="efficientnet: keep the stem and this many first blocks (of 16) as pretrained.")
@click.option("--max-side", type=int, default=256, show_default=True,
              help="Training photos are held at most this large (views are cut from them).")
@click.option("--labels", type=click.Choice(["none", "folders"]), default="none", show_default=True,
              help="folders: class sub-folders are groups (same class = positive).")
@click.option("--loss", type=click.Choice(["triplet", "contrastive"]), default="triplet", show_default=True,
              help="triplet: semi-hard negatives mined in the batch; contrastive: supervised InfoNCE.")
@click.option("--epochs", type=int, default=40, show_default=True)
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option("--input-size", type=int, default=64, show_default=True)
@click.option("--dim", type=int, default=128, show_default=True)
@click.option("--width", type=int, default=24, show_default=True)
@click.option("--colour", type=click.Choice(["rgb", "luma"]), default="rgb", show_default=True,
              help="luma: the encoder sees luminance only (invariant to grayscale and saturation edits).")
@click.option("--geometric", type=float, default=0.0, show_default=True,
              help="Extra share of training positives that start with a crop, tilt or border.")
@click.option("--colour-jitter", type=float, default=0.0, show_default=True,
              help="Extra share of training positives turned grayscale or re-saturated.")
@click.option("--init", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Start from this model's weights (fine-tuning) instead of a random initialisation.")
@click.option("--teacher", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Also learn this trained model's embeddings (distillation: e.g. a small CPU encoder from the "
                   "shipped efficientnet-lite0, as the default was made).")
@click.option("--teacher-views", type=int, default=40, show_default=True,
              help="With --teacher: edited views of each photo that the teacher embeds once, before training.")
@click.option("--cached-views", type=int, default=0, show_default=True,
              help="Without --teacher: views of each photo made once, before training, that every epoch draws its "
                   "pairs from (keeps a GPU fed); 0: fresh edits for every batch.")
@click.option("--workers", type=int, default=2, show_default=True,
              help="Processes that make cached views, threads that make fresh ones.")
@click.option("--max-minutes", type=float, default=None,
              help="A time budget: the learning rate decays over it, and training stops when it is spent.")
@click.option("--batch-images", type=int, default=64, show_default=True)
@click.option("--margin", type=float, default=0.3, show_default=True)
@click.option("--temperature", type=float, default=0.1, show_default=True)
@click.option("--neighbour-batches", type=float, default=0.0, show_default=True,
              help="Share of each batch filled with look-alikes under the current model (hard negatives).")
@click.option("--symmetry", type=click.Choice(["none", "flip", "dihedral", "tied"]), default="flip", show_default=True,
              help="Save the model invariant to flips / to flips and quarter turns (costs 2x / 8x inference; "
                   "quarter turns are also found by the turned perceptual hashes and verification); tied: "
                   "train the mirror encoder, invariant to flips in one pass by construction.")
@click.option("--seed", type=int, default=0, show_default=True)
def train(directories, out, **kwargs):
    """Train an encoder on the images under DIRECTORIES, calibrate its thresholds, save OUT (+ .json)."""
    from neardup.encoder.decode import find_images
    from neardup.encoder.train import TrainConfig
    from neardup.encoder.train import train as run

    root = directories[0] if len(directories) == 1 else [p for d in directories for p in find_images(d)[0]]
    info = run(root, out, TrainConfig(**kwargs))
    click.echo(json.dumps({k: info[k] for k in ("version", "thresholds", "metrics")}, indent=1))


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--truth", type=click.Path(exists=True, dir_okay=False), required=True,
              help="truth.json: {groups: [[original, copy, ...]], level: {copy: duplicate|match}, transforms: {...}}")
@collection_option(None, help="Default: a collection named after the folder's hash.")
@click.option("--neighbors", "-k", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Also write the scan outputs here.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@settings_options
def evaluate(directory, truth, collection, neighbors, out, as_json, settings):
    """Scan DIRECTORY and score it against a labelled truth.json (the figures of the benchmark's score.py)."""
    import hashlib
    import os

    from neardup.pipeline.evaluate import score
    from neardup.pipeline.outputs import write_outputs
    from neardup.pipeline.scan import Scanner

    try:
        with open(truth, encoding="utf-8") as fh:
            labelled = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{truth} is not a truth.json: {exc}")
    # one collection per folder and model: comparing models on one folder never mixes their generations
    key = f"{os.path.abspath(directory)}|{settings.model}"
    collection = collection or "eval-" + hashlib.sha1(key.encode(errors="surrogateescape")).hexdigest()[:10]
    res = Scanner(settings, collection).scan(directory, neighbors=neighbors)
    if out:
        write_outputs(res, out)
    figures = score(labelled,
                    [(res.rel(a), res.rel(b), d, label) for a, b, d, label in res.pairs],
                    [(res.rel(q), res.rel(n), d) for q, n, d in res.neighbors])
    figures["thresholds"] = res.thresholds
    figures["model_version"] = res.model_version
    if as_json:
        click.echo(json.dumps(figures, indent=1))
        return
    for k, v in figures.items():
        if isinstance(v, dict):
            click.echo(f"{k}:  " + "  ".join(f"{t}={r}" for t, r in v.items()))
        else:
            click.echo(f"{k:<22}{v:.4f}" if isinstance(v, float) else f"{k:<22}{v}")


@cli.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("directories", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--reference", type=click.Path(exists=True, file_okay=False),
              help="Take the crowding reference only from the training photos under this folder.")
def calibrate(model, directories, reference):
    """Re-calibrate MODEL's thresholds and crowding reference on the photos it was trained on (DIRECTORIES,
    as training read them; the split, seed and photo size are its sidecar's): thresholds on the held-out
    split, the reference from the rest."""
    from neardup.encoder.artifact import read_info
    from neardup.encoder.decode import find_images
    from neardup.encoder.train import TrainConfig, recalibrate

    trained = read_info(model).training.get("config", {})
    cfg = TrainConfig(**{k: trained[k] for k in ("seed", "val_fraction", "max_side", "reference") if k in trained})
    cfg.reference = reference or cfg.reference
    paths = [p for d in directories for p in find_images(d)[0]]
    click.echo(json.dumps(recalibrate(model, paths, cfg), indent=1))
