"""The group rules (pipeline/siblings.py): a thumbnail is no duplicate of a blurred (or framed) copy whose edit its
larger copies show, nor a copy outvoted by the others of any edit, whether a scan labels them at once, the queue
meets them in any order or a search asks for one."""
from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from neardup.encoder.decode import signature_of
from neardup.encoder.frame import WHY, same_frame
from neardup.pipeline.siblings import demoted

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "samples" / "originals" / "opencv_apple.jpg"
NAMES = ("photo.jpg", "blurred.jpg", "thumb.jpg")


def saved(folder: Path, copies) -> dict[str, Path]:
    """The sample photo's copies, made by copies(photo, its 48-px thumbnail) as {name: (picture, JPEG quality)},
    written to `folder`: {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.open(PHOTO).convert("RGB")
    thumb = photo.copy()
    thumb.thumbnail((48, 48), Image.LANCZOS)
    paths = {}
    for name, (im, quality) in copies(photo, thumb).items():
        im.save(folder / name, quality=quality)
        paths[name] = folder / name
    return paths


def three_copies(folder: Path) -> dict[str, Path]:
    """A sample photo, its 3-px Gaussian blur and its 48-px thumbnail, as JPEGs (q90) in `folder`."""
    return saved(folder, lambda photo, thumb: {
        "photo.jpg": (photo, 90), "blurred.jpg": (photo.filter(ImageFilter.GaussianBlur(3)), 90),
        "thumb.jpg": (thumb, 90)})


def test_the_rule_makes_a_thumbnail_no_duplicate_of_a_blurred_copy(tmp_path):
    """The thumbnail passes the pair check with the photo and with the blur (it cannot show the blur), while the
    photo and the blur do not; the rule turns the thumbnail's pair with the blurred copy into a match and keeps
    its pair with the photo."""
    files = three_copies(tmp_path)
    frames = {name: signature_of(path.read_bytes()) for name, path in files.items()}
    pairs = [tuple(sorted(p)) for p in itertools.combinations(NAMES, 2)]
    same = {p: same_frame(frames[p[0]], frames[p[1]]) for p in pairs}
    assert same == {("blurred.jpg", "photo.jpg"): False, ("photo.jpg", "thumb.jpg"): True,
                    ("blurred.jpg", "thumb.jpg"): True}
    assert demoted(pairs, same.__getitem__, frames.get) == {("blurred.jpg", "thumb.jpg")}
    # without the photo, nothing shows the blur
    assert demoted([("blurred.jpg", "thumb.jpg")], same.__getitem__, frames.get) == set()


def test_the_edits_it_follows_are_those_whose_direction_the_check_tells_a_blur_and_a_frame():
    """edited(a, b): b is a blurred (the softer) or framed (the frame round it), never the other way round; so a
    thumbnail that passes with the photo and with its framed copy is a match of the framed one."""
    from PIL import ImageOps

    from neardup.encoder.frame import edited
    from tests.conftest import sample_paths
    from tests.test_frame import jpeg

    for path in sample_paths()[:4]:
        photo = Image.open(path).convert("RGB")
        copies = {"photo": photo, "blurred": photo.filter(ImageFilter.GaussianBlur(3)),
                  "framed": ImageOps.expand(photo, border=photo.width // 25, fill=(0, 0, 0))}
        f = {name: signature_of(jpeg(im, 90)) for name, im in copies.items()}
        assert edited(f["photo"], f["blurred"]) and not edited(f["blurred"], f["photo"]), path.name
        assert edited(f["photo"], f["framed"]) and not edited(f["framed"], f["photo"]), path.name
        thumb = photo.copy()
        thumb.thumbnail((48, 48), Image.LANCZOS)
        f["thumb"] = signature_of(jpeg(thumb, 90))
        # the verdicts a thumbnail too small to show the frame would get from the pair check
        same = {("framed", "photo"): False, ("photo", "thumb"): True, ("framed", "thumb"): True}
        assert demoted(list(same), same.__getitem__, f.get) == {("framed", "thumb")}, path.name


def labels_of(rt, collection: str) -> dict[tuple[str, str], str]:
    generation, _ = rt.generations(collection)
    rows = {r.id: r for r in rt.registry.images(collection=collection)}
    return {tuple(sorted((os.path.basename(rows[a].path), os.path.basename(rows[b].path)))): label
            for a, b, _, label in rt.registry.pairs_in(collection, generation)}


def scanned_and_queued(tmp_path: Path, files: dict[str, Path], order) -> tuple[dict, object]:
    """The scan's labels of the copies ({(name, name): label}, collection "scanned"), and a runtime whose
    collection "queued" has them from the queue's steps, each copy in a batch of its own in `order`, verified
    at once."""
    from neardup.config import Settings
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.scan import Scanner
    from neardup.pipeline.steps import embed_step, index_step
    from neardup.pipeline.verify_batch import verify_batch

    folder = str(next(iter(files.values())).parent)
    settings = Settings(data_dir=str(tmp_path / "data"), decode_threads=2, roots=[folder])
    scan = Scanner(settings, "scanned").scan(folder)
    rt = Runtime(settings)
    for name in order:
        for generation, ids in embed_step(rt, "queued", [str(files[name])], None).items():
            index_step(rt, "queued", generation, ids, verifying=True)
            verify_batch(rt, "queued", ids, contextlib.nullcontext)
    return {tuple(sorted((scan.rel(a), scan.rel(b)))): label for a, b, _, label in scan.pairs}, rt


@pytest.mark.parametrize("order", list(itertools.permutations(NAMES)))
def test_the_queue_gives_the_scan_s_labels_in_every_order_and_a_removal_undoes_the_rule(tmp_path, order):
    """Each copy in a batch of its own, in every order, verified at once: the stored labels and states are the
    scan's; then the photo removed, nothing shows the blur any more and the thumbnail's pair with the blur is a
    duplicate again."""
    from neardup.pipeline.remove import remove
    from neardup.storage.registry import ImageStatus

    files = three_copies(tmp_path / "photos")
    want, rt = scanned_and_queued(tmp_path, files, order)
    assert want == {("blurred.jpg", "photo.jpg"): "match", ("photo.jpg", "thumb.jpg"): "duplicate",
                    ("blurred.jpg", "thumb.jpg"): "match"}
    assert labels_of(rt, "queued") == want
    states = {os.path.basename(r.path): r for r in rt.registry.images(collection="queued")}
    first, later = order[0], order[1:]
    assert states[first].status == ImageStatus.INDEXED
    for name in later:  # each a copy of its nearest earlier one, as the pair's label says
        row = states[name]
        partner = os.path.basename(rt.registry.images(ids=[row.of_image])[0].path)
        assert row.status == want[tuple(sorted((name, partner)))], (name, partner, row.status)

    from neardup.pipeline.labels import Frames

    ids = {name: row.id for name, row in states.items()}
    frames = Frames.of(rt, ids.values())  # what the report and `status --explain` say of the relabelled pair
    assert frames.why(ids["thumb.jpg"], ids["blurred.jpg"], labelled_match=True) == WHY["siblings"]
    assert frames.why(ids["thumb.jpg"], ids["blurred.jpg"]) == ""  # the pair check alone passes it

    remove(rt, "queued", [str(files["photo.jpg"])])
    assert labels_of(rt, "queued") == {("blurred.jpg", "thumb.jpg"): "duplicate"}


def test_an_index_step_without_verification_relabels_the_pair_a_later_original_shows_up(tmp_path):
    """Verification off, the thumbnail and the blur first (a duplicate: nothing shows the blur), then the
    photo: the index step that adds it relabels the stored pair, and the one of the two that came second is
    a match of the other."""
    from neardup.config import Settings
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.steps import embed_step, index_step
    from neardup.storage.registry import ImageStatus

    files = three_copies(tmp_path / "photos")
    rt = Runtime(Settings(data_dir=str(tmp_path / "data"), decode_threads=2, roots=[str(tmp_path / "photos")],
                          verify=False))
    for names in (["thumb.jpg", "blurred.jpg"], ["photo.jpg"]):
        for generation, ids in embed_step(rt, "q", [str(files[n]) for n in names], None).items():
            index_step(rt, "q", generation, ids)
        if names[0] == "thumb.jpg":
            assert labels_of(rt, "q") == {("blurred.jpg", "thumb.jpg"): "duplicate"}
    assert labels_of(rt, "q")[("blurred.jpg", "thumb.jpg")] == "match"
    states = {os.path.basename(r.path): r.status for r in rt.registry.images(collection="q")}
    assert states["blurred.jpg"] == ImageStatus.MATCH


def searched(tmp_path: Path, files: dict[str, Path], name: str) -> dict[str, dict]:
    """The hits, by file name, of a search for the copy `name`, moved out of the folder the others are scanned in."""
    from neardup.config import Settings
    from neardup.pipeline.scan import Scanner
    from neardup.pipeline.search import search_images

    query = tmp_path / "query" / name
    query.parent.mkdir()
    files[name].rename(query)
    settings = Settings(data_dir=str(tmp_path / "data"), decode_threads=2)
    Scanner(settings).scan(str(files[name].parent))
    return {os.path.basename(h["path"]): h for h in search_images(settings, [str(query)], "default")[str(query)]}


def test_a_search_for_a_thumbnail_finds_it_no_duplicate_of_the_blurred_copy_stored_beside_its_photo(tmp_path):
    found = searched(tmp_path, three_copies(tmp_path / "photos"), "thumb.jpg")
    assert found["photo.jpg"]["label"] == "duplicate"
    assert found["blurred.jpg"]["label"] == "match" and found["blurred.jpg"]["why"] == WHY["siblings"]


FIVE = ("photo.jpg", "reencoded.jpg", "half.jpg", "thumb.jpg", "posterised.jpg")


def five_copies(folder: Path) -> dict[str, Path]:
    """A sample photo at q90 and q60, at half its size, as a 48-px thumbnail, and posterised to 8 levels a
    channel: the half-size copy and the thumbnail are too small to show the posterisation to the pair check."""
    return saved(folder, lambda photo, thumb: {
        "photo.jpg": (photo, 90), "reencoded.jpg": (photo, 60),
        "half.jpg": (photo.resize((photo.width // 2, photo.height // 2), Image.LANCZOS), 90),
        "thumb.jpg": (thumb, 90), "posterised.jpg": (photo.point(lambda v: v // 32 * 32 + 16), 90)})


def test_a_copy_unlike_most_of_the_other_s_duplicates_is_none_of_theirs(tmp_path):
    """The posterised copy passes the pair check with the half-size copy and the thumbnail, not with the photo or
    its re-encoded copy, which the other two are duplicates of: outvoted, its two duplicate pairs are matches,
    and the four benign copies stay duplicates of each other. Without the re-encoded copy it is one picture
    against two, and the check's verdicts stand."""
    files = five_copies(tmp_path)
    frames = {name: signature_of(path.read_bytes()) for name, path in files.items()}
    pairs = [tuple(sorted(p)) for p in itertools.combinations(FIVE, 2)]
    same = {p: same_frame(frames[p[0]], frames[p[1]]) for p in pairs}
    assert {p for p, v in same.items() if not v} == {("photo.jpg", "posterised.jpg"),
                                                      ("posterised.jpg", "reencoded.jpg")}
    assert demoted(pairs, same.__getitem__, frames.get) == {("half.jpg", "posterised.jpg"),
                                                            ("posterised.jpg", "thumb.jpg")}
    fewer = [p for p in pairs if "reencoded.jpg" not in p]
    assert demoted(fewer, same.__getitem__, frames.get) == set()


def test_a_copy_the_check_misses_once_stays_a_duplicate_of_the_rest():
    """A benign copy the check calls a match of the photo alone, a duplicate of three other copies: it is
    outvoted by nobody (one against four), and no other pair changes."""
    names = ("a", "b", "c", "d", "e")
    same = {p: p != ("a", "e") for p in itertools.combinations(names, 2)}
    assert demoted(list(same), same.__getitem__, lambda i: None) == set()


@pytest.mark.parametrize("order", [FIVE, FIVE[::-1], ("half.jpg", "thumb.jpg", "posterised.jpg", "photo.jpg",
                                                       "reencoded.jpg")])
def test_the_queue_gives_the_scan_s_labels_for_an_outvoted_copy_in_any_order(tmp_path, order):
    """Each copy in a batch of its own, verified at once: the stored labels are the scan's, where the posterised
    copy is a match of all four others and they are duplicates of each other, whether it came first, last or
    after the copies too small to show it."""
    from neardup.pipeline.labels import Frames

    want, rt = scanned_and_queued(tmp_path, five_copies(tmp_path / "photos"), order)
    assert want == {p: "match" if "posterised.jpg" in p else "duplicate"
                    for p in (tuple(sorted(p)) for p in itertools.combinations(FIVE, 2))}
    assert labels_of(rt, "queued") == want
    ids = {os.path.basename(r.path): r.id for r in rt.registry.images(collection="queued")}
    frames = Frames.of(rt, ids.values())
    assert frames.why(ids["thumb.jpg"], ids["posterised.jpg"], labelled_match=True) == WHY["siblings"]


def test_a_search_for_the_posterised_copy_finds_it_a_duplicate_of_none_of_the_stored_copies(tmp_path):
    found = searched(tmp_path, five_copies(tmp_path / "photos"), "posterised.jpg")
    assert set(found) == set(FIVE) - {"posterised.jpg"}
    assert {name: h["label"] for name, h in found.items()} == dict.fromkeys(found, "match")
    assert found["half.jpg"]["why"] == found["thumb.jpg"]["why"] == WHY["siblings"]
