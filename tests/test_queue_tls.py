"""The queue over TLS: a Redis that speaks TLS only and asks clients for certificates of its private CA (mutual
TLS), which NEARDUP_BROKER_URL names (rediss://...?ssl_ca_certs=...&ssl_certfile=...&ssl_keyfile=...) for the
workers' broker and results, the client and the locks alike."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.cluster import Cluster, RedisServer, make_queue_images
from tests.conftest import sample_paths

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, tiny_model):
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make the certificates with")
    tmp = tmp_path_factory.mktemp("tls")
    redis = RedisServer(tmp, tls=True)
    try:
        redis.start()
    except RuntimeError:
        pytest.skip("this redis-server was built without TLS")
    saved = dict(os.environ)
    cluster = Cluster(tmp, redis, tmp / "images", tiny_model)  # sets NEARDUP_* here too, for the client
    cluster.copies = make_queue_images(tmp / "images", sample_paths()[:2])
    yield cluster
    cluster.stop()
    redis.kill()
    os.environ.clear()
    os.environ.update(saved)


def test_a_batch_over_mutual_tls_is_answered_with_its_copies(tls_cluster):
    from neardup.config import load
    from neardup.worker.client import Client

    assert load().broker_url.startswith("rediss://")
    worker = tls_cluster.start_worker("tls")
    files = sorted(str(p) for p in tls_cluster.images.glob("*.jpg"))
    handle = Client(load()).submit(files, "tls")
    done = handle.result(timeout=300)
    assert done["done"] == done["total"] == len(files), tls_cluster.logs()
    states = {item["path"]: item for item in handle.status()["items"]}
    assert all(item["state"] in ("indexed", "duplicate", "match") for item in states.values()), states
    for copy, original in tls_cluster.copies.items():
        if copy.endswith("_same.jpg"):  # the same bytes: whichever came second is the other's duplicate at 0
            a, b = states[copy], states[original]
            assert (a.get("of"), a.get("distance")) == (original, 0) or (b.get("of"), b.get("distance")) == (copy, 0)
    assert worker.poll() is None
