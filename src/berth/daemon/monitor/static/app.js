// berth monitor dashboard: polls the JSON API once per second, keeps the table and charts live.
// Routes: #/ (host + container list) and #/c/<id> (one container).
"use strict";

const state = { view: null, charts: [], key: null, points: [], since: 0, timer: null };

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function makeCharts(container) {
  container.innerHTML = "";
  return [
    new LineChart(container, "CPU", fmtPct, [{ key: "cpu", color: "#1f6feb" }]),
    new LineChart(container, "Memory", fmtBytes, [{ key: "mem", color: "#8250df" }]),
    new LineChart(container, "Network", fmtRate, [{ key: "rx", color: "#1a7f37", label: "rx" }, { key: "tx", color: "#bf3989", label: "tx" }]),
    new LineChart(container, "Block I/O", fmtRate, [{ key: "read", color: "#9a6700", label: "r" }, { key: "write", color: "#cf222e", label: "w" }]),
  ];
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
}

async function pollHistory() {
  const h = await getJSON(`/api/v1/history/${state.key}?since=${state.since}`);
  if (h.points.length) {
    state.points.push(...h.points);
    state.since = h.points[h.points.length - 1].t;
    const keep = 900;
    if (state.points.length > keep) state.points.splice(0, state.points.length - keep);
  }
  for (const c of state.charts) c.draw(state.points);
}

function renderTable(s) {
  const body = document.querySelector("#containers tbody");
  body.innerHTML = "";
  for (const c of s.containers) {
    const tr = el("tr", undefined, "clickable");
    tr.dataset.id = c.id;
    tr.onclick = () => { location.hash = "#/c/" + c.id; };
    const p = c.latest || {};
    const lim = c.limits.memory ? fmtBytes(c.limits.memory) : (p.mem_limit ? fmtBytes(p.mem_limit) : "-");
    const cells = [c.name, c.short_id, c.image, c.status,
      p.cpu !== undefined ? fmtPct(p.cpu) : "-",
      p.mem !== undefined ? `${fmtBytes(p.mem)} / ${lim}` : "-",
      p.rx_total !== undefined ? `${fmtBytes(p.rx_total)} / ${fmtBytes(p.tx_total)}` : "-",
      p.read_total !== undefined ? `${fmtBytes(p.read_total)} / ${fmtBytes(p.write_total)}` : "-",
      p.pids !== undefined ? String(p.pids) : "-"];
    cells.forEach((t, i) => tr.appendChild(el("td", t, i === 3 ? "state-" + c.state : undefined)));
    body.appendChild(tr);
  }
  document.getElementById("count").textContent = `${s.containers.filter(c => c.state === "running").length} running, ${s.containers.length} in all`;
  document.getElementById("host-facts").textContent = `${s.host.cpus} CPUs, ${fmtBytes(s.host.memory)} memory`;
  const k = s.collector;
  document.getElementById("collector").textContent =
    `collector: every ${k.interval}s, ${k.containers} running containers, last round ${k.last_round_ms} ms, cgroup v${k.cgroup_version}`;
}

async function renderDetail(id) {
  const c = await getJSON("/api/v1/containers/" + id);
  document.getElementById("detail-title").textContent = `${c.name} (${c.short_id})`;
  const facts = document.getElementById("detail-facts");
  facts.innerHTML = "";
  const rows = [["Image", c.image], ["State", c.status], ["Command", c.command], ["PID", String(c.pid)],
    ["Memory limit", c.limits.memory ? fmtBytes(c.limits.memory) : "none"],
    ["CPUs", c.limits.cpus ? String(c.limits.cpus) : "unlimited"],
    ["PIDs limit", c.limits.pids > 0 ? String(c.limits.pids) : "none"]];
  for (const [k, v] of rows) { facts.appendChild(el("dt", k)); facts.appendChild(el("dd", v)); }
}

async function tick() {
  try {
    if (state.view === "overview") renderTable(await getJSON("/api/v1/summary"));
    else await renderDetail(state.key);
    await pollHistory();
  } catch (err) {
    document.getElementById("collector").textContent = String(err);
  }
}

function route() {
  const m = location.hash.match(/^#\/c\/([0-9a-zA-Z_.-]+)$/);
  const detail = Boolean(m);
  document.getElementById("overview").hidden = detail;
  document.getElementById("detail").hidden = !detail;
  state.view = detail ? "detail" : "overview";
  state.key = detail ? m[1] : "host";
  state.points = []; state.since = 0;
  state.charts = makeCharts(document.getElementById(detail ? "detail-charts" : "host-charts"));
  if (state.timer) clearInterval(state.timer);
  tick();
  state.timer = setInterval(tick, 1000);
}

window.addEventListener("hashchange", route);
route();
