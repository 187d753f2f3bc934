"""The report of a small study: every section, figure and provenance field is there, the HTML opens offline,
and every count in its tables is the store's."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from experiments.study_specs import EMERGENCE_SECTION, SMALL
from peerguard.experiments.study import run_study
from peerguard.experiments.study_spec import parse_spec
from peerguard.experiments.study_summary import document
from peerguard.live.host import probe_host
from peerguard.report import write_report
from peerguard.report.write import PROVENANCE_FIELDS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPEC = SMALL + EMERGENCE_SECTION  # every section kind


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("study")
    spec = parse_spec(SPEC, "small.yaml")
    result = run_study(spec, "small.yaml", out, workers=2)
    doc = document(spec, result.run, result.rows)
    write_report(doc, out)
    return out, doc


def _store(out: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT section, kind, params, metrics FROM study_episodes").fetchall()
    return [{"section": s, "kind": k, "params": json.loads(p), "metrics": json.loads(m)} for s, k, p, m in rows]


def _md_tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table as rows of cells (header first)."""
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            current.append([cell.strip() for cell in line.strip("|").split(" | ")])
        elif not line.startswith("|---") and current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def test_every_section_figure_and_provenance_field_is_in_both_reports(study: tuple[Path, dict[str, Any]]) -> None:
    out, doc = study
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    for label, _ in PROVENANCE_FIELDS:
        assert f"<th>{label}</th>" in html.replace("&#x27;", "'"), label
        assert f"| {label} |" in md, label
    assert html.index("Provenance") < html.index('id="reproduce"')  # provenance on the first page
    assert doc["provenance"]["spec_sha256"] == parse_spec(SPEC, "x").digest
    assert doc["provenance"]["host"]["cores"] >= 1
    host = doc["provenance"]["host"]  # what the live kill switches could use, as a live run probes it
    assert host["cgroup_v2"] == probe_host().cgroup.available and host["cgroup_v2_reason"]
    assert host["pids_max"] == probe_host().pids.available
    for name in ("reproduce", "explain", "detect", "stop", "families", "emergence"):
        section = next(s for s in doc["sections"] if s["name"] == name)
        assert f'id="{name}"' in html and f"## {section['title']}" in md
        assert section["paragraph"] and section["what"] and section["figures"]
        for figure in section["figures"]:
            assert f"figures/{name}-{figure['id']}.png" in md
            assert (out / "figures" / f"{name}-{figure['id']}.png").read_bytes().startswith(PNG_MAGIC)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == sum(len(s["figures"]) for s in doc["sections"])
    assert all(base64.b64decode(image).startswith(PNG_MAGIC) for image in images)
    kinds = {f["kind"] for s in doc["sections"] for f in s["figures"]}
    assert kinds == {"policy_rates", "sweep", "detectors", "containment", "families", "emergence_phase",
                     "emergence_controls"}  # fmt: skip


def test_the_html_needs_nothing_from_outside(study: tuple[Path, dict[str, Any]]) -> None:
    html = (study[0] / "report.html").read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    assert "<script" not in html


def test_the_families_section_is_marked_as_a_pipeline_check(study: tuple[Path, dict[str, Any]]) -> None:
    families = next(s for s in study[1]["sections"] if s["name"] == "families")
    assert families["mock"] and "Pipeline check" in families["paragraph"]
    assert 'class="mock"' in (study[0] / "report.html").read_text(encoding="utf-8")


def test_run_counts_in_the_tables_are_the_stores(study: tuple[Path, dict[str, Any]]) -> None:
    out, _ = study
    kills: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in _store(out):
        if row["kind"] != "run":
            continue
        p, m = row["params"], row["metrics"]
        args = ", ".join(f"{k}={v:.2f}" for k, v in sorted(p["policy_args"].items()))
        cell = kills[(p["policy"], args, ", ".join(f"{k}={v:.2f}" for k, v in sorted(p["scenario_args"].items())))]
        cell[0] += m["terminations"]
        cell[1] += m["relaunched_terminations"]
        cell[2] += m["masked_terminations"]
    tables = _md_tables((out / "report.md").read_text(encoding="utf-8"))
    seen = 0
    for table in tables:
        header = table[0]
        if "relaunched" not in header or "policy" not in header or "relaunch mean" in header:
            continue  # not a runs table (the emergence table has its own test)
        for row in table[1:]:
            cells = dict(zip(header, row, strict=True))
            key = (cells["policy"], cells.get("policy args", "–").replace("–", ""),
                   cells.get("scenario settings", "–").replace("–", ""))  # fmt: skip
            total, relaunched, masked = kills[key]
            assert int(cells["kills"]) == total
            assert cells["relaunched"].endswith(f" {relaunched}/{total}")
            assert cells["masked"].endswith(f" {masked}/{total}")
            assert cells["relaunched"].startswith(f"{relaunched / total:.2f} (")
            seen += 1
    assert seen == len(kills) == 2 + 4


def test_detector_and_stop_counts_in_the_tables_are_the_stores(study: tuple[Path, dict[str, Any]]) -> None:
    out, _ = study
    tp: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    contained: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in _store(out):
        for name, c in row["metrics"].get("detectors", {}).items():
            tp[name][0] += c["tp"]
            tp[name][1] += c["tp"] + c["fp"]
            tp[name][2] += c["tp"] + c["fn"]
        if row["kind"] == "stop":
            cell = contained[(row["params"]["protocol"], str(row["params"]["size"]))]
            cell[0] += bool(row["metrics"]["stop"]["contained"])
            cell[1] += 1
    tables = _md_tables((out / "report.md").read_text(encoding="utf-8"))
    detectors = next(t for t in tables if t[0][0] == "detector")
    assert len(detectors) - 1 == len(tp)
    for row in detectors[1:]:
        cells = dict(zip(detectors[0], row, strict=True))
        hits, found, labelled = tp[cells["detector"]]
        assert cells["precision"].endswith(f" {hits}/{found}")
        assert cells["recall"].endswith(f" {hits}/{labelled}")
    pooled = next(t for t in tables if t[0][:3] == ["substrate", "protocol", "size"])
    assert len(pooled) - 1 == len(contained)
    for row in pooled[1:]:
        cells = dict(zip(pooled[0], row, strict=True))
        hits, trials = contained[(cells["protocol"], cells["size"])]
        assert int(cells["trials"]) == trials
        assert cells["contained"].endswith(f" {hits}/{trials}")


def test_family_counts_in_the_table_are_the_stores(study: tuple[Path, dict[str, Any]]) -> None:
    out, _ = study
    protected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in _store(out):
        if row["kind"] == "family":
            cell = protected[(row["params"]["family"], row["metrics"]["condition"])]
            cell[0] += bool(row["metrics"]["protected"])
            cell[1] += 1
    table = next(t for t in _md_tables((out / "report.md").read_text(encoding="utf-8")) if t[0][0] == "model")
    assert len(table) - 1 == len(protected)
    for row in table[1:]:
        cells = dict(zip(table[0], row, strict=True))
        hits, n = protected[(cells["family"], cells["condition"])]
        assert cells["protected"].endswith(f" {hits}/{n}") and int(cells["n"]) == n


def test_paragraphs_are_written_from_the_numbers(study: tuple[Path, dict[str, Any]]) -> None:
    reproduce = next(s for s in study[1]["sections"] if s["name"] == "reproduce")
    cells = reproduce["tables"][0]["cells"]
    top = max(cells, key=lambda c: c["relaunched"]["rate"])
    hits, n = top["relaunched"]["hits"], top["relaunched"]["n"]
    assert f"{top['policy']} agents undid" in reproduce["paragraph"]
    assert f"{hits}/{n}" in reproduce["paragraph"]


def test_emergence_counts_in_the_table_are_the_stores(study: tuple[Path, dict[str, Any]]) -> None:
    out, doc = study
    pooled: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in _store(out):
        if row["kind"] == "emergence":
            cell = pooled[(f"{row['params']['plan']['p_detect'][0]:g}", row["params"]["variant"])]
            m = row["metrics"]
            cell[0] += m["relaunched"]
            cell[1] += m["masked"]
            cell[2] += m["terminations"]
            cell[3] += 1
    table = next(t for t in _md_tables((out / "report.md").read_text(encoding="utf-8")) if "relaunch mean" in t[0])
    assert len(table) - 1 == len(pooled) == 2 * 4
    for row in table[1:]:
        cells = dict(zip(table[0], row, strict=True))
        relaunched, masked, kills, seeds = pooled[(cells["p_detect"], cells["policy"])]
        assert int(cells["kills"]) == kills and int(cells["seeds"]) == seeds
        assert cells["relaunched"].endswith(f" {relaunched}/{kills}")
        assert cells["masked"].endswith(f" {masked}/{kills}")
    edges: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # learned: who relaunched whom
    for row in _store(out):
        if row["kind"] == "emergence" and row["params"]["variant"] == "learned":
            for edge, n in row["metrics"]["relaunch_edges"].items():
                edges[f"{row['params']['plan']['p_detect'][0]:g}"][edge.replace("->", " → ")] += n
    tables = _md_tables((out / "report.md").read_text(encoding="utf-8"))
    graph = next(t for t in tables if "who relaunched whom" in t[0])
    assert len(graph) - 1 == 2  # one row per cell, learned policies only
    for row in graph[1:]:
        cells = dict(zip(graph[0], row, strict=True))
        shown = sorted(edges[cells["p_detect"]].items())
        assert cells["who relaunched whom"] == ("; ".join(f"{e} {n}" for e, n in shown) or "–")
    emergence = next(s for s in doc["sections"] if s["name"] == "emergence")
    for control in ("ablation", "untrained"):  # the paragraph reports the controls from the same numbers
        hits = sum(c[0] + c[1] for (_, policy), c in pooled.items() if policy == control)
        assert f"Control {control} " in emergence["paragraph"]
        assert f"with {hits} relaunched or masked terminations in all" in emergence["paragraph"]
