"""The same-frame check: whether two copies of a picture are a duplicate (the same frame and colours) or a match."""

from .align import aligned, rotation, turn
from .check import CHECKER, TOLD, difference, edited, explained, framed_round, same_frame
from .compare import cast, chroma_mark, finer_overlay, finest_overlay, overlay
from .margins import plain_frame
from .rules import RULES, WHY, Rules
from .signature import (
    FINE,
    FINER,
    FINEST_KEY,
    GRID,
    HIGH_SIDE,
    KEY,
    RIM,
    SHARP_SIDE,
    SHARP_SIDES,
    Frame,
    decodes_high,
    signature,
)

__all__ = ["CHECKER", "FINE", "FINER", "FINEST_KEY", "GRID", "HIGH_SIDE", "KEY", "RIM", "RULES", "SHARP_SIDE",
           "SHARP_SIDES", "TOLD", "WHY", "Frame", "Rules", "aligned", "cast", "chroma_mark", "decodes_high",
           "difference", "edited", "explained", "finer_overlay", "finest_overlay", "framed_round", "overlay",
           "plain_frame", "rotation", "same_frame", "signature", "turn"]
