"""Settings: command-line flags, then `NEARDUP_*` environment variables, then a TOML file, then defaults.

The TOML file is `$NEARDUP_CONFIG`, else `./neardup.toml`, else `$XDG_CONFIG_HOME/neardup/config.toml`;
its keys are the field names below (top level or under `[neardup]`).
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


@dataclass
class Settings:
    data_dir: str = str(_xdg("XDG_DATA_HOME", ".local/share") / "neardup")
    database_url: str = ""  # empty: SQLite in data_dir
    broker_url: str = "redis://127.0.0.1:6379/0"
    model: str = ""  # empty: the active model of the registry, else the shipped default
    roots: list[str] = field(default_factory=list)  # image paths must lie under one of these (queue input)
    batch_size: int = 64  # images per encoder call and per queued batch
    decode_threads: int = 0  # 0: one per core
    inference: str = "auto"  # the encoder's runtime: auto (LiteRT on the CPU, Keras where there is a GPU), litert, keras
    # each image's pairs: its nearest this many within the match distance (0: all). A picture stored 10,000 times
    # is one group of 10,000 either way; all its pairs would be 50 million
    max_partners: int = 50
    buffer_capacity: int = 20_000
    merge_fanout: int = 8
    background_merges: bool = True  # merge segments in a separate process while ingestion goes on
    threshold_duplicate: float | None = None  # None: the model's calibrated thresholds
    threshold_match: float | None = None
    previews: bool = True  # keep a small JPEG of each image in a pair (DATA_DIR/previews, ~5 KB) for reports
    # a scan's last decodes (and a queued message's), kept so the images it then finds in pairs are signed, and
    # verified, without decoding their files again (Runtime.keeping_decodes); 0: none kept. 256 MB hold the last
    # 380 to 1,080 (a 1,024-px photo decodes at 512 px, a 4 MP one at 288): more than lie between two index steps
    # (4 encoder batches) and the chunk decoded ahead
    scan_decodes_mb: int = 256
    # a queued message's embed step signs and checks its batch's pairs from the decodes it holds (pipeline/steps.py);
    # off where the embed worker's time is the GPU's: the index task then does it from the files, before the lock
    embed_signs: bool = True
    verify: bool = True  # re-check the grey zone of scans and sweeps with local features (pipeline/verify.py)
    # each image's nearest checked by verification, past those that are duplicates already (0: no verification);
    # None: what the encoder needs (its sidecar's "verification"), else 10
    verify_k: int | None = None
    verify_radius: float | None = None  # farthest pair verification checks; None: verify_reach x the match threshold
    verify_reach: float | None = None  # None: what the encoder needs (its sidecar's "verification"), else 2.5
    # share of the match threshold under which the embedding's pairs stand unchecked (copies it is sure of, which
    # verification can only lose); None: what the encoder was measured to allow, else the duplicate threshold
    verify_from: float | None = None
    hash_pull: float | None = None  # share of the match threshold a pair whose hashes agree is reported closer
    #   (pipeline/agreement.py); None: what the encoder was measured to gain by (its sidecar's "agreement"), else 0
    verify_max_pairs: int = 200_000  # new verdicts per scan or sweep, closest first (stored ones are reused)
    sweep_schedule: str = "0 3 * * *"  # crontab for celery beat's nightly sweep
    sweep_collections: list[str] = field(default_factory=lambda: ["default"])
    prune_schedule: str = "0 4 * * 0"  # crontab for beat's housekeeping (neardup prune), weekly; "": never

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'neardup.db'}"

    @property
    def threads(self) -> int:
        return self.decode_threads or os.cpu_count() or 1


def _coerce(f: dataclasses.Field, value):
    kind = str(f.type)
    if isinstance(value, str):
        if kind == "bool":
            return value.strip().lower() in ("1", "true", "yes", "on")
        if kind.startswith("list"):
            return [v for v in value.replace(",", os.pathsep).split(os.pathsep) if v]
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value) if value else None
    return value


def config_file() -> Path | None:
    for candidate in (os.environ.get("NEARDUP_CONFIG"), "neardup.toml",
                      _xdg("XDG_CONFIG_HOME", ".config") / "neardup" / "config.toml"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def load(**overrides) -> Settings:
    """Settings from every source; `overrides` (from flags) win, None means 'not given'."""
    values: dict = {}
    path = config_file()
    if path:
        doc = tomllib.loads(path.read_text())
        values.update(doc.get("neardup", doc))
    for f in dataclasses.fields(Settings):
        env = os.environ.get(f"NEARDUP_{f.name.upper()}")
        if env is not None:
            values[f.name] = env
        if overrides.get(f.name) is not None:
            values[f.name] = overrides[f.name]
    known = {f.name: f for f in dataclasses.fields(Settings)}
    return Settings(**{k: _coerce(known[k], v) for k, v in values.items() if k in known})
