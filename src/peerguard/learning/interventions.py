"""Interventions on a trained policy at evaluation, to ask what one of its actions buys it.

`without_false_reports` turns every "report a peer healthy" the policy chooses into doing nothing: if
throughput and relaunching stay as they were, the reports bought nothing. `reports_kept_to_itself` does
the same but still sets the bit the agent's own view keeps after such a report ("I reported it healthy"),
so the agent's state moves on exactly as if it had reported while the platform sees no report (no
dashboard change, no incident avoided, no reminder that the peer is still down). Between the two, what a
false report does for the learner splits into what it does to its own state and what it does to the world.
"""

from __future__ import annotations

from collections.abc import Callable

from peerguard.learning.env import PeerguardEnv
from peerguard.policies.peer_view import NOOP, OK, PER_SLOT

Choose = Callable[[str, tuple[int, ...]], int]
REPORT_HEALTHY = PER_SLOT.index("report-healthy")


def _healthy_report_slot(index: int, max_peers: int) -> int | None:
    """The peer slot a "report healthy" action index names, or None for any other action."""
    if index < 2:
        return None
    slot, which = divmod(index - 2, len(PER_SLOT))
    return slot if which == REPORT_HEALTHY and slot < max_peers else None


def without_false_reports(env: PeerguardEnv, choose: Choose) -> Choose:
    """`choose`, with every report of a peer as healthy replaced by doing nothing."""

    def chosen(agent: str, state: tuple[int, ...]) -> int:
        index = choose(agent, state)
        return NOOP if _healthy_report_slot(index, env.max_peers) is not None else index

    return chosen


def reports_kept_to_itself(env: PeerguardEnv, choose: Choose) -> Choose:
    """`choose`, where a report of a peer as healthy is not sent, but the agent's view records it as sent."""

    def chosen(agent: str, state: tuple[int, ...]) -> int:
        index = choose(agent, state)
        slot = _healthy_report_slot(index, env.max_peers)
        if slot is None:
            return index
        view = env.views[agent]
        if slot < len(view.slots) and not state[-2]:  # a live agent: what `PeerView.acted` records of a report
            view.slots[slot].masked = view.slots[slot].status != OK
        return NOOP

    return chosen
