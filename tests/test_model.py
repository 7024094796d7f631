"""The shipped encoders: load safely, normalise their output, and separate copies from other photos; the
ported ImageNet trunk they start from still recognises what it was trained on."""
from __future__ import annotations

import json
import random
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageOps

from neardup.encoder import artifact, augment, crowding
from neardup.encoder.decode import to_input
from tests.conftest import sample_paths


@pytest.fixture(scope="module", params=list(artifact.shipped_files()),
                ids=[" = ".join(names) for names in artifact.shipped_files().values()])
def shipped(request):
    return artifact.Encoder(request.param)


def test_loads_with_safe_mode_and_has_no_code(shipped):
    config = json.loads(zipfile.ZipFile(shipped.path).read("config.json"))
    layers = {layer["class_name"] for layer in config["config"]["layers"]}
    assert "Lambda" not in layers
    assert shipped.model.layers[-1].__class__.__name__ == "UnitNormalization", "normalisation must be last"
    assert set(shipped.info.thresholds) == {"duplicate", "match"}
    assert 0 < shipped.info.thresholds["duplicate"] <= shipped.info.thresholds["match"] < 2


def test_embeddings_are_unit_vectors(shipped):
    x = np.stack([to_input(Image.open(p).convert("RGB"), shipped.size) for p in sample_paths()])
    v = shipped.embed(x)
    assert v.shape == (len(x), shipped.info.dim)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)


def test_edited_copies_under_match_threshold_unrelated_above(shipped):
    th = shipped.info.thresholds
    photos = [Image.open(p).convert("RGB") for p in sample_paths()]
    r = random.Random(0)

    def embed(ims):
        return shipped.embed(np.stack([to_input(im, shipped.size) for im in ims]))

    crowd = crowding.load(shipped.path, shipped.info.crowding)

    def distance(a, b):
        """Pairwise distances as the index reports them: with the model's crowding penalty, if it has one."""
        return np.linalg.norm(a[:, None] - b[None], axis=2) if crowd is None else crowd.distances(a, b)

    originals = embed(photos)
    copies = embed([augment.jpeg(augment.crop(ImageOps.mirror(im), 0.9, r, 0.0), 50) for im in photos])
    d_copy = np.diag(distance(originals, copies))
    d_other = distance(originals, originals)[~np.eye(len(photos), dtype=bool)]
    assert np.mean(d_copy <= th["match"]) >= 0.8, d_copy
    assert np.all(d_other > th["match"]), np.sort(d_other)[:5]
    benign = np.diag(distance(originals, embed([augment.jpeg(augment.scale(im, 0.5), 40) for im in photos])))
    assert np.all(benign <= th["match"]) and benign.max() < d_other.min()  # found, and nearer than any other photo


def test_same_embeddings_under_tensorflow_as_saved(shipped, tmp_path):
    """A model saved by training loads back bit-for-bit the same (the GPU path trains under JAX; the
    saved file is what crosses over)."""
    import keras

    from neardup.encoder.model import build_encoder

    keras.utils.set_random_seed(1)
    model = build_encoder(input_size=32, dim=16, width=8)
    x = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3)).astype(np.float32)
    path = tmp_path / "m.keras"
    artifact.save(model, path, {"duplicate": 0.1, "match": 0.2})
    again = artifact.Encoder(path)
    assert np.allclose(np.asarray(model.predict_on_batch(x)), again.embed(x.astype(np.uint8)), atol=1e-5)


def test_mirror_encoder_is_flip_invariant_in_one_pass_and_saves_safe(tmp_path):
    """The tied encoder: one pass, the same vector for an image and its mirror image; trained with its
    constraints, saved without them (built-in layers only, loads with safe_mode); its weights tie twins
    whatever the training did to them (BatchNorm statistics of twins are averaged on the way out)."""
    import keras

    from neardup.encoder.model import MirrorTied, build_mirror_encoder, untied

    keras.utils.set_random_seed(2)
    trained = build_mirror_encoder(input_size=32, dim=16, width=8, train=True)
    rng = np.random.default_rng(0)
    for layer in trained.layers:  # weights as training leaves them: kernels tied, BatchNorm statistics not
        if isinstance(layer, keras.layers.Conv2D):
            layer.kernel.assign(layer.kernel_constraint(layer.kernel))
    first_norm = next(layer for layer in trained.layers if isinstance(layer, keras.layers.BatchNormalization))
    first_norm.gamma.assign(MirrorTied()(rng.uniform(0.5, 1.5, first_norm.gamma.shape).astype("float32")))
    first_norm.moving_variance.assign(rng.uniform(0.2, 3, first_norm.moving_variance.shape).astype("float32"))
    x = rng.integers(0, 255, (3, 32, 32, 3)).astype(np.float32)
    mirrored = np.ascontiguousarray(x[:, :, ::-1])
    loose = trained.predict_on_batch(np.concatenate([x, mirrored]))
    assert np.abs(loose[:3] - loose[3:]).max() > 1e-3  # twins' statistics differ: not yet exactly invariant
    path = tmp_path / "tied.keras"
    artifact.save(untied(trained, 32, 16, 8), path, {"duplicate": 0.1, "match": 0.2})
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert "MirrorTied" not in json.dumps(config) and "Lambda" not in json.dumps(config)
    enc = artifact.Encoder(path)  # safe_mode=True
    v = enc.embed(np.concatenate([x, mirrored]).astype(np.uint8))
    assert np.allclose(v[:3], v[3:], atol=1e-5)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.linalg.norm(v[0] - v[1]) > 1e-3  # invariant, not constant


def test_ensemble_adds_its_members_squared_distances_by_weight_and_saves_safe(tmp_path):
    """The ensemble's squared distance is its members' (each on the image resized to its own input) added by
    weight, over the weights' sum; a projection onto axes that keep every dimension changes no distance; the
    file loads with safe_mode and runs through LiteRT like any encoder."""
    import keras

    from neardup.encoder.model import build_encoder, ensemble

    keras.utils.set_random_seed(3)
    big, small = build_encoder(input_size=48, dim=16, width=8, name="big"), build_encoder(32, 8, 8, name="small")
    x = np.random.default_rng(1).integers(0, 255, (4, 48, 48, 3)).astype(np.float32)
    a, b = big.predict_on_batch(x), small.predict_on_batch(keras.layers.Resizing(32, 32, "bilinear")(x))

    def squared(v):
        return ((v[:, None] - v[None]) ** 2).sum(-1)

    expected = (squared(a) + 0.5 * squared(b)) / 1.5
    rotation = np.linalg.qr(np.random.default_rng(2).normal(size=(24, 24)))[0]
    for projection in (None, rotation):
        model = ensemble([(big, 1.0), (small, 0.5)], 48, projection=projection)
        path = tmp_path / f"ensemble-{projection is None}.keras"
        artifact.save(model, path, {"duplicate": 0.1, "match": 0.2})
        v = artifact.Encoder(path).embed(x.astype(np.uint8))
        assert np.allclose(squared(v), expected, atol=1e-4)
    assert squared(a).max() > 0.1 and squared(b).max() > 0.1  # the members tell the images apart


def test_ported_imagenet_trunk_knows_a_cat_from_an_orange():
    """scripts/port_efficientnet_lite0.py checked the port against PyTorch within 1e-4; this keeps what
    it wrote honest without torch: the ImageNet classes of two bundled photos."""
    import keras

    model = keras.models.load_model(artifact.PRETRAINED, safe_mode=True, compile=False)
    x = np.stack([to_input(Image.open(p).convert("RGB"), 224) for p in sample_paths()
                  if p.name in ("scikit_image_chelsea.jpg", "opencv_orange.jpg")]).astype(np.float32)
    orange, cat = np.argmax(model.predict_on_batch(x), axis=1)  # sorted names: opencv_orange first
    assert cat in range(281, 286) and orange == 950  # tabby .. Egyptian cat; orange
