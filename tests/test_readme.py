"""The README's Python blocks run as written (from the repository root, as a user would)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import REPO


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_readme_python_blocks_run(tmp_path):
    blocks = python_blocks()
    assert blocks
    demo = REPO / "build" / "demo" / "images"
    if not demo.is_dir():  # what `make demo` makes, which the first example reads
        subprocess.run([sys.executable, str(REPO / "samples" / "make_samples.py"), str(demo)], check=True)
    for code in blocks:
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, XDG_DATA_HOME=str(tmp_path)))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip(), "the example prints the pairs it found"
    assert (REPO / "build" / "api-example" / "out" / "pairs.csv").is_file()
