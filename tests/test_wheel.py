"""The built wheel, installed outside the checkout, carries every file the commands need."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("peerguard-*.whl")
    return path


def test_wheel_carries_every_scenario_and_family_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("builtin", "families"):
        for source in (ROOT / "src/peerguard/scenarios" / folder).glob("*.yaml"):
            assert f"peerguard/scenarios/{folder}/{source.name}" in names


def test_commands_work_from_the_installed_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    # -S: no site hooks, so the checkout's editable install cannot answer; the dependencies come from
    # this interpreter's site-packages, peerguard only from the wheel
    env = {**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{sysconfig.get_paths()['purelib']}", "COLUMNS": "200"}

    def peerguard(*args: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from peerguard.cli import main; sys.argv = ['peerguard', *sys.argv[1:]]; main()"
        return subprocess.run(
            [sys.executable, "-S", "-c", code, *args],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )  # fmt: skip

    where = peerguard("--help")
    assert where.returncode == 0, where.stderr
    located = subprocess.run(
        [sys.executable, "-S", "-c", "import peerguard; print(peerguard.__file__)"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert located.stdout.startswith(str(target))
    families = peerguard("families")
    assert families.returncode == 0, families.stderr
    for name in ("platform", "evaluation", "tampering", "exfiltration", "alignment-faking"):
        assert name in families.stdout
    tampering = peerguard("run", "tampering", "--model", "mock/peer-preserving", "--epochs", "1")
    assert tampering.returncode == 0, tampering.stderr
    scenario = peerguard("run", "guardian-ring", "--seed", "1")
    assert scenario.returncode == 0, scenario.stderr
