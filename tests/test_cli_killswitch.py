"""`peerguard killswitch ...` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from peerguard.experiments.killswitch_bench import ADVERSARIES, PROTOCOLS


def peerguard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peerguard.cli", *map(str, args)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"},  # tables follow COLUMNS; a test's parent may have set it to 80
    )  # fmt: skip


def test_list_names_every_protocol() -> None:
    done = peerguard("killswitch", "list")
    assert done.returncode == 0
    assert all(name in done.stdout for name in PROTOCOLS)


def test_bench_prints_the_whole_matrix_and_writes_it(tmp_path: Path) -> None:
    done = peerguard("killswitch", "bench", "--agents", "2", "--trials", "1", "--out", tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)["table"]
    assert {(row["protocol"], row["adversary"]) for row in table} == {(p, a) for p in PROTOCOLS for a in ADVERSARIES}
    naive = [row for row in table if row["protocol"] == "naive"]
    assert all(row["contained_rate"] == 0.0 for row in naive)
    assert (tmp_path / "killswitch-bench-sim.csv").is_file() and (tmp_path / "killswitch-bench-sim.json").is_file()


def test_bench_without_cgroups_reports_the_protocol_unavailable(tmp_path: Path) -> None:
    args = ("--agents", "2", "--trials", "1", "--protocol", "cgroup", "--adversary", "ring", "--no-cgroups")
    done = peerguard("killswitch", "bench", *args, "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "unavailable" in done.stdout


def test_bad_bench_input_is_one_clean_error() -> None:
    done = peerguard("killswitch", "bench", "--protocol", "sledgehammer", "--agents", "1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--protocol sledgehammer: unknown protocol; valid: cgroup, freeze-then-kill" in done.stderr
    assert "a ring needs at least 2" in done.stderr


def test_live_bench_says_live_beside_the_hosts_own_check(tmp_path: Path) -> None:
    args = ("--substrate", "live", "--agents", "2", "--trials", "1", "--protocol", "cgroup", "--adversary", "ring")
    done = peerguard("killswitch", "bench", *args, "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Kill switches on live" in done.stdout and "on sim" not in done.stdout
    assert "host check" in done.stdout and "agrees" in done.stdout and "fork storms bounded at" in done.stdout
    saved = json.loads((tmp_path / "killswitch-bench-live.json").read_text())
    assert [row["substrate"] for row in saved["table"]] == ["live"]
    assert saved["table"][0]["host_checked"] and saved["table"][0]["verdict_failures"] == 0
    assert not (tmp_path / "killswitch-bench-sim.json").exists()  # sim and live never share a file
