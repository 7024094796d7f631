"""The two labels ops act on. A pair the search found (within the match distance, after verification where it
ran) is a **duplicate** when the same-frame check passes (encoder/frame.py: same frame, colours and
sharpness), else a **match**. The embedding's distance never makes a duplicate on its own: it is trained to
ignore the very edits that separate the two labels (a mirror image sits closer than a resize)."""
from __future__ import annotations

from neardup.encoder.frame import KEY, Frame, same_frame


def label_for(distance: float, thresholds: dict, same: bool) -> str | None:
    if distance > thresholds["match"]:
        return None
    return "duplicate" if same else "match"


class Frames:
    """The same-frame signatures of a set of images, loaded at once: {image id: content hash} in."""

    def __init__(self, registry, hashes: dict[int, str]):
        blobs = registry.blobs_for(KEY, [h for h in hashes.values() if h])
        self.by_id = {i: Frame.from_bytes(blobs[h]) for i, h in hashes.items() if h in blobs}

    @classmethod
    def of(cls, registry, image_ids) -> "Frames":
        return cls(registry, {r.id: r.content_hash for r in registry.images(ids=sorted(set(image_ids)))})

    def same(self, a: int, b: int) -> bool:
        return same_frame(self.by_id.get(a), self.by_id.get(b))

    def label(self, a: int, b: int, distance: float, thresholds: dict) -> str | None:
        """`label_for`, with the same-frame check run only for a pair within the match distance."""
        return label_for(distance, thresholds, distance <= thresholds["match"] and self.same(a, b))
