"""The same-frame check's work in processes (pipeline/processes.py): the same labels, and nothing lost when a
process dies."""
from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import time
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from neardup.pipeline import processes as processes_module
from neardup.pipeline.processes import Processes, processes
from tests.conftest import sample_paths


def _doubled_but_dies_on_3_in_a_child(x: int) -> int:
    if x == 3 and multiprocessing.parent_process() is not None:
        os._exit(1)  # killed, as the OOM killer would
    return 2 * x


def test_work_goes_on_in_this_process_where_a_process_of_the_pool_dies():
    pool = Processes(2)
    try:
        assert pool.map(_doubled_but_dies_on_3_in_a_child, [0, 1, 2], least=1) == [0, 2, 4]
        assert pool.map(_doubled_but_dies_on_3_in_a_child, list(range(6)), least=1) == [0, 2, 4, 6, 8, 10]
        assert pool.broken
        assert pool.map(_doubled_but_dies_on_3_in_a_child, [3, 4], least=1) == [6, 8]  # here from now on
    finally:
        pool.close()


def _doubled_but_hangs_in_a_child(x: int) -> int:
    if multiprocessing.parent_process() is not None:
        time.sleep(3600)  # a child that never answers, as a deadlock would leave it
    return 2 * x


def test_work_goes_on_in_this_process_where_the_processes_hang(monkeypatch):
    monkeypatch.setattr(processes_module, "HUNG", 2.0)
    before = set(multiprocessing.active_children())  # others' (an index's merge process)
    pool = Processes(2)
    assert pool.map(_doubled_but_hangs_in_a_child, [1, 2, 3], least=1) == [2, 4, 6]
    assert pool.broken and pool.pool is None
    deadline = time.time() + 30
    while set(multiprocessing.active_children()) - before and time.time() < deadline:  # killed: none outlives
        time.sleep(0.1)
    assert not set(multiprocessing.active_children()) - before


def _asks_for_processes(out) -> None:
    with processes(2) as found:
        out.put(found is None)


def test_no_processes_on_one_core_nor_in_a_daemonic_process():
    with processes(1) as found:
        assert found is None
    out = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_asks_for_processes, args=(out,), daemon=True)
    child.start()
    child.join(60)
    assert out.get(timeout=5) is True


@pytest.fixture
def copies(tmp_path, monkeypatch) -> Path:
    """Copies of a few photos, benign and edited; processes asked for however few the pairs."""
    from neardup.pipeline import scan as scan_module

    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sample_paths()[:6]:
        im = Image.open(p).convert("RGB")
        im.thumbnail((320, 320))
        im.save(folder / f"{p.stem}.jpg", quality=92)
        im.resize((im.width // 2, im.height // 2)).save(folder / f"{p.stem}-half.jpg", quality=80)
        im.save(folder / f"{p.stem}-png.png")
        ImageOps.mirror(im).save(folder / f"{p.stem}-mirror.jpg", quality=90)
        im.crop((0, 0, im.width * 3 // 4, im.height * 3 // 4)).save(folder / f"{p.stem}-crop.jpg", quality=90)
    monkeypatch.setattr(scan_module, "MANY", 1)
    monkeypatch.setattr(processes_module, "LEAST_WORK", 2)
    return folder


def test_a_scan_checks_and_signs_in_processes_to_the_labels_it_gives_without(settings, copies, tmp_path,
                                                                            monkeypatch):
    """A scan whose signatures and pair checks run in processes gives the pairs and labels of a scan that makes
    them itself."""
    from neardup.pipeline import labels, runtime
    from neardup.pipeline.scan import Scanner

    folder = copies
    sent, real_map = [], Processes.map

    def map_recorded(self, fn, items, least=None):
        sent.append((fn.__name__, (self.worth(len(items)) if least is None else len(items) >= least)
                     and not self.broken))
        return real_map(self, fn, items, least)

    monkeypatch.setattr(Processes, "map", map_recorded)
    found = {}
    for name, settle in (("processes", runtime.processes), ("here", lambda workers: contextlib.nullcontext())):
        labels.CHECKED.clear()
        monkeypatch.setattr(runtime, "processes", settle)
        res = Scanner(dataclasses.replace(settings, data_dir=str(tmp_path / name))).scan(str(folder))
        found[name] = sorted((res.rel(a), res.rel(b), d, label) for a, b, d, label in res.pairs)
    assert ("sign", True) in sent and ("differences", True) in sent
    labelled = [label for *_, label in found["here"]]
    assert labelled.count("duplicate") >= 6 and labelled.count("match") >= 6
    assert found["processes"] == found["here"]


def test_a_report_tells_what_changed_from_processes_as_it_does_without(settings, copies, tmp_path, monkeypatch):
    """The report's reasons for its matches, worked out in processes, are those worked out in its thread."""
    import re

    from neardup.encoder.frame import TOLD
    from neardup.pipeline import labels, report
    from neardup.pipeline.outputs import write_outputs
    from neardup.pipeline.scan import Scanner

    scanner = Scanner(settings)
    res = scanner.scan(str(copies))
    sent, real_map = [], Processes.map
    monkeypatch.setattr(Processes, "map", lambda self, fn, items, least=None: sent.append(fn.__name__)
                        or real_map(self, fn, items, least))
    pages = {}
    for name, settle in (("processes", report.processes), ("here", lambda workers: contextlib.nullcontext())):
        labels.CHECKED.clear()
        with scanner.rt.engine.begin() as conn:  # the reasons stored by the first report: worked out again
            conn.exec_driver_sql("DELETE FROM frame_checks WHERE checker = ?", (TOLD,))
        monkeypatch.setattr(report, "processes", settle)
        write_outputs(res, tmp_path / name)
        pages[name] = re.sub(r"thumbs/\d+", "", (tmp_path / name / "report.html").read_text())
    assert "explanations" in sent
    assert pages["processes"].count("mirrored") >= 6
    assert pages["processes"] == pages["here"]
