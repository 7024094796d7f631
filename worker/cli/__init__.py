"""The `neardup` command line: local jobs (scan, search, train, evaluate) and queue jobs (worker, submit, ...)."""
from __future__ import annotations

from .common import cli
from . import local, queue  # noqa: F401  (they register their commands)


def main() -> None:
    cli(prog_name="neardup")


__all__ = ["cli", "main"]
