"""Shared fixtures: small photos made from the bundled samples, a fresh data directory, a tiny model."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# the encoders' LiteRT flatbuffers (encoder/litert.py): one cache for the run and the workers it starts, not the user's
LITERT_CACHE = tempfile.mkdtemp(prefix="neardup-cache-")
os.environ.setdefault("NEARDUP_CACHE_DIR", LITERT_CACHE)
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "originals"


def sample_paths() -> list[Path]:
    return sorted(SAMPLES.glob("*.jpg"))


@pytest.fixture(scope="session", autouse=True)
def litert_cache():
    yield
    shutil.rmtree(LITERT_CACHE, ignore_errors=True)


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder of distinct photos, downsized so tests stay quick."""
    out = tmp_path / "photos"
    out.mkdir()
    for p in sample_paths():
        im = Image.open(p).convert("RGB")
        im.thumbnail((256, 256))
        im.save(out / p.name, quality=90)
    return out


@pytest.fixture
def settings(tmp_path):
    from neardup.config import Settings

    return Settings(data_dir=str(tmp_path / "data"), batch_size=16, decode_threads=2)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """An untrained small encoder: enough to test plumbing, not quality."""
    import keras

    from neardup.encoder import artifact
    from neardup.encoder.model import build_encoder

    keras.utils.set_random_seed(1)  # the same weights on every run: a test that fails on one fails on all
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    artifact.save(build_encoder(input_size=32, dim=32, width=8), path, {"duplicate": 0.05, "match": 0.2})
    return str(path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that ran real workers reports the tail of each worker's log: a crash or a lost task shows
    there, and the run that failed may not come again."""
    outcome = yield
    report = outcome.get_result()
    cluster = getattr(item, "funcargs", {}).get("cluster")
    if report.failed and call.when == "call" and cluster is not None:
        report.sections.append(("worker logs", cluster.logs()))
