"""CPU inference through LiteRT (XNNPACK): the Keras model converted to a LiteRT flatbuffer once per model file
and TensorFlow release, and cached on disk by the file's content.

EfficientNet-Lite was made for this runtime: on 2 cores it embeds about twice as many images a second as
TensorFlow's own predict (`bench/encoders.py`), the same vectors within 1e-6. The `.keras` file stays the model
(loaded with safe_mode); the flatbuffer is only ever made from the loaded model, here, and is checked against
Keras on a probe batch before it is used.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
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
    import tensorflow as tf

    digest = hashlib.sha256(Path(model_file).read_bytes()).hexdigest()
    return cache_dir() / "litert" / f"{digest}-tf{tf.__version__}-{GRAPH}.tflite"


def convert(model) -> bytes:
    """The LiteRT flatbuffer of a Keras model (TensorFlow's converter; its progress lines held back)."""
    import tensorflow as tf

    from .artifact import native_start_up_quiet

    with native_start_up_quiet(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def flatbuffer(model, target: Path) -> bytes:
    """The flatbuffer of `model` cached at `target` (cached_path() of its file), converted and cached if there is
    none; kept in memory only where the cache cannot be written."""
    if target.is_file():
        return target.read_bytes()
    blob = convert(model)
    try:
        write_whole(target, blob)
    except OSError as exc:
        log.warning("LiteRT cache %s not writable (%s): the model is converted again at each start", target, exc)
    return blob


class Interpreter:
    """A LiteRT interpreter at one batch size: float32 (batch, size, size, 3) in, vectors out. One call at a
    time (an interpreter holds its tensors)."""

    def __init__(self, blob: bytes, batch: int, threads: int):
        from ai_edge_litert.interpreter import Interpreter as LiteRT

        from .artifact import native_start_up_quiet

        with native_start_up_quiet():  # its notice that XNNPACK runs it
            self.interpreter = LiteRT(model_content=blob, num_threads=threads)
            source = self.interpreter.get_input_details()[0]
            self.interpreter.resize_tensor_input(source["index"], [batch, *source["shape"][1:]])
            self.interpreter.allocate_tensors()
        self.source, self.result = source["index"], self.interpreter.get_output_details()[0]["index"]
        self.lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self.lock:
            self.interpreter.set_tensor(self.source, x)
            self.interpreter.invoke()
            return self.interpreter.get_tensor(self.result).copy()


def compiled(model, model_file: Path, batch: int, threads: int) -> Interpreter | None:
    """A LiteRT interpreter for `model` that gives Keras's vectors on a probe batch, else None (Keras runs it):
    a cached flatbuffer that fails is converted again, once."""
    size = int(model.input_shape[1])
    probe = np.zeros((batch, size, size, 3), np.float32)  # a few random pictures, the rest of the batch padding
    probe[:PROBE] = np.random.default_rng(0).integers(0, 256, probe[:PROBE].shape)
    expected = np.asarray(model(probe[:PROBE], training=False))  # eager: no predict function traced for one call
    problem = "its vectors differ from Keras's"
    target = cached_path(model_file)  # the model file hashed once
    for attempt in range(2):
        if attempt:
            target.unlink(missing_ok=True)
        try:
            run = Interpreter(flatbuffer(model, target), batch, threads)
            if np.abs(run(probe)[:PROBE] - expected).max() <= TOLERANCE:
                return run
        except Exception as exc:  # a damaged cache, or an op the converter or runtime lacks
            problem = str(exc)
    log.warning("LiteRT cannot run %s (%s): TensorFlow runs it", model_file, problem)
    return None
