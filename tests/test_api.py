"""The Python API and the paths a user reaches without the queue: find_duplicates, settings precedence,
evaluate's scoring, search, and the promotion rule of a retrain."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from neardup.config import load
from neardup.pipeline.evaluate import score
from neardup.pipeline.retrain import at_least_as_good


def test_settings_precedence_flags_then_env_then_toml_then_defaults(tmp_path, monkeypatch):
    toml = tmp_path / "neardup.toml"
    toml.write_text('[neardup]\nbatch_size = 8\nverify = false\nroots = ["/a", "/b"]\nthreshold_match = 0.5\n')
    monkeypatch.setenv("NEARDUP_CONFIG", str(toml))
    for var in ("NEARDUP_BATCH_SIZE", "NEARDUP_VERIFY", "NEARDUP_ROOTS", "NEARDUP_THRESHOLD_MATCH"):
        monkeypatch.delenv(var, raising=False)
    s = load()
    assert (s.batch_size, s.verify, s.roots, s.threshold_match) == (8, False, ["/a", "/b"], 0.5)
    assert s.merge_fanout == 8 and s.threshold_duplicate is None  # untouched: the defaults
    monkeypatch.setenv("NEARDUP_BATCH_SIZE", "32")
    monkeypatch.setenv("NEARDUP_VERIFY", "yes")
    monkeypatch.setenv("NEARDUP_ROOTS", "/c:/d")
    s = load()
    assert (s.batch_size, s.verify, s.roots, s.threshold_match) == (32, True, ["/c", "/d"], 0.5)
    s = load(batch_size=4, verify=None)  # None: the flag was not given
    assert (s.batch_size, s.verify) == (4, True)


def test_evaluate_scores_labels_against_the_truth():
    truth = {"groups": [["o1", "d1", "e1"], ["o2", "d2"]], "level": {"d1": "duplicate", "e1": "match",
                                                                      "d2": "duplicate"},
             "transforms": {"d1": "jpeg", "e1": "crop", "d2": "jpeg"}}
    pairs = [("o1", "d1", 0.1, "duplicate"), ("o1", "e1", 0.4, "match"), ("d2", "o2", 0.2, "duplicate"),
             ("o1", "o2", 0.5, "match")]  # the last one is false
    res = score(truth, pairs, neighbors=[(a, b, d) for a, b, d, _ in pairs])
    assert res["true_pairs"] == 4 and res["true_duplicate_pairs"] == 2
    assert res["dup_precision"] == 1.0 and res["dup_recall"] == 1.0
    assert res["match_precision"] == 0.75 and res["match_recall"] == 0.75  # d1-e1 was missed
    assert res["recall_by_transform"] == {"crop": 1.0, "jpeg": 1.0}
    assert res["r_at_p99"] == 0.75  # the three true pairs rank before the false one
    merged = score(truth, [*pairs[:1], ("o1", "e1", 0.1, "duplicate"), *pairs[2:]])  # an edited copy merged
    assert merged["dup_precision"] == 2 / 3 and merged["dup_precision_any"] == 1.0 and merged["dup_recall"] == 1.0
    assert merged["duplicate_by_transform"] == {"crop": 1.0, "jpeg": 1.0} and res["duplicate_by_transform"]["crop"] == 0


def test_the_promotion_rule_wants_recall_at_high_precision_first():
    active = {"r_at_p99": 0.80, "ap": 0.95}
    assert at_least_as_good({"r_at_p99": 0.85, "ap": 0.90}, active)
    assert not at_least_as_good({"r_at_p99": 0.75, "ap": 0.99}, active)
    assert at_least_as_good({"r_at_p99": 0.80, "ap": 0.95}, active)  # as good: the newer model wins
    assert not at_least_as_good({"r_at_p99": 0.80, "ap": 0.94}, active)


@pytest.fixture
def with_copies(photos):
    """The photos plus a resized copy and a mirrored copy of one of them."""
    src = sorted(photos.glob("*.jpg"))[0]
    im = Image.open(src)
    im.resize((im.width * 3 // 4, im.height * 3 // 4)).save(photos / "copy_resized.jpg", quality=85)
    im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photos / "copy_mirrored.jpg", quality=85)
    return photos, src.name


def test_find_duplicates_returns_every_image_with_its_copies(with_copies, settings, caplog):
    import neardup

    folder, original = with_copies
    (folder / "truncated.jpg").write_bytes((folder / original).read_bytes()[:2000])
    found = neardup.find_duplicates(str(folder), settings)
    assert "truncated.jpg" not in found and any(  # left out, and said so
        "truncated.jpg: left out: truncated image" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    (folder / "truncated.jpg").unlink()
    assert set(found) == {p.name for p in folder.glob("*.jpg")}
    copies = {c.path: c for c in found[original]}
    assert copies["copy_resized.jpg"].label == "duplicate"
    assert copies["copy_mirrored.jpg"].label == "match"  # found, but a mirror image is never a duplicate
    assert all(original in {x.path for x in found[c.path]} for c in found[original])  # listed from both sides
    lonely = [p for p, c in found.items() if not c]
    assert len(lonely) >= len(found) - 3


def test_find_groups_gives_each_group_its_keeper_and_what_to_merge_or_review(with_copies, settings):
    import neardup

    folder, original = with_copies
    groups = neardup.find_groups(str(folder), settings)
    group = next(g for g in groups if "copy_resized.jpg" in {g.keeper, *g.duplicates, *g.matches})
    assert group.keeper == original  # the original, not its resized or mirrored copy
    assert group.duplicates == ["copy_resized.jpg"] and group.matches == ["copy_mirrored.jpg"]
    named = [p for g in groups for p in (g.keeper, *g.duplicates, *g.matches)]
    assert len(named) == len(set(named))  # each image in one group at most, once


def test_search_finds_the_stored_original_of_a_copy(with_copies, settings, tmp_path):
    from neardup.pipeline.scan import Scanner
    from neardup.pipeline.search import search_images

    folder, original = with_copies
    Scanner(settings).scan(str(folder))
    query = tmp_path / "query.png"
    Image.open(folder / original).convert("RGB").resize((200, 150)).save(query)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    res = search_images(settings, [str(query), str(broken)], "default", k=3)
    hits = res[str(query)]
    assert len(hits) == 3 and Path(hits[0]["path"]).name in (original, "copy_resized.jpg")
    assert hits[0]["label"] in ("duplicate", "match")
    assert res[str(broken)] == "not an image (unrecognised format)"
    with pytest.raises(LookupError, match="nothing indexed"):  # a misspelt collection is said to be empty
        search_images(settings, [str(query)], "defualt", k=3)


def test_search_labels_a_copy_of_a_picture_that_had_no_copy_before(photos, settings, tmp_path):
    """The collection's pictures have no copies, so none has a same-frame signature yet: a search for a resized
    copy makes the original's (from its file) and the query's, and labels the pair a duplicate; a mirror image
    stays a match."""
    from PIL import ImageOps

    from neardup.encoder.frame import KEY, WHY
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.scan import Scanner
    from neardup.pipeline.search import search_images

    res = Scanner(settings).scan(str(photos))
    assert not res.pairs
    rt = Runtime(settings)
    assert rt.registry.blobs_for(KEY, [r.content_hash for r in res.images.values()]) == {}
    original = sorted(photos.glob("*.jpg"))[0]
    im = Image.open(original)
    half, mirror = tmp_path / "half.png", tmp_path / "mirror.jpg"
    im.resize((im.width // 2, im.height // 2)).save(half)
    ImageOps.mirror(im).save(mirror, quality=90)
    found = search_images(settings, [str(half), str(mirror)], "default", k=1)
    assert [(Path(h["path"]).name, h["label"]) for h in found[str(half)]] == [(original.name, "duplicate")]
    assert [(Path(h["path"]).name, h["label"]) for h in found[str(mirror)]] == [(original.name, "match")]
    assert found[str(mirror)][0]["why"] in WHY.values() and "why" not in found[str(half)][0]


def test_search_verifies_the_grey_zone_as_a_scan_does(photos, settings, tmp_path):
    """Crops of the photos, searched among the photos, get the label and distance a scan of photos and crops
    together gives each (original, crop) pair: verification finds the crops the embedding alone puts past the
    match threshold, as it does in a scan."""
    import dataclasses
    import shutil

    from neardup.pipeline.scan import Scanner
    from neardup.pipeline.search import search_images

    crops, both = tmp_path / "crops", tmp_path / "both"
    crops.mkdir()
    shutil.copytree(photos, both)
    for p in sorted(photos.glob("*.jpg")):
        im = Image.open(p)
        im.crop((0, 0, im.width * 6 // 10, im.height * 6 // 10)).save(crops / f"crop_{p.name}", quality=90)
        shutil.copy(crops / f"crop_{p.name}", both)
    res = Scanner(dataclasses.replace(settings, data_dir=str(tmp_path / "both-data"))).scan(str(both))
    scanned = {frozenset(Path(res.images[i].path).name for i in (a, b)): (label, round(d, 3))
               for a, b, d, label in res.pairs}
    Scanner(settings).scan(str(photos))
    queries = sorted(str(p) for p in crops.glob("*.jpg"))
    searched = search_images(settings, queries, "default", k=3)
    alone = search_images(dataclasses.replace(settings, verify=False), queries, "default", k=3)

    def of_original(hits, query):
        return next(((h["label"], round(h["distance"], 3)) for h in hits[query]
                     if Path(h["path"]).name == Path(query).name[len("crop_"):]), (None, None))

    for q in queries:
        pair = scanned.get(frozenset((Path(q).name, Path(q).name[len("crop_"):])))
        label, distance = of_original(searched, q)
        assert (label, distance) == pair if pair else label is None, (q, pair, label, distance)
    found_by_checks = [q for q in queries if of_original(searched, q)[0] and not of_original(alone, q)[0]]
    assert len(found_by_checks) >= 3, found_by_checks
