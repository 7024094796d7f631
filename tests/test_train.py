"""Training: the losses judge embeddings the right way round, and `neardup train` produces a usable model."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from keras import ops

from neardup.encoder import artifact, crowding, losses

pytestmark = pytest.mark.slow
TEACHER = artifact.SHIPPED["cnn-64"]  # a fast 128-d teacher for the students of these tests


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("name", ["triplet", "contrastive"])
def test_losses_prefer_separated_groups(name):
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(8, 16)))
    labels = np.repeat(np.arange(8), 2)
    good = unit(np.repeat(centres, 2, axis=0) + rng.normal(scale=0.01, size=(16, 16)))
    bad = unit(rng.normal(size=(16, 16)))
    loss = losses.LOSSES[name]()
    l_good = float(ops.convert_to_numpy(loss(labels, good.astype("float32"))))
    l_bad = float(ops.convert_to_numpy(loss(labels, bad.astype("float32"))))
    assert l_good < l_bad
    if name == "triplet":
        assert l_good == pytest.approx(0.0, abs=1e-6)


def test_active_fraction_counts_violations():
    labels = np.array([0, 0, 1, 1])
    same = unit(np.array([[1, 0], [1, 0.01], [1, 0.02], [1, 0.03]], dtype="float32"))
    apart = unit(np.array([[1, 0], [1, 0.01], [-1, 0], [-1, 0.01]], dtype="float32"))
    assert float(ops.convert_to_numpy(losses.active_fraction(labels, same, 0.3))) == 1.0
    assert float(ops.convert_to_numpy(losses.active_fraction(labels, apart, 0.3))) == 0.0


def test_distilled_loss_prefers_the_teachers_embeddings():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(8), 2)
    teacher = unit(rng.normal(size=(16, 16))).astype("float32")
    targets = np.concatenate([labels[:, None].astype("float32"), teacher], axis=1)  # group id, then the teacher's
    loss = losses.distilled(losses.contrastive())
    copied = float(ops.convert_to_numpy(loss(targets, teacher)))
    other = unit(rng.normal(size=(16, 16))).astype("float32")
    apart = float(ops.convert_to_numpy(loss(targets, other)))
    base = float(ops.convert_to_numpy(losses.contrastive()(labels, teacher)))
    assert copied == pytest.approx(base, rel=1e-5)  # no distance to the teacher: the base loss alone
    assert apart > copied + 1.0


def test_teacher_views_hold_the_teachers_embedding_of_each_view_the_student_sees(photos):
    from neardup.encoder.decode import to_input
    from neardup.encoder.train import TrainConfig, load_pool, teacher_views

    images, paths = load_pool(sorted(str(p) for p in photos.glob("*.jpg"))[:3], 128)
    cfg = TrainConfig(teacher=str(TEACHER), teacher_views=4, input_size=32, dim=128, max_side=128)
    pixels, embeddings = teacher_views(paths, cfg, log=lambda *_: None)
    assert pixels.shape == (3, 4, 32, 32, 3) and embeddings.shape == (3, 4, 128)
    teacher = artifact.Encoder(TEACHER)
    assert np.array_equal(pixels[:, 0], np.stack([to_input(im, 32) for im in images]))  # the first view: the photo
    photo = teacher.embed(np.stack([to_input(im, teacher.size) for im in images]))
    assert np.allclose(embeddings[:, 0], photo, atol=1e-5)  # embedded at the teacher's own input size
    assert all(not np.array_equal(pixels[i, v], pixels[i, 0]) for i in range(3) for v in range(1, 4))  # copies
    same, _ = teacher_views(paths, cfg, log=lambda *_: None)
    assert np.array_equal(same, pixels)  # seeded: a run can be repeated


def test_views_made_by_worker_processes_are_the_views_made_in_process(photos):
    from neardup.encoder import views
    from neardup.encoder.train import load_pool

    paths = sorted(str(p) for p in photos.glob("*.jpg"))[:4]
    alone = list(views.made(paths, 128, 5, (32, 48), seed=3, geometric=0.5, colour=0.5, workers=1))
    pooled = list(views.made(paths, 128, 5, (32, 48), seed=3, geometric=0.5, colour=0.5, workers=2))
    assert [a.shape for a in alone[0]] == [(5, 32, 32, 3), (5, 48, 48, 3)]
    assert all(np.array_equal(a, b) for x, y in zip(alone, pooled) for a, b in zip(x, y))  # (seed, photo) decide
    held = list(views.made(paths, 128, 5, (32, 48), seed=3, geometric=0.5, colour=0.5,
                           photos=load_pool(paths, 128)[0]))  # the trainer's photos, not loaded again
    assert all(np.array_equal(a, b) for x, y in zip(alone, held) for a, b in zip(x, y))
    assert not np.array_equal(alone[0][0], alone[1][0])  # each photo its own views
    other = next(views.made(paths, 128, 5, (32,), seed=4, geometric=0.5, colour=0.5))
    assert not np.array_equal(other[0][1:], alone[0][0][1:])  # another seed, other edits (the photo stays)
    assert np.array_equal(other[0][0], alone[0][0][0])


@pytest.mark.parametrize("symmetry,teacher", [("flip", False), ("tied", False), ("tied", True)])
def test_cli_train_writes_a_safe_calibrated_model(photos, tmp_path, symmetry, teacher):
    for i, p in enumerate(sorted(photos.glob("*.jpg"))):  # two class folders for --labels folders
        (photos / f"class{i % 2}").mkdir(exist_ok=True)
        shutil.move(p, photos / f"class{i % 2}" / p.name)
    out = tmp_path / "m.keras"
    # distilled from the shipped model: its embedding size, and a smaller input (the teacher sees its own)
    distil = (["--teacher", str(TEACHER), "--teacher-views", "5", "--dim", "128"] if teacher
              else ["--dim", "16"])
    if symmetry == "tied" and not teacher:  # views made once by two processes; the learning rate decays over time
        distil += ["--cached-views", "4", "--workers", "2", "--max-minutes", "30"]
    proc = subprocess.run([sys.executable, "-m", "neardup", "train", str(photos), "--out", str(out),
                           "--epochs", "2", "--input-size", "32", "--width", "8", *distil,
                           "--batch-images", "6", "--labels", "folders", "--loss", "triplet", "--symmetry", symmetry],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(out.with_suffix(".json").read_text())
    assert len(info["training"]["history"]) == 2
    last_rate = info["training"]["history"][-1]["learning_rate"]  # the cosine decay's, --learning-rate 1e-3
    if "--max-minutes" in distil:
        assert last_rate > 0.9e-3  # over a budget of 30 minutes, barely begun
    else:
        assert last_rate < 0.1e-3  # over the 2 epochs, run out
    if teacher:
        assert info["training"]["teacher_version"] == artifact.read_info(TEACHER).version
    # two epochs of a tiny tied model may find no distance at the duplicate target precision: 0 then
    assert (0 < info["thresholds"]["duplicate"] if symmetry == "flip" else 0 <= info["thresholds"]["duplicate"])
    assert info["thresholds"]["duplicate"] <= info["thresholds"]["match"]
    enc = artifact.Encoder(out)
    v = enc.embed(np.zeros((3, 32, 32, 3), np.uint8) + np.arange(3, dtype=np.uint8)[:, None, None, None] * 80)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert enc.model.layers[-1].__class__.__name__ == "UnitNormalization"
    x = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    flipped = enc.embed(np.ascontiguousarray(x[:, :, ::-1]))
    assert np.allclose(enc.embed(x), flipped, atol=1e-5)  # both kinds are exactly flip-invariant
    # the crowding reference (every training photo) and how pictures are given it: both part of the version
    reference = crowding.load(out, info["crowding"]).reference
    assert reference.shape == (info["training"]["images"], info["dim"])
    assert info["input"] == artifact.INPUT and artifact.Encoder(out).boxed
    assert info["version"] == artifact.file_version(out, info["crowding"], info["input"]) != artifact.file_version(
        out, info["crowding"])
    if symmetry == "flip":  # calibrated again with the reference taken from one folder: a new version
        proc = subprocess.run([sys.executable, "-m", "neardup", "calibrate", str(out), str(photos),
                               "--reference", str(photos / "class0")], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        again = json.loads(proc.stdout)
        assert again["same_split_as_training"] and again["version"] != info["version"]
        assert 0 < again["crowding"]["photos"] < len(reference)
