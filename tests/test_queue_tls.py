"""The queue over TLS: a Redis that speaks TLS only and asks clients for certificates of its private CA (mutual
TLS), which NEARDUP_BROKER_URL names (rediss://...?ssl_ca_certs=...&ssl_certfile=...&ssl_keyfile=...) for the
workers' broker and results, the client and the locks alike."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.cluster import REPO, Cluster, make_queue_images, started_tls_redis
from tests.conftest import sample_paths

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("tls")
    redis = started_tls_redis(tmp)
    saved = dict(os.environ)
    cluster = Cluster(tmp, redis, tmp / "images", tiny_model)  # sets NEARDUP_* here too, for the client
    cluster.copies = make_queue_images(tmp / "images", sample_paths()[:2])
    yield cluster
    cluster.stop()
    redis.kill()
    os.environ.clear()
    os.environ.update(saved)


def test_a_batch_over_mutual_tls_is_answered_with_its_copies(tls_cluster):
    """Submitted as a user does, `neardup submit --wait` in a process of its own (this process's Celery app is
    bound to the broker of the first cluster the tests started)."""
    worker = tls_cluster.start_worker("tls")
    files = sorted(str(p) for p in tls_cluster.images.glob("*.jpg"))
    proc = subprocess.run([sys.executable, "-m", "neardup", "submit", "-c", "tls", "--wait", "--json", "--timeout",
                           "300", *files], cwd=REPO, env=tls_cluster.env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:] + tls_cluster.logs()
    done = json.loads(proc.stdout)  # one JSON document: the result, which names its batch
    assert done["done"] == done["total"] == len(files) and done["batch_id"] in proc.stderr, done
    states = {item["path"]: item for item in done["items"]}
    assert all(item["state"] in ("indexed", "duplicate", "match") for item in states.values()), states
    for copy, original in tls_cluster.copies.items():
        if copy.endswith("_same.jpg"):  # the same bytes: whichever came second is the other's duplicate at 0
            a, b = states[copy], states[original]
            assert (a.get("of"), a.get("distance")) == (original, 0) or (b.get("of"), b.get("distance")) == (copy, 0)
    assert worker.poll() is None
