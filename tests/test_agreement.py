"""Hash agreement (pipeline/agreement.py): a pair whose perceptual hashes agree is reported closer than the
embedding puts it, the same in a scan and a sweep; a pair whose hashes differ keeps the embedding's distance."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from neardup.encoder import phash
from neardup.encoder.decode import to_input
from neardup.pipeline.agreement import Agreement, agree, agreeing, pulled
from neardup.pipeline.scan import Scanner
from neardup.pipeline.search import search_images
from neardup.pipeline.sweep import sweep
from tests.conftest import sample_paths


def hashes(im: Image.Image) -> np.ndarray:
    return phash.dihedral(to_input(im.convert("RGB"), 80))


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(buf)


def test_hashes_agree_on_grayscale_re_encoded_resized_and_mirrored_copies_not_on_other_photos():
    photos = [Image.open(p).convert("RGB") for p in sample_paths()[:4]]
    for im in photos:
        own = hashes(im)
        for copy in (ImageOps.grayscale(im), jpeg(im, 60),
                     im.resize((im.width // 3, im.height // 3)), ImageOps.mirror(im)):
            assert agree(own, hashes(copy)) and agree(hashes(copy), own)
    assert not any(agree(hashes(a), hashes(b)) for i, a in enumerate(photos) for b in photos[i + 1:])


def test_the_pull_lowers_a_distance_at_most_halving_it_and_keeps_the_order():
    by = 0.2
    assert pulled(0.9, by) == 0.9 - by and pulled(0.3, by) == 0.15 and pulled(0.0, by) == 0.0
    ordered = [pulled(d, by) for d in np.linspace(0, 2, 41)]
    assert ordered == sorted(ordered)


def test_a_copy_whose_hashes_agree_is_paired_inside_a_match_threshold_its_embedding_distance_is_past(
        tmp_path, settings):
    """The grayscale copy's distance is the embedding's, lowered; the 55 % crop's hash differs, so its
    distance is the embedding's own. With the match threshold between the two, only the pull pairs the copy,
    in the scan, the sweep and a search alike."""
    folder = tmp_path / "photos"
    folder.mkdir()
    im = Image.open(sample_paths()[0]).convert("RGB")
    im.thumbnail((384, 384))
    im.save(folder / "photo.jpg", quality=92)
    ImageOps.grayscale(im).save(folder / "gray.jpg", quality=85)
    w, h = im.size
    im.crop((0, 0, int(w * 0.55), int(h * 0.55))).save(folder / "crop.jpg", quality=85)
    for p in sample_paths()[1:4]:
        Image.open(p).convert("RGB").save(folder / p.name, quality=90)

    settings.verify = False
    scanner = Scanner(settings)
    res = scanner.scan(str(folder))
    ids = {r.path.rsplit("/", 1)[-1]: i for i, r in res.images.items()}
    index = scanner.rt.index(res.collection, res.model_version, len(res.vectors[ids["photo.jpg"]]))
    raw = {name: float(index.pair_distances(res.vectors[ids["photo.jpg"]][None], res.vectors[ids[name]][None])[0, 0])
           for name in ("gray.jpg", "crop.jpg")}
    agreement = Agreement(scanner.rt, res.collection, res.model_version, res.thresholds)
    assert agreement.by == 0.25 * res.thresholds["match"]  # the default model's measured share
    reported = {name: agreement.nearest({ids["photo.jpg"]: [(ids[name], d)]})[ids["photo.jpg"]][0][1]
                for name, d in raw.items()}
    assert reported["gray.jpg"] == pulled(raw["gray.jpg"], agreement.by) < raw["gray.jpg"]
    assert reported["crop.jpg"] == raw["crop.jpg"]

    match = 0.9 * raw["gray.jpg"]  # past the embedding's distance, inside the agreeing pair's
    settings.threshold_duplicate, settings.threshold_match = 0.0, match
    settings.data_dir = str(tmp_path / "again")
    scanner = Scanner(settings)
    res = scanner.scan(str(folder))
    named = {frozenset(res.rel(i) for i in (a, b)): d for a, b, d, _ in res.pairs}
    pair = frozenset(("photo.jpg", "gray.jpg"))
    assert pair in named and named[pair] <= match
    swept = sweep(scanner.rt, res.collection)
    swept_pairs = {frozenset(swept.rel(i) for i in (a, b)): d for a, b, d, _ in swept.pairs}
    assert swept_pairs[pair] == pytest.approx(named[pair], abs=1e-5)  # Annoy's float32 distances
    found = search_images(settings, [str(folder / "gray.jpg")], res.collection, k=2)[str(folder / "gray.jpg")]
    hit = next(h for h in found if h["path"].endswith("photo.jpg"))
    assert hit["distance"] == pytest.approx(named[pair], abs=1e-5) and hit["label"] is not None

    settings.hash_pull, settings.data_dir = 0.0, str(tmp_path / "unpulled")  # the setting wins over the sidecar
    res = Scanner(settings).scan(str(folder))
    assert pair not in {frozenset(res.rel(i) for i in (a, b)) for a, b, _, _ in res.pairs}


def test_agreeing_answers_as_agree_for_every_row():
    """The batched test against many pictures at once says what the pair test says of each: own hashes a few
    bits apart either way round, a mirrored hash among the eight, and unrelated hashes."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2**63, 8, dtype=np.uint64)
    rows = rng.integers(0, 2**63, (40, 8), dtype=np.uint64)
    rows[0, 0] = x[0] ^ np.uint64(0b11)  # their own hashes 2 bits apart
    rows[1, 0] = x[0] ^ np.uint64(0b111)  # 3 bits: no
    rows[2, 5] = x[0] ^ np.uint64(1)  # x's own near one of theirs (a mirrored copy)
    rows[3, 0] = x[6]  # their own equal to one of x's
    def by_hand(y):  # the rule written out, bit counts one pair of hashes at a time
        return min(min(int(x[0] ^ h).bit_count() for h in y), min(int(y[0] ^ h).bit_count() for h in x)) <= phash.MAX_BITS

    expected = [by_hand(y) for y in rows]
    assert expected[:4] == [True, False, True, True] and not any(expected[4:])
    assert agreeing(x, rows).tolist() == expected and [agree(x, y) for y in rows] == expected

