"""What a user installs: one `neardup` package, a lock file that agrees with pyproject.toml, and an import
graph without cycles between the packages."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
import zipfile

import pytest

from tests.conftest import REPO

PACKAGES = ("encoder", "storage", "pipeline", "worker", "tasks")


def pinned(requirement: str) -> tuple[str, str] | None:
    m = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)", requirement)
    return (m.group(1).lower().replace("_", "-"), m.group(2)) if m else None


def test_the_lock_file_pins_what_pyproject_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [project["dependencies"], project["optional-dependencies"]["postgres"],
              project["optional-dependencies"]["monitor"]]
    lock = (REPO / "requirements.lock").read_text()
    locked = dict(pinned(line) for line in lock.splitlines() if pinned(line))
    for req in (r for group in wanted for r in group):
        name, version = pinned(req)
        assert locked.get(name) == version, f"{name}: pyproject {version}, lock {locked.get(name)} (make lock)"
    assert all("--hash=sha256:" in block for block in re.split(r"\n(?=\S)", lock) if pinned(block)), \
        "every locked package carries its hashes"


@pytest.mark.slow
def test_the_wheel_installs_one_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("neardup-*.whl"))
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"neardup"}, tops
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "neardup/worker/cli/__init__.py" in names
    # every shipped model, its sidecar and its crowding reference, the default and those registries may still
    # name by path among them
    from neardup.encoder import artifact, crowding

    shipped = {f"neardup/encoder/default/{f.name}" for path in artifact.shipped_files()
               for f in (path, artifact.sidecar(path), crowding.file_for(path))}
    assert shipped <= names, shipped - names
    infos = map(artifact.read_info, artifact.shipped_files())
    pinned = {f"neardup/encoder/default/{info.litert['file']}" for info in infos if info.litert}  # the default's
    assert pinned and pinned <= names, pinned - names


def imported_packages(package: str) -> set[str]:
    """The other neardup packages a package's modules import (at any depth of the code, lazily or not)."""
    found = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "neardup" and len(parts) > 1 and parts[1] in PACKAGES and parts[1] != package:
                    found.add(parts[1])
    return found


def test_the_packages_import_each_other_without_a_cycle():
    graph = {p: imported_packages(p) for p in PACKAGES}
    order, done, stack = [], set(), set()

    def visit(p, path):
        assert p not in stack, f"import cycle: {' -> '.join(path + [p])}"
        if p in done:
            return
        stack.add(p)
        for q in sorted(graph[p]):
            visit(q, path + [p])
        stack.discard(p)
        done.add(p)
        order.append(p)

    for p in PACKAGES:
        visit(p, [])
    assert "storage" not in graph["encoder"] and graph["pipeline"] <= {"encoder", "storage"}, graph


def test_pipeline_leaves_sql_to_storage():
    for path in (REPO / "pipeline").rglob("*.py"):
        text = path.read_text()
        assert "storage.db" not in text and "storage import db" not in text, path
        assert not re.search(r"from sqlalchemy import", text), path
