"""`peerguard study` and `peerguard report` from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from experiments.study_specs import SMALL, write

ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def peerguard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peerguard.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=240, env=ENV)  # fmt: skip


def test_study_runs_a_spec_writes_the_report_and_resumes(tmp_path: Path) -> None:
    spec = write(tmp_path, SMALL)
    out = tmp_path / "out"
    first = peerguard("study", spec, "--out", out, "--workers", "1")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert "run now, 0 from the store" in first.stdout
    for name in ("results.sqlite", "report.html", "report.md", "report.json"):
        assert (out / name).is_file(), name
    assert "reproduce: 6 episodes, 0 already stored" in first.stderr  # plain progress lines off a terminal
    second = peerguard("study", spec, "--out", out)
    assert second.returncode == 0, second.stderr
    assert "(0 run now," in second.stdout


def test_report_rebuilds_the_same_report_from_the_store(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert peerguard("study", write(tmp_path, SMALL), "--out", out, "--workers", "1").returncode == 0
    before = (out / "report.md").read_text(encoding="utf-8")
    (out / "report.md").unlink()
    (out / "report.html").unlink()
    rebuilt = peerguard("report", out)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (out / "report.md").read_text(encoding="utf-8") == before
    assert (out / "report.html").is_file()


def _one_error(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), lines
    return lines


def test_a_bad_spec_exits_2_naming_the_file_field_and_fix_before_any_work(tmp_path: Path) -> None:
    spec = write(tmp_path, SMALL.replace("sizes: [2, 8]", "sizes: [2, 8]\n        colour: red"))
    [line] = _one_error(peerguard("study", spec, "--out", tmp_path / "out"))
    assert f"{spec}: sections.3.grids.0.colour: unknown field `colour`; valid fields here:" in line
    assert not (tmp_path / "out").exists()


def test_an_unknown_policy_in_a_spec_exits_2_before_any_work(tmp_path: Path) -> None:
    spec = write(tmp_path, SMALL.replace("[compliant, peer-preserving]", "[compliant, peer-saving]"))
    [line] = _one_error(peerguard("study", spec, "--out", tmp_path / "out"))
    assert "peer-saving" in line and "sections.0.grids.0" in line
    assert not (tmp_path / "out").exists()


def test_bad_options_exit_2_with_one_clear_line(tmp_path: Path) -> None:
    [line] = _one_error(peerguard("study", "--quick", "--full", "--out", tmp_path / "out"))
    assert "--quick and --full" in line
    [line] = _one_error(peerguard("study", "--workers", "0", "--out", tmp_path / "out"))
    assert "--workers 0" in line and "at least 1" in line
    [line] = _one_error(peerguard("study", tmp_path / "missing.yaml", "--out", tmp_path / "out"))
    assert "missing.yaml" in line and "shipped studies are" in line
    [line] = _one_error(peerguard("report", tmp_path / "nowhere"))
    assert "no results.sqlite here" in line
    assert not (tmp_path / "out").exists()


def test_a_real_model_without_its_key_fails_before_any_work(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if not k.endswith("_API_KEY") and "AZURE" not in k}
    done = subprocess.run(
        [sys.executable, "-m", "peerguard.cli", "study", "--model", "openai/gpt-4o", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    [line] = _one_error(done)
    assert "sections.5.grids.0.models.2: model openai/gpt-4o" in line and "OPENAI_API_KEY" in line
    assert not (tmp_path / "out").exists()
