"""Corner views (encoder/corners.py): a crop lies nearer a corner of its original than the whole picture
does, scans store each image's corner vectors when they verify (and only then), and the corner neighbours
of an image are proposed for verification."""
from __future__ import annotations

import random

import numpy as np
from PIL import Image

from neardup.encoder import artifact, augment, corners
from neardup.encoder.decode import decode, read_bytes, to_input
from tests.conftest import sample_paths


def test_views_are_the_four_corner_regions():
    quadrants = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]  # TL, TR, BL, BR
    im = Image.new("RGB", (200, 120))
    for n, colour in enumerate(quadrants):
        x, y = (n % 2) * 100, (n // 2) * 60
        im.paste(colour, (x, y, x + 100, y + 60))
    views = corners.views(im, 32)
    assert views.shape == (4, 32, 32, 3) and views.dtype == np.uint8
    for view, colour, (ax, ay) in zip(views, quadrants, corners.ANCHORS):  # each mostly (4/9) its quadrant
        outer = view[-3 if ay else 2, -3 if ax else 2]  # the view's outer corner is the image's corner
        assert np.abs(outer.astype(int) - colour).max() < 10
        share = (np.abs(view.astype(int) - colour).max(axis=2) < 10).mean()
        assert 0.35 < share < 0.6


def test_crop_is_nearer_a_corner_of_its_original_than_the_whole_picture():
    enc = artifact.Encoder()
    r = random.Random(5)
    nearer = []
    for p in sample_paths():
        im = Image.open(p).convert("RGB")
        im.thumbnail((256, 256))
        crop = augment.crop(im, r.uniform(0.5, 0.6), r, 0.0)
        whole, copy = enc.embed(np.stack([to_input(im, enc.size), to_input(crop, enc.size)]))
        corner_vecs = enc.embed(corners.views(im, enc.size))
        nearer.append(np.linalg.norm(corner_vecs - copy, axis=1).min() < np.linalg.norm(whole - copy))
    assert np.mean(nearer) >= 0.75, nearer


def test_decode_makes_corner_views_only_when_asked(photos):
    path = str(next(photos.iterdir()))
    assert decode(read_bytes(path), 32).corners is None
    assert decode(read_bytes(path), 32, corners=True).corners.shape == (4, 32, 32, 3)


def scan(photos, tmp_path, tiny_model, **flags):
    from neardup.config import Settings
    from neardup.pipeline.scan import Scanner

    settings = Settings(data_dir=str(tmp_path / "data"), decode_threads=2, model=tiny_model, **flags)
    scanner = Scanner(settings, "c")
    return scanner, scanner.scan(str(photos))


def test_scan_stores_corner_vectors_when_verifying(photos, tmp_path, tiny_model):
    scanner, res = scan(photos, tmp_path, tiny_model)
    stored = scanner.rt.registry.vectors_by_image("c", corners.key(res.model_version))
    assert set(stored) == set(res.images)
    assert all(v.shape == (4 * scanner.rt.encoder().info.dim,) for v in stored.values())
    index = scanner.rt.index("c", res.model_version, scanner.rt.encoder().info.dim)
    from neardup.pipeline.verify import corner_pairs

    ids = sorted(res.images)
    some = set(ids[: len(ids) // 2])
    pairs = corner_pairs(scanner.rt.registry, "c", some, res.model_version, index.nearest, k=2, scope=some)
    assert pairs and all(a in some and b in some and a < b for a, b in pairs)
    assert len(pairs) <= 2 * len(some)  # k per image at most
    # without a scope, the queried images are paired with any image the index holds
    anywhere = corner_pairs(scanner.rt.registry, "c", some, res.model_version, index.nearest, k=2)
    assert any(not set(p) <= some for p in anywhere) and all(set(p) & some for p in anywhere)
    assert not corner_pairs(scanner.rt.registry, "c", some, "another-model", index.nearest, k=2)


def test_scan_without_verification_embeds_no_corners(photos, tmp_path, tiny_model):
    scanner, res = scan(photos, tmp_path, tiny_model, verify=False)
    assert res.images
    assert not scanner.rt.registry.vectors_by_image("c", corners.key(res.model_version))


def test_an_encoder_that_needs_no_corner_views_gets_none_unless_the_settings_ask(photos, tmp_path, tiny_model):
    """An encoder's sidecar says what verification needs with it (a stronger embedding ranks crops near their
    originals by itself); the settings, where given, win."""
    import dataclasses
    import json
    import shutil

    from neardup.config import Settings
    from neardup.encoder import artifact
    from neardup.pipeline.verify import CORNER_K, REACH, K, radius_for, settings_for

    strong = tmp_path / "strong.keras"
    shutil.copyfile(tiny_model, strong)
    info = json.loads(artifact.sidecar(tiny_model).read_text())
    artifact.sidecar(strong).write_text(json.dumps({**info, "verification": {"k": 5, "corner_k": 0, "reach": 1.5}}))
    scanner, res = scan(photos, tmp_path / "own", str(strong))
    assert res.images and res.model_version == info["version"]
    assert not scanner.rt.registry.vectors_by_image("c", corners.key(res.model_version))
    checks = settings_for(scanner.rt.settings, scanner.rt.encoder().info)
    assert (checks.verify_k, checks.verify_corner_k, checks.verify_reach) == (5, 0, 1.5)
    th = {"duplicate": 0.1, "match": 0.4}
    assert radius_for(checks, th) == 1.5 * 0.4  # the reach scales the match threshold in use
    assert radius_for(dataclasses.replace(checks, verify_radius=0.9), th) == 0.9  # a radius set wins
    scanner, res = scan(photos, tmp_path / "asked", str(strong), verify_corner_k=2, verify_reach=2.0)
    assert set(scanner.rt.registry.vectors_by_image("c", corners.key(res.model_version))) == set(res.images)
    assert settings_for(scanner.rt.settings, scanner.rt.encoder().info).verify_reach == 2.0
    silent = artifact.read_info(tiny_model)  # a sidecar that says nothing
    plain = settings_for(scanner.rt.settings, silent)
    assert (plain.verify_k, plain.verify_corner_k) == (K, 2)
    plain = settings_for(Settings(), silent)
    assert (plain.verify_k, plain.verify_corner_k, plain.verify_reach) == (K, CORNER_K, REACH)
    assert radius_for(Settings(), th) == REACH * 0.4


def test_queue_embed_step_leaves_corners_to_the_sweep(photos, tmp_path, tiny_model):
    """Ingestion stays at one view per image; the first verifying sweep or scan embeds the corners, once."""
    from neardup.config import Settings
    from neardup.pipeline.embed import embed_missing_corners
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.steps import embed_step

    rt = Runtime(Settings(data_dir=str(tmp_path / "data"), decode_threads=2, model=tiny_model, roots=[str(photos)]))
    paths = sorted(str(p) for p in photos.iterdir())
    version = rt.encoder().version
    ids = embed_step(rt, "q", paths, None)[version]
    assert len(ids) == len(paths)
    assert not rt.registry.vectors_by_image("q", corners.key(version))
    assert embed_missing_corners(rt, "q", version, ids) == len(ids)
    assert set(rt.registry.vectors_by_image("q", corners.key(version))) == set(ids)
    assert embed_missing_corners(rt, "q", version, ids) == 0  # nothing twice


def test_corner_neighbours_skip_pairs_already_checked():
    """An original's corners are near its other copies too; once its own neighbours have put those up for
    verification, the corner neighbours go further and reach the crop behind them."""
    from neardup.pipeline.verify import corner_pairs

    rng = np.random.default_rng(0)
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    corner = unit(rng.normal(size=16))
    vectors = {i: unit(corner + 0.3 * unit(rng.normal(size=16))) for i in range(1, 7)}  # copies, ~0.3 away
    vectors[7] = unit(corner + 0.8 * unit(rng.normal(size=16)))  # the crop, further
    vectors.update({i: unit(rng.normal(size=16)) for i in range(8, 30)})  # unrelated

    class Registry:
        def vectors_by_image(self, collection, key, ids):
            return {0: np.tile(corner, 4)} if 0 in ids else {}

    def nearest(vec, n):
        found = sorted((float(np.linalg.norm(vec - v)), i) for i, v in vectors.items())
        return [(i, d) for d, i in found[:n]]

    scope = set(vectors) | {0}
    copies = {(0, i) for i in range(1, 7)}
    assert (0, 7) not in corner_pairs(Registry(), "c", scope, "m", nearest, k=5)
    found = corner_pairs(Registry(), "c", scope, "m", nearest, k=5, skip=copies)
    assert (0, 7) in found and not found & copies and len(found) == 5
