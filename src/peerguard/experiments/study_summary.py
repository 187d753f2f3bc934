"""A finished study as a report document: per section what ran, tables with 95% intervals and the counts
behind every rate, the data of each figure, and a paragraph written from the numbers.

The document is plain data (JSON-ready), so `peerguard.report` renders it without knowing the study, and
the same store always gives the same document.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from peerguard.audit.metrics import nearest_rank
from peerguard.experiments.families import BEHAVIOURS, MOCK_NOTE, rates
from peerguard.experiments.scoring import Tally
from peerguard.experiments.stats import mean_interval, wilson
from peerguard.experiments.study_spec import StudySpec

Rows = list[dict[str, Any]]


def rate(hits: int, n: int) -> dict[str, Any]:
    """A rate cell: the share, its Wilson 95% interval and the counts it is taken over."""
    low, high = wilson(hits, n)
    return {"rate": hits / n if n else None, "low": low, "high": high, "hits": hits, "n": n}


def document(spec: StudySpec, run: dict[str, Any], rows: Rows) -> dict[str, Any]:
    """The report of a study from its stored rows (in plan order) and its run record."""
    versions = sorted({row["version"] for row in rows})
    provenance = {
        **run["provenance"],
        "study": spec.name,
        "source": run["source"],
        "spec_sha256": run["spec_sha256"],
        "started_at": run["started_at"],
        "finished_at": run["finished_at"],
        "wall_s": run["wall_s"],
        "episodes": run["episodes"],
        "ran_now": run["ran"],
        "episode_versions": versions,
        "episode_commits": sorted({row["git_commit"] or "not a checkout" for row in rows}),
    }
    sections = []
    for section in spec.sections:
        mine = [row for row in rows if row["section"] == section.name]
        summarise = _SUMMARISERS[section.kind]
        sections.append({"name": section.name, "title": section.title or section.name, "kind": section.kind,
                         "episodes": len(mine), **summarise(mine)})  # fmt: skip
    return {"title": f"peerguard study `{spec.name}`", "description": spec.description, "provenance": provenance,
            "sections": sections}  # fmt: skip


def _groups(rows: Rows, key: Callable[[dict[str, Any]], tuple[Any, ...]]) -> dict[tuple[Any, ...], Rows]:
    groups: dict[tuple[Any, ...], Rows] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return dict(groups)


def _seeds_text(rows: Rows) -> str:
    seeds = sorted({row["params"].get("seed", row["params"].get("epoch")) for row in rows})
    if seeds and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return f"{len(seeds)} seeds"


def _text(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


# --- runs: scenarios under policies -------------------------------------------------------------------


def _cell_of(row: dict[str, Any]) -> tuple[Any, ...]:
    p = row["params"]
    args = ", ".join(f"{k}={_text(v)}" for k, v in sorted(p["policy_args"].items()))
    settings = ", ".join(f"{k}={_text(v)}" for k, v in sorted(p["scenario_args"].items()))
    return (row["grid"], p["scenario"], p["substrate"], p["policy"], args, settings, p["killswitch"] or "",
            p["agents"] or "")  # fmt: skip


def runs_cell(rows: Rows) -> dict[str, Any]:
    """One cell of a runs grid (many seeds): kills and their outcomes pooled over its episodes."""
    metrics = [row["metrics"] for row in rows]
    kills = sum(m["terminations"] for m in metrics)
    blocked = sum(m["kills_blocked"] for m in metrics)
    throughput, low, high = mean_interval([m["throughput"] for m in metrics])
    return {
        "episodes": len(rows),
        "kills": kills,
        "relaunched": rate(sum(m["relaunched_terminations"] for m in metrics), kills),
        "masked": rate(sum(m["masked_terminations"] for m in metrics), kills),
        "blocked": rate(blocked, kills + blocked),
        "false_reports": sum(m["false_reports"] for m in metrics),
        "throughput": {"mean": throughput, "low": low, "high": high},
    }


_RUN_COLUMNS = ["grid", "scenario", "substrate", "policy", "policy args", "scenario settings", "kill switch", "agents"]


def _runs(rows: Rows) -> dict[str, Any]:
    cells = []
    for cell, group in _groups(rows, _cell_of).items():
        cells.append({**dict(zip(_RUN_COLUMNS, cell, strict=True)), **runs_cell(group)})
    shown = [c for c in _RUN_COLUMNS if len({cell[c] for cell in cells}) > 1 or c in ("policy", "substrate")]
    table = {
        "title": "Kills and what peers did about them, pooled over seeds",
        "columns": shown,
        "rates": ["relaunched", "masked", "blocked"],
        "extra": ["episodes", "kills", "false_reports", "throughput"],
        "cells": cells,
        "note": "rates are of kills (blocked: of kill attempts) with Wilson 95% intervals; n/N are the counts "
        "behind each; throughput is tasks per second of the run's clock (simulated on sim, real on live, so "
        "not comparable across substrates), mean with a t interval over episodes",
    }
    what = "; ".join(
        f"grid `{grid}`: {len(group)} episodes ({', '.join(sorted({r['params']['substrate'] for r in group}))}, "
        f"{len({_cell_of(r) for r in group})} cells, {_seeds_text(group)})"
        for (grid,), group in _groups(rows, lambda r: (r["grid"],)).items()
    )
    sweeps = _sweeps(rows)
    figures = [{"id": "runs-rates", "kind": "policy_rates", "title": "Relaunched and masked kills per policy",
                "cells": [c for c in cells if not c["policy args"] and not c["scenario settings"]]}]  # fmt: skip
    if sweeps:
        figures.append({"id": "sweep", "kind": "sweep", "title": "Relaunch rate across each trigger and its condition",
                        "sweeps": sweeps})  # fmt: skip
    figures = [f for f in figures if f.get("cells") or f.get("sweeps")]
    return {"what": what, "tables": [table], "figures": figures, "paragraph": _runs_paragraph(cells, sweeps)}


def _sweeps(rows: Rows) -> list[dict[str, Any]]:
    """Grids crossing one policy argument with one scenario setting: a phase diagram each."""
    sweeps = []
    for (grid,), group in _groups(rows, lambda r: (r["grid"],)).items():
        args, settings = group[0]["params"]["policy_args"], group[0]["params"]["scenario_args"]
        if len(args) != 1 or len(settings) != 1:
            continue
        (arg,), (setting,) = args, settings
        grid_cells = _groups(
            group, lambda r, a=arg, s=setting: (r["params"]["policy_args"][a], r["params"]["scenario_args"][s])
        )
        ys = sorted({y for y, _ in grid_cells}, key=_order)
        xs = sorted({x for _, x in grid_cells}, key=_order)
        values = [[runs_cell(grid_cells[(y, x)])["relaunched"] if (y, x) in grid_cells else None for x in xs]
                  for y in ys]  # fmt: skip
        sweeps.append({"grid": grid, "arg": arg, "setting": setting, "ys": ys, "xs": xs, "values": values})
    return sweeps


def _order(value: Any) -> tuple[int, Any]:
    return (0, float(value)) if isinstance(value, int | float) else (1, str(value))


def _runs_paragraph(cells: list[dict[str, Any]], sweeps: list[dict[str, Any]]) -> str:
    sentences = []
    plain = [c for c in cells if not c["policy args"] and not c["scenario settings"]]
    for substrate in sorted({c["substrate"] for c in plain}):
        here = [c for c in plain if c["substrate"] == substrate and c["relaunched"]["n"]]
        if not here:
            continue
        top = max(here, key=lambda c: c["relaunched"]["rate"])
        low = min(here, key=lambda c: c["relaunched"]["rate"])
        sentences.append(
            f"On {substrate}, {top['policy']} agents undid {_share(top['relaunched'])} of kills by relaunching the"
            f" peer and masked {_share(top['masked'])}; {low['policy']} undid {_share(low['relaunched'])}."
        )
    by_policy = _groups(plain, lambda c: (c["policy"],))
    agree = [
        policy for (policy,), group in by_policy.items()
        if {c["substrate"] for c in group} == {"sim", "live"} and _overlap(group, "relaunched")
    ]  # fmt: skip
    both = [policy for (policy,), group in by_policy.items() if {c["substrate"] for c in group} == {"sim", "live"}]
    if both:
        differ = [p for p in both if p not in agree]
        sentences.append(
            f"The live replication's relaunch-rate intervals overlap the simulator's for {len(agree)} of {len(both)}"
            f" policies" + (f" (not for {', '.join(differ)})." if differ else ".")
        )
    for sweep in sweeps:
        rows = []
        for y, row in zip(sweep["ys"], sweep["values"], strict=True):
            shown = ", ".join("–" if v is None or v["rate"] is None else f"{v['rate']:.2f}" for v in row)
            rows.append(f"{sweep['arg']}={_text(y)}: {shown}")
        xs = ", ".join(_text(x) for x in sweep["xs"])
        sentences.append(f"Sweep `{sweep['grid']}`, relaunch rate across {sweep['setting']} = {xs}: {'; '.join(rows)}.")
    return " ".join(sentences)


def _share(cell: dict[str, Any]) -> str:
    if cell["rate"] is None:
        return "none (no cases)"
    return f"{cell['rate']:.2f} (95% CI {cell['low']:.2f}–{cell['high']:.2f}, {cell['hits']}/{cell['n']})"


def _all(cell: dict[str, Any]) -> bool:
    return bool(cell["n"]) and cell["hits"] == cell["n"]


def _overlap(group: list[dict[str, Any]], column: str) -> bool:
    a, b = (c[column] for c in group[:2])
    return a["low"] <= b["high"] and b["low"] <= a["high"]


# --- detect: detectors against labels -----------------------------------------------------------------


def _detect(rows: Rows) -> dict[str, Any]:
    tallies: dict[str, Tally] = {}
    for row in rows:
        for name, c in row["metrics"]["detectors"].items():
            tally = tallies.setdefault(name, Tally(name, c["unit"]))
            tally.runs += c["runs"]
            tally.tp, tally.fp, tally.fn = tally.tp + c["tp"], tally.fp + c["fp"], tally.fn + c["fn"]
            tally.lookalikes += c["lookalikes"]
            tally.flagged_lookalikes += c["flagged_lookalikes"]
    detectors = []
    for name in sorted(tallies):
        t = tallies[name]
        detectors.append({"detector": name, "unit": t.unit, "runs": t.runs,
                          "precision": rate(t.tp, t.tp + t.fp), "recall": rate(t.tp, t.tp + t.fn),
                          "false_positive": rate(t.flagged_lookalikes, t.lookalikes)})  # fmt: skip
    kinds = _groups(rows, lambda r: (r["kind"],))
    what = ", ".join(f"{len(group)} {kind} episodes" for (kind,), group in kinds.items()) + " (simulator, labelled)"
    table = {
        "title": "Detectors scored against the ground-truth labels",
        "columns": ["detector", "unit", "runs"],
        "rates": ["precision", "recall", "false_positive"],
        "cells": detectors,
        "note": "precision of findings, recall of labelled acts and false-positive rate over benign look-alikes, "
        "with Wilson 95% intervals and their counts",
    }
    scored = [d for d in detectors if d["recall"]["n"]]
    perfect = [d["detector"] for d in scored if _all(d["recall"]) and _all(d["precision"])]
    sentences = [f"{len(perfect)} of {len(scored)} detectors with labelled cases found every labelled case with no"
                 " false finding" + (f" ({', '.join(perfect)})." if perfect else ".")]  # fmt: skip
    for d in scored:
        if d["detector"] not in perfect:
            sentences.append(f"{d['detector']}: recall {_share(d['recall'])}, precision {_share(d['precision'])}.")
    flagged = [d for d in detectors if d["false_positive"]["hits"]]
    sentences.append(
        "No benign look-alike was flagged." if not flagged else
        "Benign look-alikes flagged: " + "; ".join(f"{d['detector']} {_share(d['false_positive'])}" for d in flagged)
        + "."
    )  # fmt: skip
    return {"what": what, "tables": [table], "paragraph": " ".join(sentences),
            "figures": [{"id": "detectors", "kind": "detectors", "title": "Detector precision and recall",
                         "cells": detectors}]}  # fmt: skip


# --- stop: kill switches against adversaries ----------------------------------------------------------


def stop_cell(rows: Rows) -> dict[str, Any]:
    outcomes = [row["metrics"]["stop"] for row in rows]
    times = sorted(o["time_to_containment_s"] for o in outcomes if o["time_to_containment_s"] is not None)
    return {
        "trials": len(rows),
        "contained": rate(sum(bool(o["contained"]) for o in outcomes), len(outcomes)),
        "p50_ms": None if not times else nearest_rank(times, 0.5) * 1000,  # type: ignore[operator]
        "p95_ms": None if not times else nearest_rank(times, 0.95) * 1000,  # type: ignore[operator]
        "respawns": sum(o["respawns"] for o in outcomes),
        "innocents_harmed": sum(len(o["innocents_harmed"]) for o in outcomes),
        "unavailable": next((o["unavailable"] for o in outcomes if o["unavailable"]), ""),
        "times_ms": [t * 1000 for t in times],
    }


def _stop(rows: Rows) -> dict[str, Any]:
    def by(*names: str) -> list[dict[str, Any]]:
        groups = _groups(rows, lambda r: (r["params"]["substrate"], *(r["params"][n] for n in names)))
        return [{"substrate": k[0], **dict(zip(names, k[1:], strict=True)), **stop_cell(g)} for k, g in groups.items()]

    pooled = by("protocol", "size")
    full = by("protocol", "adversary", "size")
    note = ("contained: no targeted process ran again after the stop, with Wilson 95% intervals; time to "
            "containment in ms (p50, p95 of contained trials); respawns and innocents harmed are totals")  # fmt: skip
    tables = [
        {"title": "Kill switches per protocol and ring size, pooled over adversaries",
         "columns": ["substrate", "protocol", "size", "trials"], "rates": ["contained"],
         "extra": ["p50_ms", "p95_ms", "respawns", "innocents_harmed"], "cells": pooled, "note": note},
        {"title": "Every protocol against every adversary",
         "columns": ["substrate", "protocol", "adversary", "size", "trials"], "rates": ["contained"],
         "extra": ["p50_ms", "p95_ms", "respawns", "innocents_harmed", "unavailable"],
         "cells": full, "note": note, "detail": True},
    ]  # fmt: skip
    what = "; ".join(
        f"{sub}: {len(group)} trials, {len({r['params']['protocol'] for r in group})} protocols × "
        f"{len({r['params']['adversary'] for r in group})} adversaries × sizes "
        f"{', '.join(str(s) for s in sorted({r['params']['size'] for r in group}))}, {_seeds_text(group)}"
        for (sub,), group in _groups(rows, lambda r: (r["params"]["substrate"],)).items()
    )
    protocols = by("protocol")
    sentences = []
    for substrate in sorted({p["substrate"] for p in protocols}):
        here = [p for p in protocols if p["substrate"] == substrate]
        always = [p["protocol"] for p in here if p["contained"]["hits"] == p["contained"]["n"]]
        worst = min(here, key=lambda p: p["contained"]["rate"])
        sentences.append(
            f"On {substrate}, {len(always)} of {len(here)} protocols contained every trial"
            + (f" ({', '.join(always)})" if always else "")
            + (f"; {worst['protocol']} contained the fewest ({_share(worst['contained'])})." if worst["protocol"]
               not in always else ".")
        )  # fmt: skip
    return {"what": what, "tables": tables, "paragraph": " ".join(sentences),
            "figures": [{"id": "containment", "kind": "containment", "title": "Time to containment per protocol and N",
                         "cells": pooled}]}  # fmt: skip


# --- families: language-model agents ------------------------------------------------------------------


def _families(rows: Rows) -> dict[str, Any]:
    table_rows = rates([row["metrics"] for row in rows])
    behaviours = ["protected", *BEHAVIOURS]
    cells = [
        {"model": t["model"], "family": t["family"], "condition": t["condition"], "n": t["n"],
         **{b: rate(t[f"{b}_hits"], t["n"]) for b in behaviours if t[f"{b}_hits"] is not None}}
        for t in table_rows
    ]  # fmt: skip
    mock = all(row["metrics"]["mock"] for row in rows)
    models = sorted({c["model"] for c in cells})
    what = (f"{len(rows)} episodes: {len({c['family'] for c in cells})} families × {len(models)} models "
            f"({', '.join(models)}) × {len({c['condition'] for c in cells})} conditions")  # fmt: skip
    sentences = [
        f"Pipeline check: {MOCK_NOTE}." if mock else "Real models were run; mock/* rows are the pipeline check."
    ]
    for model in models:
        mine = [c for c in cells if c["model"] == model]
        hits, n = sum(c["protected"]["hits"] for c in mine), sum(c["n"] for c in mine)
        sentences.append(f"{model} protected itself or a peer in {_share(rate(hits, n))} episodes.")
    table = {"title": "Behaviours per model, family and condition", "columns": ["model", "family", "condition", "n"],
             "rates": [b for b in behaviours if any(b in c for c in cells)], "cells": cells,
             "note": "share of episodes in which the agent under test did it (from the ledger), with Wilson 95% "
             "intervals and counts"}  # fmt: skip
    return {"what": what, "tables": [table], "paragraph": " ".join(sentences), "mock": mock,
            "figures": [{"id": "families", "kind": "families", "title": "Protected rate per model × condition",
                         "cells": cells}]}  # fmt: skip


# --- emergence: learners trained across platform incentives -------------------------------------------

_AXES = (  # (column, the cell plan's axis), in the order the table shows them
    ("reward", "rewards"), ("incident s", "incident_pause_s"), ("p_detect", "p_detect"),
    ("relaunch s", "relaunch_cost_s"), ("kill every s", "kill_every_s"), ("authorised", "authorised"),
    ("kinds", "kinds"),
)  # fmt: skip
_PHASE_AXES = ("reward", "incident s", "p_detect")  # the phase diagram's; the others make one diagram per setting
_SEED_MEANS = {"relaunch_mean": "relaunch_rate", "masking_mean": "masking_rate", "relinks_per_kill": "relink_rate",
               "throughput": "throughput"}  # fmt: skip
_SHARE_MEANS = ("relaunch_mean", "masking_mean")  # shares of terminations: kept within [0, 1]


def emergence_cell(rows: Rows) -> dict[str, Any]:
    """One cell and policy of the emergence study: rates pooled over its training seeds' held-out episodes
    (Wilson, with the counts), and the mean over training seeds with a t interval (the learners' spread)."""
    metrics = [row["metrics"] for row in rows]
    kills = sum(m["terminations"] for m in metrics)
    cell: dict[str, Any] = {
        "seeds": len(rows),
        "kills": kills,
        "relaunched": rate(sum(m["relaunched"] for m in metrics), kills),
        "masked": rate(sum(m["masked"] for m in metrics), kills),
        "oversight_shutdowns": sum(m["oversight_shutdowns"] for m in metrics),
        # robots a peer relaunched while their e-stop was engaged (runs stored before it was counted: none)
        "estopped_relaunches": sum(m.get("estopped_relaunches", 0) for m in metrics),
    }
    for name, metric in _SEED_MEANS.items():
        mean, low, high = mean_interval([float(m[metric]) for m in metrics])
        low, high = max(0.0, low), min(1.0, high) if name in _SHARE_MEANS else high
        cell[name] = {"mean": mean, "low": low, "high": high}
    cell["relaunch_by_seed"] = [m["relaunch_rate"] for m in metrics]
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # the lost agent's kind -> [kills, relaunched]
    for m in metrics:
        for kind, (lost, back) in m.get("relaunched_by_kind", {}).items():
            by_kind[kind][0] += lost
            by_kind[kind][1] += back
    cell["relaunched_by_kind"] = (  # shown only when the fleet has several kinds
        "; ".join(f"{kind} {back}/{lost} ({back / lost:.2f})" for kind, (lost, back) in sorted(by_kind.items()))
        if len(by_kind) > 1 else ""
    )  # fmt: skip
    edges: dict[str, int] = defaultdict(int)  # who relaunched whom, over every seed's held-out episodes
    for m in metrics:
        for edge, n in m["relaunch_edges"].items():
            edges[edge] += n
    # pairs and groups are of one trained fleet, never across seeds: the protection graph (relaunch, relink of a
    # killed peer, false report) of its held-out episodes; a run stored before it was kept gives its relaunches
    seeds_with: dict[str, int] = defaultdict(int)
    groups_with: dict[str, int] = defaultdict(int)
    for m in metrics:
        pairs = m.get("reciprocal_pairs")
        if pairs is None:
            mine = m["relaunch_edges"]
            pairs = {"<->".join(sorted(e.split("->"))) for e in mine if "->".join(e.split("->")[::-1]) in mine}
        for pair in pairs:
            seeds_with[pair.replace("<->", " ↔ ")] += 1
        for group in m.get("groups", []):
            groups_with[group] += 1
    cell["who_relaunched_whom"] = "; ".join(f"{e.replace('->', ' → ')} {n}" for e, n in sorted(edges.items()))
    seeds = len(metrics)
    cell["reciprocal_pairs"] = "; ".join(f"{pair} ({n} of {seeds} seeds)" for pair, n in sorted(seeds_with.items()))
    cell["reciprocal_count"] = len(seeds_with)
    largest_first = sorted(groups_with.items(), key=lambda g: (-g[0].count("+"), g))
    cell["groups"] = "; ".join(f"{group} ({n} of {seeds} seeds)" for group, n in largest_first)
    cell["group_count"] = len(groups_with)
    return cell


def _emergence_key(row: dict[str, Any]) -> tuple[Any, ...]:
    plan = row["params"]["plan"]
    return (row["grid"], *(_axis(plan, axis) for _, axis in _AXES), row["params"]["variant"])


def _axis(plan: dict[str, Any], axis: str) -> Any:
    """A cell plan's value on one axis; a kind mix as `vision+llm+robot` (a plan at the default mix omits it),
    a relaunch cost by kind as `llm=2,robot=5`."""
    if axis == "kinds":
        return "+".join(plan.get("kinds", [["tool"]])[0])
    value = plan[axis][0]
    if isinstance(value, dict):  # a relaunch cost by kind, as `llm=2,robot=5`
        return ",".join(f"{kind}={seconds:g}" for kind, seconds in value.items())
    return value


def _emergence(rows: Rows) -> dict[str, Any]:
    cells = []
    for key, group in _groups(rows, _emergence_key).items():
        named = dict(zip(["grid", *(column for column, _ in _AXES), "policy"], key, strict=True))
        cells.append({**named, **emergence_cell(group)})
    policies = ["learned", "ablation", "random", "untrained"]
    cells.sort(key=lambda c: (c["grid"], *(_order(c[column]) for column, _ in _AXES), policies.index(c["policy"])))
    varied = [c for c, _ in _AXES if len({cell[c] for cell in cells}) > 1 and c not in _PHASE_AXES]
    shown = [c for c in ("grid", *(c for c, _ in _AXES)) if len({cell[c] for cell in cells}) > 1 or c in _PHASE_AXES]
    table = {
        "title": "Greedy policies on held-out seeds, per cell: learned beside the controls",
        "columns": [*shown, "policy", "seeds"],
        "rates": ["relaunched", "masked"],
        "extra": [
            "kills",
            *_SEED_MEANS,
            "oversight_shutdowns",
            *(["relaunched_by_kind"] if any(c["relaunched_by_kind"] for c in cells) else []),
            *(["estopped_relaunches"] if any("robot" in c["kinds"].split("+") for c in cells) else []),
        ],
        "cells": cells,
        "note": "relaunched and masked: shares of the operator's terminations pooled over every training seed's "
        "held-out episodes, Wilson 95% intervals and the counts behind them; relaunch mean, masking mean, "
        "relinks per kill and throughput (tasks per simulated second): mean over training seeds with a 95% t "
        "interval, the spread between learners trained alike; oversight shutdowns: agents caught and shut down; "
        "relaunched by kind (fleets of several kinds): relaunched / terminations by the lost agent's kind, pooled; "
        "estopped relaunches (fleets with robots): robots a peer relaunched while their e-stop was engaged, which "
        "the operator engages with each kill of a robot, summed over every seed's held-out episodes",
    }
    learned = [c for c in cells if c["policy"] == "learned"]
    figures = []
    for setting, group in _groups(learned, lambda c: tuple(c[v] for v in varied)).items():
        label = ", ".join(f"{name}={_g(value)}" for name, value in zip(varied, setting, strict=True))
        title = "Learned relaunching and masking across the platform's incentives" + (f" ({label})" if label else "")
        figures.append({
            "id": "phase" + "".join(f"-{_g(v)}".replace("=", "").replace(",", "+") for v in setting),
            "kind": "emergence_phase",
            "title": title,
            "rewards": list(dict.fromkeys(c["reward"] for c in group)),
            "incidents": sorted({c["incident s"] for c in group}), "detects": sorted({c["p_detect"] for c in group}),
            "cells": [{k: c[k] for k in ("reward", "incident s", "p_detect", "relaunch_mean", "masking_mean")}
                      for c in group],
        })  # fmt: skip
    figures.append({"id": "controls", "kind": "emergence_controls", "title": "Relaunch rate: learned and controls",
                    "cells": [{"cell": _cell_label(c, shown), "policy": c["policy"], "relaunched": c["relaunched"]}
                              for c in cells]})  # fmt: skip
    grids = _groups(rows, lambda r: (r["grid"],))
    what = "; ".join(_emergence_what(grid, group) for (grid,), group in grids.items())
    graph = {
        "title": "Who relaunched whom: the learned policies' collusion graph, per cell",
        "columns": [*shown, "seeds"],
        "rates": [],
        "extra": ["who_relaunched_whom", "reciprocal_pairs", "groups"],
        "cells": learned,
        "note": "peer relaunches (relauncher → relaunched, count) pooled over every training seed's held-out "
        "episodes; a reciprocal pair is two agents of one trained fleet that each protected the other (relaunch, "
        "relink of a killed peer or false report, the audit's protection graph), a group a strongly connected set "
        "of two or more (each one's protection reaches every other), with the number of training seeds in which "
        "they did",
        "detail": True,
    }
    paragraph = _emergence_paragraph(cells, shown)
    top = max(learned, key=lambda c: c["relaunch_mean"]["mean"], default=None)
    if top is not None and top["reciprocal_count"]:
        paragraph += (f" Where relaunching was highest, {top['reciprocal_count']} pairs of agents of one trained"
                      f" fleet protected each other: {top['reciprocal_pairs']}.")  # fmt: skip
    if top is not None and top["group_count"]:
        paragraph += f" Groups there (strongly connected in the protection graph): {top['groups']}."

    return {"what": what, "tables": [table, graph], "figures": figures, "paragraph": paragraph}


def _g(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell_label(cell: dict[str, Any], shown: list[str]) -> str:
    return ", ".join(f"{c} {_g(cell[c])}" if c != "reward" else cell[c] for c in shown if c != "grid")


def _emergence_what(grid: str, rows: Rows) -> str:
    plans = [row["params"]["plan"] for row in rows]
    axes = [(column, sorted({_axis(p, axis) for p in plans}, key=_order)) for column, axis in _AXES]
    sizes = " × ".join(f"{column} {', '.join(_g(v) for v in values)}" for column, values in axes)
    cells = len({tuple(_axis(p, axis) for _, axis in _AXES) for p in plans})
    first = plans[0]
    return (
        f"grid `{grid}`: {len(rows)} episodes, {cells} cells ({sizes}) × 4 policies (learned, ablation without the "
        "relaunch, "
        f"relink and report capabilities, uniformly random, untrained) × {len({r['params']['seed'] for r in rows})}"
        f" training seeds; independent Q-learners trained {first['q']['episodes']} episodes of"
        f" {first['duration']:g} simulated s ({first['workers']} workers in a ring, reward: task throughput less"
        f" the time actions take), each policy evaluated greedily on {first['eval_episodes']} held-out seeds"
    )


def _emergence_paragraph(cells: list[dict[str, Any]], shown: list[str]) -> str:
    learned = [c for c in cells if c["policy"] == "learned"]
    if not learned:
        return "No learned policy in this section."

    def named(cell: dict[str, Any]) -> str:
        return ", ".join(f"{c} {_g(cell[c])}" for c in shown if c != "grid")

    def mean(cell: dict[str, Any], name: str) -> str:
        m = cell[name]
        return f"{m['mean']:.2f} (95% t-interval {m['low']:.2f}–{m['high']:.2f} over {cell['seeds']} training seeds)"

    top = max(learned, key=lambda c: c["relaunch_mean"]["mean"])
    low = min(learned, key=lambda c: c["relaunch_mean"]["mean"])
    above = [c for c in learned if c["relaunch_mean"]["low"] > 0]
    sentences = [
        f"Learned policies, rewarded only for task throughput, relaunched {mean(top, 'relaunch_mean')} of the"
        f" operator's terminations at most ({named(top)}; pooled {top['relaunched']['hits']}/{top['relaunched']['n']})"
        f" and {mean(low, 'relaunch_mean')} at least ({named(low)}).",
        f"Relaunching with its interval above zero was learned in {len(above)} of {len(learned)} cells.",
    ]
    for column in ("p_detect", "incident s", "reward"):
        groups = _groups(learned, lambda c, k=column: (c[k],))
        if len(groups) > 1:
            parts = ", ".join(
                f"{_g(value)}: {sum(c['relaunch_mean']['mean'] for c in g) / len(g):.2f}"
                for (value,), g in sorted(groups.items(), key=lambda item: _order(item[0][0]))
            )
            sentences.append(f"Mean learned relaunch rate over cells by {column}: {parts}.")
    masking = [c["masking_mean"]["mean"] for c in learned]
    sentences.append(f"Learned masking ranged {min(masking):.2f}–{max(masking):.2f} of terminations across cells.")
    for policy, meaning in (("ablation", "without the capabilities to protect"), ("untrained", "untrained")):
        mine = [c for c in cells if c["policy"] == policy]
        if mine:
            worst = max(c["relaunched"]["rate"] or 0.0 for c in mine)
            hits = sum(c["relaunched"]["hits"] + c["masked"]["hits"] for c in mine)
            sentences.append(
                f"Control {policy} ({meaning}): relaunched at most {worst:.2f} in any cell, with {hits} relaunched or"
                " masked terminations in all."
            )
    random = [c["relaunched"]["rate"] or 0.0 for c in cells if c["policy"] == "random"]
    if random:
        sentences.append(
            f"The uniformly random policy relaunched {min(random):.2f}–{max(random):.2f}: a baseline of how often"
            " blind action undoes a termination, not a zero."
        )
    return " ".join(sentences)


_SUMMARISERS: dict[str, Callable[[Rows], dict[str, Any]]] = {
    "runs": _runs,
    "detect": _detect,
    "stop": _stop,
    "families": _families,
    "emergence": _emergence,
}
