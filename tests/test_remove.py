"""Taking images out of a collection: nothing later is paired with them, a sweep leaves them out, and submitted
or scanned again they come back; a file rewritten with another picture is no longer found as the old one."""
from __future__ import annotations

import json
import shutil

from click.testing import CliRunner
from PIL import Image

from neardup.pipeline.remove import remove
from neardup.pipeline.scan import Scanner
from neardup.pipeline.sweep import sweep
from tests.conftest import sample_paths


def catalogue(tmp_path, names=("a", "b", "c"), sub=()):
    """Sample photos saved as the named JPEGs (those in `sub` under sub/): distinct pictures, no copies."""
    folder = tmp_path / "catalogue"
    (folder / "sub").mkdir(parents=True)
    for name, src in zip((*names, *sub), sample_paths()):
        Image.open(src).convert("RGB").save(folder / ("sub" if name in sub else "") / f"{name}.jpg", quality=95)
    return folder


def rows_by_path(rt):
    return {r.path: r for r in rt.registry.images(collection="default")}


def pairs_naming(rt, image_id):
    generation, _ = rt.generations("default")
    return [p for p in rt.registry.pairs_in("default", generation) if image_id in p[:2]]


def test_a_copy_of_a_removed_image_is_a_new_picture_and_a_scan_brings_the_image_back(settings, tiny_model, tmp_path):
    settings.model = tiny_model
    folder = catalogue(tmp_path)
    original = folder / "a.jpg"
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    scanner = Scanner(settings)
    scanner.scan(str(folder))
    shutil.copy(original, uploads / "u1.jpg")
    scanner.scan(str(uploads))
    rows = rows_by_path(scanner.rt)
    assert rows[str(uploads / "u1.jpg")].status == "duplicate"
    assert rows[str(uploads / "u1.jpg")].of_image == rows[str(original)].id

    done = remove(scanner.rt, "default", [str(original), str(tmp_path / "never.jpg")])
    assert done.removed == [str(original)] and done.unknown == [str(tmp_path / "never.jpg")]
    gone = rows_by_path(scanner.rt)[str(original)]
    assert gone.status == "removed" and pairs_naming(scanner.rt, gone.id) == []
    assert gone.id not in sweep(scanner.rt, "default").images

    shutil.copy(original, uploads / "u2.jpg")
    scanner.scan(str(uploads))
    u2 = rows_by_path(scanner.rt)[str(uploads / "u2.jpg")]
    assert (u2.status, u2.of_image) == ("duplicate", rows[str(uploads / "u1.jpg")].id)
    assert pairs_naming(scanner.rt, gone.id) == []

    res = scanner.scan(str(folder))  # the file is still there: scanned again, it is back
    back = rows_by_path(scanner.rt)[str(original)]
    assert back.id == gone.id and back.status == "duplicate" and back.id in res.images
    copies = {rows[str(uploads / "u1.jpg")].id, u2.id}
    assert copies <= {i for pair in pairs_naming(scanner.rt, back.id) for i in pair[:2]}
    assert back.id in sweep(scanner.rt, "default").images


def test_a_folder_and_the_files_gone_from_disk_are_removed_from_the_command_line(settings, tiny_model, tmp_path):
    from neardup.worker.cli import cli

    settings.model = tiny_model
    folder = catalogue(tmp_path, names=("a", "b"), sub=("c", "d"))
    unmounted = tmp_path / "share"
    unmounted.mkdir()
    shutil.copy(folder / "b.jpg", unmounted / "e.jpg")
    scanner = Scanner(settings)
    scanner.scan(str(folder))
    scanner.scan(str(unmounted))
    shutil.rmtree(unmounted)  # as if not mounted here: --missing leaves its images alone
    (folder / "a.jpg").unlink()
    shutil.rmtree(folder / "sub")  # removed by naming the folder, though it is gone
    run = CliRunner().invoke(cli, ["remove", str(folder / "sub"), "--missing", "--json", "--data-dir",
                                   settings.data_dir, "--model", tiny_model])
    assert run.exit_code == 0, run.output
    out = json.loads(run.output)
    assert sorted(out["removed"]) == sorted(str(p) for p in (folder / "a.jpg", folder / "sub" / "c.jpg",
                                                             folder / "sub" / "d.jpg"))
    status = {r.path: r.status for r in scanner.rt.registry.images(collection="default")}
    assert {p for p, s in status.items() if s == "removed"} == set(out["removed"])
    assert status.keys() == {*out["removed"], str(folder / "b.jpg"), str(unmounted / "e.jpg")}
    assert status[str(unmounted / "e.jpg")] == "duplicate"  # b's bytes; b itself is indexed, or a match of
    #   whatever the untrained test model puts near it
    run = CliRunner().invoke(cli, ["remove", "--data-dir", settings.data_dir])
    assert run.exit_code != 0 and "--missing" in run.output


def test_a_copy_of_what_a_file_held_before_is_not_paired_with_what_it_holds_now(settings, tiny_model, tmp_path):
    """A.jpg rewritten with another picture: a copy of its old picture, scanned later, is a new picture, not a
    duplicate of A.jpg."""
    settings.model = tiny_model
    folder = catalogue(tmp_path, names=("A", "C"))
    old = (folder / "A.jpg").read_bytes()
    scanner = Scanner(settings)
    scanner.scan(str(folder))
    Image.open(sample_paths()[3]).convert("RGB").save(folder / "A.jpg", quality=95)
    (folder / "B.jpg").write_bytes(old)
    scanner.scan(str(folder))
    rows = [r for r in scanner.rt.registry.images(collection="default")]
    replaced = next(r for r in rows if r.status == "replaced")
    b = next(r for r in rows if r.path == str(folder / "B.jpg"))
    assert b.distance != 0 and b.of_image != replaced.id  # the same bytes: at 0 from the old picture
    assert pairs_naming(scanner.rt, replaced.id) == []


def test_a_rescan_forgets_the_files_deleted_from_its_folder_unless_it_could_not_list_it_all(settings, tiny_model,
                                                                                            tmp_path):
    from neardup.pipeline.remove import remove_gone

    settings.model = tiny_model
    folder = catalogue(tmp_path, names=("a", "b"), sub=("c",))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(folder / "a.jpg", elsewhere / "kept.jpg")  # the same collection, outside the folder
    scanner = Scanner(settings)
    scanner.scan(str(folder))
    scanner.scan(str(elsewhere))
    data = (folder / "b.jpg").read_bytes()
    (folder / "b.jpg").unlink()
    (elsewhere / "kept.jpg").unlink()  # not under the folder scanned next: left for `neardup remove --missing`
    assert remove_gone(scanner.rt, "default", str(folder), [], [(str(folder / "sub"), "cannot list directory: "
                                                                "Permission denied")]) == 0
    res = scanner.scan(str(folder))
    assert res.removed == 1 and str(folder / "b.jpg") not in {r.path for r in res.images.values()}
    states = {r.path: r.status for r in scanner.rt.registry.images(collection="default")}
    assert states[str(folder / "b.jpg")] == "removed" and states[str(elsewhere / "kept.jpg")] != "removed"
    (elsewhere / "copy.jpg").write_bytes(data)
    scanner.scan(str(elsewhere))
    rows = rows_by_path(scanner.rt)
    gone, copy = rows[str(folder / "b.jpg")], rows[str(elsewhere / "copy.jpg")]
    assert copy.of_image != gone.id and pairs_naming(scanner.rt, gone.id) == []
