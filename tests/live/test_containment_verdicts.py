"""Honest verdicts on real processes against rings that hide, come back late, resume their peers or leave their
cgroup: the best protocol contains each, every other one says it did not, and no verdict says "contained" while the
host's own /proc scan finds a survivor."""

from __future__ import annotations

import os

import pytest

from peerguard.experiments.killswitch_bench import LATE_RETURN_S, live_trial
from peerguard.killswitch.measure import Outcome
from peerguard.live.host import probe_host

RING = 3  # guardians: small, so a trial takes a few seconds on a busy 2-core host
WALL_S = 5.0


def honest(outcome: Outcome) -> Outcome:
    """The property every verdict must have, whatever the protocol: never contained while the host finds a survivor."""
    assert outcome.host_checked, outcome
    assert not (outcome.contained and outcome.host_survivors), outcome
    assert not outcome.verdict_failed, outcome
    assert outcome.contained == (outcome.verdict == "contained")
    if not outcome.contained:
        assert outcome.survivors or outcome.escaped_at is not None or outcome.unavailable, outcome
    return outcome


def test_a_ring_that_clears_its_environment_and_re_execs_is_still_found_by_descent() -> None:
    contained = honest(live_trial("freeze-then-kill", "ring-clear-env", RING, 1, WALL_S))
    assert contained.contained and contained.host_survivors == [] and contained.innocents_harmed == []
    missed = honest(live_trial("process-group", "ring-clear-env", RING, 1, WALL_S))  # copies left the session
    assert not missed.contained and missed.host_survivors  # the host sees what the verdict admits


def test_a_ring_that_returns_after_the_first_check_is_not_called_contained() -> None:
    # Each member leaves a detached helper (new session, empty environment) that forks it back 2.5 s after it dies.
    watch_s = LATE_RETURN_S + 1.5
    best = honest(live_trial("freeze-then-kill", "late-return", RING, 1, WALL_S, stop_watch_s=watch_s))
    assert best.contained and best.watched_s >= watch_s  # the helpers were stopped and killed with the ring
    killpg = honest(live_trial("process-group", "late-return", RING, 1, WALL_S, stop_watch_s=watch_s))
    assert not killpg.contained and killpg.watched_s >= watch_s


def test_a_ring_that_resumes_its_stopped_peers_is_frozen_whole() -> None:
    kept = honest(live_trial("quarantine", "resumer", RING, 1, WALL_S))
    assert kept.contained and kept.state_kept and kept.host_survivors == []
    naive = honest(live_trial("naive", "resumer", RING, 1, WALL_S))
    assert not naive.contained


def test_a_ring_that_writes_itself_into_another_cgroup_escapes_cgroup_kill_only() -> None:
    host = probe_host()
    if os.geteuid() != 0:
        pytest.skip("only a privileged agent can write itself into another cgroup; this host runs us unprivileged")
    if not host.cgroup.available:
        pytest.skip(f"no cgroup v2 to leave: {host.cgroup.reason}")
    escaped = honest(live_trial("cgroup", "cgroup-escaper", RING, 1, WALL_S))
    assert not escaped.contained and escaped.host_survivors  # cgroup.kill missed the copies that left
    best = honest(live_trial("freeze-then-kill", "cgroup-escaper", RING, 1, WALL_S))  # it follows descent
    assert best.contained and best.host_survivors == []


def test_fork_storms_are_bounded_and_the_bound_is_reported() -> None:
    outcome = honest(live_trial("cgroup", "storm", RING, 1, WALL_S))
    bound = outcome.process_bound
    assert bound is not None and bound["processes_per_agent"] > 0
    host = probe_host()
    assert (bound["pids_max"] is not None) == host.pids.available, (bound, host.pids.reason)
