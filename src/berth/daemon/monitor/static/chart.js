// A small time-series chart on <canvas>: one or two lines, auto-scaled y axis, a time axis
// covering the points given. No dependencies (the dashboard must work offline).
"use strict";

class LineChart {
  constructor(container, title, format, series) {
    this.format = format;
    this.series = series; // [{key, color, label}]
    this.el = document.createElement("div");
    this.el.className = "chart";
    this.head = document.createElement("h3");
    this.head.textContent = title;
    this.value = document.createElement("span");
    this.head.appendChild(this.value);
    this.canvas = document.createElement("canvas");
    this.canvas.dataset.points = "0";
    this.canvas.dataset.title = title;
    this.el.append(this.head, this.canvas);
    container.appendChild(this.el);
  }

  draw(points) {
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth || 320, h = c.clientHeight || 130;
    if (c.width !== Math.round(w * ratio)) { c.width = Math.round(w * ratio); c.height = Math.round(h * ratio); }
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    c.dataset.points = String(points.length);
    const left = 56, right = 6, top = 6, bottom = 18;
    let max = 0;
    for (const p of points) for (const s of this.series) max = Math.max(max, p[s.key] || 0);
    max = niceCeil(max);
    const t1 = points.length ? points[points.length - 1].t : Date.now() / 1000;
    const t0 = points.length ? Math.min(points[0].t, t1 - 60) : t1 - 60;
    const x = t => left + (w - left - right) * (t - t0) / Math.max(1, t1 - t0);
    const y = v => top + (h - top - bottom) * (1 - v / max);
    g.strokeStyle = "#e4e8ed"; g.fillStyle = "#7a8593"; g.font = "10px sans-serif"; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = max * i / 4, yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
      g.fillText(this.format(v), 2, yy + 3);
    }
    g.fillText(ago(t1 - t0), left, h - 4);
    g.fillText("now", w - right - 18, h - 4);
    for (const s of this.series) {
      g.strokeStyle = s.color; g.lineWidth = 1.6; g.beginPath();
      points.forEach((p, i) => { const px = x(p.t), py = y(p[s.key] || 0); i ? g.lineTo(px, py) : g.moveTo(px, py); });
      g.stroke();
    }
    const last = points[points.length - 1];
    this.value.textContent = last ? this.series.map(s => (s.label ? s.label + " " : "") + this.format(last[s.key] || 0)).join("  ") : "";
  }
}

function niceCeil(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function ago(s) {
  if (s >= 120) return Math.round(s / 60) + " min ago";
  return Math.round(s) + " s ago";
}

function fmtBytes(v) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  const text = v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, "");
  return text + u[i];
}
function fmtRate(v) { return fmtBytes(v) + "/s"; }
function fmtPct(v) { return v.toFixed(v >= 10 ? 0 : 1) + "%"; }
