"""Same-frame signatures made from files when an image is first in a pair (pipeline/labels.py)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from neardup.encoder.frame import FINEST_KEY, KEY
from neardup.pipeline.labels import Frames
from neardup.pipeline.runtime import Runtime
from neardup.storage.registry import Recorded
from tests.conftest import sample_paths


def saved(path: Path, sample: int) -> str:
    Image.open(sample_paths()[sample]).convert("RGB").save(path, quality=90)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recorded(rt, paths: list[Path], hashes: list[str]):
    ids = rt.registry.record_items("c", [Recorded(str(p), h, 10, 10, 100) for p, h in zip(paths, hashes)])
    return sorted(rt.registry.images(ids=ids), key=lambda r: ids.index(r.id))


def test_files_gone_bad_since_they_were_embedded_get_no_signature_and_stop_nothing(settings, tmp_path):
    """Between its embedding and its first pair a file can be deleted, rewritten or cut short: it gets no
    signature (its pairs are matches), and the images beside it get theirs."""
    good, gone, rewritten, cut = (tmp_path / f"{name}.jpg" for name in ("good", "gone", "rewritten", "cut"))
    hashes = [saved(p, k) for k, p in enumerate((good, gone, rewritten))]
    gone.unlink()
    saved(rewritten, 3)
    saved(cut, 4)
    cut.write_bytes(cut.read_bytes()[:300])  # recorded with the bytes it holds now: they do not decode
    hashes.append(hashlib.sha256(cut.read_bytes()).hexdigest())
    rt = Runtime(settings)
    rows = recorded(rt, [good, gone, rewritten, cut], hashes)

    frames = Frames(rt, rows)
    assert set(frames.by_id) == {rows[0].id}
    assert set(rt.registry.blobs_for(KEY, hashes)) == {hashes[0]}
    assert not frames.same(rows[0].id, rows[1].id)


def test_a_mark_only_the_256_px_picture_shows_is_found_through_a_stored_signature(settings, tmp_path):
    """The 256-px gray picture is stored apart from the signature (FINEST_KEY) and read only for the pairs that
    ask for it: a date stamp that the 128-px test lets through is still a match when both signatures come from
    the registry, and a re-encode of the picture is still a duplicate."""
    from bench.edits import MARKS
    from tests.test_frame import jpeg, sample

    im = sample("opencv_home")
    paths = [tmp_path / name for name in ("original.jpg", "stamped.jpg", "q70.jpg")]
    for path, data in zip(paths, (jpeg(im, 90), MARKS["date stamp, 4 % high"](im), jpeg(im, 70))):
        path.write_bytes(data)
    hashes = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    rt = Runtime(settings)
    rows = recorded(rt, paths, hashes)
    frames = Frames(rt, rows)
    assert set(rt.registry.blobs_for(FINEST_KEY, hashes)) == set(hashes)
    assert all(len(blob) < 32 * 1024 for blob in rt.registry.blobs_for(KEY, hashes).values())
    fetched = [lambda i=r.id: "finest_plane" in vars(frames.by_id[i]) for r in rows]
    assert frames.same(rows[0].id, rows[2].id)
    assert not any(f() for f in fetched), "a re-encode's 128-px test asks for no 256-px picture"
    assert frames.difference(rows[0].id, rows[1].id) == "overlay"
    assert fetched[0]() and fetched[1]() and not fetched[2]()


def test_bytes_at_several_paths_are_signed_from_one_that_still_holds_them(settings, tmp_path):
    """Exact copies share their content hash: the signature is made from whichever path still holds the bytes,
    whatever order the paths come in."""
    first, second = tmp_path / "a.jpg", tmp_path / "b.jpg"
    content = saved(first, 0)
    second.write_bytes(first.read_bytes())
    first.unlink()
    rt = Runtime(settings)
    rows = recorded(rt, [second, first], [content, content])  # the gone one last
    frames = Frames(rt, rows)
    assert set(frames.by_id) == {r.id for r in rows}
    assert frames.same(rows[0].id, rows[1].id)


def test_a_pair_labelled_again_is_not_checked_again(settings, tmp_path, monkeypatch):
    """A scan labels the embedding's pairs as it indexes them and again after verification: the second time
    the same-frame result is remembered by content, and equals the check's. A pair without a signature is
    checked each time (a later file may give it one). The report's reason for a match starts from the
    remembered result."""
    from neardup.encoder.frame import same_frame as check
    from neardup.pipeline import labels
    from neardup.pipeline.recent import Recent

    calls, differs = [], labels.difference

    def counted(a, b):
        calls.append((a, b))
        return differs(a, b)

    monkeypatch.setattr(labels, "CHECKED", Recent(10))
    paths = [tmp_path / f"{k}.jpg" for k in range(3)]
    hashes = [saved(paths[0], 0), saved(paths[1], 1)]
    Image.open(paths[0]).resize((320, 240)).save(paths[2], quality=80)  # a smaller copy of the first
    hashes.append(hashlib.sha256(paths[2].read_bytes()).hexdigest())
    rt = Runtime(settings)
    rows = recorded(rt, paths, hashes)
    truth = {(a.id, b.id): check(*(Frames(rt, rows).by_id.get(r.id) for r in (a, b)))
             for a, b in ((rows[0], rows[2]), (rows[0], rows[1]))}
    assert truth[(rows[0].id, rows[2].id)] and not truth[(rows[0].id, rows[1].id)]
    monkeypatch.setattr(labels, "difference", counted)
    for _ in range(2):
        frames = Frames(rt, rows)
        assert {pair: frames.same(*pair) for pair in truth} == truth
    assert len(calls) == 2
    assert not frames.same(rows[0].id, 10_000) and not frames.same(rows[0].id, 10_000)
    assert len(calls) == 4
    # the report's reason for the match starts from the remembered check, either way round
    from neardup.encoder.frame import check as frame_check

    asked = []
    monkeypatch.setattr(frame_check, "difference", lambda a, b, *rules: asked.append(rules) or differs(a, b, *rules))
    match = (rows[0].id, rows[1].id)
    reason = frame_check.explained(*(frames.by_id[i] for i in match), differs(*(frames.by_id[i] for i in match)))
    asked.clear()
    assert frames.why(*match) == frames.why(*match[::-1]) == labels.WHY[reason] != ""
    assert () not in asked and len(calls) == 4  # difference() under the shipped rules asked neither here nor there


def test_a_pair_checked_in_one_process_is_not_checked_again_in_the_next(settings, tmp_path, monkeypatch):
    """The check's results, and the reasons the report gives, are stored by content under the check's version
    (encoder/frame CHECKER, its rules and code): a nightly sweep, or another worker's step, reads them back
    instead of checking the pairs again, with the same labels and reasons; a new version makes them again."""
    from neardup.encoder.frame import same_frame as check
    from neardup.pipeline import labels
    from neardup.pipeline.recent import Recent

    paths = [tmp_path / f"{k}.jpg" for k in range(3)]
    hashes = [saved(paths[0], 0), saved(paths[1], 1)]
    Image.open(paths[0]).resize((320, 240)).save(paths[2], quality=80)  # a smaller copy of the first
    hashes.append(hashlib.sha256(paths[2].read_bytes()).hexdigest())
    rows = recorded(Runtime(settings), paths, hashes)
    pairs = [(rows[0].id, rows[2].id), (rows[1].id, rows[0].id)]
    calls, told, differs, explains = [], [], labels.difference, labels.explained
    monkeypatch.setattr(labels, "difference", lambda a, b: calls.append(1) or differs(a, b))
    monkeypatch.setattr(labels, "explained", lambda *args: told.append(1) or explains(*args))

    def a_process() -> tuple[dict, dict]:
        """Labels and reasons as a new process gets them (nothing remembered in memory)."""
        monkeypatch.setattr(labels, "CHECKED", Recent(10))
        frames = Frames(Runtime(settings), rows)
        found = {pair: frames.same(*pair) for pair in pairs}, {pair: frames.why(*pair) for pair in pairs}
        frames.keep()
        return found

    first = a_process()
    assert first[0] == {pair: check(*(Frames(Runtime(settings), rows).by_id[i] for i in pair)) for pair in pairs}
    assert first[0] == {pairs[0]: True, pairs[1]: False} and first[1][pairs[1]] and len(calls) == len(told) == 2
    assert a_process() == first and len(calls) == len(told) == 2
    monkeypatch.setattr(labels, "CHECKER", "another version")
    monkeypatch.setattr(labels, "TOLD", "another told")
    assert a_process() == first and len(calls) == len(told) == 4


@pytest.mark.parametrize("kept_mb", [256, 0])
def test_a_scan_signs_its_pairs_from_the_decodes_it_embedded_them_from(photos, settings, tiny_model, monkeypatch,
                                                                        kept_mb):
    """The images a scan finds in pairs are signed from the decode the encoder had (a 4 MP JPEG's costs as much
    as the rest of its scan): their files are not read again, and the signatures are those of their files.
    With no decodes kept (`scan_decodes_mb` 0), the files are read again, to the same signatures."""
    from neardup.encoder.decode import read_bytes, signature_of
    from neardup.pipeline import labels
    from neardup.pipeline.scan import Scanner

    settings.model, settings.scan_decodes_mb = tiny_model, kept_mb
    first = sorted(photos.glob("*.jpg"))[0]
    Image.open(first).convert("RGB").save(photos / "copy.jpg", quality=70)
    reads, read = [], labels.read_item
    monkeypatch.setattr(labels, "read_item", lambda rt, path, **kw: reads.append(path) or read(rt, path, **kw))
    res = Scanner(settings).scan(str(photos))
    paired = {res.images[i].content_hash: res.images[i].path for pair in res.pairs for i in pair[:2]}
    assert len(paired) >= 2
    assert not reads if kept_mb else set(paired.values()) <= set(reads)  # an untrained model pairs others too
    stored = Runtime(settings).registry.blobs_for(KEY, list(paired))
    assert stored == {h: signature_of(read_bytes(p)).to_bytes() for h, p in paired.items()}


def test_recent_bounded_by_weight_lets_the_least_recently_used_go_first():
    from neardup.pipeline.recent import Recent

    kept = Recent(10, weight=len)
    kept.put("a", "xxxx")
    kept.put("b", "xxxx")
    assert kept.get("a") == "xxxx"  # now the more recently used
    kept.put("c", "xxxx")  # 12 > 10: b goes
    assert kept.get("b") is None and kept.total == 8
    assert kept.pop("a") == "xxxx" and kept.pop("a") is None and kept.total == 4
