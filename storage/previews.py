"""Small JPEG previews of images, kept by content hash beside the index, so a report never decodes a full
image again: they are made from the decode that an image in a pair gets for its same-frame signature
(pipeline/labels.py), and only for those images: the report shows pairs and groups."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from neardup.files import write_whole

SIDE = 160  # the report shows thumbnails at most this large


class Previews:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path_for(self, content_hash: str) -> Path:
        return self.root / content_hash[:2] / f"{content_hash}.jpg"

    def has(self, content_hash: str) -> bool:
        return bool(content_hash) and self.path_for(content_hash).is_file()

    def store(self, content_hash: str, jpeg: bytes) -> None:
        write_whole(self.path_for(content_hash), jpeg)

    def copy_to(self, content_hash: str, out: Path) -> bool:
        """Copy an image's preview to `out`; False if there is none."""
        if not self.has(content_hash):
            return False
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path_for(content_hash), out)
        return True
