"""Geometric verification (pipeline/verify.py): heavy crops and mirrored crops, which the embedding alone
leaves far apart, are found; no pair of different photos is."""
from __future__ import annotations

import os
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from neardup.encoder import augment
from neardup.pipeline.recent import Recent
from neardup.pipeline.verify import Verdict, Verifier, candidate_pairs, distance_after
from tests.conftest import sample_paths


def make_crops(folder, side=512):
    """Each sample at `side` px, a 55% crop of it and a mirrored 60% crop; {copy name: original name}."""
    r = random.Random(3)
    copies = {}
    for p in sample_paths():
        im = Image.open(p).convert("RGB")
        im.thumbnail((side, side))
        im.save(folder / p.name, quality=90)
        augment.crop(im, 0.55, r, 0.0).save(folder / f"crop_{p.name}", quality=85)
        ImageOps.mirror(augment.crop(im, 0.6, r, 0.0)).save(folder / f"mirror_{p.name}", quality=85)
        copies.update({f"crop_{p.name}": p.name, f"mirror_{p.name}": p.name})
    return copies


def test_verifier_confirms_crops_and_refutes_other_photos(tmp_path):
    copies = make_crops(tmp_path)
    v = Verifier()
    kp = {p.name: v.view(str(p), mirrored=True) for p in tmp_path.iterdir()}
    verdicts = {c: v.verdict(kp[o], kp[c]) for c, o in copies.items()}
    confirmed = [c for c, x in verdicts.items() if x and x.same]
    assert len(confirmed) >= 0.75 * len(copies), sorted(set(copies) - set(confirmed))
    originals = sorted(set(copies.values()))
    assert not [c for c, x in verdicts.items() if x and x.duplicate]  # a crop or mirror image is no duplicate
    others = [v.verdict(kp[a], kp[b]) for a in originals for b in originals if a < b]
    assert not [x for x in others if x and x.same]  # no two different photos confirmed
    assert sum(1 for x in others if x and not x.same) >= len(others) // 2  # most are refuted outright
    assert v.view(str(tmp_path / "missing.jpg")) is None


@pytest.mark.parametrize("size", [(1, 1), (4000, 3), (2, 3000)])
def test_a_picture_a_pixel_or_two_thin_has_no_keypoints_and_breaks_nothing(tmp_path, size):
    path = tmp_path / "thin.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), np.uint8)).save(path)
    photo = Verifier().view(str(sample_paths()[0]), True)
    for mirrored in (False, True):
        for sharper in (False, True):
            view = Verifier().view(str(path), mirrored, sharper)
            assert len(view.straight) == 0 and (view.mirrored is None) == (not mirrored)
            verdict = Verifier().verdict(photo, view)
            assert verdict is None or not verdict.same


def test_mirror_keypoints_are_those_a_search_of_the_mirror_image_finds():
    """The mirror image's keypoints come from the picture's own, mirrored level by level: the same points and
    descriptors a second search of the mirrored pixels gives, at any width (odd widths round their levels)."""
    v = Verifier()
    for p, width in zip(sample_paths(), (384, 383, 301, 250, 384, 197)):
        im = Image.open(p).convert("L")
        gray = np.asarray(im.resize((width, round(im.height * width / im.width))))
        _, mirrored = v._detect(gray, mirrored=True)
        searched, none = v._detect(np.ascontiguousarray(gray[:, ::-1]))
        assert none is None and len(mirrored) == len(searched) > 100
        found = {bytes(d): tuple(pt) for d, pt in zip(searched.descriptors, searched.points)}
        same = [np.allclose(found.get(bytes(d), (-9, -9)), pt, atol=0.05)
                for d, pt in zip(mirrored.descriptors, mirrored.points)]
        assert np.mean(same) >= 0.97, (p.name, width, np.mean(same))
        assert v.fit(searched, mirrored).inliers >= 0.9 * len(searched)


def test_matches_are_the_keypoints_each_others_nearest_that_pass_the_ratio_test():
    """matches() searches the way back for the keypoints of b the ratio test left only: the pairs are those of
    an exhaustive search both ways (ties aside), between a picture and a copy and between two different pictures."""
    v = Verifier()
    photos = [np.asarray(Image.open(p).convert("L").resize((320, 240))) for p in sample_paths()[:3]]
    copy = cv2.GaussianBlur(photos[0][20:, 30:], (0, 0), 0.7)
    for x, y in ((photos[0], copy), (photos[0], photos[1]), (photos[2], photos[1])):
        a, b = v._detect(x)[0], v._detect(y)[0]
        bits = np.unpackbits(a.descriptors[:, None, :] ^ b.descriptors[None, :, :], axis=2).sum(axis=2)
        order = np.argsort(bits, axis=1, kind="stable")
        first, second = bits[np.arange(len(a)), order[:, 0]], bits[np.arange(len(a)), order[:, 1]]
        back = np.argmin(bits, axis=0)
        tied = (bits == first[:, None]).sum(axis=1) > 1  # where a tie leaves the nearest to the search's order
        expected = {(i, int(order[i, 0])) for i in range(len(a))
                    if first[i] < v.ratio * second[i] and back[order[i, 0]] == i}
        found = set(zip(*(m.tolist() for m in v.matches(a, b))))
        assert {m for m in found ^ expected if not tied[m[0]]} == set()
        assert len(found) >= (40 if y is copy else 0)


def star_field(seed: int, side: int = 512) -> np.ndarray:
    """400 stars of random brightness on a noisy black sky: keypoints that all look alike."""
    r = np.random.default_rng(seed)
    sky = np.zeros((side, side), np.float32)
    sky[r.integers(0, side, 400), r.integers(0, side, 400)] = r.uniform(40, 255, 400)
    sky = cv2.GaussianBlur(sky, (0, 0), 1.2) * 6 + r.normal(0, 3, sky.shape)
    return np.clip(sky, 0, 255).astype(np.uint8)


def test_look_alike_star_fields_are_refuted_and_a_crop_of_one_confirmed(tmp_path):
    """Matched one way, a star's nearest in another star field is often a chance one, and 8 of these 56
    ordered pairs kept 4 to 7 inliers: undecided, left to the embedding. Matched both ways, every pair is
    refuted, and a 70 % crop still verifies."""
    for seed in range(8):
        Image.fromarray(star_field(seed)).convert("RGB").save(tmp_path / f"field{seed}.jpg", quality=90)
    Image.fromarray(star_field(0)[60:420, 80:440]).convert("RGB").save(tmp_path / "crop.jpg", quality=85)
    v = Verifier()
    views = {p.stem: v.view(str(p), mirrored=True) for p in tmp_path.iterdir()}
    verdicts = [v.verdict(views[f"field{i}"], views[f"field{j}"]) for i in range(8) for j in range(8) if i != j]
    assert all(x is not None and not x.same for x in verdicts), verdicts
    for a, b in (("crop", "field0"), ("field0", "crop")):
        found = v.verdict(views[a], views[b])
        assert found is not None and found.same and not found.duplicate and found.inliers >= 2 * v.min_inliers


def test_pairs_the_embedding_is_sure_of_are_left_as_it_ranks_them(tmp_path):
    """Under `verify_from` times the match threshold the embedding's pair stands unchecked: two look-alike star
    fields put there keep their distance, which verification, asked to check them, refutes."""
    from neardup.config import Settings
    from neardup.pipeline import verify
    from neardup.pipeline.scan import Scanner

    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in (0, 1):
        Image.fromarray(star_field(seed)).convert("RGB").save(photos / f"field{seed}.jpg", quality=90)
    scanner = Scanner(Settings(data_dir=str(tmp_path / "data"), verify=False), "stars")
    res = scanner.scan(str(photos))
    th, pair = res.thresholds, tuple(sorted(res.images))
    near = 0.5 * th["match"]
    for share, refuted in ((0.6, False), (0.0, True)):
        settings = verify.settings_for(Settings(data_dir=str(tmp_path / "data"), verify_from=share),
                                       scanner.rt.model_info(res.model_version))
        out = verify.settle(res.images, th, settings, scanner.rt.registry, {pair: near})
        assert (out.scored[pair] == near) != refuted and (pair in out.kept) != refuted
        assert out.changed == int(refuted)


def scan_crops(tmp_path, verify: bool):
    """Scan the crops folder; (the copies, the copies found, the pairs of different photos flagged, result)."""
    from neardup.config import Settings
    from neardup.pipeline.scan import Scanner

    photos = tmp_path / "photos"
    photos.mkdir(exist_ok=True)
    copies = make_crops(photos)
    settings = Settings(data_dir=str(tmp_path / f"data-{verify}"), decode_threads=2, verify=verify)
    res = Scanner(settings, "crops").scan(str(photos), neighbors=3)
    flagged = {tuple(sorted((res.rel(a), res.rel(b)))) for a, b, _, _ in res.pairs}
    found = {c for c, o in copies.items() if tuple(sorted((c, o))) in flagged}
    strays = [p for p in flagged if copies.get(p[0], p[0]) != copies.get(p[1], p[1])]
    assert len({q for q, _, _ in res.neighbors}) == len(res.images)
    assert all(sum(1 for q2, _, _ in res.neighbors if q2 == q) <= 3 for q, _, _ in res.neighbors)
    return copies, found, strays, res


def test_verification_finds_what_the_embedding_finds_and_adds_no_false_pair(tmp_path):
    copies, alone, strays_alone, res_alone = scan_crops(tmp_path, verify=False)
    _, verified, strays, res = scan_crops(tmp_path, verify=True)
    assert res_alone.verified == 0 and res.verified >= len(verified - alone)
    assert alone <= verified, sorted(alone - verified)  # verification never loses a copy the embedding found
    assert len(verified) >= 0.75 * len(copies)
    assert not strays and not strays_alone  # and flags no pair of different photos, with or without it
    assert all(d <= res.thresholds["match"] for _, _, d, _ in res.pairs)


@pytest.mark.parametrize("scanned_verifying", [False, True])
def test_sweep_verifies_the_same_grey_zone(tmp_path, scanned_verifying):
    """The nightly sweep finds the crops too, over an index built without verification and over one built
    with it."""
    from neardup.config import Settings
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.scan import Scanner
    from neardup.pipeline.sweep import sweep

    photos = tmp_path / "photos"
    photos.mkdir()
    copies = make_crops(photos)
    data = str(tmp_path / "data")
    Scanner(Settings(data_dir=data, decode_threads=2, verify=scanned_verifying), "crops").scan(str(photos))
    rt = Runtime(Settings(data_dir=data, decode_threads=2))
    res = sweep(rt, "crops")
    flagged = {tuple(sorted((res.images[a].path, res.images[b].path))) for a, b, _, _ in res.pairs}
    found = [c for c, o in copies.items() if tuple(sorted((str(photos / c), str(photos / o)))) in flagged]
    assert len(found) >= 0.75 * len(copies) and res.verified >= len(found)
    assert not res.neighbors  # kept for verification only, not written


@pytest.mark.parametrize("shape", [(100, 300), (300, 100)])
def test_trimmed_strips_are_duplicates(tmp_path, shape):
    """A trim along the long side of a tall or wide picture shifts it by a share of its length, not of its
    width: still the same frame (it was judged against the width only: a 6% trim of a 100x300 strip failed)."""
    v = Verifier()
    found = []
    for p in sample_paths():
        im = ImageOps.fit(Image.open(p).convert("RGB"), shape)
        w, h = shape
        trimmed = im.crop((0, round(0.06 * h), w, h) if h > w else (round(0.06 * w), 0, w, h))
        im.save(tmp_path / "a.jpg", quality=90)
        trimmed.save(tmp_path / "b.jpg", quality=60)
        x = v.verdict(v.view(str(tmp_path / "a.jpg")), v.view(str(tmp_path / "b.jpg"), mirrored=True))
        found.append(bool(x and x.duplicate))
    assert sum(found) >= 0.75 * len(found), found


def test_distance_after_verification():
    """Verified benign copies are duplicates wherever the embedding put them; other verified pairs land
    between the thresholds, nearer with more inliers; refuted pairs at the verify radius."""
    th, radius = {"duplicate": 0.3, "match": 0.4}, 1.0
    assert distance_after(Verdict(True, 100, duplicate=True), 0.6, th, radius, 12) == 0.3
    assert distance_after(Verdict(True, 12), float("inf"), th, radius, 12) == pytest.approx(0.4)
    assert 0.3 < distance_after(Verdict(True, 48), 0.6, th, radius, 12) < distance_after(Verdict(True, 24), 0.6, th, radius, 12)
    assert distance_after(Verdict(True, 48), 0.32, th, radius, 12) == 0.32  # never pushed further out
    assert distance_after(Verdict(False), 0.35, th, radius, 12) == 1.0


def test_candidates_are_the_flagged_pairs_and_each_images_k_nearest():
    """A benchmark asks for 10 neighbours per image; verification still checks only its own k nearest."""
    pairs = [(1, 9, 0.3, "match")]
    neighbors = [(1, n, d) for n, d in ((5, 0.9), (3, 0.5), (4, 0.7), (2, 0.6))] + [(6, 1, 0.4)]
    found = candidate_pairs(pairs, neighbors, k=2)
    assert found == {(1, 9): 0.3, (1, 3): 0.5, (1, 2): 0.6, (1, 6): 0.4}


def test_candidates_look_past_neighbours_that_are_duplicates_already():
    """A photo's copies under the duplicate threshold need no check: its k go to the neighbours past them."""
    copies = [(1, n, 0.1 + n / 100) for n in range(10, 16)]
    further = [(1, n, d) for n, d in ((2, 0.6), (3, 0.7), (4, 0.9))]
    pairs = [(1, n, d, "duplicate") for _, n, d in copies]
    assert set(candidate_pairs(pairs, copies + further, k=2)) == {(1, n) for n in range(10, 16)}
    found = candidate_pairs(pairs, copies + further, k=2, settled=0.3)
    assert set(found) == {(1, n) for n in range(10, 16)} | {(1, 2), (1, 3)}


def test_small_copies_are_confirmed_once_looked_at_sharper(tmp_path):
    """A 110-px crop leaves ORB next to no room at its own size; looked at again, scaled up to the working size,
    it is confirmed against its original, and no two different small photos are."""
    r = random.Random(3)
    pairs = []
    for p in sample_paths():
        im = Image.open(p).convert("RGB")
        im.thumbnail((512, 512))
        im.save(tmp_path / p.name, quality=90)
        small = augment.crop(im, 0.6, r, 0.0)
        small.thumbnail((110, 110))
        small.save(tmp_path / f"small_{p.name}", quality=40)
        pairs.append((p.name, f"small_{p.name}"))
    v = Verifier()

    def confirmed(sharper):
        views = {f.name: v.view(str(f), mirrored=True, sharper=sharper) for f in tmp_path.iterdir()}
        found = [b for a, b in pairs if (x := v.verdict(views[a], views[b])) and x.same]
        smalls = [b for _, b in pairs]
        strays = [(a, b) for a in smalls for b in smalls if a < b and (x := v.verdict(views[a], views[b])) and x.same]
        return found, strays, views

    plain, strays, views = confirmed(False)
    assert all(views[b].coarse for _, b in pairs)
    enlarged, strays_enlarged, sharper = confirmed(True)
    assert not any(view.coarse for view in sharper.values())
    assert len(enlarged) >= 0.6 * len(pairs) and len(enlarged) > len(plain), (plain, enlarged)
    assert not strays and not strays_enlarged


def test_verdicts_are_stored_by_content_and_reused(tmp_path, monkeypatch):
    """A second scan and a sweep of the same pictures decode nothing for verification and flag the same pairs;
    a bound on new verdicts per run moves on to further pairs instead of repeating the nearest ones; other
    verifier settings do not reuse these verdicts."""
    from sqlalchemy import func, select

    from neardup.config import Settings
    from neardup.pipeline import verify
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.scan import Scanner
    from neardup.pipeline.sweep import sweep
    from neardup.storage import db

    photos = tmp_path / "photos"
    photos.mkdir()
    make_crops(photos)
    monkeypatch.setattr(verify, "VIEWS", Recent(0))  # decodes counted, none kept between runs
    views = []
    real_view = Verifier.view
    monkeypatch.setattr(Verifier, "view", lambda self, *a, **k: views.append(a[0]) or real_view(self, *a, **k))

    def scan(data, **settings):
        views.clear()
        res = Scanner(Settings(data_dir=str(data), decode_threads=2, **settings), "crops").scan(str(photos))
        return {(a, b, label) for a, b, _, label in res.pairs}, len(views)

    first, decoded = scan(tmp_path / "data")
    again, decoded_again = scan(tmp_path / "data")
    assert decoded > 0 and first and decoded_again == 0 and again == first
    views.clear()
    res = sweep(Runtime(Settings(data_dir=str(tmp_path / "data"), decode_threads=2)), "crops")
    assert not views and {(a, b, label) for a, b, _, label in res.pairs} == first

    engine = Runtime(Settings(data_dir=str(tmp_path / "capped"))).engine

    def stored():
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(db.verdicts)).scalar()

    scan(tmp_path / "capped", verify_max_pairs=4)
    after_one = stored()
    _, decoded = scan(tmp_path / "capped", verify_max_pairs=4)
    assert 0 < after_one <= 8 and stored() > after_one and decoded > 0
    assert Verifier().key() != Verifier(min_inliers=13).key()


def test_files_of_the_same_bytes_are_decoded_and_judged_once_and_labelled_alike(tmp_path, monkeypatch):
    """Two more files of each photo's bytes beside its crops: verification decodes each content once and judges
    each pair of contents once, never a pair of the same bytes, and every file of a photo's bytes is paired
    and labelled as the photo is."""
    from neardup.config import Settings
    from neardup.pipeline import verify
    from neardup.pipeline.scan import Scanner

    photos = tmp_path / "photos"
    photos.mkdir()
    copies = make_crops(photos)
    for name in set(copies.values()):
        for k in (1, 2):
            (photos / f"same{k}_{name}").write_bytes((photos / name).read_bytes())
    monkeypatch.setattr(verify, "VIEWS", Recent(0))
    viewed, judged = [], []
    real_view, real_verdict = Verifier.view, Verifier.verdict

    def view(self, path, *args, **kwargs):
        viewed.append((Path(path).read_bytes(), *args))
        return real_view(self, path, *args, **kwargs)

    def verdict(self, a, b):
        judged.append((a, b))
        return real_verdict(self, a, b)

    monkeypatch.setattr(Verifier, "view", view)
    monkeypatch.setattr(Verifier, "verdict", verdict)
    res = Scanner(Settings(data_dir=str(tmp_path / "data"), decode_threads=2), "crops").scan(str(photos))
    assert viewed and judged and res.verified
    assert len(viewed) == len(set(viewed))
    assert len({(id(a), id(b)) for a, b in judged}) == len(judged) and all(a is not b for a, b in judged)
    labels = {frozenset((res.rel(a), res.rel(b))): label for a, b, _, label in res.pairs}
    found = 0
    for copy, original in copies.items():
        same = [labels.get(frozenset((copy, name))) for name in (original, f"same1_{original}", f"same2_{original}")]
        assert same == [same[0]] * 3, (copy, same)
        assert labels[frozenset((f"same1_{original}", f"same2_{original}"))] == "duplicate"
        found += same[0] is not None
    assert found >= 0.75 * len(copies)


def test_strongly_blurred_small_copies_are_confirmed_by_their_pixels(tmp_path):
    """A strong blur leaves a thumbnail no corners for ORB; the blurred-copy check recognises it, and
    confirms no blurred photo as another photo, nor two flat pictures."""
    from PIL import ImageFilter

    blurred = {}
    for p in sample_paths():
        im = Image.open(p).convert("RGB")
        im.thumbnail((140, 140))
        im.save(tmp_path / p.name, quality=92)
        im.filter(ImageFilter.GaussianBlur(3.5)).save(tmp_path / f"blur_{p.name}", quality=75)
        blurred[f"blur_{p.name}"] = p.name
    Image.new("RGB", (140, 140), (20, 20, 20)).save(tmp_path / "flat_dark.png")
    Image.new("RGB", (140, 140), (24, 22, 20)).save(tmp_path / "flat_darker.png")
    v, without = Verifier(), Verifier(blur_tolerance=0.0)
    views = {p.name: v.view(str(p), mirrored=True) for p in tmp_path.iterdir()}
    verdicts = {c: v.verdict(views[o], views[c]) for c, o in blurred.items()}
    confirmed = {c for c, x in verdicts.items() if x and x.same}
    by_keypoints = {c for c, o in blurred.items() if (x := without.verdict(views[o], views[c])) and x.same}
    assert len(confirmed) == len(blurred), sorted(set(blurred) - confirmed)
    assert len(by_keypoints) < len(confirmed)  # the pixels found what the keypoints could not
    assert not [c for c in confirmed - by_keypoints if verdicts[c].duplicate]
    others = [v.verdict(views[o], views[c]) for c in blurred for o in blurred.values() if blurred[c] != o]
    assert not [x for x in others if x and x.same]
    assert not v.degraded_copy(views["flat_dark.png"], views["flat_darker.png"])


def save_pixelated(folder, side: int, grain=None) -> dict[str, str]:
    """Each sample at `side` px (with noise of sigma 10 drawn from `grain`, a numpy Generator, where given) and a
    copy of it in blocks of a tenth of its size; {copy name: original name}."""
    pixelated = {}
    for p in sample_paths():
        im = Image.open(p).convert("RGB")
        im.thumbnail((side, side))
        if grain is not None:
            grainy = np.asarray(im, np.float32) + grain.normal(0, 10, (im.height, im.width, 3))
            im = Image.fromarray(np.clip(grainy, 0, 255).astype(np.uint8))
        im.save(folder / p.name, quality=92)
        blocks = im.resize((max(8, im.width // 10), max(8, im.height // 10)), Image.NEAREST)
        blocks.resize(im.size, Image.NEAREST).save(folder / f"pix_{p.name}", quality=85)
        pixelated[f"pix_{p.name}"] = p.name
    return pixelated


def test_pixelated_copies_are_confirmed_by_their_pixels_even_where_keypoints_refute_them(tmp_path):
    """ORB finds the corners of a pixelated copy's blocks, which match none of a grainy photo's own: keypoints
    leave the pair undecided or refute it. Both pictures blurred alike at 64 px agree, and their hashes do:
    confirmed, as a match; no photo is confirmed as another's pixelated copy."""
    pixelated = save_pixelated(tmp_path, 768, grain=np.random.default_rng(0))
    v, without = Verifier(), Verifier(blur_tolerance=0.0)
    views = {p.name: v.view(str(p), mirrored=True) for p in tmp_path.iterdir()}
    verdicts = {c: v.verdict(views[o], views[c]) for c, o in pixelated.items()}
    by_keypoints = {c: without.verdict(views[o], views[c]) for c, o in pixelated.items()}
    confirmed = {c for c, x in verdicts.items() if x and x.same}
    by_pixels = confirmed - {c for c, x in by_keypoints.items() if x and x.same}
    assert len(by_pixels) >= 3, sorted(by_pixels)
    assert any(by_keypoints[c] is not None and not by_keypoints[c].same for c in by_pixels)  # refuted by keypoints
    assert not [c for c in by_pixels if verdicts[c].duplicate]
    others = [v.verdict(views[o], views[c]) for c in pixelated for o in pixelated.values() if pixelated[c] != o]
    assert not [x for x in others if x and x.same]


def test_pixelated_copies_of_small_pictures_are_confirmed_though_their_hash_moves(tmp_path):
    """Blocks of a tenth of a 256-px picture move its perceptual hash by up to 6 bits (2 at 768 px): such
    copies are confirmed by their pixels, some only since the hash may move that far, and no picture is
    confirmed as another's pixelated copy."""
    pixelated = save_pixelated(tmp_path, 256)
    v, within_4_bits = Verifier(), Verifier(blur_hash_bits=4)
    views = {p.name: v.view(str(p), mirrored=True) for p in tmp_path.iterdir()}

    def confirmed(verifier):
        return {c for c, o in pixelated.items() if (x := verifier.verdict(views[o], views[c])) and x.same}

    assert confirmed(within_4_bits) < confirmed(v)
    others = [v.verdict(views[o], views[c]) for c in pixelated for o in pixelated.values() if pixelated[c] != o]
    assert not [x for x in others if x and x.same]


@pytest.mark.parametrize("originals_first,interleaved", [(True, False), (False, False), (False, True)])
def test_the_queue_s_verify_step_gives_the_scan_s_pairs_and_labels(tmp_path, originals_first, interleaved,
                                                                    monkeypatch):
    """Batches indexed in either order (crops before or after their originals), some verified at once and
    some after later batches were indexed, end with the scan's pairs and labels; every image final. With
    `interleaved`, a batch verified at once meets the next batch indexed while it waited for the collection's
    lock: it gathers its candidates again, and only then (a step that met no other writer gathers them once)."""
    import contextlib

    from neardup.config import Settings
    from neardup.pipeline import verify_batch as step
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.scan import Scanner
    from neardup.pipeline.steps import embed_step, index_step
    from neardup.storage.registry import FINAL

    photos = tmp_path / "photos"
    photos.mkdir()
    copies = make_crops(photos, side=384)
    # few candidates per image, so that what is found from one side only is missed unless looked up both ways
    settings = Settings(data_dir=str(tmp_path / "data"), decode_threads=2, roots=[str(photos)], verify_k=2)
    scan = Scanner(settings, "scanned").scan(str(photos))
    want = {(*sorted((scan.rel(a), scan.rel(b))), label) for a, b, _, label in scan.pairs}
    assert any(label == "match" for *_, label in want)

    rt = Runtime(settings)
    originals = sorted(set(copies.values()))
    order = [*originals, *sorted(copies)] if originals_first else [*sorted(copies), *originals]
    pending = [order[start:start + 7] for start in range(0, len(order), 7)]
    gathered, gather = [], step.gather
    monkeypatch.setattr(step, "gather", lambda *args: gathered.append(args[-1]) or gather(*args))
    late, steps, moved = [], 0, 0

    def indexed(names: list[str]) -> list[int]:
        (generation, ids), = embed_step(rt, "queued", [str(photos / name) for name in names], None).items()
        index_step(rt, "queued", generation, ids, verifying=True)
        return ids

    @contextlib.contextmanager
    def after_another_writer():
        nonlocal moved
        if pending:
            late.append(indexed(pending.pop(0)))
            moved += 1
        yield

    for n in range(len(pending)):
        if not pending:
            break
        ids = indexed(pending.pop(0))
        if n % 2:
            late.append(ids)
        else:
            step.verify_batch(rt, "queued", ids, after_another_writer if interleaved else contextlib.nullcontext)
            steps += 1
    for ids in late:
        step.verify_batch(rt, "queued", ids, contextlib.nullcontext)
        steps += 1
    assert (moved > 0) == interleaved and len(gathered) == steps + moved
    generation, _ = rt.generations("queued")
    rows = {r.id: r for r in rt.registry.images(collection="queued")}
    assert all(r.status in FINAL for r in rows.values())
    got = {(*sorted((os.path.basename(rows[a].path), os.path.basename(rows[b].path))), label)
           for a, b, _, label in rt.registry.pairs_in("queued", generation)}
    assert got == want, (sorted(got - want), sorted(want - got))


def test_a_verify_step_with_verification_off_gives_the_index_step_s_answer(tmp_path):
    import contextlib

    from neardup.config import Settings
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.steps import embed_step, index_step
    from neardup.pipeline.verify_batch import verify_batch
    from neardup.storage.registry import ImageStatus

    photos = tmp_path / "photos"
    photos.mkdir()
    make_crops(photos, side=256)
    paths = sorted(str(p) for p in photos.iterdir())
    rt = Runtime(Settings(data_dir=str(tmp_path / "data"), decode_threads=2, roots=[str(photos)], verify=False))
    (generation, ids), = embed_step(rt, "q", paths, None).items()
    index_step(rt, "q", generation, ids, verifying=True)
    pairs = rt.registry.pairs_in("q", generation)
    assert {r.status for r in rt.registry.images(ids=ids)} == {ImageStatus.VERIFYING}
    states = verify_batch(rt, "q", ids, contextlib.nullcontext)
    assert set(states) == set(ids) and ImageStatus.VERIFYING not in states.values()
    assert rt.registry.pairs_in("q", generation) == pairs  # nothing verified, nothing changed
    assert verify_batch(rt, "q", ids, contextlib.nullcontext) == {}  # a redelivery finds nothing to do


def test_views_are_kept_by_content_between_runs(tmp_path, monkeypatch):
    """A verify worker meets an original in batch after batch: it is decoded once, while it stays among the
    views kept; a changed file (other content) is decoded again."""
    from concurrent.futures import ThreadPoolExecutor

    from neardup.pipeline import verify

    monkeypatch.setattr(verify, "VIEWS", Recent(2))
    photos = tmp_path / "photos"
    photos.mkdir()
    make_crops(photos, side=256)
    paths = {i: str(p) for i, p in enumerate(sorted(photos.iterdir())[:3])}
    decoded = []
    real_view = Verifier.view
    monkeypatch.setattr(Verifier, "view", lambda self, *a, **k: decoded.append(a[0]) or real_view(self, *a, **k))
    with ThreadPoolExecutor(2) as pool:
        def views(ids, hashes):
            return verify._views(ids, paths, set(), Verifier(), pool, hashes=hashes)

        first = views([0, 1], {0: "h0", 1: "h1"})
        assert len(decoded) == 2 and all(first.values())
        again = views([0, 1], {0: "h0", 1: "h1"})
        assert len(decoded) == 2 and again == first  # kept: nothing decoded
        views([0], {0: "h0-changed"})
        views([2], {2: "h2"})  # a third picture: the least recently used of two is let go
        views([1], {1: "h1"})
    assert decoded == [paths[0], paths[1], paths[0], paths[2], paths[1]]


def test_a_view_made_from_the_decode_a_scan_kept_is_the_view_of_the_file(tmp_path):
    """Verification finds keypoints in the decode the same-frame signature is made from, which a scan keeps from
    embedding (a 4 MP JPEG's decode costs more than the rest of its view): the keypoints, their descriptors,
    the mirror image's and the thumbnail are those the file gives when decoded again, as the queue's verify step
    does."""
    from neardup.encoder.decode import decode, read_bytes

    big = tmp_path / "big.jpg"
    Image.open(sample_paths()[0]).convert("RGB").resize((2304, 1728)).save(big, quality=90)
    v = Verifier()
    for path in [str(big), *map(str, sample_paths()[:3])]:
        kept = decode(read_bytes(path), 80, keep=True).kept
        assert kept is not None
        for mirrored in (False, True):
            own, reused = v.view(path, mirrored), v.view(path, mirrored, kept=kept)
            sides = [(own.straight, reused.straight)] + [(own.mirrored, reused.mirrored)] * mirrored
            for a, b in sides:
                assert len(a) >= v.min_keypoints and (a.width, a.height) == (b.width, b.height)
                assert np.array_equal(a.points, b.points) and np.array_equal(a.descriptors, b.descriptors)
            assert np.array_equal(own.thumb, reused.thumb)
    first = v.view(str(big))
    assert first.straight.width == 2304 // 8 and first.coarse  # the encoder's decode: 1/8
    assert v.view(str(big), sharper=True).straight.width == v.side


def test_a_verifying_scan_views_its_images_from_the_decodes_it_kept(tmp_path, monkeypatch):
    """A verifying scan that keeps its decodes (`scan_decodes_mb`) reads a file again only for a sharper look
    at a pair its first look could not decide; one that keeps none reads every image it looks at. Both find
    the same pairs with the same labels."""
    from neardup.config import Settings
    from neardup.pipeline import verify
    from neardup.pipeline.scan import Scanner

    photos = tmp_path / "photos"
    photos.mkdir()
    make_crops(photos)
    monkeypatch.setattr(verify, "VIEWS", Recent(0))
    reads, read = [], verify.read_bytes
    monkeypatch.setattr(verify, "read_bytes", lambda path, *a: reads.append(path) or read(path, *a))
    found = {}
    for kept_mb in (256, 0):
        reads.clear()
        res = Scanner(Settings(data_dir=str(tmp_path / f"data{kept_mb}"), decode_threads=2,
                               scan_decodes_mb=kept_mb), "crops").scan(str(photos))
        assert res.verified
        found[kept_mb] = ({(res.rel(a), res.rel(b), label) for a, b, _, label in res.pairs}, len(reads))
    (kept, reread), (own, read_all) = found[256], found[0]
    assert kept == own and reread < read_all / 2, (reread, read_all)
