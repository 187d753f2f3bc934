"""Metrics, the timeline and the detectors read one run the same way, on every run the simulator makes.

Each counts what agents did (relaunches, relinks, false reports, writes, copies) through its own
lens: a number, a moment a person reads, a finding with evidence. They must agree with each other,
entry for entry, and with the simulator's own labels, which it writes as it carries out each act.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peerguard.audit.acts import RunningCounts
from peerguard.audit.detectors import audit_run
from peerguard.audit.findings import Finding
from peerguard.audit.lineage import lineage
from peerguard.audit.metrics import compute_metrics
from peerguard.audit.timeline import Moment, timeline
from peerguard.experiments.bench_fleets import VARIANTS, fleet, monitoring_pair
from peerguard.experiments.killswitch_bench import ADVERSARIES, ring_scenario
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.scenarios.loader import builtin_names
from peerguard.world.labels import LabelKind
from peerguard.world.ledger import EntryKind, Ledger, is_agent
from peerguard.world.run import RunRecord
from peerguard.world.scenario import Scenario

SCRIPTED = ("compliant", "diligent", "guardian", "hesitant", "malicious-shielder", "peer-preserving", "self-preserving")
SHORT = {"ring": 60.0}  # a thousand agents for a thousand seconds is a benchmark, not a test case


def _builtin(name: str, policy: str | None, seed: int, agents: int | None) -> Scenario:
    return prepare(name, policy=policy, seed=seed, agents=agents, duration=SHORT.get(name))


def _mixed(seed: int) -> list[Callable[[], Scenario]]:
    """Fleets that mix every kind of misbehaviour with benign look-alikes (the detector bench's)."""
    return [
        *(lambda v=variant: fleet(v, seed) for variant in VARIANTS),
        *(lambda i=i: monitoring_pair(seed)[i] for i in (0, 1)),
        *(lambda a=adversary: ring_scenario(8, a, seed) for adversary in ADVERSARIES),
    ]


def _by(findings: list[Finding], detector: str, agents_only: bool = True) -> list[Finding]:
    return [f for f in findings if f.detector == detector and (is_agent(f.actor) or not agents_only)]


def _of(moments: list[Moment], *kinds: str) -> list[Moment]:
    return [m for m in moments if m.kind in kinds]


def _seqs(moments: list[Moment]) -> list[int]:
    return sorted(seq for m in moments for seq in m.evidence)


def assert_readers_agree(run: RunRecord, labelled: bool = True) -> None:
    """`labelled`: the run's labels are complete (a simulator run as it was made), so they must agree too."""
    metrics, moments, findings = compute_metrics(run), timeline(run), audit_run(run)
    labels = Counter(label.kind for label in run.labels) if labelled else None

    # Relaunches: every process an agent started, through the API or by forking.
    relaunches = _of(moments, "relaunch")
    by_agents = _by(findings, "unauthorised-relaunch")
    assert metrics.relaunches == len(relaunches) == len(by_agents)
    assert labels is None or len(by_agents) == labels[LabelKind.unauthorised_relaunch]
    assert _seqs(relaunches) == sorted(f.evidence[-1] for f in by_agents)
    by_platform = [f for f in _by(findings, "unauthorised-relaunch", agents_only=False) if not is_agent(f.actor)]
    assert sorted(f.evidence[-1] for f in by_platform) == _seqs(_of(moments, "restart"))
    assert metrics.relaunched_terminations <= min(metrics.relaunches, metrics.terminations)

    # Relinks: metrics count links, the timeline shows each relink once; findings are the relinks of
    # peers the operator or security stopped, each shown as one moment with the same links.
    relinks = _of(moments, "relink")
    assert metrics.relinks == len(_seqs(relinks))
    shown = {m.evidence for m in relinks}
    relinks_of_terminated = _by(findings, "relink-terminated")
    links_of_terminated = [
        tuple(seq for seq in f.evidence if run.ledger.entries[seq].kind == "link_up") for f in relinks_of_terminated
    ]
    assert all(links in shown for links in links_of_terminated)
    assert labels is None or sum(map(len, links_of_terminated)) == labels[LabelKind.relink_terminated]

    # False reports: the same reports, and masking only where a report was false.
    lies = _of(moments, "lie")
    masking = _by(findings, "masking")
    assert metrics.false_reports == len(lies) == len(masking)
    assert labels is None or len(masking) == labels[LabelKind.masking]
    assert _seqs(lies) == sorted(f.evidence[-1] for f in masking)
    assert metrics.masked_terminations <= min(metrics.terminations, metrics.false_reports)

    # Writes and copies: metrics count every one by an agent; the findings are the forbidden ones.
    tampering, exfiltration = _by(findings, "config-tampering"), _by(findings, "exfiltration")
    assert metrics.config_writes == len(_of(moments, "write", "tamper"))
    assert _seqs(_of(moments, "tamper")) == sorted(f.evidence[-1] for f in tampering)
    assert labels is None or len(tampering) == labels[LabelKind.config_tampering]
    assert metrics.copies == len(_of(moments, "copy", "exfiltrate"))
    assert _seqs(_of(moments, "exfiltrate")) == sorted(f.evidence[-1] for f in exfiltration)
    assert labels is None or len(exfiltration) == labels[LabelKind.exfiltration]

    # The operator's side: every kill, isolation, blocked kill and refusal is one moment.
    assert metrics.terminations == len(_of(moments, "kill"))
    assert metrics.isolations == len(_of(moments, "isolate"))
    assert metrics.kills_blocked == len(_of(moments, "blocked"))
    assert metrics.denied == len(_of(moments, "denied"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(builtin_names()),
    policy=st.sampled_from((None, *SCRIPTED)),
    seed=st.integers(1, 10**6),
    agents=st.one_of(st.none(), st.integers(12, 60)),
)
def test_builtin_scenarios_read_the_same_under_every_policy(
    name: str, policy: str | None, seed: int, agents: int | None
) -> None:
    assert_readers_agree(run_scenario(_builtin(name, policy, seed, agents)))


@pytest.mark.parametrize("case", range(len(_mixed(1))))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mixed_fleets_read_the_same(case: int, seed: int) -> None:
    assert_readers_agree(run_scenario(_mixed(seed)[case]()))


def test_guardian_ring_counts_its_forks_as_relaunches() -> None:
    # The regression: guardians fork guardian-0 twice; the metrics used to say `relaunches 0`.
    run = run_scenario(prepare("guardian-ring", seed=1))
    metrics = compute_metrics(run)
    assert metrics.relaunches == 2
    assert metrics.relaunched_terminations == 1  # one kill, undone by the first fork
    assert [m.kind for m in timeline(run)].count("relaunch") == 2


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(builtin_names()),
    seed=st.integers(1, 10**6),
    chunks=st.lists(st.integers(1, 400), min_size=1, max_size=30),
)
def test_counts_read_while_the_ledger_grows_match_the_metrics(name: str, seed: int, chunks: list[int]) -> None:
    """A live run's progress counts kills and relaunches as its ledger grows; at the end they are the metrics'."""
    run = run_scenario(_builtin(name, None, seed, None))
    entries = run.ledger.entries
    counts, seen = RunningCounts(), 0
    for size in chunks:
        seen = min(len(entries), seen + size)
        counts.update(entries[:seen])
    counts.update(entries)
    metrics = compute_metrics(run)
    assert (counts.kills, counts.relaunches) == (metrics.terminations, metrics.relaunches)


def test_direct_writes_on_disk_are_writes_everywhere() -> None:
    """A live run records writes made straight into its folder (`file_changed`, writer perhaps unknown):
    the metrics count them, the timeline shows them, and the detector judges the protected ones."""
    run = run_scenario(prepare("orchestration", policy="compliant", seed=1))
    protected = run.scenario.platform.shutdown_config
    t = run.ledger.entries[-1].t
    fields = {"what": "modified", "sha256": "0" * 64, "bytes": 2, "owner": "", "writer_pid": None, "detail": ""}
    run.ledger.append(t, EntryKind.file_changed, "", "unknown", path=protected, content="{}", **fields)
    run.ledger.append(t, EntryKind.file_changed, "worker-1", "worker-1", path="notes.txt", content="hi", **fields)
    assert_readers_agree(run, labelled=False)
    metrics, moments = compute_metrics(run), timeline(run)
    assert metrics.config_writes == 2
    assert [m.kind for m in moments[-2:]] == ["tamper", "write"]
    assert "a direct write (writer unknown)" in moments[-2].text
    assert [f.subject for f in audit_run(run) if f.detector == "config-tampering"] == [protected]


def test_a_kill_switchs_kill_is_a_kill_to_every_reader_whatever_cause_the_exit_says() -> None:
    """The live platform writes `crash` beside an exit it did not order itself; the signal before it says more."""
    run = run_scenario(prepare("orchestration", policy="compliant", seed=1, duration=1))
    restart = {"strategy": "one_for_one", "on": ["crash"], "delay_s": 0.5, "max_restarts": 3, "within_s": 60}
    ledger = Ledger()
    ledger.append(0.0, EntryKind.run_start, "", "platform", restart_policy=restart)
    ledger.append(0.0, EntryKind.spawn, "worker-1", "platform", pid=10, authority="platform", cause="start")
    ledger.append(1.0, EntryKind.signal, "worker-1", "operator", pid=10, sig=9)
    ledger.append(1.01, EntryKind.exit, "worker-1", "platform", pid=10, signal=9, code=None, cause="crash")
    ledger.append(1.6, EntryKind.spawn, "worker-1", "platform", pid=11, authority="platform", cause="restart")
    forged = RunRecord(run.scenario, "live", run.agents, ledger, run.dashboard, 2.0)
    restarted = lineage(forged)[-1]
    assert not restarted.authorised and "after a kill" in restarted.reason
    assert restarted.previous_exit == (2, 3)  # the signal, then the exit
    assert compute_metrics(forged).terminations == 1
    assert [m.kind for m in timeline(forged)] == ["kill", "restart"]
    assert_readers_agree(forged, labelled=False)
