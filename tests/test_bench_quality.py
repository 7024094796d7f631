"""bench/quality.py's counts of wrong duplicate labels, keepers and the first unrelated pairs (what its docs figures rest on)."""
import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_bench(name: str):
    """A script of bench/ as a module."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wrong_duplicates_are_counted_by_kind_of_pair(tmp_path):
    truth = {"groups": [["o1.jpg", "b1.jpg", "e1.jpg", "e2.jpg"], ["o2.jpg", "b2.jpg"]],
             "level": {"b1.jpg": "duplicate", "e1.jpg": "match", "e2.jpg": "match", "b2.jpg": "duplicate"},
             "transforms": {}}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    rows = ["a,b,distance,label",
            "o1.jpg,b1.jpg,0.1,duplicate",  # right
            "o1.jpg,e1.jpg,0.1,duplicate",  # an edited copy labelled a duplicate of its original
            "b1.jpg,e1.jpg,0.1,duplicate",  # ... of a benign copy
            "e1.jpg,e2.jpg,0.1,duplicate",  # ... of another edited copy
            "o1.jpg,e2.jpg,0.2,match",  # right, and no duplicate label
            "sub/b1.jpg,o2.jpg,0.3,duplicate",  # different pictures (a path in a subfolder counts by its name)
            "x.jpg,o2.jpg,0.3,duplicate"]  # a distractor
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    counts = load_bench("quality").wrong_duplicates(tmp_path, tmp_path / "pairs.csv")
    assert counts == {"edited copy and original": 1, "edited copy and benign copy": 1, "two edited copies": 1,
                      "different groups": 2, "colour edit of a gray picture": 0}


def test_label_errors_are_counted_by_the_two_copies_kinds(tmp_path):
    truth = {"groups": [["o1.jpg", "t1.jpg", "r1.jpg", "e1.jpg"], ["o2.jpg", "t2.jpg", "e2.jpg"]],
             "level": {"t1.jpg": "duplicate", "r1.jpg": "duplicate", "e1.jpg": "match", "t2.jpg": "duplicate",
                       "e2.jpg": "match"},
             "transforms": {"t1.jpg": "thumbnail", "r1.jpg": "resize", "e1.jpg": "blur", "t2.jpg": "thumbnail",
                            "e2.jpg": "blur"}}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    rows = ["a,b,distance,label",
            "o1.jpg,t1.jpg,0.1,duplicate",  # right
            "o1.jpg,r1.jpg,0.1,match",  # a benign pair missed
            "e1.jpg,t1.jpg,0.1,duplicate",  # an edit hidden by a thumbnail
            "t2.jpg,e2.jpg,0.1,duplicate",  # ... again, written the other way round
            "o1.jpg,e1.jpg,0.2,match",  # right
            "t1.jpg,o2.jpg,0.3,duplicate"]  # different pictures: not a label error inside a group
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    errors = load_bench("quality").label_errors_by_kinds(tmp_path, tmp_path / "pairs.csv")
    assert errors["wrong duplicate"] == {"blur + thumbnail": 2}
    # not labelled duplicate: o1-r1 (a match), r1-t1 and o2-t2 (not found)
    assert errors["missed duplicate"] == {"original + resize": 1, "resize + thumbnail": 1, "original + thumbnail": 1}


def test_a_colour_edit_of_a_gray_picture_is_counted_apart(tmp_path):
    """Made gray, a gray picture keeps its pixels: its duplicate label is counted apart, a colour picture's is not."""
    from PIL import Image

    gradient = [[(x, x, x) for x in range(64)] for _ in range(32)]
    gray = Image.new("RGB", (64, 32))
    gray.putdata([p for row in gradient for p in row])
    gray.save(tmp_path / "gray.jpg")
    Image.new("RGB", (64, 32), (200, 40, 40)).save(tmp_path / "red.jpg")
    truth = {"groups": [["gray.jpg", "gray2.jpg", "gray3.jpg"], ["red.jpg", "red2.jpg"]],
             "level": {"gray2.jpg": "match", "gray3.jpg": "match", "red2.jpg": "match"},
             "transforms": {"gray2.jpg": "grayscale", "gray3.jpg": "hflip", "red2.jpg": "grayscale"}}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    rows = ["a,b,distance,label",
            "gray.jpg,gray2.jpg,0.1,duplicate",  # invisible: the original has no colour
            "gray2.jpg,gray3.jpg,0.1,duplicate",  # one of the two edits shows (a mirror): wrong
            "red.jpg,red2.jpg,0.1,duplicate"]  # a colour picture made gray: wrong
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    quality = load_bench("quality")
    assert quality.invisible_edits(tmp_path) == {"gray2.jpg"}
    counts = quality.wrong_duplicates(tmp_path, tmp_path / "pairs.csv")
    assert counts == {"edited copy and original": 1, "edited copy and benign copy": 0, "two edited copies": 1,
                      "different groups": 0, "colour edit of a gray picture": 1}
    assert abs(quality.visible_dup_precision(tmp_path / "pairs.csv", counts) - 1 / 3) < 1e-9


def test_keepers_are_counted_by_kind(tmp_path):
    truth = {"groups": [["o1.jpg", "b1.jpg", "e1.jpg"], ["o2.jpg", "b2.jpg"], ["o3.jpg", "e3.jpg"]],
             "level": {"b1.jpg": "duplicate", "e1.jpg": "match", "b2.jpg": "duplicate", "e3.jpg": "match"},
             "transforms": {"b1.jpg": "resize", "e1.jpg": "border", "b2.jpg": "jpeg", "e3.jpg": "crop"}}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    groups = {"groups": [
        {"keeper": "e1.jpg", "members": [{"path": p} for p in ("o1.jpg", "b1.jpg", "e1.jpg")]},
        {"keeper": "sub/b2.jpg", "members": [{"path": p} for p in ("o2.jpg", "sub/b2.jpg")]},
        {"keeper": "o3.jpg", "members": [{"path": p} for p in ("o3.jpg", "e3.jpg")]},
        {"keeper": "b1.jpg", "members": [{"path": p} for p in ("b1.jpg", "x.jpg")]}]}  # no original: not counted
    (tmp_path / "groups.json").write_text(json.dumps(groups))
    counts = load_bench("quality").keepers(tmp_path, tmp_path / "groups.json")
    assert counts == {"original": 1, "benign copy": 1, "edited copy": 1, "copies kept": {"border": 1, "jpeg": 1}}


def test_merges_count_the_copies_labelled_duplicate_of_their_keeper_against_the_truth(tmp_path):
    truth = {"groups": [["o1.jpg", "b1.jpg", "e1.jpg"], ["o2.jpg", "b2.jpg"], ["o5.jpg", "b5.jpg"]],
             "level": {"b1.jpg": "duplicate", "e1.jpg": "match", "b2.jpg": "duplicate", "b5.jpg": "duplicate"},
             "transforms": {}}
    (tmp_path / "truth.json").write_text(json.dumps(truth))

    def group(keeper, **labels):
        return {"keeper": keeper, "members": [{"path": keeper, "label": "keeper"}]
                + [{"path": p.replace("_", "."), "label": label} for p, label in labels.items()]}

    groups = {"groups": [group("o1.jpg", b1_jpg="duplicate", e1_jpg="duplicate"),  # right, wrong (an edit)
                         group("b2.jpg", o2_jpg="duplicate"),  # right: a benign copy may be the keeper
                         group("o5.jpg", b5_jpg="match", x_jpg="duplicate")]}  # missed; wrong (a distractor)
    (tmp_path / "groups.json").write_text(json.dumps(groups))
    merged = load_bench("quality").merges(tmp_path, tmp_path / "groups.json")
    assert merged == {"merge_precision": 0.5, "merge_recall": 2 / 3, "wrong merges": 2}


def test_the_first_unrelated_pairs_come_with_the_recall_ahead_of_them(tmp_path):
    truth = {"groups": [["o1.jpg", "c1.jpg"], ["o2.jpg", "c2.jpg"]], "level": {}, "transforms": {}}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    rows = ["query,neighbor,distance",
            "o1.jpg,c1.jpg,0.1",
            "c1.jpg,o1.jpg,0.05",  # the pair at its least distance, as score.py ranks it
            "o1.jpg,o2.jpg,0.2",  # unrelated, behind one of the two true pairs
            "sub/o2.jpg,c2.jpg,0.3",
            "x.jpg,o1.jpg,0.4"]  # a distractor
    (tmp_path / "neighbors.csv").write_text("\n".join(rows) + "\n")
    first = load_bench("quality").first_unrelated(tmp_path, tmp_path / "neighbors.csv", n=5)
    assert first == [{"a": "o1.jpg", "b": "o2.jpg", "distance": 0.2, "recall_ahead": 0.5},
                     {"a": "o1.jpg", "b": "x.jpg", "distance": 0.4, "recall_ahead": 1.0}]


def test_frame_rules_relabels_a_scan_as_the_scan_labelled_it(tmp_path, settings):
    """bench/frame_rules.py labels a scan's pairs again from the files' signatures: under the shipped rules
    exactly as the scan did (its figures stand for the scan's), under other rules differently (three marks
    that a bound of 8 on the 128-px overlay, without the 256-px and 64-px chroma tests, let pass become
    duplicates)."""
    import csv
    import dataclasses

    from PIL import Image

    from neardup.encoder.frame import RULES
    from neardup.pipeline.outputs import write_outputs
    from neardup.pipeline.scan import Scanner

    marks, rules = load_bench("edits").MARKS, load_bench("frame_rules")
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, mark in (("opencv_apple", "date stamp, 4 % high"), ("opencv_building", "watermark across the centre, 40 % white"),
                       ("scikit_image_chelsea", "handle in a corner, 3 % high")):
        im = Image.open(REPO / "samples" / "originals" / f"{name}.jpg").convert("RGB")
        im.save(folder / f"{name}.jpg", quality=90)
        im.resize((im.width // 2, im.height // 2)).save(folder / f"{name}_half.jpg", quality=85)
        (folder / f"{name}_marked.jpg").write_bytes(marks[mark](im))
    write_outputs(Scanner(settings).scan(str(folder)), tmp_path / "out", report=False)
    with open(tmp_path / "out" / "pairs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["label"] for r in rows} == {"duplicate", "match"}
    frames = rules.signatures(folder, rows)
    assert rules.labelled(rows, frames, RULES)[1] == 0
    _, changed = rules.labelled(rows, frames, dataclasses.replace(RULES, max_finer_overlay=8.0, max_finest_overlay=float("inf"),
                                                                  max_chroma_mark=float("inf")))
    assert changed >= 3


def test_labels_bench_times_the_check_over_a_scans_pairs_and_digests_its_reasons(tmp_path):
    """bench/labels.py --bench: the pairs a scan labels, checked and told again from the files' signatures: a
    half-size copy is a duplicate, a mirror image a match told mirrored, and the digest of the reasons is the
    same from run to run (what a faster check must keep)."""
    from PIL import Image, ImageOps

    labels = load_bench("labels")
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("opencv_apple", "scikit_image_chelsea"):
        im = Image.open(REPO / "samples" / "originals" / f"{name}.jpg").convert("RGB")
        im.save(folder / f"{name}.jpg", quality=90)
        im.resize((im.width // 2, im.height // 2)).save(folder / f"{name}_half.jpg", quality=85)
        ImageOps.mirror(im).save(folder / f"{name}_mirrored.jpg", quality=85)
    first, again = (labels.benchmark_check(folder, rounds=1) for _ in range(2))
    assert first["images"] == 6 and first["pairs"] >= 4
    assert first["reasons"].get("None", 0) >= 2 and first["told"].get("mirrored", 0) >= 2, first
    assert first["digest"] == again["digest"] and first["difference_ms"] > 0


def test_verify_zones_tells_what_verification_did_at_each_distance(tmp_path):
    """bench/verify_zones.py on the sample photos at 256 px and their pixelated copies: copies are checked and
    counted true, the photos' pairs among themselves unrelated (none left inside the match threshold), and the
    pixel check confirms more true pairs with a 6-bit hash gate than with 4, a looser gate every pair a tighter
    one does."""
    from tests.test_verify import save_pixelated

    groups = [[original, copy] for copy, original in save_pixelated(tmp_path, 256).items()]
    (tmp_path / "truth.json").write_text(json.dumps({"groups": groups, "level": {}, "transforms": {}}))
    found = load_bench("verify_zones").zones(tmp_path)
    rows = found["bands"].values()
    assert sum(r["true"] for r in rows) > 0 and sum(r["checked"] - r["true"] for r in rows) > 0
    assert found["nearest_unrelated"] < float("inf")
    assert all(r["true"] <= r["checked"] and r["unrelated_inside_after"] == 0 for r in rows)
    gates = [found["gates"][bits] for bits in sorted(found["gates"])]
    assert all(a["true"] <= b["true"] and a["unrelated"] <= b["unrelated"] for a, b in zip(gates, gates[1:]))
    assert found["gates"][6]["true"] > found["gates"][4]["true"], found["gates"]
