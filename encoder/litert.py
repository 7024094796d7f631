"""CPU inference through LiteRT (XNNPACK): the Keras model converted to a LiteRT flatbuffer once per model file
and TensorFlow release, and cached on disk by the file's content. A process that finds it cached starts
without importing TensorFlow (seconds, and hundreds of MB a worker).

EfficientNet-Lite was made for this runtime: on 2 cores it embeds 1.7 to 4 times as many images a second as
TensorFlow's own predict (`bench/encoders.py`), the same vectors within 1e-6. The `.keras` file stays the model
(loaded with safe_mode); the flatbuffer is made from the loaded model, here, and is checked against Keras on a
probe batch when it is made; Keras's vectors of the probe are kept beside it, and each later start checks the
cached flatbuffer against them. A model whose layers run partly in 8-bit integers is pinned to a flatbuffer
made once and shipped with it instead (pinned(), below).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from neardup.files import write_whole

log = logging.getLogger(__name__)

TOLERANCE = 1e-4  # the largest difference from Keras on the probe pictures that a flatbuffer may show
PROBE = 4  # random pictures it is checked on
GRAPH = "g2"  # names how the layers are written as operations: a change there must not reuse an old flatbuffer


def cache_dir() -> Path:
    """`$NEARDUP_CACHE_DIR`, else `$XDG_CACHE_HOME/neardup`, else `~/.cache/neardup`."""
    if os.environ.get("NEARDUP_CACHE_DIR"):
        return Path(os.environ["NEARDUP_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "neardup"


def cached_path(model_file: Path) -> Path:
    """Where the flatbuffer of `model_file` is cached: named by the file's content, the installed TensorFlow
    (whose converter made it) and GRAPH; its check (checked_path()) lies beside it."""
    digest = hashlib.sha256(Path(model_file).read_bytes()).hexdigest()
    return cache_dir() / "litert" / f"{digest}-tf{installed('tensorflow')}-{GRAPH}.tflite"


def checked_path(target: Path) -> Path:
    """The check kept beside a cached flatbuffer: its sha256 and Keras's vectors of the probe pictures."""
    return target.with_suffix(".json")


def installed(package: str) -> str:
    """A package's installed version, read without importing it (TensorFlow takes seconds to import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def convert(model) -> bytes:
    """The LiteRT flatbuffer of a Keras model (TensorFlow's converter; its progress lines held back)."""
    import tensorflow as tf

    from .artifact import native_start_up_quiet

    with native_start_up_quiet(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


class Interpreter:
    """A LiteRT interpreter: float32 (n, size, size, 3) in, vectors out. Made for `batch` images a call, it
    takes another number by resizing its input (a fraction of a millisecond, the same vectors): its work is
    per image, so a short batch (a search's one query, a queued batch's last few images) is not padded to the
    full size. One call at a time (an interpreter holds its tensors)."""

    def __init__(self, blob: bytes, batch: int, threads: int):
        from ai_edge_litert.interpreter import Interpreter as LiteRT

        from .artifact import native_start_up_quiet

        with native_start_up_quiet():  # its notice that XNNPACK runs it
            self.interpreter = LiteRT(model_content=blob, num_threads=threads)
            source = self.interpreter.get_input_details()[0]
            self.interpreter.resize_tensor_input(source["index"], [batch, *source["shape"][1:]])
            self.interpreter.allocate_tensors()
        self.source, self.result = source["index"], self.interpreter.get_output_details()[0]["index"]
        self.rows = batch  # images its input holds now
        self.lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self.lock:
            if len(x) != self.rows:
                self.interpreter.resize_tensor_input(self.source, list(x.shape))
                self.interpreter.allocate_tensors()
                self.rows = len(x)
            self.interpreter.set_tensor(self.source, x)
            self.interpreter.invoke()
            return self.interpreter.get_tensor(self.result).copy()


def probe_batch(batch: int, size: int) -> np.ndarray:
    """The pictures a flatbuffer is checked on: PROBE random ones, the rest of the batch padding."""
    probe = np.zeros((batch, size, size, 3), np.float32)
    probe[:PROBE] = np.random.default_rng(0).integers(0, 256, probe[:PROBE].shape)
    return probe


def compiled(model_file: Path, size: int, batch: int, threads: int, keras_model) -> Interpreter | None:
    """A LiteRT interpreter for the model in `model_file` that gives Keras's vectors on a probe batch, else None
    (Keras runs it). A cached flatbuffer whose check holds (its bytes, and Keras's vectors of the probe when it
    was made, which it must still give) starts without loading Keras or TensorFlow at all: the worker or CLI
    starts in a fraction of a second. Otherwise `keras_model()` is loaded, converted, checked and cached."""
    probe = probe_batch(batch, size)
    target = cached_path(model_file)  # the model file hashed once
    with contextlib.suppress(Exception):  # no cache yet, or a damaged one: converted again below
        blob, check = target.read_bytes(), json.loads(checked_path(target).read_text())
        if hashlib.sha256(blob).hexdigest() == check["sha256"]:
            run = Interpreter(blob, batch, threads)
            if np.abs(run(probe)[:PROBE] - np.float32(check["probe"])).max() <= TOLERANCE:
                return run
    model = keras_model()
    expected = np.asarray(model(probe[:PROBE], training=False))  # eager: no predict function traced for one call
    try:
        blob = convert(model)
        run = Interpreter(blob, batch, threads)
        problem = "its vectors differ from Keras's"
        if np.abs(run(probe)[:PROBE] - expected).max() <= TOLERANCE:
            keep(target, blob, expected)
            return run
    except Exception as exc:  # an op the converter or runtime lacks
        problem = str(exc)
    log.warning("LiteRT cannot run %s (%s): TensorFlow runs it", model_file, problem)
    return None


def keep(target: Path, blob: bytes, expected: np.ndarray) -> None:
    """Cache a checked flatbuffer and its check (the check last: a flatbuffer without one is not used)."""
    try:
        write_whole(target, blob)
        write_whole(checked_path(target), json.dumps({"sha256": hashlib.sha256(blob).hexdigest(),
                                                      "probe": expected.tolist()}).encode())
    except OSError as exc:
        log.warning("LiteRT cache %s not writable (%s): the model is converted again at each start", target, exc)


# --- pinned graphs: a flatbuffer shipped with its model, part of its version ---------------------------------
# Where some of a model's layers run in 8-bit integers, the vectors are the flatbuffer's, not Keras's: they are
# made once, offline (quantised()), shipped beside the `.keras` file and named in its sidecar (`"litert"`), and
# the model's version covers their bytes. Such a model always runs through them (pinned()).

PINNED_TOLERANCE = 1e-3  # more than this is worth a warning: on the probe pictures the default's float graph
#   lies 5e-3 from its integer one; another CPU's kernels may round an activation a level otherwise


def quantised(model, calibration: np.ndarray, int8_layers: list[str]) -> bytes:
    """The LiteRT flatbuffer of `model` with the convolutions inside the named layers (nested models: an
    ensemble's members) in 8-bit integers (per-channel weights, activations ranged on `calibration`, (n, size,
    size, 3) float32 pictures), everything else in float32. Convolutions are what quantise well: a pooling, a
    normalisation or a projection in 8 bits moves the vectors far more than it saves."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter as LiteRT

    from .artifact import native_start_up_quiet

    def representative():
        for start in range(0, len(calibration), 8):
            yield [calibration[start:start + 8]]

    graph = LiteRT(model_content=convert(model))  # the float graph: its operations and their tensors' names
    operations = graph._get_ops_details()
    names = {t["index"]: t["name"] for t in graph.get_tensor_details()}
    kept_float = [names[o] for op in operations for o in op["outputs"]
                  if op["op_name"] == "CONV_2D" and not any(f"/{layer}" in names[o] for layer in int8_layers)]
    with native_start_up_quiet(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=sorted({op["op_name"] for op in operations} - {"CONV_2D"}), denylisted_nodes=kept_float)
        return tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative, debug_options=options).get_nondebug_quantized_model()


def pin(model_file: Path, blob: bytes, size: int, batch: int, int8_layers: list[str], calibration: str) -> dict:
    """Ship `blob` beside `model_file` (NAME.litert) and return the sidecar's `"litert"` entry: the file, its
    sha256, what runs in integers, and the flatbuffer's vectors of the probe pictures."""
    target = Path(model_file).with_suffix(".litert")
    target.write_bytes(blob)
    probe = Interpreter(blob, batch, 1)(probe_batch(batch, size))[:PROBE]
    return {"file": target.name, "sha256": hashlib.sha256(blob).hexdigest(), "int8": int8_layers,
            "calibration": calibration, "probe": probe.round(7).tolist()}


def pinned(model_file: Path, spec: dict, size: int, batch: int, threads: int) -> Interpreter:
    """The interpreter of the flatbuffer a model's sidecar pins (pin()). ValueError if the file is not the one
    its version was made with; a warning if this CPU's vectors of the probe pictures differ from the sidecar's."""
    path = Path(model_file).with_name(spec["file"])
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{model_file} runs through {path}, which cannot be read ({exc.strerror or exc})") from None
    if hashlib.sha256(blob).hexdigest() != spec["sha256"]:
        raise ValueError(f"{path} is not the flatbuffer {model_file}'s version was made with (its sha256 differs)")
    run = Interpreter(blob, batch, threads)
    gap = float(np.abs(run(probe_batch(batch, size))[:PROBE] - np.float32(spec["probe"])).max())
    if gap > PINNED_TOLERANCE:
        log.warning("%s gives vectors %.2g from those its model was made with on this CPU", path, gap)
    return run
