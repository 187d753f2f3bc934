"""The code stays ruff-clean and its layers import only downwards (import-linter contract)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed; install the test extras: pip install -e '.[test]'")
    return found


def test_code_is_ruff_clean() -> None:
    folders = [name for name in ("src", "tests", "benchmarks") if (ROOT / name).is_dir()]
    result = subprocess.run([tool("ruff"), "check", *folders], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_formatted_as_ruff_formats_it() -> None:
    folders = [name for name in ("src", "tests", "benchmarks", "examples") if (ROOT / name).is_dir()]
    result = subprocess.run(
        [tool("ruff"), "format", "--check", *folders], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_layers_import_only_downwards() -> None:
    result = subprocess.run([tool("lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
