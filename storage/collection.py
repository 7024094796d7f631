"""Collection names: checked once wherever one enters, so the index, model and report paths made from them
stay under the data directory."""
from __future__ import annotations

import re

from neardup.errors import InvalidCollectionName

PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
RULE = "1 to 64 letters, digits, '.', '_' or '-', not '.' or '..'"


def checked(name) -> str:
    """`name` if it is a valid collection name, else InvalidCollectionName."""
    if not isinstance(name, str) or not PATTERN.fullmatch(name) or name in (".", ".."):
        raise InvalidCollectionName(f"invalid collection name {name!r}: use {RULE}")
    return name
