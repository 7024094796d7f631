"""The encoder's CPU runtime: LiteRT gives Keras's vectors, converts a model once, and recovers from a damaged
cache; the `inference` setting chooses it; an unknown runtime is refused. A model pinned to a shipped flatbuffer
(the default: layers in 8-bit integers) runs through it alone, and ranks as its float graph does."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from neardup.encoder import artifact, litert
from neardup.encoder.decode import to_input
from tests.conftest import sample_paths


def photos_at(size: int) -> np.ndarray:
    return np.stack([to_input(Image.open(p).convert("RGB"), size) for p in sample_paths()])


FLOAT_MODEL = artifact.SHIPPED["efficientnet-lite0-80"]  # a shipped model converted from Keras, not pinned


def test_litert_embeds_as_keras_does():
    keras_run = artifact.Encoder(FLOAT_MODEL, inference="keras", batch_size=8)
    litert_run = artifact.Encoder(FLOAT_MODEL, inference="litert", batch_size=8)
    assert (keras_run.runtime, litert_run.runtime) == ("keras", "litert")
    x = photos_at(keras_run.size)
    assert len(x) > 8  # more than one batch: the last one short (Keras pads it, LiteRT takes it as it is)
    assert np.abs(litert_run.embed(x) - keras_run.embed(x)).max() < 1e-5


def test_a_short_batch_runs_at_its_own_size_and_gives_the_vectors_of_a_full_one():
    run = artifact.Encoder(inference="litert", batch_size=8)
    x = photos_at(run.size)[:8]
    full = run.embed(x)

    def input_rows() -> int:
        return int(run.compiled.interpreter.get_input_details()[0]["shape"][0])

    alone = np.concatenate([run.embed(x[i:i + 1]) for i in range(3)])
    assert input_rows() == 1  # one query is one image's work, not a padded batch's
    assert np.abs(alone - full[:3]).max() < 1e-6
    assert np.abs(run.embed(x) - full).max() < 1e-6 and input_rows() == 8  # and back to full batches


def test_a_model_is_converted_once_and_a_damaged_flatbuffer_again(tiny_model):
    first = artifact.Encoder(tiny_model, inference="litert", batch_size=4)
    cached = litert.cached_path(first.path)
    assert first.runtime == "litert" and cached.is_file()
    made = cached.stat().st_mtime_ns
    second = artifact.Encoder(tiny_model, inference="litert", batch_size=4)
    assert second.runtime == "litert" and "model" not in vars(second)  # the Keras model was never loaded
    assert cached.stat().st_mtime_ns == made  # read from the cache, not converted again

    check = litert.checked_path(cached)
    kept = json.loads(check.read_text())
    check.write_text(json.dumps({**kept, "probe": (np.float32(kept["probe"]) + 0.01).tolist()}))
    assert artifact.Encoder(tiny_model, inference="litert", batch_size=4).runtime == "litert"
    assert cached.stat().st_mtime_ns != made and json.loads(check.read_text()) == kept  # failed its check: made again

    cached.write_bytes(b"not a flatbuffer")
    again = artifact.Encoder(tiny_model, inference="litert", batch_size=4)
    assert again.runtime == "litert" and cached.read_bytes() != b"not a flatbuffer"
    x = photos_at(again.size)
    assert np.abs(again.embed(x) - artifact.Encoder(tiny_model, inference="keras").embed(x)).max() < 1e-5


def test_a_process_that_finds_the_flatbuffer_cached_never_imports_tensorflow(tiny_model):
    artifact.Encoder(tiny_model, inference="litert", batch_size=4)  # converted and cached here
    started = ("import sys; from neardup.encoder import artifact; "
               f"e = artifact.Encoder({str(tiny_model)!r}, inference='auto', batch_size=4); "
               "print(e.runtime, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", started], capture_output=True, text=True, env=os.environ.copy())
    expected = "litert False False" if artifact.wants_litert("auto") else "keras True True"
    assert out.stdout.split("\n")[-2] == expected, out.stderr[-2000:]


def test_an_unknown_runtime_is_refused(tiny_model):
    for model in (tiny_model, artifact.DEFAULT_MODEL):
        with pytest.raises(ValueError, match="inference must be"):
            artifact.Encoder(model, inference="onnx")


def test_the_inference_setting_reaches_the_scan_s_encoder(settings, monkeypatch):
    from neardup.config import load
    from neardup.pipeline.runtime import Runtime

    monkeypatch.setenv("NEARDUP_INFERENCE", "keras")
    assert load(data_dir=settings.data_dir).inference == "keras"
    assert Runtime(load(data_dir=settings.data_dir, model="efficientnet-lite0-80")).encoder().runtime == "keras"
    with pytest.raises(ValueError, match="runs only through LiteRT"):  # the default's vectors are its flatbuffer's
        Runtime(load(data_dir=settings.data_dir)).encoder()
    expected = "litert" if artifact.wants_litert("auto") else "keras"  # auto: LiteRT where TensorFlow sees no GPU
    assert Runtime(dataclasses.replace(settings, model="efficientnet-lite0-80")).encoder().runtime == expected
    assert Runtime(settings).encoder().runtime == "litert"  # pinned: on a GPU machine too


def test_the_default_runs_its_pinned_flatbuffer_and_ranks_as_its_float_graph():
    info = artifact.read_info(artifact.DEFAULT_MODEL)
    assert info.litert["int8"] and info.litert["file"].endswith(".litert")
    run = artifact.Encoder(inference="litert", batch_size=8)
    assert run.runtime == "litert" and "model" not in vars(run)  # no Keras loaded, nothing converted
    photos = photos_at(run.size)
    copies = photos_at(run.size)[:, :, ::-1]  # mirror images: another picture to the pixels, one to the encoder
    ours = run.embed(np.concatenate([photos, copies]))
    float_graph = np.asarray(run.model.predict(np.concatenate([photos, copies]).astype(np.float32), verbose=0))
    assert np.linalg.norm(ours - float_graph, axis=1).max() < 0.1  # close, not equal: a version of its own
    n = len(photos)
    for vectors in (ours, float_graph):  # each photo's nearest among all the others is its own mirror image
        d = np.linalg.norm(vectors[:, None] - vectors[None], axis=2) + 9 * np.eye(2 * n)
        assert (d[:n].argmin(axis=1) == np.arange(n) + n).all()


def test_a_pinned_flatbuffer_that_is_not_its_version_s_is_refused(tmp_path):
    import shutil

    info = artifact.read_info(artifact.DEFAULT_MODEL)
    for name in (artifact.DEFAULT_MODEL.name, info.litert["file"], info.crowding["file"], "ensemble.json"):
        shutil.copy(artifact.DEFAULT_MODEL.with_name(name), tmp_path / name)
    model = tmp_path / artifact.DEFAULT_MODEL.name
    assert artifact.Encoder(model, batch_size=4).runtime == "litert"
    blob = bytearray((tmp_path / info.litert["file"]).read_bytes())
    blob[-1] ^= 1
    (tmp_path / info.litert["file"]).write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="its sha256 differs"):
        artifact.Encoder(model, batch_size=4)
    (tmp_path / info.litert["file"]).unlink()
    with pytest.raises(ValueError, match="cannot be read"):
        artifact.Encoder(model, batch_size=4)


def test_gem_pooling_is_the_power_mean_and_runs_without_the_reference_pow_kernel():
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from neardup.encoder.model import GeneralisedMeanPooling

    inputs = keras.Input((3, 3, 8))
    model = keras.Model(inputs, GeneralisedMeanPooling(p=2.7)(inputs))
    x = np.random.default_rng(0).uniform(0, 6, (4, 3, 3, 8)).astype(np.float32)
    expected = np.mean(np.maximum(x, 1e-6) ** 2.7, axis=(1, 2)) ** (1 / 2.7)
    assert np.allclose(np.asarray(model(x)), expected, rtol=1e-5)
    blob = litert.convert(model)
    ops = {op["op_name"] for op in Interpreter(model_content=blob)._get_ops_details()}
    assert "POW" not in ops  # LiteRT's POW is a slow reference kernel; EXP and LOG run in XNNPACK


def test_a_model_pinned_to_its_quantised_flatbuffer_runs_through_it_under_a_version_of_its_own(tiny_model, tmp_path):
    """scripts/quantise_encoder.py's steps on a small model: its convolutions in 8-bit integers, the flatbuffer
    pinned in the sidecar, a version of its own; the encoder then runs it, not Keras, and gives vectors near
    the float model's."""
    import shutil

    from ai_edge_litert.interpreter import Interpreter

    path = tmp_path / "tiny.keras"
    shutil.copy(tiny_model, path)
    shutil.copy(artifact.sidecar(tiny_model), artifact.sidecar(path))
    model = artifact.load_keras(path)
    x = photos_at(model.input_shape[1])
    blob = litert.quantised(model, x.astype(np.float32), ["conv2d"])  # every convolution (conv2d, conv2d_1, ...)
    tensors = Interpreter(model_content=blob).get_tensor_details()
    assert any(t["dtype"] == np.int8 for t in tensors) and any(t["dtype"] == np.float32 for t in tensors)
    info = artifact.read_info(path)
    info.litert = litert.pin(path, blob, info.input_size, 4, ["conv2d"], "the sample photos")
    info.version = artifact.file_version(path, info.crowding, info.input, info.litert)
    artifact.write_info(path, info)
    assert (tmp_path / "tiny.litert").read_bytes() == blob and info.version != artifact.read_info(tiny_model).version
    run = artifact.Encoder(path, batch_size=4)
    assert run.runtime == "litert" and "model" not in vars(run) and run.version == info.version
    ours, float_graph = run.embed(x), artifact.Encoder(tiny_model, inference="keras").embed(x)
    assert np.abs(ours - float_graph).max() > 1e-4  # its own vectors, not Keras's ...
    assert np.linalg.norm(ours - float_graph, axis=1).max() < 0.2  # ... near them
    with pytest.raises(ValueError, match="runs only through LiteRT"):
        artifact.Encoder(path, inference="keras")
