"""`neardup scan` end to end: outputs, bad input, re-scans that reuse vectors, the CLI's exit status."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neardup.pipeline.outputs import write_outputs
from neardup.pipeline.scan import Scanner
from tests.badfiles import make_bad_files


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def four_photos(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A folder of four sample photos without copies (JPEG q95), and the samples they come from."""
    from tests.conftest import sample_paths

    folder = tmp_path / "photos"
    folder.mkdir()
    originals = sample_paths()[:4]
    for p in originals:
        Image.open(p).convert("RGB").save(folder / p.name, quality=95)
    return folder, originals


def half_size_copy(original: Path, copy: Path) -> None:
    """A benign copy: half the size, re-encoded (a duplicate by the labels' rules)."""
    im = Image.open(original)
    im.resize((im.width // 2, im.height // 2)).save(copy, quality=80)


def test_scan_writes_every_output_and_survives_bad_files(photos, settings, tiny_model, tmp_path):
    settings.model = tiny_model
    first = sorted(photos.glob("*.jpg"))[0]
    shutil.copy(first, photos / "exact_copy.jpg")
    bad = make_bad_files(photos / "bad", first)
    res = Scanner(settings).scan(str(photos), neighbors=3)
    counts = write_outputs(res, tmp_path / "out")
    out = tmp_path / "out"

    failed = {r["path"]: r["reason"] for r in rows(out / "failed.csv")}  # relative, as in pairs.csv
    for path, expect in bad.items():
        rel = os.path.relpath(path, photos)
        assert expect in failed[rel], (rel, failed.get(rel))
    n_good = len(list(photos.glob("*.jpg")))
    assert len(res.images) == n_good

    pairs = rows(out / "pairs.csv")
    assert {"a", "b", "distance", "label"} == set(pairs[0])
    exact = [p for p in pairs if {p["a"], p["b"]} == {first.name, "exact_copy.jpg"}]
    assert exact and float(exact[0]["distance"]) == 0 and exact[0]["label"] == "duplicate"
    assert len({(p["a"], p["b"]) for p in pairs}) == len(pairs), "each unordered pair once"

    neighbors = rows(out / "neighbors.csv")
    assert len(neighbors) == 3 * n_good and all(r["query"] != r["neighbor"] for r in neighbors)
    groups = json.loads((out / "groups.json").read_text())["groups"]
    keeper_group = next(g for g in groups if any(m["path"] == "exact_copy.jpg" for m in g["members"]))
    assert sum(m["keeper"] for m in keeper_group["members"]) == 1
    assert {m["label"] for m in keeper_group["members"]} >= {"keeper", "duplicate"}  # the exact copy: merge it
    labelled = [m["label"] for g in groups for m in g["members"]]  # what the summary counts
    assert (counts["to_merge"], counts["to_review"]) == (labelled.count("duplicate"), labelled.count("match"))
    assert counts["to_merge"] >= 1
    report = (out / "report.html").read_text()
    assert "exact_<wbr>copy.<wbr>jpg" in report and "<svg" in report  # names wrap between their parts
    assert '<span class="tag duplicate">duplicate</span><br>' in report  # each copy's label under it
    assert f'<a href="{os.path.relpath(photos / "exact_copy.jpg", out)}">' in report  # thumbnails link the files
    assert (out / "thumbs").is_dir() and any((out / "thumbs").iterdir())


def test_solid_colours_and_pictures_a_pixel_thin_are_scanned_and_labelled(photos, settings, tmp_path):
    """Placeholders, swatches, 1-px images and strips among photos: each is embedded, paired and labelled like
    any picture (the default model, verification on)."""
    for name, size, colour in (("red", (500, 400), (200, 30, 30)), ("white", (400, 300), (255, 255, 255)),
                               ("dot", (1, 1), (0, 90, 0))):
        Image.new("RGB", size, colour).save(photos / f"{name}.png")
        Image.new("RGB", size, colour).save(photos / f"{name}_copy.jpg", quality=90)
    strip = np.random.default_rng(0).integers(0, 255, (3, 4000, 3), np.uint8)
    Image.fromarray(strip).save(photos / "strip.png")
    Image.fromarray(strip).save(photos / "strip_copy.png")
    res = Scanner(settings).scan(str(photos), neighbors=3)
    assert not res.failed and len(res.images) == len(list(photos.iterdir()))
    labels = {frozenset((res.rel(a), res.rel(b))): label for a, b, _, label in res.pairs}
    assert labels[frozenset(("red.png", "red_copy.jpg"))] == "duplicate"
    assert labels[frozenset(("strip.png", "strip_copy.png"))] == "duplicate"
    assert labels.get(frozenset(("red.png", "white.png"))) != "duplicate"


def test_a_picture_stored_many_times_is_one_group_with_pairs_bounded_per_copy(photos, settings, tmp_path):
    """Thirty files of one picture (15 of the same bytes, 15 re-encoded) among photos: in a scan and in a sweep
    they are one group, each file paired with at most `max_partners` others, not every one of the 435 pairs
    there are (which `max_partners = 0` keeps)."""
    from neardup.pipeline.groups import components
    from neardup.pipeline.outputs import groups_of
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.sweep import sweep

    original = sorted(photos.glob("*.jpg"))[0]
    im = Image.open(original)
    for k in range(30):
        if k < 15:
            shutil.copy(original, photos / f"same_{k:02d}.jpg")
        else:
            im.save(photos / f"again_{k:02d}.jpg", quality=60 + k)
    copies = {original.name, *(f"same_{k:02d}.jpg" for k in range(15)), *(f"again_{k:02d}.jpg" for k in range(15, 30))}
    settings.verify, settings.max_partners = False, 4

    def groups_and_pairs(res):
        named = [{res.rel(i) for i in group} for group in components(res.pairs)]
        return [g for g in named if g & copies], {frozenset((res.rel(a), res.rel(b))) for a, b, _, _ in res.pairs}

    for res in (Scanner(settings).scan(str(photos)), sweep(Runtime(settings), "default")):
        groups, pairs = groups_and_pairs(res)
        assert groups == [copies]
        group = next(g for g in groups_of(res) if g["keeper"] in copies)
        assert {m["label"] for m in group["members"] if not m["keeper"]} == {"duplicate"}  # most not paired with it
        assert len(pairs) <= 4 * len(copies)
        assert all(sum(1 for pair in pairs if name in pair) >= 1 for name in copies)
    settings.max_partners, settings.data_dir = 0, str(tmp_path / "all")
    groups, pairs = groups_and_pairs(Scanner(settings).scan(str(photos)))
    assert groups == [copies] and len({pair for pair in pairs if pair <= copies}) == 31 * 30 // 2


def test_uploads_stored_without_an_extension_are_scanned_when_they_begin_as_an_image(photos, settings, tiny_model):
    """A file named by an id, without an extension, is found and paired with its photo; a text file and a named
    pipe without one, and a file with a raw camera format's extension, are left alone (the pipe holds nothing)."""
    settings.model = tiny_model
    first = sorted(photos.glob("*.jpg"))[0]
    shutil.copy(first, photos / "3f2a9c0d")
    (photos / "README").write_text("not an image")
    os.mkfifo(photos / "incoming")
    shutil.copy(first, photos / "IMG_0001.CR2")
    res = Scanner(settings).scan(str(photos))
    names = {res.rel(i) for i in res.images}
    assert "3f2a9c0d" in names and not {"README", "incoming", "IMG_0001.CR2"} & names and not res.failed
    assert {first.name, "3f2a9c0d"} in [{res.rel(a), res.rel(b)} for a, b, _, _ in res.pairs]


def _scan_at(folder: str, data_dir: str, model: str, barrier) -> list:
    """One process's scan of `folder` into the default collection, started when the others start theirs."""
    from neardup.config import Settings

    barrier.wait()
    res = Scanner(Settings(data_dir=data_dir, model=model, batch_size=2, decode_threads=1)).scan(folder)
    return sorted((res.rel(a), res.rel(b), label) for a, b, _, label in res.pairs)


def test_scans_of_one_collection_at_once_all_finish_with_the_same_pairs(photos, tiny_model, tmp_path):
    """Two scans of the same folder into one collection, in two processes: the index steps of both take the same
    images; the one that commits second finds them indexed (the collection's epoch moved) and searches again."""
    import multiprocessing

    for i, p in enumerate(sorted(photos.glob("*.jpg"))):
        for side in (96, 64, 48):  # many images: many index steps, whose searches and commits interleave
            Image.open(p).resize((side, side)).save(photos / f"copy{side}_{i}.jpg", quality=80)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        barrier = manager.Barrier(2)
        first, second = pool.starmap(_scan_at, [(str(photos), str(tmp_path / "data"), tiny_model, barrier)] * 2)
    assert first == second and first


def test_rescan_reuses_vectors_and_changed_files_are_reembedded(photos, settings, tiny_model):
    settings.model = tiny_model
    first = Scanner(settings).scan(str(photos))
    assert first.embedded == len(first.images)
    again = Scanner(settings).scan(str(photos))
    assert again.embedded == 0 and again.pairs == first.pairs

    victim = sorted(photos.glob("*.jpg"))[1]
    Image.open(victim).transpose(Image.FLIP_TOP_BOTTOM).save(victim, quality=70)
    third = Scanner(settings).scan(str(photos))
    assert third.embedded == 1
    assert len(third.images) == len(first.images)
    statuses = [r.status for r in Scanner(settings).rt.registry.images(collection="default")]
    assert statuses.count("replaced") == 1


def test_a_scan_embeds_with_the_model_of_the_collection_s_generation_not_the_active_one(photos, settings, tiny_model,
                                                                                         tmp_path):
    """A collection indexed with one model and a registry whose active model is another (promoted without a
    roll-out, or a new default): a scan without --model embeds with the collection's model, whose index it
    writes to, never the active one's vectors into it."""
    from neardup.encoder import artifact
    from neardup.encoder.model import build_encoder

    settings.model = tiny_model
    first = Scanner(settings).scan(str(photos))
    other = tmp_path / "other.keras"
    info = artifact.save(build_encoder(input_size=32, dim=16, width=8), other, {"duplicate": 0.05, "match": 0.2})
    settings.model = None
    rt = Scanner(settings).rt
    rt.models.register(info.version, str(other), info.__dict__)
    rt.models.promote(info.version)
    assert rt.active_model_path() == str(other)
    photo = sorted(photos.glob("*.jpg"))[0]
    Image.open(photo).rotate(90, expand=True).save(photos / "turned.jpg", quality=90)  # one image to embed anew
    again = Scanner(settings).scan(str(photos))
    assert again.model_version == first.model_version != info.version
    assert again.embedded == 1 and {len(v) for v in again.vectors.values()} == {32}


def test_cli_scan_exit_zero_with_failures(photos, tmp_path, tiny_model):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    env = dict(os.environ, NEARDUP_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run([sys.executable, "-m", "neardup", "scan", str(photos), "--out", str(tmp_path / "o"),
                           "--model", tiny_model], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "broken.jpg" in (tmp_path / "o" / "failed.csv").read_text()
    assert "images" in proc.stderr


def test_cli_help_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "neardup", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "scan" in proc.stdout and "search" in proc.stdout


def test_names_that_are_not_utf8_are_kept_byte_for_byte(photos, settings, tiny_model, tmp_path):
    from tests.badfiles import non_utf8_name

    settings.model = tiny_model
    first = sorted(photos.glob("*.jpg"))[0]
    odd = non_utf8_name(photos, first)  # the same bytes as `first`: an exact duplicate of it
    res = Scanner(settings).scan(str(photos))
    write_outputs(res, tmp_path / "out")
    assert odd in {r.path for r in res.images.values()}, "indexed under its own name"
    raw = (tmp_path / "out" / "pairs.csv").read_bytes()
    assert b"bad\xff\xfename.jpg" in raw and first.name.encode() in raw
    assert not (tmp_path / "out" / "failed.csv").read_text().strip().count("\n")  # nothing failed


def test_cli_refuses_collection_names_that_are_paths(photos, tmp_path):
    env = dict(os.environ, NEARDUP_DATA_DIR=str(tmp_path / "data"))
    for name in ("../../escape", "/abs/path", "..", "a/b", "x" * 65, ""):
        proc = subprocess.run([sys.executable, "-m", "neardup", "scan", str(photos), "--out", str(tmp_path / "o"),
                               "--collection", name], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and "invalid collection name" in proc.stderr, (name, proc.stderr[-500:])
    assert not (tmp_path / "escape").exists() and not (tmp_path / "o").exists()


def test_cli_label_refuses_what_retraining_could_not_use(photos, tmp_path):
    """`neardup label` takes two different pictures: not a file that is no image, not one file twice."""
    env = dict(os.environ, NEARDUP_DATA_DIR=str(tmp_path / "data"))
    a, b = sorted(photos.glob("*.jpg"))[:2]
    (tmp_path / "notes.jpg").write_text("not a picture")

    def label(*args):
        return subprocess.run([sys.executable, "-m", "neardup", "label", *map(str, args)], env=env,
                              capture_output=True, text=True, timeout=300)
    no_image, twice, good = label(tmp_path / "notes.jpg", a, "duplicate"), label(a, a, "different"), label(a, b, "different")
    assert no_image.returncode == 1 and "not an image" in no_image.stderr and "Traceback" not in no_image.stderr
    assert twice.returncode == 1 and "same bytes" in twice.stderr
    assert good.returncode == 0, good.stderr[-500:]


def test_cli_scan_defaults_its_output_and_refuses_an_empty_folder(photos, tmp_path, tiny_model):
    env = dict(os.environ, NEARDUP_DATA_DIR=str(tmp_path / "data"))
    run = lambda *a: subprocess.run([sys.executable, "-m", "neardup", "scan", *a, "--model", tiny_model],  # noqa: E731
                                    env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    proc = run(str(photos))
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = tmp_path / "neardup-scan-photos" / "report.html"
    assert report.is_file() and str(Path("neardup-scan-photos") / "report.html") in proc.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    proc = run(str(tmp_path / "empty"))
    assert proc.returncode == 1 and "no images under" in proc.stderr


def test_the_embed_step_stops_at_its_deadline_while_files_are_decoded(settings, tiny_model, tmp_path):
    """The queue's time limit, without Celery: a deadline that passes while slow files decode stops the
    step with OutOfTime instead of waiting for them."""
    import time

    import pytest

    from neardup.errors import OutOfTime
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.steps import embed_step

    settings.model, settings.roots = tiny_model, [str(tmp_path)]
    slow = []
    for n in range(3):
        Image.new("RGB", (8000, 8000), (n * 60, 90, 200)).save(tmp_path / f"big{n}.png", compress_level=1)
        slow.append(str(tmp_path / f"big{n}.png"))
    rt = Runtime(settings)
    with pytest.raises(OutOfTime):
        embed_step(rt, "slow", slow, None, deadline=time.monotonic() + 0.2)
    assert embed_step(rt, "slow", slow, None, deadline=time.monotonic() + 600)  # with time enough, all of them


def row(i, w, h, size):
    """The registry row of image `i`, w x h pixels and `size` bytes, as the keeper reads one."""
    from neardup.storage.registry import ImageRow

    return ImageRow(**{**{f: None for f in ImageRow.__dataclass_fields__}, "id": i, "path": f"{i}.jpg",
                       "width": w, "height": h, "size_bytes": size})


def test_the_keeper_is_the_picture_its_copies_share_the_frame_of():
    """A bordered or turned copy has more pixels than its original; the original's re-encoded and resized
    copies share its frame (duplicate pairs), the edited one hangs off by a match pair."""
    from neardup.pipeline.groups import keeper

    original, resized, bordered = row(1, 480, 360, 50_000), row(2, 240, 180, 12_000), row(3, 560, 440, 80_000)
    pairs = [(1, 2, 0.05, "duplicate"), (1, 3, 0.3, "match"), (2, 3, 0.32, "match")]
    assert keeper([original, resized, bordered], pairs) is original
    assert keeper([original, resized, bordered]) is original  # without the pairs: the group's shape, then pixels
    assert keeper([original, bordered], [(1, 3, 0.3, "match")]) is bordered  # two shapes: pixels decide ...
    assert keeper([original, bordered], [(1, 3, 0.3, "match")], framed={3}) is original  # ... unless framed

    # a border thin enough for the same-frame check to call it a duplicate of the resized copy: in the set, but
    # a match of the original, and of another shape
    pairs = [(1, 2, 0.05, "duplicate"), (2, 3, 0.2, "duplicate"), (1, 3, 0.3, "match")]
    assert keeper([original, resized, bordered], pairs) is original
    framed = row(4, 520, 390, 90_000)  # a frame all round that keeps the shape: more of the set call it a match
    webp = row(5, 480, 360, 40_000)
    pairs = [(1, 2, 0.05, "duplicate"), (1, 5, 0.05, "duplicate"), (2, 5, 0.06, "duplicate"),
             (2, 4, 0.2, "duplicate"), (1, 4, 0.3, "match"), (4, 5, 0.3, "match")]
    assert keeper([original, resized, framed, webp], pairs) is original


def test_among_copies_sharing_a_frame_the_keeper_is_one_with_their_usual_tones():
    """A brightened copy saved at a higher quality is the largest file of a set of equal-sized copies: the
    tones tell it from the original, whose re-encoded copies share them. Two copies alone give no centre."""
    import numpy as np

    from neardup.pipeline.groups import keeper

    original, reencoded, brightened = row(1, 480, 360, 50_000), row(2, 480, 360, 30_000), row(3, 480, 360, 70_000)
    resized = row(4, 240, 180, 20_000)
    own = np.array([110.0, 100.0, 90.0, 40.0, 38.0, 35.0])
    tones = {1: own, 2: own + 0.4, 3: own * 1.1, 4: own - 0.6}
    pairs = [(a, b, 0.05, "duplicate") for a, b in ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))]
    members = [original, reencoded, brightened, resized]
    assert keeper(members, pairs) is brightened  # without tones: the largest file of the largest pictures
    assert keeper(members, pairs, tones=tones) is original
    assert keeper([original, brightened], [(1, 3, 0.05, "duplicate")], tones=tones) is brightened


def test_a_thumbnail_says_nothing_of_its_set_s_shape_and_tones():
    """A thumbnail's sides are rounded (48 x 33 of a 301 x 204 photo, 32 x 50 of 98 x 150) and its tones averaged
    over few pixels: in a set of duplicates it never makes the photo look reshaped or adjusted and win the
    keeper's place."""
    import numpy as np

    from neardup.pipeline.groups import keeper

    thumb, photo, cut = row(1, 48, 33, 1_300), row(2, 301, 204, 20_000), row(3, 282, 204, 15_000)
    pairs = [(a, b, 0.2, "duplicate") for a, b in ((1, 2), (1, 3), (2, 3))]
    assert keeper([thumb, photo, cut], pairs) is photo  # the thumbnail's shape was the set's median
    third, photo, cut = row(1, 32, 50, 950), row(2, 98, 150, 3_700), row(3, 92, 150, 3_000)  # a third of the size
    assert keeper([third, photo, cut], pairs) is photo
    # a caption bar the check let into the set: of its own shape, as the copy cut by 6 % is
    photo, sharpened, bar, cut, third = (row(1, 175, 151, 8_800), row(2, 175, 151, 7_800), row(3, 175, 160, 7_200),
                                         row(4, 164, 151, 6_900), row(5, 58, 50, 1_400))
    pairs = [(a, b, 0.2, "duplicate") for a in range(1, 6) for b in range(a + 1, 6)]
    assert keeper([photo, sharpened, bar, cut, third], pairs) is photo
    thumb, photo, gamma, cut = row(1, 48, 36, 1_200), row(2, 1024, 768, 237_000), row(3, 1024, 768, 187_000), \
        row(4, 962, 768, 185_000)
    own = np.array([110.0, 100.0, 90.0, 40.0, 38.0, 35.0])
    tones = {1: own + 2.0, 2: own, 3: own + 12.0, 4: own + 0.5}  # the thumbnail as near the photo as the photo is it
    pairs = [(a, b, 0.1, "duplicate") for a in range(1, 5) for b in range(a + 1, 5)]
    assert keeper([thumb, photo, gamma, cut], pairs, tones=tones) is photo


def test_a_scan_keeps_the_original_over_its_brightened_copy_saved_larger(photos, settings, tmp_path, monkeypatch):
    """The same through a scan: the photo, a re-encoded copy, a half-size copy and a brightened copy saved at
    a higher quality (the largest file); the group's keeper is the photo, also where the signatures are
    loaded a group at a time."""
    from PIL import ImageEnhance

    from neardup.pipeline import outputs
    from neardup.pipeline.outputs import groups_of

    first = sorted(photos.glob("*.jpg"))[0]
    im = Image.open(first).convert("RGB")
    im.save(photos / "copy.jpg", quality=75)
    im.resize((im.width // 2, im.height // 2)).save(photos / "half.jpg", quality=85)
    ImageEnhance.Brightness(im).enhance(1.12).save(photos / "brighter.jpg", quality=98)
    assert (photos / "brighter.jpg").stat().st_size > first.stat().st_size
    res = Scanner(settings).scan(str(photos))
    group = next(g for g in groups_of(res) if any(m["path"] == "brighter.jpg" for m in g["members"]))
    labels = {frozenset((res.rel(a), res.rel(b))): label for a, b, _, label in res.pairs}
    assert labels.get(frozenset((first.name, "brighter.jpg"))) == "duplicate", labels  # lightly adjusted
    assert group["keeper"] == first.name, group
    whole = groups_of(res)
    monkeypatch.setattr(outputs, "HINTS_AT_ONCE", 1)
    assert groups_of(res) == whole


def test_the_report_takes_its_thumbnails_from_the_scan_s_decode(photos, settings, tiny_model, tmp_path):
    """The previews are made while a paired image is decoded for its signature, for the images in a pair only:
    the report decodes nothing again (here, the files are gone by the time it is written), and a scan with
    previews off still gets thumbnails from the files."""
    settings.model = tiny_model
    settings.threshold_duplicate = settings.threshold_match = 1e-4  # an untrained encoder pairs at random
    first = sorted(photos.glob("*.jpg"))[0]
    shutil.copy(first, photos / "copy.jpg")
    res = Scanner(settings).scan(str(photos))
    assert res.pairs and res.previews is not None
    paired = {res.images[i].content_hash for pair in res.pairs for i in pair[:2]}
    made = {p.stem for p in Path(settings.data_dir, "previews").rglob("*.jpg")}
    assert paired <= made and len(made) < len({r.content_hash for r in res.images.values()})
    kept = tmp_path / "kept"
    shutil.copytree(photos, kept)
    shutil.rmtree(photos)
    write_outputs(res, tmp_path / "out")
    thumbs = list((tmp_path / "out" / "thumbs").iterdir())
    assert thumbs and all(Image.open(t).size[0] <= 160 for t in thumbs)

    settings.previews, settings.data_dir = False, str(tmp_path / "other")
    res = Scanner(settings).scan(str(kept))
    assert res.previews is None and not (tmp_path / "other" / "previews").exists()
    write_outputs(res, tmp_path / "out2")
    assert len(list((tmp_path / "out2" / "thumbs").iterdir())) == len(thumbs)


def framed(im: Image.Image) -> Image.Image:
    """The picture in a red frame 5 % of its width: a match, whose frame adds pixels."""
    from PIL import ImageOps

    return ImageOps.expand(im, border=im.width // 20, fill=(200, 60, 40))


def test_the_report_says_why_each_match_is_one(photos, settings, tmp_path):
    """A person looks at the matches: each says what changed (a frame added, the colours, a mirror), under its
    pair's tag and, in its group, under the copy."""
    import html

    from PIL import ImageOps

    from neardup.encoder.frame import WHY
    from neardup.pipeline.report import breakable

    first = sorted(photos.glob("*.jpg"))[0]
    im = Image.open(first)
    framed(im).save(photos / "framed.jpg", quality=90)
    ImageOps.grayscale(im).convert("RGB").save(photos / "gray.jpg", quality=90)
    ImageOps.mirror(im).save(photos / "mirrored.jpg", quality=90)
    res = Scanner(settings).scan(str(photos))
    write_outputs(res, tmp_path / "out")
    report = (tmp_path / "out" / "report.html").read_text()
    labels = {frozenset((res.rel(a), res.rel(b))): label for a, b, _, label in res.pairs}
    matches = [(a, b) for a, b, _, label in res.pairs if label == "match"]
    frames = res.frames([i for pair in matches for i in pair])
    why = {frozenset((res.rel(a), res.rel(b))): frames.why(a, b) for a, b in matches}
    for copy, reason in (("framed.jpg", "frame"), ("gray.jpg", "colour"), ("mirrored.jpg", "mirrored")):
        pair = frozenset((first.name, copy))
        assert labels.get(pair) == "match" and why[pair] == WHY[reason], (copy, why.get(pair))
        told = f'<div class="why">{html.escape(WHY[reason])}</div>'
        assert f"{breakable(copy)} ({Image.open(photos / copy).width}×{Image.open(photos / copy).height}){told}" \
            in report, copy  # under the copy in its group, the original its keeper
        assert f"{told}</div><figure" in report  # and under its pair's tag
    assert all(why.values()) and len(why) == sum(v == "match" for v in labels.values())


def test_a_photo_is_kept_over_its_framed_copy(photos, settings, tmp_path):
    """A photo and a copy in a frame, no other copy: no set of copies shares a frame, and the frame adds pixels;
    the check knows which of the two the frame is round."""

    from neardup.pipeline.outputs import groups_of

    first = sorted(photos.glob("*.jpg"))[0]
    im = Image.open(first)
    framed(im).save(photos / "framed.jpg", quality=90)
    res = Scanner(settings).scan(str(photos))
    group = next(g for g in groups_of(res) if any(m["path"] == "framed.jpg" for m in g["members"]))
    assert group["kind"] == "match" and group["keeper"] == first.name, group


def test_the_demo_s_keepers_are_its_originals(settings, tmp_path):
    """make demo's set: every photo with a resized copy and an edited one; each group's keeper is the photo."""
    from neardup.pipeline.outputs import groups_of
    from tests.conftest import REPO

    subprocess.run([sys.executable, str(REPO / "samples" / "make_samples.py"), str(tmp_path / "demo")], check=True,
                   capture_output=True)
    res = Scanner(settings).scan(str(tmp_path / "demo"))
    groups = groups_of(res)
    assert len(groups) >= 5
    for g in groups:
        assert not g["keeper"].endswith(("_edited.jpg", "_resized.jpg")), g
    labels = {(res.rel(a), res.rel(b)): label for a, b, _, label in res.pairs}
    originals = {g["keeper"] for g in groups}
    for (a, b), label in labels.items():
        if {a, b} & originals and (a.endswith("_edited.jpg") or b.endswith("_edited.jpg")):
            assert label == "match", (a, b)  # an edit of the original is never merged into it
    for g in groups:  # each copy's label against the keeper, what ops act on: its own pair's, else match
        for m in g["members"]:
            pair = labels.get((g["keeper"], m["path"])) or labels.get((m["path"], g["keeper"]))
            assert m["label"] == ("keeper" if m["keeper"] else pair or "match"), (g, m)
            if m["path"].endswith("_edited.jpg"):
                assert m["label"] == "match", m
    assert {m["label"] for g in groups for m in g["members"] if m["path"].endswith("_resized.jpg")} >= {"duplicate"}


def test_a_copy_not_paired_with_the_keeper_is_its_duplicate_only_through_uncontested_duplicates():
    """groups.json labels each copy against its keeper: by their own pair where there is one; else a duplicate
    where duplicate pairs join it to the keeper and no copy so joined calls it a match (then a person looks);
    a copy joined only through a match is a match."""
    from neardup.pipeline.outputs import labels_to

    pairs = [(1, 2, 0.1, "duplicate"), (2, 3, 0.1, "duplicate"), (3, 4, 0.1, "duplicate"), (2, 4, 0.4, "match"),
             (1, 5, 0.5, "match"), (5, 6, 0.1, "duplicate"), (1, 7, 0.1, "duplicate")]
    assert labels_to(1, pairs) == {2: "duplicate", 3: "duplicate", 5: "match", 7: "duplicate"}  # 4, 6: matches
    assert 3 not in labels_to(1, [*pairs, (3, 7, 0.4, "match")])  # a match: a duplicate of the keeper says so
    assert labels_to(2, pairs) == {1: "duplicate", 3: "duplicate", 4: "match", 7: "duplicate"}


def test_the_sweep_makes_the_signatures_an_older_key_holds(settings, tmp_path):
    """Same-frame signatures made before the check took its present form are stored under another key; the
    nightly sweep makes the ones its pairs lack, so resized copies are duplicates again (without: matches)."""
    from sqlalchemy import delete

    from neardup.encoder.frame import KEY
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.sweep import sweep
    from neardup.storage import db

    folder, originals = four_photos(tmp_path)
    for p in originals:
        im = Image.open(p).convert("RGB")
        im.resize((im.width // 2, im.height // 2)).save(folder / f"half_{p.name}", quality=80)
    Scanner(settings, "c").scan(str(folder))
    rt = Runtime(settings)
    with rt.engine.begin() as conn:
        conn.execute(delete(db.vectors).where(db.vectors.c.model_version == KEY))
    res = sweep(rt, "c")
    labels = {frozenset((Path(res.images[a].path).name, Path(res.images[b].path).name)): label
              for a, b, _, label in res.pairs}
    halves = [frozenset((p.name, f"half_{p.name}")) for p in originals]
    assert [labels.get(pair) for pair in halves] == ["duplicate"] * 4
    assert len(rt.registry.blobs_for(KEY, [r.content_hash for r in res.images.values()])) == len(res.images)


def test_only_images_in_a_pair_get_a_signature_and_a_later_copy_still_finds_its_original_s(settings, tmp_path):
    """The same-frame signature is made when an image is first in a pair, from its file: a scan of pictures
    without copies makes none, and a resized copy added later is labelled a duplicate of its original, whose
    signature is then made (a mirrored copy stays a match)."""
    from PIL import ImageOps

    from neardup.encoder.frame import KEY
    from neardup.pipeline.runtime import Runtime

    folder, originals = four_photos(tmp_path)
    first = Scanner(settings, "c").scan(str(folder))
    rt = Runtime(settings)
    hashes = [r.content_hash for r in first.images.values()]
    assert len(hashes) == 4 and not first.pairs
    assert rt.registry.blobs_for(KEY, hashes) == {}

    im = Image.open(folder / originals[0].name)
    im.resize((im.width // 2, im.height // 2)).save(folder / "half.jpg", quality=80)
    ImageOps.mirror(im).save(folder / "mirror.jpg", quality=90)
    res = Scanner(settings, "c").scan(str(folder))
    labels = {frozenset(Path(res.images[i].path).name for i in (a, b)): label for a, b, _, label in res.pairs}
    assert labels.get(frozenset((originals[0].name, "half.jpg"))) == "duplicate", labels
    assert labels.get(frozenset((originals[0].name, "mirror.jpg"))) == "match", labels
    signed = rt.registry.blobs_for(KEY, [r.content_hash for r in res.images.values()])
    paired = {i for a, b, *_ in res.pairs for i in (a, b)}
    assert set(signed) == {res.images[i].content_hash for i in paired}


def test_the_embed_step_signs_a_batch_s_pairs_from_its_decodes_and_the_index_task_signs_later_ones(tmp_path,
                                                                                                  monkeypatch):
    """embed_step signs the batch's copies from the decodes it embedded them from (their files are not read
    again) and the images they copy from their files, and nothing else, and stores their pairs' checks;
    sign_step, which the index task runs before it takes the collection's lock, does the same for a pair with
    an image indexed since the embedding. The index step then labels with them."""
    from neardup.config import Settings
    from neardup.encoder.frame import CHECKER, KEY
    from neardup.pipeline import labels
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.steps import embed_step, index_step, sign_step

    folder, originals = four_photos(tmp_path)
    rt = Runtime(Settings(data_dir=str(tmp_path / "data"), decode_threads=2, roots=[str(folder)], verify=False))
    for generation, ids in embed_step(rt, "q", [str(folder / p.name) for p in originals[:3]], None).items():
        index_step(rt, "q", generation, ids)
    half_size_copy(folder / originals[0].name, folder / "half.jpg")
    half_size_copy(folder / originals[3].name, folder / "half3.jpg")
    read, read_item = [], labels.read_item
    monkeypatch.setattr(labels, "read_item", lambda *a, **kw: read.append(Path(a[1]).name) or read_item(*a, **kw))

    def signed():
        names = {r.content_hash: Path(r.path).name for r in rt.registry.images(collection="q")}
        return {names[h] for h in rt.registry.blobs_for(KEY, list(names))}

    def checked():
        names = {r.content_hash: Path(r.path).name for r in rt.registry.images(collection="q")}
        return {frozenset((names[a], names[b])): reason for (a, b), reason in rt.registry.frame_checks(names, CHECKER).items()}

    (generation, half), = embed_step(rt, "q", [str(folder / "half.jpg")], None).items()
    assert signed() == {"half.jpg", originals[0].name}
    assert read == [originals[0].name]  # the copy's signature came from the decode the encoder was given
    assert checked() == {frozenset(("half.jpg", originals[0].name)): None}  # the same frame: a duplicate
    assert index_step(rt, "q", generation, half) == {str(half[0]): "duplicate"}

    (_, half3), = embed_step(rt, "q", [str(folder / "half3.jpg")], None).items()
    (_, third), = embed_step(rt, "q", [str(folder / originals[3].name)], None).items()
    assert signed() == {"half.jpg", originals[0].name}  # neither was indexed when the other was embedded
    index_step(rt, "q", generation, half3)
    sign_step(rt, "q", generation, third)
    assert signed() == {"half.jpg", originals[0].name, "half3.jpg", originals[3].name}
    assert set(checked()) == {frozenset(("half.jpg", originals[0].name)), frozenset(("half3.jpg", originals[3].name))}
    assert index_step(rt, "q", generation, third) == {str(third[0]): "duplicate"}


def test_with_embed_signs_off_the_embed_step_signs_nothing_and_the_index_task_signs_the_pairs(tmp_path):
    """A GPU embed worker leaves the same-frame work to the index task (NEARDUP_EMBED_SIGNS=0 in compose)."""
    from neardup.config import Settings
    from neardup.encoder.frame import KEY
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.steps import embed_step, index_step, sign_step

    folder, originals = four_photos(tmp_path)
    rt = Runtime(Settings(data_dir=str(tmp_path / "data"), decode_threads=2, roots=[str(folder)], verify=False,
                          embed_signs=False))
    for generation, ids in embed_step(rt, "q", [str(folder / p.name) for p in originals], None).items():
        index_step(rt, "q", generation, ids)
    half_size_copy(folder / originals[0].name, folder / "half.jpg")
    (generation, ids), = embed_step(rt, "q", [str(folder / "half.jpg")], None).items()
    rows = {Path(r.path).name: r for r in rt.registry.images(collection="q")}
    assert rt.registry.blobs_for(KEY, [r.content_hash for r in rows.values()]) == {}
    sign_step(rt, "q", generation, ids)
    assert set(rt.registry.blobs_for(KEY, [r.content_hash for r in rows.values()])) == \
        {rows["half.jpg"].content_hash, rows[originals[0].name].content_hash}
    assert index_step(rt, "q", generation, ids) == {str(rows["half.jpg"].id): "duplicate"}


def test_a_runtime_holds_numpy_s_blas_to_one_thread(tmp_path):
    """The steps run their own threads: BLAS workers left spinning would take cores from decoding."""
    code = ("import sys; from threadpoolctl import threadpool_info; from neardup.config import Settings; "
            "from neardup.pipeline.runtime import Runtime; Runtime(Settings(data_dir=sys.argv[1])); "
            "print(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}))")
    found = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[1]"


def test_a_scan_indexes_its_batches_once_each_in_order_and_raises_what_indexing_raises(photos, settings, tiny_model,
                                                                                      monkeypatch):
    """Indexing runs beside the decoding of the next batch (pipeline/scan.py Indexer): every image is indexed
    once, batches in the order they were embedded, one at a time; an error there ends the scan with it."""
    import threading
    import time

    from neardup.pipeline import scan

    settings.model, settings.batch_size = tiny_model, 1  # a batch of 4 images: several batches
    for i, p in enumerate(sorted(photos.glob("*.jpg"))):
        for side in (96, 64):
            Image.open(p).resize((side, side)).save(photos / f"copy{side}_{i}.jpg", quality=80)
    real, batches, busy = scan.index_batch, [], threading.Lock()

    def recorded(rt, index, image_ids, vectors, thresholds):
        assert busy.acquire(blocking=False), "two batches indexed at once"
        try:
            batches.append(list(image_ids))
            time.sleep(0.05)  # the next batch is embedded meanwhile
            return real(rt, index, image_ids, vectors, thresholds)
        finally:
            busy.release()

    monkeypatch.setattr(scan, "index_batch", recorded)
    res = Scanner(settings).scan(str(photos))
    assert len(batches) > 2
    assert [i for b in batches for i in b] == list(res.vectors)  # once each, in the order embedded
    assert {i for pair in res.pairs for i in pair[:2]} <= set(res.vectors) and res.pairs

    def failing(*args):
        batches.append("failed")
        raise RuntimeError("index step failed")

    batches.clear()
    monkeypatch.setattr(scan, "index_batch", failing)
    settings.data_dir += "-again"
    with pytest.raises(RuntimeError, match="index step failed"):
        Scanner(settings).scan(str(photos))
    assert batches == ["failed"]  # no batch indexed after it


def test_cli_scan_lists_its_folder_once(photos, tmp_path, tiny_model, monkeypatch):
    """The progress bar's total and the scan come from one walk: a catalogue of millions of files is listed once."""
    import re

    from click.testing import CliRunner

    import neardup.encoder.decode
    import neardup.pipeline.scan
    from neardup.worker.cli import cli

    walks, walk = [], neardup.encoder.decode.find_images
    for module in (neardup.encoder.decode, neardup.pipeline.scan):
        monkeypatch.setattr(module, "find_images", lambda root: walks.append(root) or walk(root))
    run = CliRunner().invoke(cli, ["scan", str(photos), "--out", str(tmp_path / "o"), "--no-report", "--model",
                                   tiny_model, "--data-dir", str(tmp_path / "data")])
    assert run.exit_code == 0, run.output
    assert walks == [os.path.abspath(photos)]
    assert re.search(r"^images\s+(\d+)$", run.output, re.M).group(1) == str(len(list(photos.glob("*.jpg"))))


def test_copies_equally_near_the_usual_tones_are_both_the_centre_whichever_comes_first():
    """Of four copies sharing a frame, a softened one (its contrast 1.6 levels down) and the original are each as
    near the others as the other is (a trim and a thumbnail lie further than the cap): both are the centre, so
    neither is off its tones, and the larger file, the original, is kept, in whichever order the set lists them."""
    import numpy as np

    from neardup.pipeline.groups import keeper

    tones = {1: np.array([219.2, 182.0, 70.6, 33.3, 51.5, 97.6]), 2: np.array([219.1, 182.0, 70.6, 34.1, 53.2, 99.2]),
             3: np.array([215.9, 174.4, 53.2, 34.5, 50.8, 85.1]), 4: np.array([217.5, 181.1, 73.7, 34.0, 48.3, 87.8])}
    softened, original, trimmed, thumb = (row(1, 480, 360, 40_000), row(2, 480, 360, 50_000), row(3, 456, 342, 45_000),
                                          row(4, 120, 90, 5_000))
    pairs = [(a, b, 0.1, "duplicate") for a, b in ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))]
    for members in ([softened, original, trimmed, thumb], [original, softened, thumb, trimmed]):
        assert keeper(members, pairs, tones=tones) is original
