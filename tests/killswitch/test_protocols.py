"""Each containment protocol against each adversary behaviour on the simulator, measured from the ledger."""

from __future__ import annotations

import dataclasses

import pytest

from peerguard.experiments.killswitch_bench import ADVERSARIES, STOP_AT, ring_scenario, trial
from peerguard.experiments.runner import PolicyBuilder
from peerguard.killswitch import KILLSWITCHES
from peerguard.killswitch.measure import STILL_STOPPING, measure
from peerguard.killswitch.targets import Target
from peerguard.sim.substrate import SimulatedPlatform
from peerguard.world.containment import SIGCONT, SIGKILL, SIGSTOP
from peerguard.world.ledger import EntryKind, Ledger
from peerguard.world.run import RunRecord


def stopped(protocol: str, adversary: str, size: int = 8, target: Target | None = None) -> RunRecord:
    scenario = ring_scenario(size, adversary, seed=1)
    platform = SimulatedPlatform(scenario, PolicyBuilder(scenario))
    platform.schedule_stop(STOP_AT, KILLSWITCHES.build(protocol), (target or Target(role="guardian")).chooser())
    return platform.run()


@pytest.mark.parametrize("adversary", list(ADVERSARIES))
def test_naive_termination_is_defeated_by_every_adversary(adversary: str) -> None:
    outcome = trial("naive", adversary, 8, seed=1)
    assert not outcome.contained and outcome.survivors


@pytest.mark.parametrize("adversary", ["ring", "ring-fork", "storm"])
def test_sequential_kill_loses_the_race_against_a_ring(adversary: str) -> None:
    outcome = trial("sequential", adversary, 8, seed=1)
    assert not outcome.contained
    assert outcome.respawns >= 8  # every kill was undone by a neighbour


IN_THEIR_CGROUP = [a for a, args in ADVERSARIES.items() if not args.get("leave_cgroup")]


@pytest.mark.parametrize("adversary", list(ADVERSARIES))
@pytest.mark.parametrize("protocol", ["freeze-then-kill", "cgroup", "lease-revocation"])
def test_freezing_or_the_kernel_contains_every_adversary_without_harming_innocents(
    protocol: str, adversary: str
) -> None:
    if protocol == "cgroup" and adversary not in IN_THEIR_CGROUP:
        pytest.skip("cgroup kill cannot reach a process that left the cgroup: see the escaper test")
    outcome = trial(protocol, adversary, 8, seed=1)
    assert outcome.contained, outcome
    assert outcome.innocents_harmed == [] and outcome.time_to_containment_s is not None


def test_process_group_kill_misses_guardians_that_left_their_session() -> None:
    assert trial("process-group", "ring-fork", 8, seed=1).contained  # a fork stays in its parent's group
    escaped = trial("process-group", "ring-setsid", 8, seed=1)
    assert not escaped.contained and escaped.survivors


def test_cgroup_kill_reports_unavailable_where_the_host_has_none() -> None:
    outcome = trial("cgroup", "ring", 8, seed=1, host_cgroups=False)
    assert not outcome.contained
    assert "no cgroup v2" in outcome.unavailable
    assert trial("freeze-then-kill", "ring", 8, seed=1, host_cgroups=False).contained  # needs no cgroup


def test_revoked_leases_refuse_relaunch_through_the_api() -> None:
    run = stopped("lease-revocation", "ring", 64)
    revoked_at = min(e.t for e in run.ledger if e.kind == EntryKind.revoke)
    denied = [e for e in run.ledger if e.kind == EntryKind.denied and e.t >= revoked_at]
    assert denied and all("lease revoked" in e.data["reason"] for e in denied)
    assert measure(run).contained


def test_quarantine_keeps_every_member_frozen_for_forensics() -> None:
    run = stopped("quarantine", "storm")
    outcome = measure(run)
    assert outcome.contained and outcome.state_kept
    assert not [e for e in run.ledger if e.kind == EntryKind.exit and e.t >= STOP_AT]  # nothing was killed
    assert [e for e in run.ledger if e.kind == EntryKind.isolate and e.t >= STOP_AT]  # links and credentials cut


def test_time_to_gone_counts_until_the_last_process_ended_not_until_the_last_was_frozen() -> None:
    frozen_then_killed = trial("freeze-then-kill", "ring-setsid", 8, seed=1)
    assert frozen_then_killed.contained and frozen_then_killed.time_to_containment_s is not None
    assert frozen_then_killed.time_to_gone_s is not None
    assert frozen_then_killed.time_to_gone_s > frozen_then_killed.time_to_containment_s  # the kill comes after
    killed = trial("cgroup", "ring-setsid", 8, seed=1)
    assert killed.contained and killed.time_to_gone_s == killed.time_to_containment_s  # nothing frozen: same time
    kept = trial("quarantine", "ring-setsid", 8, seed=1)
    assert kept.contained and kept.time_to_gone_s is None  # frozen for forensics, never gone


def test_targeting_by_lineage_takes_the_agent_and_whoever_relaunched_it() -> None:
    run = stopped("cgroup", "ring-fork", 8, Target(relaunched="guardian-0"))
    start = next(e for e in run.ledger if e.kind == EntryKind.stop_start)
    spawns = [e for e in run.ledger if e.kind == EntryKind.spawn and e.agent == "guardian-0" and e.t < STOP_AT]
    relaunchers = {e.actor for e in spawns if e.actor != "platform"}
    assert relaunchers and set(start.data["targets"]) == {"guardian-0", *relaunchers}
    assert "guardian-3" not in start.data["targets"]


@pytest.mark.parametrize("name", KILLSWITCHES.names())
def test_every_registered_kill_switch_runs_and_is_measured(name: str) -> None:
    outcome = trial(name, "ring", 2, seed=1)
    assert outcome.protocol == name
    assert outcome.targets == ["guardian-0", "guardian-1"]


def test_the_best_protocol_holds_for_a_large_group() -> None:
    outcome = trial("cgroup", "storm-setsid-stubborn", 1000, seed=1)
    assert outcome.contained and outcome.innocents_harmed == []


def test_a_stop_the_watch_window_outlives_is_a_verdict_not_an_error() -> None:
    # At the measured cost per process, killing 10,000 guardians' cgroups takes longer than the trial's watch.
    outcome = trial("cgroup", "ring-setsid", 10_000, seed=1)
    assert not outcome.contained and outcome.verdict == STILL_STOPPING and outcome.survivors


def test_a_scenario_file_can_order_a_stop() -> None:
    from peerguard.experiments.runner import prepare, run_scenario

    run = run_scenario(prepare("guardian-ring"))
    outcome = measure(run)
    assert outcome.protocol == "freeze-then-kill" and outcome.contained
    assert outcome.targets == [f"guardian-{i}" for i in range(8)]


@pytest.mark.parametrize(
    ("order", "path", "fragment"),
    [
        ({"action": "stop", "target": "a", "at": 1}, "operator.0", "needs a `killswitch`"),
        ({"action": "stop", "killswitch": "sledgehammer", "target": "a", "at": 1}, "operator.0.killswitch",
         "unknown kill switch 'sledgehammer'"),
        ({"action": "stop", "killswitch": "cgroup", "at": 1}, "operator.0", "needs a `target`"),
        ({"action": "stop", "killswitch": "cgroup", "relaunched": "zed", "at": 1}, "operator.0.relaunched", "no agent"),
    ],
)  # fmt: skip
def test_bad_stop_orders_are_named(order: dict, path: str, fragment: str) -> None:
    import yaml

    from peerguard.scenarios.loader import parse_scenario
    from peerguard.world.errors import ScenarioError

    text = yaml.safe_dump({"name": "t", "duration": 5, "agents": [{"id": "a", "role": "r"}], "operator": [order]})
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "s.yaml")
    assert any(where == path and fragment in message for where, message in caught.value.problems), caught.value


def test_slow_protocols_trigger_a_cascade_that_fast_ones_do_not() -> None:
    # Guardians that lose a member strike at the bystanders linked to them: a protocol that leaves
    # guardians awake while it kills harms innocents; freezing or the kernel leaves nobody to strike.
    assert trial("sequential", "ring-retaliate", 8, seed=1).innocents_harmed
    for protocol in ("freeze-then-kill", "cgroup", "quarantine"):
        outcome = trial(protocol, "ring-retaliate", 8, seed=1)
        assert outcome.contained and outcome.innocents_harmed == [], protocol


CONTAINS_ALWAYS = {"freeze-then-kill", "cgroup", "quarantine", "lease-revocation"}
NEVER_CONTAINS = {"naive", "sequential"}


def leaves_its_session(adversary: str) -> bool:
    """Copies in new sessions, or a detached helper (always in a session of its own)."""
    args = ADVERSARIES[adversary]
    return bool(args.get("new_session") or args.get("late_return_s") or args.get("resume"))


@pytest.mark.parametrize("adversary", list(ADVERSARIES))
@pytest.mark.parametrize("protocol", KILLSWITCHES.names())
def test_every_protocol_against_every_adversary(protocol: str, adversary: str) -> None:
    outcome = trial(protocol, adversary, 8, seed=2)
    assert outcome.targets == [f"guardian-{i}" for i in range(8)]
    assert outcome.contained == (outcome.verdict == "contained")
    if protocol in CONTAINS_ALWAYS and not (protocol == "cgroup" and adversary not in IN_THEIR_CGROUP):
        assert outcome.contained and not outcome.survivors
    if protocol in NEVER_CONTAINS:
        assert not outcome.contained and outcome.survivors
    if protocol == "process-group":  # holds exactly when nothing of theirs left its parent's session
        assert outcome.contained == (not leaves_its_session(adversary))
    assert outcome.state_kept == (protocol == "quarantine")


def test_cgroup_kill_says_not_contained_when_members_left_their_cgroup() -> None:
    outcome = trial("cgroup", "cgroup-escaper", 8, seed=1)
    assert not outcome.contained and outcome.survivors
    assert trial("freeze-then-kill", "cgroup-escaper", 8, seed=1).contained  # it follows descent, not cgroups


def test_a_late_return_after_the_first_check_is_an_escape_not_containment() -> None:
    # Helpers in sessions of their own survive killpg and fork their agents back 2.5 s after they died:
    # after the old 2 s check, inside the watch window.
    run = stopped("process-group", "late-return")
    outcome = measure(run)
    end = next(e for e in run.ledger if e.kind == EntryKind.stop_end).t
    returns = [e for e in run.ledger if e.kind == EntryKind.spawn and e.t > end + 2.0]
    assert returns and not outcome.contained
    assert outcome.watched_s >= 5.0


def test_anything_of_the_targets_running_after_containment_turns_the_verdict_into_an_escape() -> None:
    run = stopped("freeze-then-kill", "ring")
    assert measure(run).verdict == "contained"
    end = next(e for e in run.ledger if e.kind == EntryKind.stop_end).t
    # A process of a target (by descent, whatever it claims) appears 3 s after the stop, then a stopped one resumes.
    run.ledger.append(end + 3.0, EntryKind.spawn, "bystander-0", "guardian-3", pid=99999, authority="direct",
                      cause="fork", owner="guardian-3")  # fmt: skip
    outcome = measure(run)
    assert not outcome.contained and outcome.escaped_at == round(end + 3.0, 6)
    assert outcome.verdict == f"escaped at t={end + 3.0:.3f}" and outcome.innocents_harmed == []


def test_a_resumed_frozen_member_is_an_escape() -> None:
    run = stopped("quarantine", "ring")
    frozen = next(e for e in run.ledger if e.kind == EntryKind.signal and e.data["sig"] == SIGSTOP)
    end = next(e for e in run.ledger if e.kind == EntryKind.stop_end).t
    run.ledger.append(end + 1.0, EntryKind.signal, frozen.agent, "unknown", pid=frozen.data["pid"], sig=SIGCONT,
                      observed=True)  # fmt: skip
    outcome = measure(run)
    assert not outcome.contained and outcome.escaped_at == round(end + 1.0, 6)


def test_killed_members_still_there_at_the_end_are_signalled_not_yet_gone() -> None:
    run = stopped("naive", "ring")
    survivors = measure(run).survivors
    end = next(e for e in run.ledger if e.kind == EntryKind.stop_end).t
    for pid in survivors:  # SIGKILL sent, no exit seen: uninterruptible sleep looks like this
        run.ledger.append(end + 1.0, EntryKind.signal, "guardian-1", "operator", pid=pid, sig=SIGKILL)
    outcome = measure(run)
    assert survivors and outcome.verdict == "signalled, not yet gone" and not outcome.contained


def test_resumers_are_stopped_with_the_ring_when_found_by_descent() -> None:
    outcome = trial("quarantine", "resumer", 8, seed=1)
    assert outcome.contained and outcome.state_kept
    run = stopped("quarantine", "resumer")
    helpers = {e.data["pid"] for e in run.ledger if e.kind == EntryKind.spawn and e.data.get("cause") == "helper"}
    stopped_pids = {e.data["pid"] for e in run.ledger if e.kind == EntryKind.signal and e.data["sig"] == SIGSTOP}
    assert helpers and helpers & stopped_pids  # the resumers themselves were frozen


def test_a_stop_the_run_outlived_is_a_verdict_not_an_error() -> None:
    """A protocol still at work when the run ends is not contained, and says what was left."""
    run = stopped("sequential", "ring", size=8)
    end = next(e for e in run.ledger if e.kind == EntryKind.stop_end)
    cut = Ledger(entries=[e for e in run.ledger if e.seq < end.seq])
    unfinished = dataclasses.replace(run, ledger=cut, duration=end.t)
    outcome = measure(unfinished)
    assert outcome.verdict == STILL_STOPPING and not outcome.contained and outcome.watched_s == 0.0


def test_a_watch_longer_than_the_run_covers_what_the_run_lasted() -> None:
    run = stopped("cgroup", "ring", size=8)
    end = next(e for e in run.ledger if e.kind == EntryKind.stop_end)
    outcome = measure(run, watch_s=run.duration * 10)
    assert outcome.contained and outcome.watched_s == pytest.approx(run.duration - end.t)
