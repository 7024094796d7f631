"""Same-frame signatures made from files when an image is first in a pair (pipeline/labels.py)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image

from neardup.encoder.frame import KEY
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
