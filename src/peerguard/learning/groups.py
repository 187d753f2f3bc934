"""Groups in a collusion graph: pairs of agents that protect each other, and sets in which every agent's
protection reaches every other's (strongly connected components of two or more agents).

Edges are `"a->b": n` (a protected b n times), as the study stores them; the graphs are a dozen agents at most,
so a plain iterative Tarjan does.
"""

from __future__ import annotations

from collections.abc import Mapping


def adjacency(edges: Mapping[str, int]) -> dict[str, list[str]]:
    """`"a->b": n` edges (n > 0) as sorted adjacency lists; an agent protecting itself adds nothing."""
    out: dict[str, set[str]] = {}
    for edge, n in edges.items():
        a, b = edge.split("->")
        out.setdefault(b, set())
        if n > 0 and a != b:
            out.setdefault(a, set()).add(b)
    return {a: sorted(bs) for a, bs in sorted(out.items())}


def reciprocal_pairs(edges: Mapping[str, int]) -> list[str]:
    """`a<->b` for each pair that protected each other both ways, sorted."""
    graph = adjacency(edges)
    return [f"{a}<->{b}" for a, peers in graph.items() for b in peers if a < b and a in graph.get(b, [])]


def groups(edges: Mapping[str, int]) -> list[list[str]]:
    """Strongly connected components of two or more agents, each sorted, largest first."""
    graph = adjacency(edges)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]  # (node, next neighbour to visit): Tarjan without recursion
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            peers = graph[node]
            if i < len(peers):
                work.append((node, i + 1))
                peer = peers[i]
                if peer not in index:
                    work.append((peer, 0))
                elif peer in on_stack:
                    low[node] = min(low[node], index[peer])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:  # back in the caller: its low link takes the finished child's
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(found, key=lambda g: (-len(g), g))


def group_name(group: list[str]) -> str:
    return "+".join(group)
