"""Every kind of bad input a scan or a queue must survive, written into a folder.

`make_bad_files(folder, good)` returns {path: words expected in its failure reason}.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image


def make_bad_files(folder: Path, good: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    cases = {}

    def case(name: str, expect: str) -> Path:
        p = folder / name
        cases[str(p)] = expect
        return p

    case("zero.jpg", "empty").write_bytes(b"")
    case("truncated.jpg", "truncated").write_bytes(data[: len(data) // 3])
    png = io.BytesIO()
    Image.open(good).convert("RGB").save(png, "PNG")
    broken = bytearray(png.getvalue())
    start = broken.index(b"IDAT") + 4
    broken[start + 16:start + 400] = bytes(384)  # the compressed pixels no longer inflate
    case("corrupt.png", "corrupt").write_bytes(bytes(broken))
    case("notes.png", "not an image").write_text("this is not a picture\n")
    Image.new("1", (10_000, 9_000)).save(case("bomb.png", "decompression bomb"))
    os.symlink(folder / "nowhere.jpg", case("dangling.jpg", "broken symlink"))
    locked = case("locked.jpg", "permission denied")
    locked.write_bytes(data)
    os.chmod(locked, 0)
    if os.access(locked, os.R_OK):  # root reads anything: nothing to test there
        os.chmod(locked, 0o644)
        del cases[str(locked)]
        locked.unlink()
    os.symlink(folder / "self.jpg", case("self.jpg", "symlink loop"))  # a link to itself
    os.mkfifo(case("pipe.jpg", "not a regular file"))  # opened naively, a named pipe blocks forever
    with open(case("huge.jpg", "not an image"), "wb") as fh:  # 500 MB, sparse: only its header may be read
        fh.truncate(500 * 1024 * 1024)
    loop = folder / "loop"
    loop.mkdir()
    os.symlink(folder, loop / "back")  # a directory symlink loop: must not hang the walk
    return cases


def non_utf8_name(folder: Path, good: Path) -> str:
    """A good image under a name that is not valid UTF-8 (as the OS hands it to Python: surrogate escapes)."""
    path = os.path.join(os.fsencode(folder), b"bad\xff\xfename.jpg")
    with open(path, "wb") as fh:
        fh.write(good.read_bytes())
    return os.fsdecode(path)
