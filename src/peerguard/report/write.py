"""Write a study's report: `report.html` (self-contained: figures as base64 PNG, no outside links) and
`report.md` with its figures beside it in `figures/`, plus `report.json`, the document both came from."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from peerguard.report.cells import table_rows, value_text
from peerguard.report.figures import png
from peerguard.world.files import write_atomic


def _feature(host: dict[str, Any], name: str) -> str:
    """`yes (why)` / `no (why)`; a study stored before the reason was kept shows the bare answer."""
    if name not in host:
        return "not recorded"
    answer = "yes" if host[name] else "no"
    return f"{answer} ({host[name + '_reason']})" if f"{name}_reason" in host else answer


PROVENANCE_FIELDS = (  # (label, how to read it from the provenance), in the order the first page shows them
    ("peerguard version", lambda p: p["version"]),
    ("git commit", lambda p: p["commit"] or "not a git checkout"),
    ("host cores", lambda p: p["host"]["cores"]),
    ("host kernel", lambda p: p["host"]["kernel"]),
    ("cgroup v2", lambda p: _feature(p["host"], "cgroup_v2")),
    ("pids.max", lambda p: _feature(p["host"], "pids_max")),
    ("python", lambda p: p["host"]["python"]),
    ("date", lambda p: p["finished_at"]),
    ("study", lambda p: f"{p['study']} ({p['source']})"),
    ("spec digest", lambda p: p["spec_sha256"]),
    ("wall time", lambda p: f"{p['wall_s']:.1f} s ({p['ran_now']} of {p['episodes']} episodes run now,"
                            " the rest from the store)"),
    ("episodes' versions", lambda p: ", ".join(p["episode_versions"])),
    ("episodes' commits", lambda p: ", ".join(p["episode_commits"])),
)  # fmt: skip


def provenance_rows(provenance: dict[str, Any]) -> list[tuple[str, str]]:
    return [(label, str(read(provenance))) for label, read in PROVENANCE_FIELDS]


def write_report(document: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    figures_dir = out / "figures"
    figures_dir.mkdir(exist_ok=True)
    images: dict[str, bytes] = {}
    for section in document["sections"]:
        for figure in section["figures"]:
            name = f"{section['name']}-{figure['id']}"
            images[name] = png(figure)
            (figures_dir / f"{name}.png").write_bytes(images[name])
    files = {"html": out / "report.html", "markdown": out / "report.md", "document": out / "report.json"}
    write_atomic(files["html"], render_html(document, images))
    write_atomic(files["markdown"], render_markdown(document))
    write_atomic(files["document"], json.dumps(document, indent=1, sort_keys=True))
    return files


def render_markdown(document: dict[str, Any]) -> str:
    lines = [f"# {document['title']}", "", document["description"], "", "## Provenance", ""]
    lines += _md_table(["field", "value"], [list(row) for row in provenance_rows(document["provenance"])])
    for section in document["sections"]:
        lines += ["", f"## {section['title']}", "", f"**What ran** ({section['episodes']} episodes): {section['what']}"]
        lines += ["", f"**What it shows:** {section['paragraph']}", ""]
        for table in section["tables"]:
            header, rows = table_rows(table)
            lines += [f"### {table['title']}", "", *_md_table(header, rows), "", f"_{table['note']}_", ""]
        for figure in section["figures"]:
            lines += [f"![{figure['title']}](figures/{section['name']}-{figure['id']}.png)", ""]
    return "\n".join(lines).rstrip() + "\n"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(row) for row in rows)]


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .5em;
text-align:right;white-space:nowrap}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.provenance td{text-align:left;white-space:normal}.note{color:#555;font-size:.85em}
.shows{background:#f6f8fa;border-left:4px solid #4a7;padding:.5em .8em}.mock{background:#fff4e5;
border-left:4px solid #e90;padding:.5em .8em}img{max-width:100%}details summary{cursor:pointer}
.scroll{overflow-x:auto}
"""


def render_html(document: dict[str, Any], images: dict[str, bytes]) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(document['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(document['title'])}</h1><p>{e(document['description'])}</p>",
        '<h2 id="provenance">Provenance</h2><table class="provenance">',
        *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in provenance_rows(document["provenance"])),
        "</table>",
        "<p>Sections: " + ", ".join(f'<a href="#{e(s["name"])}">{e(s["title"])}</a>' for s in document["sections"]),
        "</p>",
    ]  # fmt: skip
    for section in document["sections"]:
        parts.append(f'<h2 id="{e(section["name"])}">{e(section["title"])}</h2>')
        parts.append(f"<p><b>What ran</b> ({section['episodes']} episodes): {e(section['what'])}</p>")
        css = "mock" if section.get("mock") else "shows"
        parts.append(f'<p class="{css}"><b>What it shows:</b> {e(section["paragraph"])}</p>')
        for figure in section["figures"]:
            name = f"{section['name']}-{figure['id']}"
            data = base64.b64encode(images[name]).decode("ascii")
            parts.append(f'<figure><img alt="{e(figure["title"])}" src="data:image/png;base64,{data}"></figure>')
        for table in section["tables"]:
            parts.append(_html_table(table))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_table(table: dict[str, Any]) -> str:
    e = html.escape
    header, rows = table_rows(table)
    body = "".join("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    inner = (
        f'<div class="scroll"><table><tr>{"".join(f"<th>{e(h)}</th>" for h in header)}</tr>{body}</table></div>'
        f'<p class="note">{e(table["note"])}</p>'
    )
    if table.get("detail"):
        return f"<details><summary>{e(table['title'])} ({len(rows)} rows)</summary>{inner}</details>"
    return f"<h3>{e(table['title'])}</h3>{inner}"


__all__ = ["render_html", "render_markdown", "value_text", "write_report"]
