"""Pieces every command shares: the group, settings from flags/env/TOML, and quiet TensorFlow logs."""
from __future__ import annotations

import functools
import os

import click

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="neardup")
def cli():
    """neardup: find near-duplicate images (re-encoded, resized, cropped, flipped, recoloured, overlaid).

    Settings come from flags, then NEARDUP_* environment variables, then neardup.toml.
    """


def _existing_model(ctx, param, value):
    from neardup.encoder.artifact import SHIPPED, resolve

    if value is not None and not os.path.isfile(resolve(value)):
        raise click.BadParameter(f"{value!r} is neither a shipped model's name ({', '.join(SHIPPED)}) nor a "
                                 ".keras file")
    return value


def _collection(ctx, param, value):
    from neardup.errors import InvalidCollectionName
    from neardup.storage.collection import checked

    try:
        return value if value is None else checked(value)
    except InvalidCollectionName as exc:
        raise click.BadParameter(str(exc)) from None


def collection_option(default: str | None = "default", help: str | None = None):
    """--collection / -c, checked where it enters (storage/collection.py)."""
    return click.option("--collection", "-c", default=default, show_default=default is not None,
                        callback=_collection, help=help)


def settings_options(fn):
    """--data-dir, --model, the threshold overrides and --verify, turned into a `settings` argument."""
    @click.option("--data-dir", type=click.Path(file_okay=False), help="Where the registry and indexes live "
                  "[env NEARDUP_DATA_DIR; default: XDG data dir].")
    @click.option("--model", callback=_existing_model, help="A .keras encoder, or a shipped one by name (default, or "
                  "one of the README's Models table), to use instead of the active one "
                  "[env NEARDUP_MODEL].")
    @click.option("--threshold-duplicate", type=float, help="Override the model's calibrated duplicate distance.")
    @click.option("--threshold-match", type=float, help="Override the model's calibrated match distance.")
    @click.option("--verify/--no-verify", default=None, help="Re-check pairs the embedding is unsure about with "
                  "local features (crops, tilts, borders) [env NEARDUP_VERIFY; default: on].")
    @functools.wraps(fn)
    def wrapper(*args, data_dir, model, threshold_duplicate, threshold_match, verify, **kwargs):
        from neardup.config import load
        settings = load(data_dir=data_dir, model=model, threshold_duplicate=threshold_duplicate,
                        threshold_match=threshold_match, verify=verify)
        return fn(*args, settings=settings, **kwargs)
    return wrapper


def listed(paths) -> list[str]:
    """The PATHS arguments with `-` replaced by the paths standard input gives, one a line (`find ... | neardup
    submit -`: more than a command line holds)."""
    out = []
    for p in paths:
        out.extend((line.rstrip("\r\n") for line in click.get_text_stream("stdin") if line.strip()) if p == "-" else [p])
    return out


def to_act_on(counts: dict) -> list[tuple]:
    """The rows of a run's outputs (write_outputs()) that say what ops do with it: the copies groups.json labels
    duplicate of their keeper (merged) and match (reviewed)."""
    return [("copies to merge", counts["to_merge"]), ("copies to review", counts["to_review"])]


def table(rows: list[tuple], headers: tuple = ()) -> str:
    """Aligned columns; a header line and its rule only when there are headers."""
    cols = list(zip(*([headers] if headers else []), *rows))
    widths = [max(len(str(c)) for c in col) for col in cols]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    head = [line(headers), line(["-" * w for w in widths])] if headers else []
    return "\n".join(head + [line(r) for r in rows])
