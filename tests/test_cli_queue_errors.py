"""What `neardup submit` says when it cannot work: one line with the fix, never a traceback or a queued
batch that fails image by image."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.cluster import REPO, RedisServer, free_port, started_tls_redis

pytestmark = pytest.mark.slow


def submit(env_extra: dict, *paths: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEARDUP_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "neardup", "submit", *paths], cwd=REPO, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_submit_without_image_roots_refuses_before_queuing(tmp_path):
    proc = submit({"NEARDUP_DATA_DIR": str(tmp_path), "NEARDUP_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"},
                  str(REPO / "samples" / "originals"))
    assert proc.returncode == 1 and "NEARDUP_ROOTS" in proc.stderr and "Traceback" not in proc.stderr


def test_submit_of_a_folder_without_images_says_so_before_queuing(tmp_path):
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "notes.txt").write_text("no pictures here")
    env = {"NEARDUP_DATA_DIR": str(tmp_path), "NEARDUP_ROOTS": str(tmp_path),
           "NEARDUP_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    proc = submit(env, str(tmp_path / "uploads"))
    assert proc.returncode == 1 and "no images under" in proc.stderr and "Traceback" not in proc.stderr
    assert "broker" not in proc.stderr  # nothing was sent
    piped = submit(env, "-", stdin=f"{tmp_path / 'uploads'}\n\n")  # the paths on standard input, one a line
    assert piped.returncode == 1 and f"no images under {tmp_path / 'uploads'} (" in piped.stderr, piped.stderr


def test_wrong_password_and_redis_down_are_one_line(tmp_path):
    redis = RedisServer(tmp_path, password="right-one")
    redis.start()
    try:
        base = {"NEARDUP_DATA_DIR": str(tmp_path), "NEARDUP_ROOTS": str(REPO / "samples")}
        wrong = submit({**base, "NEARDUP_BROKER_URL": redis.url.replace("right-one", "wrong-one")},
                       str(REPO / "samples" / "originals"))
        assert wrong.returncode == 1 and "wrong password" in wrong.stderr, wrong.stderr[-1500:]
        assert "wrong-one" not in wrong.stderr and "Traceback" not in wrong.stderr
    finally:
        redis.kill()
    down = submit({**base, "NEARDUP_BROKER_URL": redis.url}, str(REPO / "samples" / "originals"))
    assert down.returncode == 1 and "cannot use the broker" in down.stderr and "Traceback" not in down.stderr
    assert "right-one" not in down.stderr


def test_a_worker_asked_for_a_queue_neardup_has_not_refuses_to_start(tmp_path):
    """A typo in -Q would start a worker that waits for ever on a queue nothing is sent to."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEARDUP_")}
    env.update(NEARDUP_DATA_DIR=str(tmp_path), NEARDUP_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    proc = subprocess.run([sys.executable, "-m", "neardup", "worker", "-Q", "embed,indx"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no such queue: indx" in proc.stderr, proc.stderr[-1500:]
    assert "embed, index, verify, sweep, train" in proc.stderr and "Traceback" not in proc.stderr


def test_a_broker_certificate_of_an_unnamed_ca_is_one_line_with_the_fix(tmp_path):
    redis = started_tls_redis(tmp_path)
    try:
        env = {"NEARDUP_DATA_DIR": str(tmp_path), "NEARDUP_ROOTS": str(REPO / "samples"),
               "NEARDUP_BROKER_URL": redis.url.split("?")[0]}  # rediss:// without the CA's file
        proc = submit(env, str(REPO / "samples" / "originals"))
    finally:
        redis.kill()
    assert proc.returncode == 1 and "certificate verify failed" in proc.stderr, proc.stderr[-1500:]
    assert "ssl_ca_certs=" in proc.stderr and "Traceback" not in proc.stderr
