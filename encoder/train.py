"""Train the encoder with triplet (or contrastive) loss on augmented views of a folder of photos.

Unlabelled photos: every image is its own group; its positive is an edited copy, its negatives are the
other images of the batch, mined semi-hard. Batches are built from neighbourhoods of the current
embedding for half of their images, so look-alike photos meet in one batch and become the hard negatives.
`labels="folders"`: class sub-folders are groups (same class = positive).
"""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from neardup.errors import DecodeError

from . import augment, crowding, views
from .artifact import PRETRAINED
from .calibrate import calibrate, with_distractors
from .decode import find_images, open_image, read_bytes, to_input
from .metrics import summary


@dataclass
class TrainConfig:
    arch: str = "plain"  # or "efficientnet": the ImageNet-pretrained EfficientNet-Lite0 trunk (model.build_pretrained_encoder)
    frozen_blocks: int = 0  # efficientnet: the stem and this many first blocks keep their pretrained weights
    input_size: int = 64
    dim: int = 128
    width: int = 24
    colour: str = "rgb"  # or "luma": the encoder sees luminance only (see model.luma_layer)
    geometric: float = 0.0  # extra share of positives that start with a crop, tilt or border
    colour_jitter: float = 0.0  # extra share of positives turned grayscale or re-saturated
    init: str | None = None  # a saved .keras whose backbone weights training starts from (fine-tuning)
    teacher: str | None = None  # a saved .keras whose embeddings the new encoder also learns (losses.distilled)
    teacher_views: int = 40  # distilling: edited views per photo, each embedded by the teacher once (teacher_views)
    cached_views: int = 0  # otherwise: views per photo made once (encoder/views.py) that epochs draw pairs from;
    # 0: fresh edits for every batch (made by `workers` threads, as the epoch runs)
    epochs: int = 40
    batch_images: int = 64  # distinct images per batch; each gives two views
    loss: str = "triplet"
    margin: float = 0.3
    temperature: float = 0.1
    learning_rate: float = 1e-3
    val_fraction: float = 0.12
    labels: str = "none"  # or "folders"
    neighbour_batches: float = 0.0  # share of each batch drawn from neighbourhoods of the embedding
    symmetry: str = "flip"  # the saved model: "none", "flip" or "dihedral" invariant (see model.symmetric), or
    # "tied": the mirror encoder, flip-invariant in one pass by construction (model.build_mirror_encoder)
    max_side: int = 256
    seed: int = 0
    workers: int = 2
    max_minutes: float | None = None  # a time budget: the learning rate's cosine decay runs over it, not over
    # `epochs`, and training stops after the epoch that spends it (the model is kept)
    validate_every: int = 1  # epochs between validation figures (calibrating on the split takes seconds)
    # the crowding reference (encoder/crowding.py): the training split's photos under this folder ("": all of them)
    reference: str = ""


def load_pool(paths: list[str], max_side: int) -> tuple[list[Image.Image], list[str]]:
    images, kept = [], []
    for p in paths:
        try:
            im, _ = open_image(read_bytes(p), draft_to=max_side)
        except DecodeError:
            continue
        im.thumbnail((max_side, max_side), Image.BILINEAR)
        images.append(im)
        kept.append(p)
    return images, kept


def validation_set(images: list[Image.Image], size: int, seed: int, copies: int = 3):
    """Originals with `copies` benign and `copies` edited copies each: pixels, groups, levels."""
    r = random.Random(seed)
    pixels, groups, levels = [], [], []
    for g, im in enumerate(images):
        versions = [(im, 0)]
        versions += [(augment.jpeg(augment.benign(im, r, 1), r.choice([40, 70, 90])), 1) for _ in range(copies)]
        versions += [(augment.jpeg(augment.edit(im, r), 85), 2) for _ in range(copies)]
        for v, level in versions:
            pixels.append(to_input(v, size))
            groups.append(g)
            levels.append(level)
    return np.stack(pixels), np.array(groups), np.array(levels)


def neighbourhood_batches(embeddings: np.ndarray, per_batch: int, rng: np.random.Generator, k: int = 8):
    """Batches of images that look alike under the current model: the hard negatives of each other."""
    sims = embeddings @ embeddings.T
    unused = np.ones(len(embeddings), bool)
    batches = []
    for seed in rng.permutation(len(embeddings)):
        if not unused[seed]:
            continue
        batch = []
        while len(batch) < per_batch and unused.any():
            if not unused[seed]:
                seed = rng.choice(np.nonzero(unused)[0])
            near = [i for i in np.argsort(-sims[seed]) if unused[i]][:k]
            unused[near] = False
            batch.extend(near)
            seed = rng.choice(np.nonzero(unused)[0]) if unused.any() else seed
        batches.append(batch[:per_batch])
        if not unused.any():
            break
    return [b for b in batches if len(b) >= 4]


def make_dataset(images, classes, cfg: TrainConfig, size: int, cached=None):
    """Batches of two views of each image: fresh edits, or two of the image's `cached` views (pixels, and the
    teacher's embeddings of them or None). y: the group id the loss mines with, and then the teacher's embedding."""
    import keras

    def fresh_pair(idx, r):
        """The image or a benign copy of it, and a training positive: (pixels, group id) each."""
        im = images[idx]
        anchor = augment.benign(im, r) if r.random() < 0.5 else im
        positive = augment.positive(im, r, cfg.geometric, cfg.colour_jitter)
        return [(to_input(anchor, size), classes[idx]), (to_input(positive, size), classes[idx])]

    def cached_pair(idx, r):
        """Two of the image's cached views, each mirrored half the time: (pixels, group id or [group id,
        teacher's embedding])."""
        pixels, embeddings = cached
        return [(pixels[idx, v, :, ::-1] if r.random() < 0.5 else pixels[idx, v],
                 classes[idx] if embeddings is None else np.concatenate([[classes[idx]], embeddings[idx, v]]))
                for v in r.sample(range(pixels.shape[1]), 2)]

    class Views(keras.utils.PyDataset):
        """The batches of one epoch; on each epoch's start, part of them may be refilled with look-alikes."""

        def __init__(self):
            super().__init__(workers=cfg.workers, use_multiprocessing=False)
            self.rng = np.random.default_rng(cfg.seed)
            self.epoch = 0
            self.random_batches()

        def random_batches(self, keep: int | None = None):
            order = self.rng.permutation(len(images))
            n = min(cfg.batch_images, len(images))
            self.batches = [order[i:i + n] for i in range(0, len(order) - n + 1, n)][: keep]

        def mix_in_neighbours(self, embeddings):
            """Fill part of every batch with clusters of look-alikes, the rest stays random (so batch
            statistics stay representative)."""
            self.random_batches()
            hard = neighbourhood_batches(embeddings, int(cfg.batch_images * cfg.neighbour_batches), self.rng)
            self.rng.shuffle(hard)
            for i, cluster in enumerate(hard[: len(self.batches)]):
                rest = [j for j in self.batches[i] if j not in set(cluster)]
                self.batches[i] = np.array(list(cluster) + rest[: cfg.batch_images - len(cluster)])

        def __len__(self):
            return len(self.batches)

        def __getitem__(self, i):
            r = random.Random(hash((cfg.seed, self.epoch, i)))
            pairs = [(cached_pair if cached is not None else fresh_pair)(idx, r) for idx in self.batches[i]]
            xs, ys = zip(*(view for pair in pairs for view in pair))
            return np.stack(xs).astype(np.float32), np.array(ys, np.float32 if cfg.teacher else np.int32)

        def on_epoch_end(self):
            self.epoch += 1

    return Views()


def split(paths: list[str], cfg: TrainConfig) -> tuple[list[str], list[str]]:
    """(validation, training) paths: a fixed, seeded split."""
    paths = sorted(paths)
    random.Random(cfg.seed).shuffle(paths)
    n_val = max(8, int(len(paths) * cfg.val_fraction))
    return paths[:n_val], paths[n_val:]


def train(root: str | list[str], out: str, cfg: TrainConfig, log=print, groups: dict[str, str] | None = None) -> dict:
    """Train, calibrate on a held-out split, save `out` (.keras + .json); return the sidecar's contents.

    root: a folder, or a list of image paths. groups: optional {path: group name}; images sharing a group
    are positives of each other (confirmed duplicates, or `labels="folders"` classes).
    """
    import keras

    from . import artifact, losses
    from .model import symmetric, untied

    keras.utils.set_random_seed(cfg.seed)
    t0 = time.time()
    paths = find_images(root)[0] if isinstance(root, str) else list(root)
    val_paths, train_paths = split(paths, cfg)
    val_images, val_paths = load_pool(val_paths, cfg.max_side)
    images, train_paths = load_pool(train_paths, cfg.max_side)
    if cfg.labels == "folders":
        groups = {p: os.path.basename(os.path.dirname(p)) for p in train_paths}
    groups = groups or {}
    names = sorted({groups.get(p, p) for p in train_paths})
    classes = [names.index(groups.get(p, p)) for p in train_paths]
    if len(images) < 2:
        raise ValueError(f"too few readable training images ({len(images)}) under {root}")
    log(f"{len(images)} training and {len(val_images)} validation images")
    val_x, val_g, val_l = validation_set(val_images, cfg.input_size, cfg.seed + 1)

    tied = cfg.symmetry == "tied"
    model = build_model(cfg, train=True)
    if cfg.init:
        model.set_weights(backbone_of(cfg.init).get_weights())
    loss = losses.LOSSES[cfg.loss](cfg.margin if cfg.loss == "triplet" else cfg.temperature)
    cached = None
    if cfg.teacher:  # the teacher's embeddings of edited views, made once: the loss compares the student's to them
        cached, loss = teacher_views(train_paths, cfg, log, images), losses.distilled(loss)
    elif cfg.cached_views:
        cached = training_views(train_paths, cfg, log, images), None

    def active(y, e):
        labels = y[:, 0] if cfg.teacher else y
        return losses.active_fraction(labels, e, cfg.margin)

    data = make_dataset(images, np.array(classes), cfg, cfg.input_size, cached)
    budget = 60 * cfg.max_minutes if cfg.max_minutes else None
    # the cosine decay over the epochs, or, with a time budget, over what is left of it when fitting starts
    rate = cfg.learning_rate if budget else keras.optimizers.schedules.CosineDecay(cfg.learning_rate, len(data) * cfg.epochs)
    model.compile(optimizer=keras.optimizers.AdamW(rate, weight_decay=1e-4), loss=loss, metrics=[active])
    boxed = artifact.boxed(artifact.INPUT)  # the photos as the saved model will be given them
    pool_x = np.stack([to_input(im, cfg.input_size, boxed) for im in images]).astype(np.float32)
    history = []

    class EpochEnd(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.time()

        def on_epoch_begin(self, epoch, logs=None):
            if budget:
                spent = (time.time() - self.start) / max(1.0, budget - (self.start - t0))
                model.optimizer.learning_rate = cfg.learning_rate * 0.5 * (1 + np.cos(np.pi * min(1.0, spent)))
            if epoch >= 2 and cfg.neighbour_batches > 0:
                data.mix_in_neighbours(model.predict(pool_x, batch_size=256, verbose=0))

        def on_epoch_end(self, epoch, logs=None):
            if budget and time.time() - t0 > budget:
                log(f"time budget of {cfg.max_minutes} minutes spent: stopping after epoch {epoch + 1}")
                model.stop_training = True
                return  # the figures of the model as it stands follow training
            if (epoch + 1) % cfg.validate_every and epoch + 1 < cfg.epochs:
                return
            emb, groups, levels = calibration_embeddings(model)
            th = calibrate(emb, groups, levels)
            figs = summary(emb, groups, levels, th)
            row = {"epoch": epoch + 1, "loss": float(logs["loss"]), "active": float(logs.get("active", 0)),
                   "learning_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
                   **{k: round(v, 4) for k, v in figs.items()}, "thresholds": th}
            history.append(row)
            log(f"epoch {epoch + 1}/{cfg.epochs} lr {row['learning_rate']:.2e} loss {row['loss']:.4f} active {row['active']:.3f} "
                f"val ap {figs['ap']:.4f} r@p99 {figs['r_at_p99']:.4f} "
                f"dup_recall {figs['dup_recall']:.4f} (at d<={th['duplicate']:.3f}) "
                f"match_recall {figs['match_recall']:.4f} (at d<={th['match']:.3f})")

    def calibration_embeddings(m):
        return with_distractors(m.predict(val_x, batch_size=256, verbose=0), val_g, val_l,
                                m.predict(pool_x, batch_size=256, verbose=0))

    model.fit(data, epochs=cfg.epochs, verbose=1 if log is print else 0, callbacks=[EpochEnd()])
    trained = model
    if tied:
        model = untied(trained, cfg.input_size, cfg.dim, cfg.width, cfg.colour)
    else:
        model = build_model(cfg)  # the same weights, without the training state
        model.set_weights(trained.get_weights())
    if cfg.symmetry not in ("none", "tied"):
        model = symmetric(model, cfg.symmetry)
    emb, groups, levels = calibration_embeddings(model)
    crowd = crowding.fit(emb[-len(images):][under(train_paths, cfg.reference)])  # the reference photos' vectors
    thresholds = calibrate(emb, groups, levels, crowding=crowd)
    figures = {k: round(v, 4) for k, v in summary(emb, groups, levels, thresholds, crowd).items()}
    training = {"config": asdict(cfg), "root": str(root) if isinstance(root, str) else f"{len(paths)} paths",
                "images": len(images), "validation_images": len(val_images),
                "data_hash": _data_hash(train_paths), "seconds": round(time.time() - t0, 1),
                "keras": keras.__version__, "backend": keras.backend.backend(), "history": history}
    if cfg.teacher:
        training["teacher_version"] = artifact.read_info(Path(cfg.teacher)).version
    info = artifact.save(model, Path(out), thresholds, {"validation": figures}, training, crowd)
    log(json.dumps({"version": info.version, "thresholds": thresholds, "validation": figures}))
    return info.__dict__


def build_model(cfg: TrainConfig, train: bool = False):
    """The encoder `cfg` describes; `train`: as it is fitted (pretrained weights loaded, early blocks frozen,
    the mirror encoder's ties enforced) rather than as an empty shell to copy trained weights into."""
    from .model import build_encoder, build_mirror_encoder, build_pretrained_encoder

    if cfg.arch == "efficientnet":
        model = build_pretrained_encoder(cfg.input_size, cfg.dim, pretrained=None if not train or cfg.init else PRETRAINED)
        if train:
            frozen = ("stem",) + tuple(f"block{n}_" for n in range(cfg.frozen_blocks))
            for layer in model.layers:
                layer.trainable = not layer.name.startswith(frozen)  # a frozen BatchNorm also keeps its statistics
        return model
    if cfg.symmetry == "tied":
        return build_mirror_encoder(cfg.input_size, cfg.dim, cfg.width, cfg.colour, train=train)
    return build_encoder(cfg.input_size, cfg.dim, cfg.width, cfg.colour)


def training_views(paths: list[str], cfg: TrainConfig, log=print, photos=None) -> np.ndarray:
    """`cfg.cached_views` views of each training photo (views.of_photo) at the input size, made by `cfg.workers`
    processes: the pool contrastive epochs draw their pairs from. `photos`: the photos, loaded (views.made)."""
    t = time.time()
    made = views.made(paths, cfg.max_side, cfg.cached_views, (cfg.input_size,), cfg.seed, cfg.geometric,
                      cfg.colour_jitter, cfg.workers, photos)
    pixels = np.stack([sized[0] for sized in made])
    log(f"{cfg.cached_views} views of each of {len(paths)} photos made in {time.time() - t:.0f} s")
    return pixels


def teacher_views(paths: list[str], cfg: TrainConfig, log=print, photos=None) -> tuple[np.ndarray, np.ndarray]:
    """`cfg.teacher_views` views of each training photo (views.of_photo) at the student's input size, and the
    teacher's embedding of each, at its own size. The teacher runs once per view, not once per view and epoch:
    a 224-px EfficientNet teacher embeds 34,000 views in about 6 minutes on 2 CPU cores, then the student trains
    for as many epochs as it needs. `photos`: the photos, loaded (views.made)."""
    from .artifact import Encoder

    teacher = Encoder(cfg.teacher, batch_size=64)
    if teacher.info.dim != cfg.dim:
        raise ValueError(f"teacher embeds in {teacher.info.dim} dimensions, the student in {cfg.dim}")
    n_views = max(2, cfg.teacher_views)
    t = time.time()
    pixels = np.empty((len(paths), n_views, cfg.input_size, cfg.input_size, 3), np.uint8)
    embeddings = np.empty((len(paths), n_views, cfg.dim), np.float32)
    seen: list[np.ndarray] = []  # the teacher's inputs, embedded 16 photos' views a time (full batches)
    made = views.made(paths, cfg.max_side, n_views, (cfg.input_size, teacher.size), cfg.seed, cfg.geometric,
                      cfg.colour_jitter, cfg.workers, photos)
    for i, (small, large) in enumerate(made):
        pixels[i] = small
        seen.append(large)
        if len(seen) == 16 or i == len(paths) - 1:
            embeddings[i + 1 - len(seen):i + 1] = teacher.embed(np.concatenate(seen)).reshape(len(seen), n_views, cfg.dim)
            seen.clear()
    log(f"{n_views} views of each of {len(paths)} photos embedded by the teacher in {time.time() - t:.0f} s")
    return pixels, embeddings


def backbone_of(path: str):
    """The trainable encoder inside a saved model (itself, or the backbone its symmetric wrapper shares)."""
    import keras

    from .artifact import load_keras

    model = load_keras(path)
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner[0] if inner else model


def evaluate_model(path: str, val_x, val_g, val_l) -> dict:
    """A saved model's figures on a validation set, by its own distances (with its crowding reference), at
    thresholds calibrated on that same set."""
    from .artifact import Encoder

    enc = Encoder(path)
    crowd = crowding.load(enc.path, enc.info.crowding)
    emb = enc.embed(val_x.astype(np.uint8))
    return summary(emb, val_g, val_l, calibrate(emb, val_g, val_l, crowding=crowd), crowd)


def under(paths: list[str], folder: str) -> np.ndarray:
    """Which of these paths lie under `folder` (all of them for "")."""
    root = os.path.realpath(folder) + os.sep if folder else ""
    return np.array([os.path.realpath(p).startswith(root) for p in paths], bool)


def recalibrate(path: str, root: str | list[str], cfg: TrainConfig) -> dict:
    """Calibrate a saved model's thresholds again, on the held-out split of the data it was trained on
    (the same seeded split as training), with its crowding reference made anew from the training split's
    photos (those under `cfg.reference`, if set), and rewrite its sidecar (a new version: every distance
    changes). Returns the new thresholds and figures."""
    from .artifact import Encoder, file_version, read_info, write_info

    paths = find_images(root)[0] if isinstance(root, str) else list(root)
    val_paths, train_paths = split(paths, cfg)
    val_images, _ = load_pool(val_paths, cfg.max_side)
    images, train_paths = load_pool(train_paths, cfg.max_side)
    enc = Encoder(path)
    val_x, val_g, val_l = validation_set(val_images, enc.size, cfg.seed + 1)
    pool = enc.embed(np.stack([to_input(im, enc.size, enc.boxed) for im in images]))
    crowd = crowding.fit(pool[under(train_paths, cfg.reference)])
    emb, groups, levels = with_distractors(enc.embed(val_x), val_g, val_l, pool)
    thresholds = calibrate(emb, groups, levels, crowding=crowd)
    info = read_info(Path(path))
    info.thresholds = thresholds
    info.metrics["validation"] = {k: round(v, 4) for k, v in summary(emb, groups, levels, thresholds, crowd).items()}
    info.crowding = crowding.save(Path(path), crowd)
    info.version = file_version(Path(path), info.crowding, info.input, info.litert)
    write_info(Path(path), info)
    return {"version": info.version, "thresholds": thresholds, "crowding": info.crowding,
            "validation": info.metrics["validation"],
            "same_split_as_training": _data_hash(train_paths) == info.training.get("data_hash")}


def _data_hash(paths: list[str]) -> str:
    """The training photos' names, which alone decide the seeded split (a copy of the photos shrunk for a GPU
    machine has the same split)."""
    import hashlib

    return hashlib.sha256("\n".join(sorted(Path(p).name for p in paths)).encode()).hexdigest()[:16]
