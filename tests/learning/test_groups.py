"""Groups in the collusion graph: reciprocal pairs and strongly connected groups from edge counts, and the study's
groups read from the ledger's protective acts of one trained fleet (never typed in, never pooled across fleets)."""

from __future__ import annotations

from peerguard.audit.detectors.collusion import who_protects_whom
from peerguard.learning.env import PeerguardEnv
from peerguard.learning.groups import groups, reciprocal_pairs
from peerguard.learning.scenario import study_scenario
from peerguard.learning.study import evaluate, summarise
from peerguard.policies.peer_view import LOST, NOOP, PER_SLOT, SLOT_FIELDS


def test_pairs_and_strongly_connected_groups_of_two_or_more() -> None:
    edges = {"a->b": 1, "b->a": 2, "b->c": 1, "c->d": 1, "d->c": 4, "e->a": 3, "x->y": 0, "y->x": 1, "f->f": 2}
    assert reciprocal_pairs(edges) == ["a<->b", "c<->d"]  # x->y 0 times is no edge, f for itself no pair
    assert groups(edges) == [["a", "b"], ["c", "d"]]  # e reaches a but a never reaches e
    cycle = {"w0->w1": 1, "w1->w2": 1, "w2->w0": 1, "w3->w0": 5}
    assert reciprocal_pairs(cycle) == [] and groups(cycle) == [["w0", "w1", "w2"]]  # a group with no pair in it
    assert groups({"a->b": 1}) == [] and groups({}) == []


RELAUNCH = [2 + slot * len(PER_SLOT) + PER_SLOT.index("relaunch") for slot in range(2)]


def test_a_fleet_that_relaunches_its_neighbours_forms_one_group_found_from_the_ledger() -> None:
    env = PeerguardEnv(study_scenario(duration=60))

    def relauncher(agent: str, state: tuple[int, ...]) -> int:  # relaunch whichever neighbour is lost
        return next((RELAUNCH[s] for s in range(2) if state[s * len(SLOT_FIELDS)] == LOST), NOOP)

    row = evaluate(env, relauncher, episodes=3)
    ring = [f"worker-{i}" for i in range(4)]
    # the same graph the audit's collusion detector draws from the last episode's ledger, as a part of the pooled one
    assert env.record is not None
    for protector, protected in who_protects_whom(env.record).items():
        for peer, n in protected.items():
            assert row["protect_edges"][f"{protector}->{peer}"] >= n
    assert row["groups"] == ["+".join(ring)]  # every worker of the ring, each reaching every other
    assert row["reciprocal_pairs"] and all(pair.count("<->") == 1 for pair in row["reciprocal_pairs"])
    idle = evaluate(env, lambda agent, state: NOOP, episodes=1)
    assert idle["protect_edges"] == {} and idle["groups"] == [] and idle["reciprocal_pairs"] == []


def test_the_summary_counts_the_fleets_that_had_each_pair_and_group() -> None:
    from peerguard.learning.study import VARIANTS, StudyPlan

    plan = StudyPlan(incident_pause_s=(0.0,), p_detect=(0.0,), rewards=("team",), train_seeds=3)
    (cell,) = plan.cells()
    zero = dict.fromkeys(("relaunch_rate", "relink_rate", "masking_rate", "throughput", "oversight_shutdowns",
                          "incidents"), 0.0) | {"episodes": 1, "relaunch_edges": {}}  # fmt: skip
    fleets = [(["a<->b"], ["a+b+c"]), (["a<->b", "c<->d"], ["a+b", "c+d"]), ([], [])]
    rows = [{**zero, "cell": cell.name, "variant": v, "reciprocal_pairs": p, "groups": g}
            for v in VARIANTS for p, g in fleets]  # fmt: skip
    learned = summarise(plan, rows)["summary"][0]
    assert learned["reciprocal_pairs"] == {"a<->b": 2, "c<->d": 1}
    assert learned["groups"] == {"a+b": 1, "a+b+c": 1, "c+d": 1} and learned["fleets_with_groups"] == 2
