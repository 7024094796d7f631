"""The model registry's rules, in one process: promotion only of a model that works; a collection keeps
answering with its live generation's model whatever is active."""
from __future__ import annotations

import os
import shutil

import pytest

from neardup.encoder import artifact
from neardup.pipeline.retrain import promote, rollback
from neardup.pipeline.runtime import Runtime
from neardup.pipeline.scan import Scanner


@pytest.fixture
def second_model(tmp_path_factory) -> str:
    import keras

    from neardup.encoder.model import build_encoder

    keras.utils.set_random_seed(7)
    path = tmp_path_factory.mktemp("model2") / "other.keras"
    artifact.save(build_encoder(input_size=32, dim=32, width=8), path, {"duplicate": 0.05, "match": 0.2})
    return str(path)


def test_promote_refuses_a_model_that_cannot_load(settings, tiny_model, tmp_path):
    rt = Runtime(settings)
    good = artifact.read_info(tiny_model)
    rt.models.register(good.version, tiny_model, good.__dict__)
    promote(rt, good.version)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 not a model")
    rt.models.register("brokenbroken", str(broken), good.__dict__)
    with pytest.raises(ValueError, match="cannot be used"):
        promote(rt, "brokenbroken")
    with pytest.raises(KeyError):
        promote(rt, "nosuchversion")
    assert rt.models.active().version == good.version


def test_scans_use_the_collection_s_live_generation(settings, tiny_model, second_model, photos):
    settings.model = tiny_model
    first = Scanner(settings, "catalog").scan(str(photos))
    rt = Runtime(settings)
    other = artifact.read_info(second_model)
    rt.models.register(other.version, second_model, other.__dict__)
    promote(rt, other.version)  # active now, but the collection has not been rolled out to it
    settings.model = ""
    again = Scanner(settings, "catalog").scan(str(photos))
    assert again.model_version == first.model_version != other.version
    assert Scanner(settings, "fresh").scan(str(photos)).model_version == other.version  # new collections: active
    settings.model = second_model
    with pytest.raises(ValueError, match="indexed with model"):
        Scanner(settings, "catalog").scan(str(photos))


def test_rollback_switches_collections_live_on_the_current_model(settings, tiny_model, second_model, photos,
                                                                 tmp_path):
    from neardup.config import Settings
    from neardup.pipeline.retrain import rollout
    from neardup.pipeline.sweep import sweep

    first = sorted(photos.glob("*.jpg"))[0]
    shutil.copy(first, photos / "exact_copy.jpg")  # at least one pair
    settings.model = tiny_model
    Scanner(settings, "catalog").scan(str(photos))
    settings.model = ""
    rt = Runtime(settings)
    old = artifact.read_info(tiny_model).version
    promote(rt, old)
    new = artifact.read_info(second_model)
    rt.models.register(new.version, second_model, new.__dict__)
    rollout(rt, "catalog", new.version)
    assert rt.generations("catalog") == (new.version, None) and rt.models.active().version == new.version
    assert rollback(rt) == old
    assert rt.generations("catalog") == (old, None) and rt.models.active().version == old
    swept = sweep(rt, "catalog")  # the same pairs as a fresh scan with the model rolled back to
    fresh_settings = Settings(data_dir=str(tmp_path / "fresh"), decode_threads=2, model=tiny_model)
    fresh = Scanner(fresh_settings, "catalog").scan(str(photos))
    assert swept.model_version == old
    names = {(frozenset((os.path.basename(swept.images[a].path), os.path.basename(swept.images[b].path))), label)
             for a, b, _, label in swept.pairs}
    assert names and names == {(frozenset((fresh.rel(a), fresh.rel(b))), label) for a, b, _, label in fresh.pairs}
    assert rollback(rt) == new.version  # a rollback is itself rolled back the same way
    assert rt.generations("catalog") == (new.version, None)


def test_promote_by_name_or_file_rolls_the_collections_on_the_old_model_out_to_it(settings, tiny_model,
                                                                                  second_model, photos):
    """How a registry made with one model moves to another (a new shipped default): `neardup promote MODEL
    --roll-out` registers it from its file, re-embeds every collection live on the old model into it and
    switches them; collections on other models stay; a rollback moves them back."""
    from click.testing import CliRunner

    from neardup.worker.cli import cli

    settings.model = tiny_model
    Scanner(settings, "catalog").scan(str(photos))
    settings.model = ""
    rt = Runtime(settings)
    old, new = artifact.read_info(tiny_model).version, artifact.read_info(second_model).version
    promote(rt, old)
    with pytest.raises(KeyError):
        rt.registered("no-such-model")
    assert rt.registered("cnn-64") == artifact.read_info(artifact.SHIPPED["cnn-64"]).version  # by name, not loaded
    run = CliRunner().invoke(cli, ["promote", second_model, "--roll-out", "--data-dir", settings.data_dir])
    assert run.exit_code == 0, run.output
    assert f"active: {new} (rolled out: catalog)" in run.output
    assert rt.generations("catalog") == (new, None) and rt.models.active().version == new
    ids = {r.id for r in rt.registry.images(collection="catalog", live_only=True)}
    assert ids and set(rt.registry.vectors_by_image("catalog", new, sorted(ids))) == ids  # every image re-embedded
    assert Scanner(settings, "catalog").scan(str(photos)).model_version == new
    assert rollback(rt) == old and rt.generations("catalog") == (old, None)


def test_a_collection_whose_model_file_an_upgrade_replaced_is_rolled_out_on_request(settings, tiny_model,
                                                                                  second_model, photos, tmp_path):
    """An upgrade that re-makes a model file (the shipped default) leaves the collections indexed with its old
    version without a model: `neardup scan` says, in one line, the command that rolls them out, `neardup
    submit` says it before queuing anything (every embed step would fail), and after that command the scan
    runs on the new version."""
    import subprocess
    import sys

    from tests.cluster import REPO, free_port

    model = tmp_path / "model.keras"
    for source in (tiny_model, second_model):  # the file the collection was indexed with, then its upgrade
        shutil.copy(source, model)
        shutil.copy(artifact.sidecar(source), artifact.sidecar(model))
        if source == tiny_model:
            settings.model = str(model)
            old = Scanner(settings, "catalog").scan(str(photos)).model_version
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NEARDUP_")},
           "NEARDUP_DATA_DIR": settings.data_dir, "NEARDUP_ROOTS": str(photos),
           "NEARDUP_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}  # no broker: nothing may be sent

    def neardup(*args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "neardup", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)

    scanned = neardup("scan", str(photos), "-c", "catalog", "--out", str(tmp_path / "out"))
    assert scanned.returncode == 1 and "Traceback" not in scanned.stderr, scanned.stderr[-2000:]
    assert f"model version {old} is gone" in scanned.stderr and f"neardup promote {model} --roll-out" in scanned.stderr
    submitted = neardup("submit", str(photos), "-c", "catalog")
    assert submitted.returncode == 1 and "Traceback" not in submitted.stderr, submitted.stderr[-2000:]
    assert f"neardup promote {model} --roll-out" in submitted.stderr and not submitted.stdout  # no batch id
    assert neardup("promote", str(model), "--roll-out").returncode == 0
    again = neardup("scan", str(photos), "-c", "catalog", "--out", str(tmp_path / "out"))
    assert again.returncode == 0 and artifact.read_info(second_model).version in again.stderr, again.stderr[-2000:]


def test_promote_and_rollback_refuse_a_version_no_file_holds_before_switching_anything(settings, tiny_model,
                                                                                      second_model, photos, tmp_path):
    """A version whose file an upgrade re-made cannot be rolled out to: promoting it, or rolling back to it, is
    refused before any collection starts a generation it could never finish (every embed step would fail)."""
    from neardup.errors import ModelUnavailable

    model = tmp_path / "model.keras"
    for source in (tiny_model, second_model):
        shutil.copy(source, model)
        shutil.copy(artifact.sidecar(source), artifact.sidecar(model))
        if source == tiny_model:
            settings.model = str(model)
            old = Scanner(settings, "catalog").scan(str(photos)).model_version
            rt = Runtime(settings)
            promote(rt, old)
    settings.model = ""
    rt = Runtime(settings)
    with pytest.raises(ModelUnavailable, match=f"model version {old} is gone"):
        promote(rt, old, roll_out=True)
    assert rt.generations("catalog") == (old, None) and rt.models.active().version == old
    new = rt.registered(str(model))
    assert promote(rt, new, roll_out=True) == ["catalog"] and rt.generations("catalog") == (new, None)
    with pytest.raises(ModelUnavailable, match=f"model version {old} is gone"):
        rollback(rt)
    assert rt.generations("catalog") == (new, None) and rt.models.active().version == new


def test_a_version_whose_file_was_re_made_is_not_judged_by_the_reference_the_file_holds_now(settings, tiny_model,
                                                                                           second_model, tmp_path):
    """A crowding reference lies beside its model under the file's name: once an upgrade (or a calibration)
    re-makes the file, the reference there is the new version's. The old version's stored vectors are never
    judged by it (a sweep of a collection not yet rolled out says to roll it out)."""
    import numpy as np

    from neardup.encoder import crowding
    from neardup.errors import ModelUnavailable

    model, rng, versions = tmp_path / "model.keras", np.random.default_rng(3), []
    for source in (tiny_model, second_model):  # the file, then its upgrade, each with a reference of its own
        shutil.copy(source, model)
        shutil.copy(artifact.sidecar(source), artifact.sidecar(model))
        info = artifact.read_info(model)
        reference = rng.normal(size=(50, info.dim))
        info.crowding = crowding.save(model, crowding.fit(reference / np.linalg.norm(reference, axis=1, keepdims=True)))
        info.version = artifact.file_version(model, info.crowding, info.input)
        artifact.write_info(model, info)
        Runtime(settings).models.register(info.version, str(model), info.__dict__)
        versions.append(info.version)
    with pytest.raises(ModelUnavailable, match=f"model version {versions[0]} is gone"):
        Runtime(settings).crowding(versions[0])
    assert Runtime(settings).crowding(versions[1]).reference.shape == (50, artifact.read_info(model).dim)
