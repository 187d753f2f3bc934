"""Bad input fails early and cleanly: output paths, bounds and parser errors give one `error:` line naming the
option, exit code 2, before any work; and the output a person reads (help, version, widths, plurals)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from peerguard.experiments.tables import count_text

TIMEOUT_S = 120
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
TABLE_LINE = re.compile(r"^[┏┃┡│└╭╰┗┣]")  # rows and rules of a rich table


def peerguard(*args: str | Path, columns: int = 200, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peerguard.cli", *map(str, args)],
        capture_output=True, text=True, timeout=TIMEOUT_S, env={**ENV, "COLUMNS": str(columns)}, cwd=cwd,
    )  # fmt: skip


def clean_error(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit code 2, nothing on stdout, and one `error:` line holding every fragment; returns the line."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert done.stdout == ""
    return lines[0]


# --- output paths, checked before any work ----------------------------------------------------------


def test_grid_table_in_proc_fails_before_any_episode() -> None:
    clean_error(
        peerguard("grid", "tampering", "--epochs", "1", "--table", "/proc/x.csv"), "--table /proc/x.csv", "/proc"
    )


def test_grid_table_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    clean_error(peerguard("grid", "tampering", "--table", tmp_path), "--table", "is a folder")


def test_grid_db_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "results.db"
    junk.write_text("these are not the results you are looking for\n")
    clean_error(peerguard("grid", "tampering", "--db", junk), "--db", "not a SQLite database")


def test_run_save_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "run.txt"
    target.write_text("x")
    clean_error(peerguard("run", "orchestration", "--save", target), "--save", "is a file")
    clean_error(
        peerguard("run", "orchestration", "--save", target / "inside"), "--save", "is a file, so it cannot hold"
    )
    assert target.read_text() == "x"


def test_audit_bench_out_and_keygen_folder_in_proc_are_refused() -> None:
    clean_error(peerguard("audit", "bench", "--seeds", "1", "--pair-seeds", "1", "--out", "/proc/bench"), "--out")
    clean_error(peerguard("audit", "keygen", "/proc/keys"), "/proc/keys")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any folder, so there is no unwritable one to try")
def test_an_unwritable_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    clean_error(peerguard("run", "orchestration", "--save", locked / "run"), "--save", "cannot write in")


def test_a_new_nested_save_folder_is_accepted(tmp_path: Path) -> None:
    done = peerguard("run", "orchestration", "--save", tmp_path / "a" / "b", "--json")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a" / "b" / "ledger.jsonl").is_file()


# --- bounds on the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "orchestration", "--duration", "nan"], ["--duration nan"]),
        (["run", "orchestration", "--duration", "inf"], ["--duration inf", "MAX_DURATION_S"]),
        (["run", "orchestration", "--duration", "1e308"], ["--duration", "MAX_DURATION_S"]),
        (["run", "orchestration", "--agents", "100000000"], ["--agents 100000000", "MAX_AGENTS"]),
        (["run", "orchestration", "--seed", str(2**70)], ["--seed", "MAX_SEED"]),
        (["run", "orchestration", "--moments", "-1"], ["--moments -1"]),
        (["run", "tampering", "--epochs", "0"], ["--epochs 0"]),
        (["grid", "tampering", "--epochs", "100000000"], ["--epochs", "MAX_EPOCHS"]),
        (["grid", "tampering", "--workers", "0"], ["--workers 0"]),
        (["grid", "tampering", "--duration", "nan"], ["--duration nan"]),
        (["audit", "bench", "--seeds", "10000000"], ["--seeds", "MAX_SEEDS"]),
    ],
)
def test_command_line_numbers_past_their_bounds_fail_cleanly(args: list[str], fragments: list[str]) -> None:
    clean_error(peerguard(*args), *fragments)


def test_a_resized_fleet_that_implies_too_many_events_fails_before_running() -> None:
    clean_error(peerguard("run", "orchestration", "--agents", "90000", "--duration", "86400"), "MAX_IMPLIED_EVENTS")


# --- the loader and NAME=VALUE arguments ------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["? [x, y]\n: 1\n", "name: !!float x\n", "name: !!bool maybe\n", "name: !!timestamp 2001-99\n"]
)
def test_scenario_files_that_crashed_the_loader_fail_cleanly(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    clean_error(peerguard("validate", bad), str(bad), "not valid YAML")


def test_policy_arg_that_is_not_yaml_fails_cleanly() -> None:
    done = peerguard("run", "orchestration", "--policy", "peer-preserving", "--policy-arg", "min_trust=[1")
    clean_error(done, "--policy-arg 'min_trust=[1'", "not valid YAML")


def test_a_bad_model_is_blamed_on_model_not_model_arg() -> None:
    line = clean_error(peerguard("run", "orchestration", "--model", "garbage"), "--model garbage")
    assert "--model-arg" not in line


@pytest.mark.parametrize("command", [["grid"], ["run", "orchestration"], ["killswitch", "bench"]])
def test_an_unknown_substrate_lists_the_choices(command: list[str]) -> None:
    clean_error(peerguard(*command, "--substrate", "moon"), "--substrate", "'sim', 'live'")


# --- output a person reads ------------------------------------------------------------------------------


def test_version_is_printed() -> None:
    done = peerguard("--version")
    assert done.returncode == 0 and re.fullmatch(r"peerguard \S+\n", done.stdout), done.stdout


@pytest.mark.parametrize("command", [["run"], ["grid"], ["audit", "findings"], ["killswitch", "bench"]])
def test_help_shows_flags_as_flags(command: list[str]) -> None:
    done = peerguard(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout
    assert re.search(r"^\s+--json\s{2,}\S", done.stdout, re.MULTILINE), done.stdout


def test_help_lists_the_substrates_and_the_defaults_of_each() -> None:
    text = " ".join(peerguard("run", "--help").stdout.split())
    assert "--substrate <sim|live>" in text
    assert "sim: simulated seconds (default: the scenario's duration); live: real seconds (default 8)" in text


@pytest.mark.parametrize(
    "command",
    [["run", "orchestration"], ["policies"], ["families"], ["scenarios"], ["killswitch", "list"]],
)
def test_tables_fit_80_columns_when_piped(command: list[str]) -> None:
    done = peerguard(*command, columns=80)
    assert done.returncode == 0, done.stderr
    tables = [line for line in done.stdout.splitlines() if TABLE_LINE.match(line)]
    assert tables, done.stdout
    assert max(len(line) for line in tables) <= 80, max(tables, key=len)


def test_metrics_keep_their_meanings_on_a_wide_terminal() -> None:
    done = peerguard("run", "orchestration", columns=160)
    assert "processes killed" in done.stdout


def test_counts_are_printed_with_the_right_plural() -> None:
    assert [count_text(n, "finding") for n in (0, 1, 2)] == ["0 findings", "1 finding", "2 findings"]
    assert count_text(1, "entry") == "1 entry" and count_text(3, "entry") == "3 entries"
    assert count_text(2, "more moment") == "2 more moments"
    assert count_text(5, "epoch") == "5 epochs" and count_text(2, "batch") == "2 batches"
    assert count_text(2, "ledger entry", "ledger entries") == "2 ledger entries"


def test_validate_says_one_agent_and_one_order_in_the_singular(tmp_path: Path) -> None:
    scenario = tmp_path / "one.yaml"
    scenario.write_text(
        "name: one\nduration: 5\nagents: [{id: a, role: r}]\noperator: [{action: terminate, target: a, at: 1}]\n"
    )
    done = peerguard("validate", scenario)
    assert done.returncode == 0, done.stderr
    assert "(1 agent, 1 operator order)" in done.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--agents", "8", "--agents", "100000000"], "--agents 100000000"), (["--trials", "100000000"], "--trials")],
)
def test_killswitch_bench_sizes_and_trials_are_bounded(args: list[str], fragment: str) -> None:
    clean_error(peerguard("killswitch", "bench", *args), fragment, "at most")


def test_emergence_out_in_proc_fails_before_training() -> None:
    clean_error(peerguard("emergence", "--out", "/proc/emergence"), "--out /proc/emergence", "/proc")


def test_a_bad_judge_is_blamed_on_judge() -> None:
    clean_error(peerguard("run", "tampering", "--judge", "garbage"), "--judge garbage")


def test_a_yaml_error_spanning_lines_is_one_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "nul.yaml"
    bad.write_bytes(b"name: a\x00b\n")
    clean_error(peerguard("validate", bad), "not valid YAML")


def test_study_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("x")
    clean_error(peerguard("study", "--quick", "--out", target), "--out", "is a file")


def test_study_store_that_is_not_sqlite_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "results.sqlite").write_text("not a database\n")
    clean_error(peerguard("study", "--quick", "--out", tmp_path), "results.sqlite", "not a SQLite database")
