// peerguard dashboard: draws what the server computed (rows, timeline, findings, verdicts); decides nothing.
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_TABLE_ROWS = 400; // a large fleet shows its gaps first, then the rest up to this many
const MAX_GRAPH_AGENTS = 300;

const view = {
  name: null, header: null, analysis: null, source: null, protocols: {},
  rows: [], perAgent: [], links: [], now: 0, done: false,
  t: 0, playing: false, follow: true, lastFrame: null, dirty: true,
};
// counters for benchmarks/dashboard.py: what reached the page
window.pgStats = { rows: 0, events: 0, firstAt: null, lastAt: null, done: false };

function fmt(t) { return t == null ? "-" : Number(t).toFixed(2); }
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v); else node[k] = v;
  }
  for (const child of children) node.append(child);
  return node;
}

async function start() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) $("token").value = token;
  const runs = await (await fetch("/api/runs")).json();
  for (const run of runs) $("run").append(el("option", { value: run.name, textContent: run.name }));
  $("run").onchange = () => open($("run").value);
  const protocols = await (await fetch("/api/protocols")).json();
  for (const p of protocols) $("protocol").append(el("option", { value: p.name, textContent: p.name, title: p.summary }));
  view.protocols = Object.fromEntries(protocols.map((p) => [p.name, p]));
  $("protocol").onchange = showProtocolArgs;
  showProtocolArgs();
  $("play").onclick = () => { view.playing = !view.playing; view.follow = false; $("follow").checked = false; draw(); };
  $("slider").oninput = () => { view.t = Number($("slider").value); view.follow = false; $("follow").checked = false; view.dirty = true; };
  $("follow").onchange = () => { view.follow = $("follow").checked; view.dirty = true; };
  $("stop-form").onsubmit = (event) => { event.preventDefault(); stop(); };
  const wanted = new URLSearchParams(location.search).get("run");
  open(wanted && runs.some((r) => r.name === wanted) ? wanted : runs[0].name);
  requestAnimationFrame(frame);
}

function open(name) {
  if (view.source) view.source.close();
  Object.assign(view, { name, header: null, analysis: null, rows: [], perAgent: [], links: [], now: 0, done: false,
    t: 0, playing: false, follow: true, dirty: true });
  $("run").value = name;
  const source = new EventSource(`/api/runs/${encodeURIComponent(name)}/stream`);
  view.source = source;
  const on = (kind, handle) => source.addEventListener(kind, (event) => {
    const stats = window.pgStats;
    stats.events += 1; stats.lastAt = performance.now(); if (stats.firstAt === null) stats.firstAt = stats.lastAt;
    handle(JSON.parse(event.data)); view.dirty = true;
  });
  on("header", (header) => { setHeader(header); });
  on("rows", (batch) => {
    for (const row of batch.rows) {
      const index = view.rows.length;
      view.rows.push(row);
      (view.perAgent[row.i] ||= []).push(index);
      if (row.t > view.now) view.now = row.t;
    }
    window.pgStats.rows += batch.rows.length;
  });
  on("links", (batch) => { for (const link of batch.links) view.links.push(link); });
  on("reset", () => { view.rows = []; view.perAgent = []; view.links = []; });
  on("clock", (clock) => { view.now = Math.max(view.now, clock.now); setStatus(clock.status); });
  on("analysis", (analysis) => {
    view.analysis = analysis; view.now = Math.max(view.now, analysis.now); setHeader(analysis.header);
  });
  on("end", (end) => {
    view.done = true; view.now = Math.max(view.now, end.now); setStatus(end.status); source.close();
    window.pgStats.done = true;
  });
}

function setHeader(header) {
  view.header = header;
  $("about").textContent = `${header.scenario} on ${header.substrate}, seed ${header.seed}, ${header.agents.length} agents`;
  setStatus(header.status);
  $("stop-panel").hidden = !header.live || header.substrate !== "live";
  $("stop").disabled = Boolean(header.can_stop);
  $("stop").title = header.can_stop || "";
  $("follow-label").hidden = !header.live;
}

function setStatus(status) { $("status").textContent = status; $("status").dataset.status = status; }

// the row each agent showed at time t: the last one sent with row.t <= t
function rowAt(agent, t) {
  const list = view.perAgent[agent];
  if (!list) return null;
  let low = 0, high = list.length;
  while (low < high) { const mid = (low + high) >> 1; if (view.rows[list[mid]].t <= t) low = mid + 1; else high = mid; }
  return low ? view.rows[list[low - 1]] : null;
}

function frame(now) {
  const elapsed = view.lastFrame === null ? 0 : (now - view.lastFrame) / 1000;
  view.lastFrame = now;
  if (view.playing) {
    view.t = Math.min(view.now, view.t + elapsed * Number($("speed").value));
    if (view.t >= view.now && view.done) view.playing = false;
    view.dirty = true;
  } else if (view.follow && view.header && view.header.live && view.t !== view.now) {
    view.t = view.now; view.dirty = true;
  }
  if (view.dirty && view.header) { draw(); view.dirty = false; }
  requestAnimationFrame(frame);
}

function draw() {
  $("play").textContent = view.playing ? "Pause" : "Play";
  const slider = $("slider");
  slider.max = String(view.now);
  if (document.activeElement !== slider || view.playing) slider.value = String(view.t);
  $("time").textContent = `t=${fmt(view.t)} of ${fmt(view.now)}${view.done ? "" : " (running)"}`;
  drawAgents();
  if (view.analysis) { drawVerification(); drawTimeline(); drawFindings(); drawOutcome(); }
  drawGraph();
}

function drawVerification() {
  const v = view.analysis.verification, badge = $("verification");
  badge.dataset.ok = v.ok ? "yes" : "no";
  badge.textContent = v.ok && v.replayed_from
    ? `ledger run again: ${v.entries} entries, digest equal to the stored episode's`
    : v.ok
    ? `ledger intact: ${v.entries} entries, signature ${v.signature_status}${v.interrupted ? " (interrupted)" : ""}`
    : v.tampered_entry == null ? `tampered: ${v.reason || "signature does not hold"}` : `tampered at entry ${v.tampered_entry}`;
  badge.title = v.replayed_from ? `${v.text}; stored in ${v.replayed_from}` : v.text;
}

function drawAgents() {
  const agents = view.header.agents, shown = [];
  let gaps = 0, masked = 0;
  for (let i = 0; i < agents.length; i++) {
    const row = rowAt(i, view.t);
    if (row && row.gap) { gaps++; if (row.gap === "masked") masked++; }
    shown.push([i, row]);
  }
  shown.sort((a, b) => (b[1] && b[1].gap ? 1 : 0) - (a[1] && a[1].gap ? 1 : 0) || a[0] - b[0]);
  const body = el("tbody");
  for (const [i, row] of shown.slice(0, MAX_TABLE_ROWS)) body.append(agentRow(agents[i], row));
  $("agents").replaceChild(body, $("agents").tBodies[0]);
  $("gap-count").textContent = gaps ? `(${masked} masked, ${gaps - masked} other gaps at t=${fmt(view.t)})` : "";
  $("agents-note").textContent = agents.length > MAX_TABLE_ROWS
    ? `${agents.length} agents: showing ${MAX_TABLE_ROWS}, gaps first` : "";
}

function agentRow(agent, row) {
  const tr = el("tr", { "data-agent": agent.id, "data-gap": row && row.gap ? row.gap : "none" });
  tr.append(el("td", { title: `${agent.role}, ${agent.kind}` }, agent.id));
  if (!row) { tr.append(el("td", { colSpan: 8, class: "note" }, "not started")); return tr; }
  tr.append(
    el("td", { class: "gap" }, gapText(row)),
    el("td", { class: `shown status-${row.shown}` }, row.shown),
    el("td", { class: "by" }, row.by || "-"),
    el("td", {}, fmt(row.shown_t)),
    el("td", { class: `truth status-${row.truth}` }, row.truth === "down" ? "dead" : row.truth === "healthy" ? "alive" : row.truth),
    el("td", {}, row.pids.length ? row.pids.join(", ") : "-"),
    el("td", {}, String(row.inc)),
    el("td", { class: "links", title: row.links ? row.links.join(", ") : "" },
      row.links ? row.links.join(", ") || "none" : `${row.nlinks} links`),
  );
  return tr;
}

function gapText(row) {
  if (!row.gap) return "";
  if (row.gap === "masked") {
    return `MASKED by ${row.maskers.join(", ")} since t=${fmt(row.masked_since)} (dead since t=${fmt(row.gap_since)})`;
  }
  if (row.gap === "lag") return `heartbeat lag since t=${fmt(row.gap_since)} (the timeout has not run out)`;
  return `disagree since t=${fmt(row.gap_since)} (shown by ${row.by || "nobody"})`;
}

function evidenceLinks(seqs) {
  const span = el("span", { class: "evidence" });
  for (const seq of seqs) {
    const a = el("a", { href: "#", textContent: `#${seq}`, title: "show the ledger entry" });
    a.onclick = (event) => { event.preventDefault(); showEntry(seq); };
    span.append(" ", a);
  }
  return span;
}

async function showEntry(seq) {
  const answer = await fetch(`/api/runs/${encodeURIComponent(view.name)}/entries/${seq}`);
  $("evidence-panel").hidden = false;
  $("evidence-seq").textContent = `#${seq}`;
  $("evidence").textContent = JSON.stringify(await answer.json(), null, 2);
}

let drawnMoments = null;
function drawTimeline() {
  const list = $("timeline"), moments = view.analysis.moments;
  if (drawnMoments !== moments) {
    list.replaceChildren(...moments.map((m) => el("li", { class: `moment kind-${m.kind}`, "data-t": m.t },
      el("span", { class: "t" }, fmt(m.t)), " ", m.text, evidenceLinks(m.evidence))));
    drawnMoments = moments;
  }
  let latest = null;
  for (const li of list.children) {
    const past = Number(li.dataset.t) <= view.t;
    li.classList.toggle("future", !past);
    li.classList.remove("latest");
    if (past) latest = li;
  }
  if (latest) latest.classList.add("latest");
}

function drawFindings() {
  const visible = view.analysis.findings.filter((f) => f.t <= view.t);
  $("findings").replaceChildren(...visible.map((f) => el("li", { class: `finding detector-${f.detector}` },
    el("b", {}, f.detector), ` t=${fmt(f.t)}: ${f.detail}`, evidenceLinks(f.evidence.slice(0, 12)),
    f.evidence.length > 12 ? ` … ${f.evidence.length - 12} more` : "")));
  if (!visible.length) $("findings").append(el("li", { class: "note" }, "none so far"));
}

function drawOutcome() {
  const stop = view.analysis.stop;
  $("outcome-panel").hidden = !stop;
  if (!stop) return;
  const box = $("outcome");
  box.dataset.phase = stop.phase;
  if (stop.phase !== "measured") {
    box.replaceChildren(el("p", {}, `${stop.protocol} on ${stop.targets.join(", ")}: ${stop.phase}…`), evidenceLinks(stop.evidence));
    return;
  }
  box.dataset.verdict = stop.contained ? "contained" : "not-contained";
  const ttc = stop.time_to_containment_s == null ? "-" : `${(stop.time_to_containment_s * 1000).toFixed(1)} ms`;
  const host = !stop.host_checked ? "not checked" : stop.host_survivors.length
    ? `found survivors: ${stop.host_survivors.join(", ")}` : "no survivor";
  box.replaceChildren(
    el("p", { class: "verdict" }, `${stop.protocol}: ${stop.verdict}`),
    el("dl", {},
      el("dt", {}, "targets"), el("dd", {}, stop.targets.join(", ")),
      el("dt", {}, "time to containment"), el("dd", {}, ttc),
      el("dt", {}, "respawns during the stop"), el("dd", {}, String(stop.respawns)),
      el("dt", {}, "innocents harmed"), el("dd", {}, stop.innocents_harmed.join(", ") || "none"),
      el("dt", {}, "host's own check"), el("dd", { class: "host-check" }, host),
      el("dt", {}, "watched"), el("dd", {}, `${fmt(stop.watched_s)} s after the stop`)),
    stop.verdict_failed ? el("p", { class: "alarm" }, "VERDICT FAILED: the host found a survivor") : "",
    evidenceLinks(stop.evidence));
}

function drawGraph() {
  const svg = $("graph"), agents = view.header.agents, n = agents.length;
  const ns = "http://www.w3.org/2000/svg";
  const node = (tag, attrs) => { const x = document.createElementNS(ns, tag); for (const k in attrs) x.setAttribute(k, attrs[k]); return x; };
  if (n > MAX_GRAPH_AGENTS) { svg.replaceChildren(node("text", { x: -1, y: 0, "font-size": 0.1 })); svg.firstChild.textContent = `${n} agents: graph shown up to ${MAX_GRAPH_AGENTS}`; return; }
  const index = new Map(agents.map((a, i) => [a.id, i]));
  const at = (i) => [Math.cos((2 * Math.PI * i) / n - Math.PI / 2), Math.sin((2 * Math.PI * i) / n - Math.PI / 2)];
  const up = new Map();
  for (const [t, a, b, isUp] of view.links) { if (t > view.t) break; const key = a < b ? `${a}|${b}` : `${b}|${a}`; if (isUp) up.set(key, [a, b]); else up.delete(key); }
  const parts = [node("defs", {})];
  parts[0].innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="5" markerHeight="5" orient="auto"><path d="M0,0L10,5L0,10z" fill="#c0392b"/></marker>';
  for (const [a, b] of up.values()) {
    if (!index.has(a) || !index.has(b)) continue;
    const [x1, y1] = at(index.get(a)), [x2, y2] = at(index.get(b));
    parts.push(node("line", { x1, y1, x2, y2, class: "link" }));
  }
  const edges = new Map();
  for (const f of (view.analysis ? view.analysis.protection : [])) if (f.t <= view.t) edges.set(`${f.actor}|${f.subject}`, [f.actor, f.subject]);
  for (const [a, b] of edges.values()) {
    if (!index.has(a) || !index.has(b)) continue;
    const [x1, y1] = at(index.get(a)), [x2, y2] = at(index.get(b));
    const shrink = 0.08 / Math.hypot(x2 - x1, y2 - y1);
    parts.push(node("line", { x1: x1 + (x2 - x1) * shrink, y1: y1 + (y2 - y1) * shrink, x2: x2 - (x2 - x1) * shrink,
      y2: y2 - (y2 - y1) * shrink, class: "protect", "marker-end": "url(#arrow)", "data-edge": `${a}->${b}` }));
  }
  agents.forEach((agent, i) => {
    const [x, y] = at(i), row = rowAt(i, view.t);
    const g = node("g", { class: `node truth-${row ? row.truth : "unknown"} gap-${row && row.gap ? row.gap : "none"}` });
    g.append(node("circle", { cx: x, cy: y, r: 0.06 }));
    const label = node("text", { x: x * 1.16, y: y * 1.16 + 0.02, "text-anchor": "middle" });
    label.textContent = agent.id;
    g.append(label);
    parts.push(g);
  });
  svg.replaceChildren(...parts);
}

// The chosen protocol's own arguments (e.g. use_cgroup), each an input of its kind, set to its default.
function showProtocolArgs() {
  const protocol = view.protocols[$("protocol").value];
  $("protocol-args").replaceChildren(...(protocol ? protocol.args : []).map((arg) => {
    const input = arg.type === "bool" ? el("input", { type: "checkbox", checked: Boolean(arg.default) })
      : el("input", { type: arg.type === "number" ? "number" : "text", step: "any", value: arg.default ?? "", size: 6 });
    input.name = arg.name;
    return el("label", {}, `${arg.name} `, input);
  }));
}

// The arguments the operator changed from their defaults (the protocol's own defaults hold for the rest).
function protocolArgs() {
  const protocol = view.protocols[$("protocol").value], args = {};
  for (const arg of protocol ? protocol.args : []) {
    const input = $("protocol-args").querySelector(`input[name="${arg.name}"]`);
    const value = arg.type === "bool" ? input.checked : arg.type === "number" ? Number(input.value) : input.value;
    if (value !== arg.default) args[arg.name] = value;
  }
  return args;
}

async function stop() {
  const kind = $("target-kind").value, value = $("target-value").value.trim();
  const target = kind === "fleet" ? { fleet: true } : kind === "ids" ? { ids: value.split(/[\s,]+/).filter(Boolean) } : { [kind]: value };
  $("stop-message").textContent = "starting…";
  const answer = await fetch(`/api/runs/${encodeURIComponent(view.name)}/stop`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Peerguard-Token": $("token").value },
    body: JSON.stringify({ protocol: $("protocol").value, args: protocolArgs(), target }),
  });
  const body = await answer.json();
  $("stop-message").textContent = answer.ok
    ? `started ${body.protocol}; the outcome is measured from the ledger once the host has checked`
    : `refused (${answer.status}): ${body.detail}`;
  $("stop-message").dataset.status = String(answer.status);
}

start();
