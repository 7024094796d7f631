"""A photo set in a collage (beside another, or in a grid of four) is found by its cell: the cells are found by
their seams, their perceptual hashes propose the pair, verification confirms it, and the label is a match."""
from __future__ import annotations

import numpy as np
from PIL import Image

from bench.edits import encoded, grid
from neardup.encoder import phash
from neardup.encoder.collage import MOST_SIDE, cells
from neardup.encoder.decode import decode
from neardup.pipeline.scan import Scanner
from tests.conftest import sample_paths
from tests.test_canvas import decoded  # the decode an 80-px encoder's input and its cells are made from

CELL = (240, 180)
GRID, PAIR = (7, 8, 9, 10), (4, 5)  # sample photos whose grid of four, and whose pair, leave a seam all along


def photo(i: int) -> Image.Image:
    return Image.open(sample_paths()[i]).convert("RGB").resize(CELL, Image.LANCZOS)


def beside(pictures: list[Image.Image]) -> Image.Image:
    """Pictures side by side, each scaled to the height of the lowest, their shapes kept."""
    h = min(im.height for im in pictures)
    scaled = [im.resize((round(im.width * h / im.height), h), Image.LANCZOS) for im in pictures]
    out = Image.new("RGB", (sum(im.width for im in scaled), h))
    for i, im in enumerate(scaled):
        out.paste(im, (sum(s.width for s in scaled[:i]), 0))
    return out


def test_the_cells_of_photos_side_by_side_and_in_a_grid_are_found_within_a_pixel():
    n = len(sample_paths())
    found = 0
    for i in range(n):
        pair = decoded(grid([photo(i), photo((i + 1) % n)], 2))
        w, h = pair.size
        boxes = cells(pair)
        found += len(boxes) == 2 and np.abs(np.array(boxes) - [[0, 0, w / 2, h], [w / 2, 0, w, h]]).max() <= 1
    assert found >= n - 2
    grids = 0  # photos on white beside each other leave no seam: half the grids give all four
    for i in range(n):
        four = decoded(grid([photo((i + k) % n) for k in range(4)], 2))
        w, h = four.size
        truth = [[x * w / 2, y * h / 2, (x + 1) * w / 2, (y + 1) * h / 2] for x in (0, 1) for y in (0, 1)]
        boxes = cells(four)
        grids += len(boxes) == 4 and np.abs(np.array(boxes) - truth).max() <= 1
    assert grids >= n // 2


def test_a_large_decode_is_searched_reduced_and_gives_its_cells_at_its_own_size():
    """A picture decoded whole (a PNG) larger than MOST_SIDE: the cells of a grid of four within the reduction's
    factor of a pixel."""
    big = grid([photo(i) for i in GRID], 2).resize((2400, 1800), Image.LANCZOS)
    k = -(-2400 // MOST_SIDE)
    truth = [[x * 1200, y * 900, (x + 1) * 1200, (y + 1) * 900] for x in (0, 1) for y in (0, 1)]
    assert k > 1 and np.abs(np.array(cells(big)) - truth).max() <= k


def test_single_pictures_have_no_cells():
    """The sample photos, a plain colour, a picture too small, and a picture with one straight edge across it
    that leaves a band too thin for a cell."""
    for path in sample_paths():
        assert cells(decoded(Image.open(path).convert("RGB"))) == [], path.name
    band = photo(0)
    band.paste(photo(1).crop((0, 0, 20, CELL[1])), (0, 0))
    for im in (Image.new("RGB", (300, 200), (40, 90, 200)), Image.new("RGB", (40, 30)), band):
        assert cells(decoded(im)) == []


def test_a_cell_s_hash_is_the_collage_s_and_proposes_its_photo_alone():
    """The hash of a photo's cell is kept after the collage's turns and proposes the photo with the collage; two
    collages holding the same photo are not proposed by it (neither hash is a picture's own)."""
    pictures = [photo(i) for i in GRID]
    own = decode(encoded(pictures[0], quality=90), 80)
    four = decode(encoded(grid(pictures, 2), quality=90), 80)
    pair = decode(encoded(grid([pictures[0], photo(PAIR[1])], 2), quality=90), 80)
    kept = [phash.with_cells(d.pixels, d.cells) for d in (own, four, pair)]
    assert len(kept[0]) == phash.TURNS and len(kept[1]) == phash.TURNS + 4 and len(kept[2]) == phash.TURNS + 2
    assert (kept[1][:phash.TURNS] == phash.dihedral(four.pixels)).all()
    assert phash.near_pairs(np.array([1, 2, 3]), kept) == {(1, 2), (1, 3)}
    assert phash.near_pairs(np.array([2, 3]), kept[1:]) == set()
    rows = {(chunk, own_hash) for chunk, _, _, own_hash in phash.buckets(kept[1])}
    assert rows == {(c, o) for c in range(phash.MAX_BITS + 1) for o in (True, False)}


def test_a_scan_pairs_a_collage_with_the_photos_in_it_as_matches(tmp_path, settings):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, path in enumerate(sample_paths()):
        photo(i).save(folder / path.name, quality=90)
    names = [p.name for p in sample_paths()]
    grid([photo(i) for i in GRID], 2).save(folder / "grid.jpg", quality=85)
    grid([photo(i) for i in PAIR], 2).save(folder / "pair.jpg", quality=85)
    res = Scanner(settings).scan(str(folder))
    labels = {frozenset((res.rel(a), res.rel(b))): label for a, b, _, label in res.pairs}
    in_grid = [labels.get(frozenset((names[i], "grid.jpg"))) for i in GRID]
    assert in_grid.count("match") >= 3 and "duplicate" not in in_grid
    assert [labels.get(frozenset((names[i], "pair.jpg"))) for i in PAIR] == ["match", "match"]
