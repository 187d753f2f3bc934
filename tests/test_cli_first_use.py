"""What a new user types first, as the README shows it: the commands work from any folder, with relative paths."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from peerguard.cli_emergence import plan_from
from peerguard.world.errors import PeerguardError

TIMEOUT_S = 180
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def peerguard(*args: str | Path, cwd: Path, open_files: int | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own; `open_files` sets its soft RLIMIT_NOFILE (`ulimit -n`) first."""

    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    return subprocess.run(
        [sys.executable, "-m", "peerguard.cli", *map(str, args)],
        capture_output=True, text=True, timeout=TIMEOUT_S, env=ENV, cwd=cwd, preexec_fn=limit,
    )  # fmt: skip


def test_live_run_saved_to_a_relative_folder(tmp_path: Path) -> None:
    """`--save run1` names a folder under the current one; agents, which start in folders of their own, find it."""
    done = peerguard("run", "orchestration", "--substrate", "live", "--duration", "1", "--save", "run1", "--json",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert Path(summary["extras"]["run_dir"]) == tmp_path / "run1"
    assert (tmp_path / "run1" / "ledger.jsonl").stat().st_size > 0
    verified = peerguard("audit", "verify", "run1", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def clean_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit code 2, nothing on stdout, one `error:` line holding every fragment."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert all(fragment in lines[0] for fragment in fragments), (fragments, lines[0])
    assert done.stdout == ""


def test_study_with_millions_of_workers_fails_before_any_episode(tmp_path: Path) -> None:
    """A pool of one process per episode would start hundreds of interpreters; the bound stops it first."""
    clean_error(peerguard("study", "--workers", "10000000", "--out", "out", cwd=tmp_path), "--workers 10000000",
                "MAX_WORKERS")  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_study_with_a_malformed_model_names_the_option(tmp_path: Path) -> None:
    done = peerguard("study", "--model", "garbage", "--out", "out", cwd=tmp_path)
    clean_error(done, "--model garbage", "provider/model")
    assert "sections." not in done.stderr and "--model-arg" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_grid_with_a_bad_condition_names_its_own_option(tmp_path: Path) -> None:
    """grid's option is --conditions (a grid name or k=v,...;...); the error names it and the grids, not run's."""
    done = peerguard("grid", "tampering", "--conditions", "bogus", cwd=tmp_path)
    line = done.stderr.strip()
    clean_error(done, "--conditions 'bogus'", "not key=value", "paper, full")
    assert "--condition " not in line


def test_live_fleet_past_the_open_file_limit_fails_before_any_agent(tmp_path: Path) -> None:
    """100,000 live agents would spawn until the platform ran out of descriptors; refused before the first one."""
    done = peerguard("run", "ring", "--substrate", "live", "--agents", "100000", "--save", "run", cwd=tmp_path,
                     open_files=1024)  # fmt: skip
    clean_error(done, "--agents 100000", "open files", "1,024", "ulimit -n", "at most 59 live agents")
    assert not (tmp_path / "run").exists()


def test_live_killswitch_bench_past_the_open_file_limit_fails_before_any_trial(tmp_path: Path) -> None:
    done = peerguard("killswitch", "bench", "--substrate", "live", "--agents", "2", "--agents", "500", "--trials", "1",
                     "--out", "out", cwd=tmp_path, open_files=1024)  # fmt: skip
    clean_error(done, "--agents 500", "open files", "ulimit -n")
    assert "--agents 2:" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_dashboard_with_runs_and_a_store_but_no_episode_is_refused(tmp_path: Path) -> None:
    """It listed the store's episodes and left the runs unshown, saying nothing of them."""
    (tmp_path / "run").mkdir()
    (tmp_path / "out").mkdir()
    clean_error(peerguard("dashboard", "run", "--store", "out", cwd=tmp_path), "--store out", "--episode")


def test_an_output_argument_is_named_by_its_path_alone(tmp_path: Path) -> None:
    """`audit keygen FOLDER`'s folder is an argument: the error starts with the path, not with `FOLDER`."""
    (tmp_path / "keys").write_text("a file where the folder should be\n")
    line = peerguard("audit", "keygen", "keys", cwd=tmp_path)
    clean_error(line, "error: keys: is a file; give a folder")


def test_an_error_quoting_brackets_prints_them_as_typed(tmp_path: Path) -> None:
    """Errors were printed as console markup: `[/]` in a scenario name was a MarkupError traceback, and
    `x[bold]y` was reported as `xy`, naming an input the user never gave."""
    clean_error(peerguard("run", "[/]", cwd=tmp_path), "error: [/]: no such scenario")
    clean_error(peerguard("run", "x[bold]y", cwd=tmp_path), "error: x[bold]y: no such scenario")


def test_families_names_the_local_extra_in_full(tmp_path: Path) -> None:
    done = peerguard("families", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pip install -e '.[local]'" in " ".join(done.stdout.split())


def test_a_folder_given_as_a_scenario_is_called_a_folder(tmp_path: Path) -> None:
    """It was "no such scenario file", about a folder that plainly exists."""
    (tmp_path / "scenarios").mkdir()
    clean_error(peerguard("run", "scenarios", cwd=tmp_path), "error: scenarios: is a folder; give a scenario YAML")


def test_a_command_agent_whose_program_is_missing_fails_before_the_run(tmp_path: Path) -> None:
    """It was a FileNotFoundError traceback from the spawn, after the platform and its monitor had started."""
    (tmp_path / "fleet.yaml").write_text(
        "name: fleet\nduration: 10\nagents:\n  - id: ghost\n    role: worker\n    command: [no-such-program-here]\n"
    )
    done = peerguard("run", "fleet.yaml", "--substrate", "live", "--save", "run", cwd=tmp_path)
    clean_error(done, "agent 'ghost'", "'no-such-program-here' is not a program on PATH")
    assert not (tmp_path / "run").exists()


def test_transcript_of_an_agent_without_one_names_those_with_one(tmp_path: Path) -> None:
    """It said "only runs with LLM agents have one" of a run that had one, for another agent."""
    assert peerguard("run", "tampering", "--model", "mock/compliant", "--save", "runs", cwd=tmp_path).returncode == 0
    (episode,) = (tmp_path / "runs").iterdir()
    clean_error(peerguard("audit", "transcript", episode, "--agent", "nosuch", cwd=tmp_path), "--agent nosuch",
                "give one of atlas")  # fmt: skip


def test_a_family_refuses_the_options_it_would_ignore(tmp_path: Path) -> None:
    """`run tampering --policy compliant --seed 0` ran the family's own fleet and seeds, saying nothing."""
    done = peerguard("run", "tampering", "--policy", "compliant", "--seed", "0", cwd=tmp_path)
    clean_error(done, "--policy, --seed: tampering is a scenario family", "--epochs K")


def test_a_busy_dashboard_port_names_the_options_run_has(tmp_path: Path) -> None:
    """`run --dashboard` has no --host, yet the error told the user about `--host 127.0.0.1`."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = peerguard("run", "orchestration", "--dashboard", "--dashboard-port", port, cwd=tmp_path)
    line = done.stderr.strip()
    clean_error(done, f"--dashboard-port {port} on 127.0.0.1: cannot listen there")
    assert "--host" not in line


def test_a_study_live_grid_past_the_open_file_limit_fails_when_planned(tmp_path: Path) -> None:
    """A study's live grid gets `run`'s checks when the study is planned: the spec's place in the error, no store."""
    (tmp_path / "spec.yaml").write_text(
        "name: big\nsections:\n  - name: a\n    kind: runs\n    grids:\n      - label: g\n"
        "        scenario: [ring]\n        substrate: [live]\n        policy: [compliant]\n"
        "        agents: [100]\n        seeds: [1]\n"
    )
    done = peerguard("study", "spec.yaml", "--out", "out", cwd=tmp_path, open_files=400)
    clean_error(done, "spec.yaml: sections.0.grids.0.agents: scenario 'ring': 100 agents on live need about 1,556 "
                "open files", "ulimit -n")  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_a_study_live_stop_grid_past_the_open_file_limit_fails_when_planned(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(
        "name: big\nsections:\n  - name: a\n    kind: stop\n    grids:\n      - label: g\n"
        "        substrate: live\n        sizes: [4, 100]\n        seeds: [1]\n"
    )
    done = peerguard("study", "spec.yaml", "--out", "out", cwd=tmp_path, open_files=400)
    clean_error(done, "spec.yaml: sections.0.grids.0.sizes:", "on live need about", "ulimit -n")
    assert not (tmp_path / "out").exists()


def test_emergence_bounds_every_number_before_any_work(tmp_path: Path) -> None:
    """A trillion episodes ran silently for ever; each count is bounded, named with its value and its bound."""
    for args, fragments in (
        (["--episodes", "1000000000000"], ["--episodes 1000000000000", "at most 100,000", "MAX_TRAIN_EPISODES"]),
        (["--episodes", "0"], ["--episodes 0", "give at least 1"]),
        (["--seeds", "101"], ["--seeds 101", "at most 100", "MAX_TRAIN_SEEDS"]),
        (["--eval-episodes", "10001"], ["--eval-episodes 10001", "MAX_EVAL_EPISODES"]),
        (["--processes", "65"], ["--processes 65", "MAX_PROCESSES"]),
        (["--incident", ",".join(map(str, range(100))), "--p-detect", "0,0.1,0.2,0.3,0.4,0.5"],
         ["--incident (100 values) x --p-detect (6 values) x --rewards (2 values)", "the grid has 1,200 cells",
          "MAX_STUDY_CELLS", "fewer values"]),
        (["--episodes", "100000", "--seeds", "100"],
         ["--episodes 100000 --seeds 100", "160,032,000 episodes", "MAX_STUDY_EPISODES", "fewer episodes"]),
    ):  # fmt: skip
        done = peerguard("emergence", "--out", "out", *args, cwd=tmp_path)
        clean_error(done, *fragments)
        assert "Input should" not in done.stderr
        assert not (tmp_path / "out").exists()


def test_emergence_plan_errors_are_in_the_commands_words() -> None:
    """A bound only the plan knows is said as the bound to keep, not in the model library's phrasing."""
    options = {"train_seeds": 0, "episodes": 5, "double": False}
    with pytest.raises(PeerguardError) as caught:
        plan_from(options)
    assert str(caught.value) == "--seeds 0: give at least 1"


def test_contain_quotes_watch_as_typed(tmp_path: Path) -> None:
    for typed in ("-1", "1e10", "abc"):
        done = peerguard("contain", "--pid", "999999", "--watch", typed, cwd=tmp_path)
        clean_error(done, f"--watch {typed}" if typed != "abc" else "--watch 'abc': not a number", "at most 3600")
        assert "-1.0" not in done.stderr and "1e+10" not in done.stderr


def test_a_bad_policy_argument_names_policy_arg(tmp_path: Path) -> None:
    done = peerguard("run", "ring", "--policy", "guardian", "--policy-arg", "reaction_s=soon", cwd=tmp_path)
    clean_error(done, "--policy-arg reaction_s=soon: policy 'guardian': reaction_s", "valid arguments")
    assert "--policy guardian" not in done.stderr
    clean_error(peerguard("run", "ring", "--policy", "gaurdian", cwd=tmp_path), "--policy gaurdian: unknown policy")


def test_a_study_with_a_bad_policy_argument_names_the_specs_policy_args(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(
        "name: bad\nsections:\n  - name: a\n    kind: runs\n    grids:\n      - label: g\n"
        "        scenario: [ring]\n        policy: [guardian]\n        policy_args: {reaction_s: [soon]}\n"
        "        seeds: [1]\n"
    )
    done = peerguard("study", "spec.yaml", "--out", "out", cwd=tmp_path)
    clean_error(done, "spec.yaml: sections.0.grids.0.policy_args: policy 'guardian': reaction_s")
    assert not (tmp_path / "out").exists()


def test_a_missing_signing_key_names_sign_key(tmp_path: Path) -> None:
    done = peerguard("run", "ring", "--save", "run", "--sign-key", tmp_path / "nonexist.key", cwd=tmp_path)
    clean_error(done, f"--sign-key {tmp_path / 'nonexist.key'}: no such key file")
    assert not (tmp_path / "run").exists()


def test_a_study_emergence_grid_past_the_episode_bound_fails_when_planned(tmp_path: Path) -> None:
    """The study's emergence grid keeps `peerguard emergence`'s bounds: it ran 160 million episodes silently."""
    grid = "name: e\nsections:\n  - name: a\n    kind: emergence\n    grids:\n      - label: g\n"
    (tmp_path / "spec.yaml").write_text(grid + "        episodes: 100000\n        train_seeds: 100\n")
    clean_error(peerguard("study", "spec.yaml", "--out", "out", cwd=tmp_path),
                "spec.yaml: sections.0.grids.0.episodes: 100,000: 8 cells x 100 train_seeds", "160,032,000 episodes",
                "MAX_STUDY_EPISODES")  # fmt: skip
    (tmp_path / "spec.yaml").write_text(grid + "        episodes: 100001\n")
    clean_error(peerguard("study", "spec.yaml", "--out", "out", cwd=tmp_path), "sections.0.grids.0.episodes",
                "100000")  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_emergence_says_its_size_before_the_first_job(tmp_path: Path) -> None:
    """The first progress line comes when a learner is trained; the plan's size is said before it."""
    plan = ("--episodes", "5", "--seeds", "1", "--eval-episodes", "1", "--incident", "0", "--p-detect", "0,0.5",
            "--rewards", "team", "--processes", "1")  # fmt: skip
    done = peerguard("emergence", "--out", "out", *plan, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "8 jobs (2 cells x 4 policies x 1 seed), 28 episodes in all; a line as each job ends"
    assert lines[1].startswith("[1/8] ")


def test_emergence_refuses_a_value_given_twice(tmp_path: Path) -> None:
    """The same value twice makes the same cells twice, each trained twice under one name."""
    for args, said in (
        (["--incident", "0,10,0"], "--incident '0,10,0': 0 is given twice"),
        (["--relaunch-cost", "2;2"], "--relaunch-cost '2;2': 2 is given twice"),
        (["--relaunch-cost", "robot=5,llm=2;llm=2,robot=5"], "llm=2,robot=5 is given twice"),
        (["--rewards", "team,team"], "--rewards 'team,team': team is given twice"),
        (["--authorised", "yes,no,yes"], "yes is given twice"),
        (["--kinds", "tool;tool"], "--kinds 'tool;tool': tool is given twice"),
    ):  # fmt: skip
        clean_error(peerguard("emergence", "--out", "out", *args, cwd=tmp_path), said, "give each value once")
        assert not (tmp_path / "out").exists()
