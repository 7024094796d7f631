"""docker-compose.yml is valid (checked by docker-compose itself, no engine needed) and every service runs
a real entry point of the package."""
from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def compose_config(**env) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed (make test installs Debian's docker-compose)")
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_PASSWORD", "FLOWER_BASIC_AUTH")}
    return subprocess.run([exe, "-f", str(REPO / "docker-compose.yml"), "--profile", "gpu", "config", "-q"],
                          capture_output=True, text=True, timeout=60, env={**clean, **env}, cwd=REPO / "tests")


def test_compose_file_is_valid_with_its_secrets_set():
    proc = compose_config(REDIS_PASSWORD="s3cret", FLOWER_BASIC_AUTH="ops:pw")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("missing", ["REDIS_PASSWORD", "FLOWER_BASIC_AUTH"])
def test_compose_refuses_to_start_without_a_secret(missing):
    env = {"REDIS_PASSWORD": "s3cret", "FLOWER_BASIC_AUTH": "ops:pw"}
    del env[missing]
    proc = compose_config(**env)
    assert proc.returncode != 0 and missing in proc.stderr, proc.stderr


def test_flower_is_published_to_this_machine_only():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert all(p.startswith("127.0.0.1:") for p in compose["services"]["flower"]["ports"])
    assert any(a.startswith("--basic-auth=") for a in compose["services"]["flower"]["entrypoint"])


def test_every_service_command_is_a_real_entry_point():
    from neardup.worker.app import app
    from neardup.worker.cli import cli

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["neardup"]' in dockerfile and "neardup" in scripts
    queues = {q.name for q in app.conf.task_queues}
    consumed = set()
    for name, svc in compose["services"].items():
        if name == "redis":
            continue
        entry = svc.get("entrypoint")
        command = svc.get("command") or []
        if entry is None:  # the image's ENTRYPOINT: neardup
            assert command[0] in cli.commands, (name, command)
            if "-Q" in command:
                consumed |= set(command[command.index("-Q") + 1].split(","))
                assert consumed <= queues, name
        else:
            assert entry[:3] == ["celery", "-A", "neardup.worker.app"] and entry[3] in ("beat", "flower", "worker"), name
    assert {route["queue"] for route in app.conf.task_routes.values()} <= consumed, "a queue no service consumes"
    app.loader.import_default_modules()
    for task in ("neardup.embed", "neardup.index", "neardup.verify", "neardup.sweep", "neardup.retrain",
                 "neardup.reconcile"):
        assert task in app.tasks, task
