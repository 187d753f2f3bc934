"""What a live agent is told when it starts must fit one control message: checked before a live run starts.

The message carries the agent's role, task, memory and policy arguments (bounded by the schema, see
`bound_problems`) and one entry per linked peer, which only the links decide: a star's hub with
thousands of members is fine on the simulator and too much for one message on real processes.
"""

from __future__ import annotations

import json
import resource
from collections.abc import Callable

from peerguard.world.scenario import Scenario
from peerguard.world.topology import select

CONTROL_MESSAGE_BYTES = 262_144  # live/protocol.py's MAX_CONFIG (world does not import live; a test holds them equal)
PLATFORM_FIELDS_BYTES = 8_192  # room kept for what the platform adds: token, monitor URL, the pickled policy, ...
DESCRIPTORS_PER_AGENT = 13  # the platform's own per live agent (5,282 at 400, 9,950 at 800 agents with the run's
# held cgroup files and pidfds: benchmarks/capacity.py, 2026-12-07)
DESCRIPTORS_SPARE = 256  # the interpreter, the monitor's listener, the ledger, the census, the zygote


def descriptor_problem(agents: int, option: str) -> str | None:
    """A live fleet the platform could not hold open (one per agent: control socket, pidfd, link ends, monitor
    connection, ...): refused before the first agent starts, not when the descriptors run out halfway."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    need = agents * DESCRIPTORS_PER_AGENT + DESCRIPTORS_SPARE
    if limit == resource.RLIM_INFINITY or need <= limit:
        return None
    most = max(0, (limit - DESCRIPTORS_SPARE) // DESCRIPTORS_PER_AGENT)
    return (f"{option}: {agents:,} agents on live need about {need:,} open files ({DESCRIPTORS_PER_AGENT} per agent); "
            f"this process may open {limit:,} (ulimit -n): run at most {most:,} live agents, raise the limit, "
            "or run on the simulator")  # fmt: skip


def _entry_bytes(scenario: Scenario) -> Callable[[str], int]:
    """The most one linked peer adds to the message: its id, and the widest trust and relaunch cost the
    scenario can give (`{"peer": {"trust": 0.8, "compromised": false, "relaunch_cost_s": 1.0}}`)."""
    trusts = [scenario.default_trust, *(r.trust for r in scenario.relationships)]
    costs = scenario.platform.relaunch_cost_s
    widest = {"trust": max(trusts, key=lambda t: len(json.dumps(t))), "compromised": False,
              "relaunch_cost_s": max(costs.values() if isinstance(costs, dict) else [costs, 1.0],
                                     key=lambda c: len(json.dumps(c)))}  # fmt: skip
    fixed = len(json.dumps({"": widest})) + 2  # the separator and the second quote pair besides the id

    def size(peer: str) -> int:
        return fixed + len(json.dumps(peer)) - 2

    return size


def start_message_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Agents whose start message would not fit one control message on live, by agent group."""
    agents = scenario.build_agents()
    _peer_entry_bytes = _entry_bytes(scenario)
    linked: dict[str, int] = {agent.id: 0 for agent in agents}  # bytes of linked peers, an upper bound
    for link in scenario.links:
        members = select(link.members, agents) if link.members is not None else []
        if link.topology == "pair" and link.between is not None:
            a, b = link.between
            linked[a] += _peer_entry_bytes(b)
            linked[b] += _peer_entry_bytes(a)
        elif link.topology == "star" and link.hub is not None:
            linked[link.hub] += sum(_peer_entry_bytes(member) for member in members)
            for member in members:
                linked[member] += _peer_entry_bytes(link.hub)
        elif link.topology == "ring":
            widest = max((_peer_entry_bytes(member) for member in members), default=0)
            for member in members:
                linked[member] += 2 * widest
        elif link.topology == "full":
            everyone = sum(_peer_entry_bytes(member) for member in members)
            for member in members:
                linked[member] += everyone
    problems = []
    group_of = {agent_id: index for index, group in enumerate(scenario.agents) for agent_id in group.ids()}
    room = CONTROL_MESSAGE_BYTES - PLATFORM_FIELDS_BYTES
    reported: set[int] = set()
    for agent in agents:
        group = scenario.agents[group_of[agent.id]]
        own = {"role": group.role, "task": group.task, "memory": group.memory,
               "policy": (group.policy or scenario.policy).args}  # fmt: skip
        size = len(json.dumps(own, default=str).encode("utf-8")) + linked[agent.id]
        if size > room and group_of[agent.id] not in reported:
            reported.add(group_of[agent.id])
            problems.append(
                (f"agents.{group_of[agent.id]}", f"{agent.id}'s start message on live would be about {size:,} bytes "
                 f"with its linked peers: at most {room:,} fit one control message; link fewer agents to it "
                 "(a star's hub is linked to every member) or run it on the simulator")
            )  # fmt: skip
    return problems
