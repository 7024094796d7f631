"""The crowding penalty: pairs from crowded parts of the embedding space must be closer to count."""
from __future__ import annotations

import numpy as np

from neardup.encoder import artifact, crowding


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def crowded_reference(dim=32, seed=0):
    """200 scattered reference vectors and 50 bunched round one direction (a kind of texture)."""
    rng = np.random.default_rng(seed)
    centre = unit(rng.normal(size=dim))
    return centre, np.concatenate([unit(rng.normal(size=(200, dim))),
                                   unit(centre + rng.normal(scale=0.05, size=(50, dim)))])


def test_pairs_in_a_crowd_are_pushed_apart_and_no_pair_is_pulled_closer():
    centre, reference = crowded_reference()
    crowd = crowding.fit(reference)
    rng = np.random.default_rng(1)
    in_crowd = unit(centre + rng.normal(scale=0.05, size=(2, 32)))
    alone = unit(rng.normal(size=(2, 32)))
    c_in, c_alone = crowd.of(in_crowd), crowd.of(alone)
    assert crowd.penalty(c_in[0], c_in[1]) > 0.3  # far below the usual crowding
    assert crowd.penalty(c_alone[0], c_alone[1]) < 0.1  # about as crowded as most reference vectors
    everything = crowd.of(unit(rng.normal(size=(500, 32))))
    assert (crowd.penalty(everything[:, None], everything[None, :]) >= 0).all()


def test_two_files_of_one_picture_keep_their_distance_in_a_crowd():
    """The same vector twice (two files of one picture) stays at 0 in a crowd; a copy a little further off
    gets the penalty."""
    centre, reference = crowded_reference()
    crowd = crowding.fit(reference)
    rng = np.random.default_rng(2)
    a = unit(centre + rng.normal(scale=0.05, size=(1, 32)))
    near = unit(a + rng.normal(scale=0.01, size=(1, 32)))
    d = crowd.distances(a, np.concatenate([a, near]))[0]
    raw = np.linalg.norm(near - a)
    assert d[0] < crowding.SAME_PICTURE and raw > crowding.SAME_PICTURE and d[1] > raw + 0.3


def test_a_reference_photo_does_not_crowd_itself():
    _, reference = crowded_reference()
    crowd = crowding.fit(reference)
    for i in (0, 210):
        without = crowding.Crowding(np.delete(crowd.reference, i, axis=0), crowd.k, crowd.ceiling)
        assert np.isclose(crowd.of(crowd.reference[i])[0], without.of(crowd.reference[i])[0])


def test_the_reference_travels_with_the_model_and_is_part_of_its_version(tiny_model, tmp_path):
    import shutil

    path = tmp_path / "m.keras"
    shutil.copy(tiny_model, path)
    shutil.copy(artifact.sidecar(tiny_model), artifact.sidecar(path))
    info = artifact.read_info(path)
    rng = np.random.default_rng(2)
    crowd = crowding.fit(unit(rng.normal(size=(100, info.dim))))
    spec = crowding.save(path, crowd)
    loaded = crowding.load(path, spec)
    probe = unit(rng.normal(size=(20, info.dim)))
    assert np.allclose(loaded.of(probe), crowd.of(probe), atol=1e-3) and loaded.ceiling == round(crowd.ceiling, 5)
    versions = {artifact.file_version(path), artifact.file_version(path, spec)}
    np.save(crowding.file_for(path), np.flip(loaded.reference, 0).astype(np.float16))  # another reference
    versions.add(artifact.file_version(path, spec))
    versions.add(artifact.file_version(path, spec, {"picture_box": True}))  # how pictures are given it, too
    versions.add(artifact.file_version(path, spec, {"picture_box": True}, {"sha256": "0" * 64}))  # its flatbuffer
    assert len(versions) == 5


def test_the_default_model_carries_its_crowding():
    info = artifact.read_info(artifact.DEFAULT_MODEL)
    crowd = crowding.load(artifact.DEFAULT_MODEL, info.crowding)
    assert crowd is not None and crowd.reference.shape[1] == info.dim and len(crowd.reference) >= 500
    assert info.version == artifact.file_version(artifact.DEFAULT_MODEL, info.crowding, info.input, info.litert)
    # the ceiling is a high quantile of the reference's own crowding: most reference photos pay nothing
    own = crowd.of(crowd.reference)
    assert 0.05 <= (own >= crowd.ceiling).mean() <= 0.2
