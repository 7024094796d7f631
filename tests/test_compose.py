"""docker-compose.yml is valid (checked by docker-compose itself, no engine needed) and every service runs
a real entry point of the package."""
from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_compose_file_is_valid():
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed (make test installs Debian's docker-compose)")
    proc = subprocess.run([exe, "-f", str(REPO / "docker-compose.yml"), "config", "-q"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_every_service_command_is_a_real_entry_point():
    from worker.app import app
    from worker.cli import cli

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["neardup"]' in dockerfile and "neardup" in scripts
    queues = {q.name for q in app.conf.task_queues}
    for name, svc in compose["services"].items():
        if name == "redis":
            continue
        entry = svc.get("entrypoint")
        command = svc.get("command") or []
        if entry is None:  # the image's ENTRYPOINT: neardup
            assert command[0] in cli.commands, (name, command)
            if "-Q" in command:
                assert set(command[command.index("-Q") + 1].split(",")) <= queues, name
        else:
            assert entry[:3] == ["celery", "-A", "worker.app"] and entry[3] in ("beat", "flower", "worker"), name
    app.loader.import_default_modules()
    for task in ("neardup.embed", "neardup.index", "neardup.sweep", "neardup.retrain", "neardup.reconcile"):
        assert task in app.tasks, task
