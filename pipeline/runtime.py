"""Everything a step needs, opened once per process: settings, database, registries, model, indexes.

The encoder is loaded lazily, on first use, so a Celery parent process never imports TensorFlow.
"""
from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

from threadpoolctl import threadpool_limits

from neardup.config import Settings
from neardup.encoder import artifact, crowding
from neardup.errors import ModelUnavailable, PathNotAllowed
from neardup.storage.index import CollectionIndex
from neardup.storage.model_registry import ModelRegistry
from neardup.storage.previews import Previews
from neardup.storage.registry import Registry, connect

from .processes import processes
from .recent import Recent


@functools.cache
def one_blas_thread() -> None:
    """NumPy's BLAS on one thread, once per process. The steps' parallelism is their own (decode threads, the
    encoder's threads); OpenBLAS's idle workers spin after each small product on the cores decoding needs: 6-8 %
    of a scan's CPU at 4 MP."""
    threadpool_limits(1, user_api="blas")


class Runtime:
    def __init__(self, settings: Settings):
        one_blas_thread()
        self.settings = settings
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.engine = connect(settings.db_url)
        self.registry = Registry(self.engine)
        self.models = ModelRegistry(self.engine)
        self.previews = Previews(Path(settings.data_dir) / "previews") if settings.previews else None
        self._encoders: dict[str, artifact.Encoder] = {}
        self._indexes: dict[tuple[str, str], CollectionIndex] = {}
        self._crowdings: dict[str, object] = {}
        self.processes = None  # in_processes(): the job's processes for the same-frame check
        self.decodes = None  # keeping_decodes(): a job's Recent of decodes (encoder/decode.py Kept) by content

    @contextlib.contextmanager
    def keeping_decodes(self):
        """For the length of a job (a scan, a queued message's embedding), the decodes the encoder was given,
        kept by content up to `scan_decodes_mb`: the same-frame signatures and verification's first looks
        that follow take them instead of reading and decoding the files again."""
        budget = self.settings.scan_decodes_mb * 2**20
        self.decodes = Recent(budget, weight=lambda kept: kept.nbytes) if budget else None
        try:
            yield
        finally:
            self.decodes = None

    @contextlib.contextmanager
    def in_processes(self, wanted: bool = True):
        """For the length of a job in one process (a scan, a sweep), processes for the same-frame check's work
        (pipeline/processes.py), if `wanted`."""
        with processes(self.settings.threads if wanted else 1) as self.processes:
            try:
                yield
            finally:
                self.processes = None

    # --- models -------------------------------------------------------------------------------------
    def active_model_path(self) -> str:
        """The model to embed with: an explicit setting, else the registry's active one, else the default."""
        if self.settings.model:
            return artifact.resolve(self.settings.model)
        row = self.models.active()
        if row is None:
            self.models.promote(self.registered(str(artifact.DEFAULT_MODEL)))
            return str(artifact.DEFAULT_MODEL)
        return row.path

    def registered(self, model: str) -> str:
        """The version `model` names: a registered version as given, else a shipped model's name or a .keras
        file, registered from its sidecar (not loaded) if it is not yet. KeyError if it names none."""
        if self.models.get(model) is not None:
            return model
        path = artifact.resolve(model)
        if not path.endswith(".keras") or not os.path.isfile(path):
            raise KeyError(f"unknown model version {model}")
        info = artifact.read_info(path)
        self.models.register(info.version, path, info.__dict__)
        return info.version

    def encoder(self, path: str | None = None) -> artifact.Encoder:
        path = path or self.active_model_path()
        if path not in self._encoders:
            enc = artifact.Encoder(path, batch_size=self.settings.batch_size, inference=self.settings.inference,
                                   threads=self.settings.threads)
            self.models.register(enc.version, path, enc.info.__dict__)
            self._encoders[path] = enc
        return self._encoders[path]

    def thresholds(self, info: artifact.ModelInfo) -> dict:
        th = dict(info.thresholds)
        if self.settings.threshold_duplicate is not None:
            th["duplicate"] = self.settings.threshold_duplicate
        if self.settings.threshold_match is not None:
            th["match"] = self.settings.threshold_match
        th["match"] = max(th["match"], th["duplicate"])
        return th

    # --- indexes ------------------------------------------------------------------------------------
    def index(self, collection: str, generation: str, dim: int) -> CollectionIndex:
        """The index of a collection's generation."""
        key = (collection, generation)
        if key not in self._indexes:
            self._indexes[key] = CollectionIndex(self.engine, self.settings.data_dir, collection, generation, dim,
                                                 self.settings.buffer_capacity, self.settings.merge_fanout,
                                                 self.settings.background_merges, crowding=self.crowding(generation))
        idx = self._indexes[key]
        idx.refresh()
        return idx

    # --- input paths ----------------------------------------------------------------------------------
    def check_path(self, path: str, extra_roots: list[str] = ()) -> str:
        """The real path of an image, if it lies under a configured root; else PathNotAllowed."""
        roots = [os.path.realpath(r) for r in [*self.settings.roots, *extra_roots]]
        real = os.path.realpath(path)
        if not roots:
            raise PathNotAllowed("no image roots configured (NEARDUP_ROOTS)")
        if not any(os.path.commonpath([real, r]) == r for r in roots):
            if not os.path.exists(path) and os.path.islink(path):
                raise PathNotAllowed("broken symlink (its target does not exist)")
            raise PathNotAllowed("path outside the configured image roots")
        return real

    # --- collections and their generations -----------------------------------------------------------
    def generations(self, collection: str) -> tuple[str | None, str | None]:
        """(the generation that answers queries, a generation being rebuilt beside it or None)."""
        return self.registry.generations(collection)

    def adopt_generation(self, collection: str, generation: str) -> tuple[str, str | None]:
        """`generations()`, where a collection with no live generation yet takes `generation`."""
        current, building = self.generations(collection)
        if current is None:
            self.set_generations(collection, generation=generation)
        return current or generation, building

    def set_generations(self, collection: str, **values) -> None:
        self.registry.set_generations(collection, **values)

    def model_info(self, version: str) -> artifact.ModelInfo:
        """A version's sidecar (dimension, thresholds) from the registry, without loading the model."""
        return artifact.ModelInfo(**self._row(version).info)

    def crowding(self, version: str):
        """The crowding reference a version's distances are judged by (encoder/crowding.py), None if it has
        none (or is not registered: a bare index in a test). ModelUnavailable where its file now holds another
        version: the reference beside it is that version's, and would judge these vectors by another model's."""
        if version not in self._crowdings:
            row = self.models.get(version)
            spec = (row.info or {}).get("crowding") if row is not None else None
            if spec and (now := _held(row.path)) not in (None, version):  # no sidecar: the reference as named
                raise self._gone(version, row.path, now)
            self._crowdings[version] = crowding.load(Path(row.path), spec) if spec else None
        return self._crowdings[version]

    def encoder_for(self, version: str):
        """The encoder of `version` (loaded once per file; what it loaded is what it embeds with)."""
        path = self._row(version).path
        enc = self.encoder(path)
        if enc.version != version:
            raise self._gone(version, path, enc.version)
        return enc

    def model_path(self, version: str) -> str:
        """The file that gives `version`'s vectors, read from its sidecar, not loaded; ModelUnavailable where it
        is not registered or its file now holds another version (a shipped model re-made by an upgrade)."""
        row = self._row(version)
        now = _held(row.path)
        if now is None:
            raise ModelUnavailable(f"model version {version}: its file {row.path} cannot be read")
        if now != version:
            raise self._gone(version, row.path, now)
        return row.path

    def _row(self, version: str):
        row = self.models.get(version)
        if row is None:
            raise ModelUnavailable(f"model version {version} is not registered")
        return row

    @staticmethod
    def _gone(version: str, path: str, now: str) -> ModelUnavailable:
        """What to say of a version whose file an upgrade (or a calibration) re-made as version `now`."""
        name = artifact.shipped_files().get(Path(path), [path])[0]
        return ModelUnavailable(f"model version {version} is gone: {path} now holds version {now}; roll the "
                                "collections indexed with it out to that (re-embeds their images): "
                                f"neardup promote {name} --roll-out")


def _held(path: str) -> str | None:
    """The version a model file's sidecar says it holds now; None where it cannot be read (deleted, not one)."""
    try:
        return artifact.read_info(path).version
    except (OSError, ValueError, TypeError):
        return None
