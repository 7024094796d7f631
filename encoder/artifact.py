"""A trained encoder on disk: `NAME.keras` (weights and architecture, no code) plus `NAME.json` (what it is).

The sidecar carries the version, input size, embedding dimension and the thresholds calibrated for this
model, so vectors and thresholds always travel with the model that made them (DESIGN.md invariants 4, 7).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import crowding

SHIPPED_DIR = Path(__file__).with_name("default")
DEFAULT_MODEL = SHIPPED_DIR / "ensemble.keras"
# the encoders that ship with neardup, by the name a setting (`model = "efficientnet-lite0"`) may give. A shipped
# file keeps its path for good: a registry records the path of each version it embeds with and loads its active
# model from there, whatever `default` names now
SHIPPED = {"default": DEFAULT_MODEL, "ensemble": DEFAULT_MODEL,
           "efficientnet-lite0-80": SHIPPED_DIR / "efficientnet-lite0-80.keras",
           "efficientnet-lite0": SHIPPED_DIR / "efficientnet-lite0.keras", "cnn-64": SHIPPED_DIR / "encoder.keras",
           "ensemble-224": SHIPPED_DIR / "ensemble-224.keras"}


def shipped_files() -> dict[Path, list[str]]:
    """Each shipped file with the names it goes by (`default` is another model's name too)."""
    files: dict[Path, list[str]] = {}
    for name, path in sorted(SHIPPED.items()):
        files.setdefault(path, []).append(name)
    return files


# EfficientNet-Lite0's ImageNet weights, ported by scripts/port_efficientnet_lite0.py: where training starts
PRETRAINED = Path(__file__).with_name("pretrained") / "efficientnet_lite0.keras"


@dataclass
class ModelInfo:
    version: str
    input_size: int
    dim: int
    thresholds: dict  # {"duplicate": d, "match": d} in Euclidean distance on unit vectors
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    # what verification needs with this encoder, measured ({"k": 5, "reach": 1.4}); unset: the settings' defaults
    verification: dict = field(default_factory=dict)
    # the reference its distances are adjusted by (encoder/crowding.py: file, k, ceiling); unset: none
    crowding: dict = field(default_factory=dict)
    # how much closer a pair whose perceptual hashes agree is reported ({"pull": share of the match threshold},
    # pipeline/agreement.py), measured; unset: not at all
    agreement: dict = field(default_factory=dict)
    # how a picture is made its input ({"picture_box": true}: a picture set in a plain canvas, the canvas left
    # out, encoder/canvas.py); part of the version, since it changes vectors; unset: the whole picture
    input: dict = field(default_factory=dict)
    # the LiteRT flatbuffer it runs through, shipped beside it (encoder/litert.py pin(): file, sha256, layers in 8-bit
    # integers, probe vectors); part of the version, since its vectors are not Keras's; unset: converted from Keras
    litert: dict = field(default_factory=dict)


INPUT = {"picture_box": True}  # how the encoders trained and shipped now are given their pictures


def boxed(input_spec: dict) -> bool:
    """Whether an encoder with this `input` is given a picture set in a plain canvas alone (encoder/canvas.py)."""
    return bool(input_spec.get("picture_box"))


def file_version(path: Path, crowding_spec: dict | None = None, input_spec: dict | None = None,
                 litert_spec: dict | None = None) -> str:
    """The model's version: its file's hash, with its crowding reference's (which changes every distance), how
    pictures are made its input (which changes some vectors) and the flatbuffer it runs through, if pinned."""
    h = hashlib.sha256(Path(path).read_bytes())
    h.update(crowding.digest(path, crowding_spec or {}))
    if input_spec:
        h.update(json.dumps(input_spec, sort_keys=True).encode())
    if litert_spec:
        h.update(litert_spec["sha256"].encode())
    return h.hexdigest()[:12]


def sidecar(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def save(model, path: Path, thresholds: dict, metrics: dict | None = None, training: dict | None = None,
         crowd: crowding.Crowding | None = None) -> ModelInfo:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
    spec = crowding.save(path, crowd) if crowd is not None else {}
    info = ModelInfo(file_version(path, spec, INPUT), int(model.input_shape[1]), int(model.output_shape[-1]),
                     thresholds, metrics or {}, training or {}, crowding=spec, input=dict(INPUT))
    write_info(path, info)
    return info


def write_info(path: Path, info: ModelInfo) -> None:
    sidecar(path).write_text(json.dumps(info.__dict__, indent=1))


def resolve(model: str) -> str:
    """A shipped model's name (SHIPPED), or the path of a .keras file, as given."""
    return str(SHIPPED.get(model, model))


def load_keras(path):
    """A saved model, loaded as data (`safe_mode`: no Lambda layers, no code from the file)."""
    with native_start_up_quiet():
        import keras  # imported here: TensorFlow must load in the worker process, after fork

        from . import model  # noqa: F401  registers the layers of ours a saved encoder uses (GeM pooling)
        return keras.models.load_model(path, safe_mode=True, compile=False)


@contextlib.contextmanager
def native_start_up_quiet():
    """TensorFlow's C++ start-up lines (its CUDA probing on a machine without a GPU, absl's notice) reach the
    process's stderr before any Python setting can silence them. Held back while TensorFlow starts and shown
    only if starting fails; NEARDUP_NATIVE_LOGS=1 lets them through."""
    if os.environ.get("NEARDUP_NATIVE_LOGS") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def read_info(path: Path) -> ModelInfo:
    return ModelInfo(**json.loads(sidecar(path).read_text()))


class Encoder:
    """A loaded model: uint8 images in, L2-normalised float32 vectors out, in fixed-size batches. `inference`:
    "auto" runs it through LiteRT (encoder/litert.py) where TensorFlow sees no GPU, else through Keras;
    "litert" or "keras" choose. A model whose sidecar pins a flatbuffer (ModelInfo.litert) runs through it
    whatever the setting but "keras", which it refuses: Keras cannot give its vectors."""

    def __init__(self, path: Path | str | None = None, batch_size: int = 64, inference: str = "auto",
                 threads: int = 0):
        self.path = Path(path or DEFAULT_MODEL)
        self.info = read_info(self.path)
        self.batch_size = batch_size
        self.size = self.info.input_size
        self.compiled = None
        threads = threads or os.cpu_count() or 1
        if self.info.litert:
            from . import litert

            if checked_inference(inference) == "keras":
                raise ValueError(f"{self.path} runs only through LiteRT (its {self.info.litert['file']}: layers "
                                 "in 8-bit integers); Keras would give other vectors: set inference to auto")
            self.compiled = litert.pinned(self.path, self.info.litert, self.size, batch_size, threads)
        elif wants_litert(inference):
            from . import litert

            self.compiled = litert.compiled(self.path, self.size, batch_size, threads, lambda: self.model)
        if self.compiled is None:  # at start-up, Keras traces its predict function (LiteRT ran its probe batch)
            self.embed(np.zeros((1, self.size, self.size, 3), np.uint8))

    @functools.cached_property
    def model(self):
        """The Keras model, loaded when first asked for: LiteRT from its cache needs none."""
        return load_keras(self.path)

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def boxed(self) -> bool:
        return boxed(self.info.input)

    @property
    def runtime(self) -> str:
        return "litert" if self.compiled is not None else "keras"

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        """Embed (n, size, size, 3) uint8 images, batch_size at a time. Through Keras a short batch is padded to
        the full size, so that nothing retraces (a GPU's batch costs about what one image does); LiteRT takes it
        as it is, its cost being per image (litert.Interpreter)."""
        n = len(pixels)
        out = np.empty((n, self.info.dim), np.float32)
        for start in range(0, n, self.batch_size):
            chunk = pixels[start:start + self.batch_size]
            if self.compiled is not None:
                out[start:start + len(chunk)] = self.compiled(chunk.astype(np.float32))
                continue
            if len(chunk) < self.batch_size:
                pad = np.zeros((self.batch_size - len(chunk),) + chunk.shape[1:], chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            vec = np.asarray(self.model.predict_on_batch(chunk.astype(np.float32)))
            out[start:start + self.batch_size] = vec[: min(self.batch_size, n - start)]
        return out


def checked_inference(inference: str) -> str:
    """The `inference` setting, if it names a runtime ("auto", "litert" or "keras"); ValueError otherwise."""
    if inference not in ("auto", "litert", "keras"):
        raise ValueError(f"inference must be auto, litert or keras, not {inference!r}")
    return inference


def wants_litert(inference: str) -> bool:
    """Whether `inference` ("auto", "litert" or "keras") runs the encoder through LiteRT: "auto" where Keras
    runs on TensorFlow (the converter's) and TensorFlow sees no GPU, which is not imported to ask where no
    NVIDIA device file exists."""
    if checked_inference(inference) != "auto":
        return inference == "litert"
    if keras_backend() != "tensorflow":
        return False
    if not any(os.path.exists(node) for node in GPU_NODES):  # no GPU here: no TensorFlow import to ask it
        return True
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU")


GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")  # NVIDIA's device files (WSL2's: dxg)


def keras_backend() -> str:
    """The backend Keras will run on, as Keras reads it ($KERAS_BACKEND, else keras.json), without importing it."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        return json.loads(Path(home, "keras.json").read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"
