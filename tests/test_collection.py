"""Collection names are checked wherever one enters, before any path is made from them."""
from __future__ import annotations

import pytest

from neardup.errors import InvalidCollectionName
from neardup.storage.collection import checked


@pytest.mark.parametrize("name", ["default", "catalog-2026.11", "A_b", "x" * 64, "..a", "a..b"])
def test_valid_names_pass_unchanged(name):
    assert checked(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "/abs", "a/b", "a\\b", "x" * 65, "sp ace", "nul\0", 42, None,
                                  "ünïcode"])
def test_names_that_could_be_paths_are_refused(name):
    with pytest.raises(InvalidCollectionName, match="invalid collection name"):
        checked(name)


def test_the_index_and_the_scanner_refuse_them_too(tmp_path):
    from neardup.config import Settings
    from neardup.pipeline.scan import Scanner
    from neardup.storage import db
    from neardup.storage.index import CollectionIndex

    with pytest.raises(InvalidCollectionName):
        Scanner(Settings(data_dir=str(tmp_path / "data")), "../outside")
    with pytest.raises(InvalidCollectionName):
        CollectionIndex(db.connect(f"sqlite:///{tmp_path / 'x.db'}"), tmp_path, "../../etc", "g", 8)
    assert not (tmp_path / "outside").exists() and not (tmp_path / "data").exists()
    assert not (tmp_path / "index").exists()
