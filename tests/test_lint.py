"""The code passes ``ruff check`` with the configuration in pyproject.toml ([tool.ruff])."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATHS = ["src", "tests", "benchmarks", "scripts"]


def _ruff() -> list[str]:
    """The ruff of this interpreter's environment: the binary beside it, or its package."""
    exe = Path(sys.executable).parent / ("ruff.exe" if sys.platform == "win32" else "ruff")
    if exe.is_file():
        return [str(exe)]
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    pytest.skip("ruff is not installed in this environment (it is pinned in requirements.txt)")


def test_ruff_check_passes() -> None:
    result = subprocess.run([*_ruff(), "check", "--no-cache", *PATHS], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"ruff check {' '.join(PATHS)} failed:\n{result.stdout}{result.stderr}"
