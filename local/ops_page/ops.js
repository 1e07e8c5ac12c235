// The local ops page: dashboards from /_ops/api/dashboards, KPIs and the held-orders queue from the real admin API
// (same origin) with the ops token of /_ops/api/token. No library: charts are inline SVG drawn here.
"use strict";

const state = { token: null, user: "", active: null, boards: null, timer: null, kpiAt: 0, heldSignature: null };
const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";

function esc(text) {
  return String(text == null ? "" : text).replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function fmt(v) {
  if (v == null || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2).replace(/\.?0+$/, "") + "G";
  if (a >= 1e6) return (v / 1e6).toFixed(2).replace(/\.?0+$/, "") + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(a >= 100 ? 0 : a >= 1 ? 2 : 3).replace(/\.?0+$/, "");
}

function pct(rate) { return rate == null ? "–" : (rate * 100).toFixed(1).replace(/\.0$/, "") + "%"; }

function minutes(m) {
  if (m == null) return "–";
  if (m < 60) return m + " min";
  if (m < 48 * 60) return (m / 60).toFixed(1).replace(/\.0$/, "") + " h";
  return (m / 1440).toFixed(1).replace(/\.0$/, "") + " d";
}

function money(amount, currency) {
  try {
    const f = new Intl.NumberFormat("en-US", { style: "currency", currency });
    const digits = f.resolvedOptions().maximumFractionDigits;
    return f.format(amount / Math.pow(10, digits));
  } catch (e) {
    return amount + " " + currency;
  }
}

function hhmm(ms) {
  const d = new Date(ms);
  return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}

// -- the API, with the ops token --------------------------------------------------------------------------------

async function token(fresh) {
  if (!state.token || fresh) {
    const r = await fetch("/_ops/api/token" + (fresh ? "?fresh=1" : ""), { cache: "no-store" });
    if (!r.ok) throw new Error("token: HTTP " + r.status);
    const body = await r.json();
    state.token = body.token;
    state.user = body.user;
    $("#who").textContent = "as " + body.user + " (ops)";
  }
  return state.token;
}

async function api(method, path, body) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = { Authorization: "Bearer " + (await token(attempt > 0)) };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401 && attempt === 0) continue;
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { status: r.status, ok: r.ok, data };
  }
  return { status: 401, ok: false, data: null };
}

// -- KPIs ---------------------------------------------------------------------------------------------------------

function isoDate(d) { return d.toISOString().slice(0, 10); }

async function loadKpis() {
  const today = new Date();
  const from30 = new Date(today.getTime() - 29 * 86400000);
  const ranges = [["#kpi-today", isoDate(today), isoDate(today)], ["#kpi-30d", isoDate(from30), isoDate(today)]];
  await Promise.all(ranges.map(async ([sel, from, to]) => {
    const box = $(sel + " .body");
    try {
      const r = await api("GET", "/admin/reports/kpis?from=" + from + "&to=" + to);
      if (!r.ok) {
        box.className = "body unavailable";
        box.textContent = "KPIs unavailable (" + r.status + ")";
        return;
      }
      box.className = "body";
      box.innerHTML = kpiHtml(r.data, sel === "#kpi-30d");
    } catch (e) {
      box.className = "body unavailable";
      box.textContent = "KPIs unavailable (" + e.message + ")";
    }
  }));
}

function tile(key, value, detail) {
  return '<div class="tile" data-kpi-key="' + esc(key) + '"><div class="k">' + esc(key) + '</div><div class="v">' +
    esc(value) + "</div>" + (detail ? '<div class="d">' + esc(detail) + "</div>" : "") + "</div>";
}

function reasons(list) {
  return (list || []).slice(0, 3).map((r) => r.reason + " " + r.orders).join(", ");
}

function kpiHtml(k, daily) {
  const revenue = (k.revenue || []).map((r) => money(r.amount, r.currency)).join(" · ") || "–";
  const aov = (k.revenue || []).map((r) => money(r.average_order_value, r.currency)).join(" · ") || "–";
  const ft = k.fulfillment_time || {}, dt = k.delivery_time || {}, otd = k.on_time_delivery || {};
  const c = k.cancellations || {}, ret = k.returns || {}, bo = k.backorders || {}, h = k.holds || {};
  const acc = k.order_accuracy || {};
  let out = '<div class="kpi-tiles">' +
    tile("orders", fmt(k.orders)) +
    tile("revenue", revenue) +
    tile("avg order value", aov) +
    tile("place → ship", minutes(ft.p50_minutes), "p90 " + minutes(ft.p90_minutes) + " · " + (ft.orders || 0) + " orders") +
    tile("ship → deliver", minutes(dt.p50_minutes), "p90 " + minutes(dt.p90_minutes) + " · " + (dt.orders || 0) + " orders") +
    tile("on time", pct(otd.rate), (otd.on_time || 0) + " of " + (otd.delivered || 0) + " delivered") +
    tile("cancelled", pct(c.rate), (c.orders || 0) + " orders " + reasons(c.by_reason)) +
    tile("returned", pct(ret.rate), (ret.orders || 0) + " orders " + reasons(ret.by_reason)) +
    tile("backordered", pct(bo.rate), (bo.orders || 0) + " orders") +
    tile("held", pct(h.rate), (h.orders || 0) + " held · " + (h.reviewed || 0) + " reviewed · median " +
      minutes(h.median_review_minutes)) +
    tile("accuracy", pct(acc.rate), (acc.accurate || 0) + " of " + (acc.shipped || 0) + " shipped") +
    "</div>";
  if (daily && (k.daily || []).length) out += dailyBars(k.daily);
  return out;
}

function dailyBars(days) {
  const w = 600, h = 60, max = Math.max(1, ...days.map((d) => d.orders));
  const bw = w / days.length;
  let bars = "";
  days.forEach((d, i) => {
    const bh = (d.orders / max) * (h - 14);
    bars += '<rect x="' + (i * bw + 1).toFixed(1) + '" y="' + (h - 12 - bh).toFixed(1) + '" width="' +
      Math.max(bw - 2, 1).toFixed(1) + '" height="' + bh.toFixed(1) + '" fill="#0073bb"><title>' + esc(d.date) +
      ": " + d.orders + " orders, " + d.shipped + " shipped, " + d.cancelled + " cancelled</title></rect>";
  });
  return '<div class="muted small" style="margin-top:8px">orders per day</div><svg viewBox="0 0 ' + w + " " + h +
    '" preserveAspectRatio="none" style="width:100%;height:' + h + 'px">' + bars +
    '<text x="0" y="' + h + '" font-size="10" fill="#687078">' + esc(days[0].date) + '</text><text x="' + w +
    '" y="' + h + '" font-size="10" fill="#687078" text-anchor="end">' + esc(days[days.length - 1].date) +
    "</text></svg>";
}

// -- held orders --------------------------------------------------------------------------------------------------

async function loadHeld() {
  const list = $("#held-list");
  let r;
  try {
    r = await api("GET", "/admin/orders?status=ON_HOLD&limit=100");
  } catch (e) {
    list.textContent = "held orders unavailable (" + e.message + ")";
    return;
  }
  if (!r.ok) {
    list.className = "unavailable";
    list.textContent = "held orders unavailable (" + r.status + ")";
    return;
  }
  const orders = r.data.orders || [];
  $("#held-count").textContent = orders.length + (r.data.next_cursor ? "+" : "");
  // unchanged queue: leave the table alone (a note being typed keeps its focus)
  const signature = orders.map((o) => o.order_id + ":" + o.status + ":" + (o.hold_reason || "")).join(",");
  if (signature === state.heldSignature && list.querySelector("table")) return;
  state.heldSignature = signature;
  if (!orders.length) {
    list.className = "muted";
    list.textContent = "No order is on hold.";
    return;
  }
  // keep what ops typed in the note fields across refreshes
  const notes = {};
  list.querySelectorAll("input[data-note]").forEach((i) => { notes[i.dataset.note] = i.value; });
  let rows = "";
  for (const o of orders) {
    const risk = o.risk ? o.risk.score + " (" + (o.risk.reasons || []).join(", ") + ")" : "–";
    const reason = o.hold_reason || "–";
    const reviewable = reason === "review";
    const id = esc(o.order_id);
    rows += '<tr data-order-id="' + id + '"><td><code>' + id + "</code></td><td>" + esc(o.created_at) +
      "</td><td>" + esc(money(o.total, o.currency)) + "</td><td>" + esc(reason) + "</td><td>" + esc(risk) +
      "</td><td>" + esc(o.status_detail || "") + "</td><td>" +
      (reviewable ? '<input type="text" placeholder="note (needed to reject)" data-note="' + id + '">' : "") +
      "</td><td>" + (reviewable
        ? '<button type="button" class="approve" data-action="approve" data-order="' + id + '">Approve</button> ' +
          '<button type="button" class="reject" data-action="reject" data-order="' + id + '">Reject</button>'
        : '<span class="muted small">' + (reason === "technical" ? "retry or cancel via the API" :
          reason === "payment" ? "waits for the customer" : "") + "</span>") +
      "</td></tr>";
  }
  list.className = "";
  list.innerHTML = '<table class="held"><thead><tr><th>order</th><th>placed</th><th>total</th><th>hold</th>' +
    "<th>risk</th><th>detail</th><th>note</th><th></th></tr></thead><tbody>" + rows + "</tbody></table>";
  list.querySelectorAll("input[data-note]").forEach((i) => { if (notes[i.dataset.note]) i.value = notes[i.dataset.note]; });
}

async function review(orderId, decision) {
  const input = document.querySelector('input[data-note="' + CSS.escape(orderId) + '"]');
  const note = input ? input.value.trim() : "";
  const box = $("#review-result");
  document.querySelectorAll('button[data-order="' + CSS.escape(orderId) + '"]').forEach((b) => { b.disabled = true; });
  const body = { decision };
  if (note) body.note = note;
  const r = await api("POST", "/admin/orders/" + encodeURIComponent(orderId) + "/review", body);
  if (r.ok) {
    box.className = "result ok";
    box.textContent = orderId + ": " + (decision === "approve" ? "approved" : "rejected") + "; the order is " +
      (r.data && r.data.status) + " and its workflow takes it from here";
  } else {
    box.className = "result bad";
    const message = r.data ? (r.data.message || r.data.error || JSON.stringify(r.data)) : "";
    box.textContent = orderId + ": " + decision + " refused (" + r.status + ") " + message;
  }
  box.dataset.order = orderId;
  box.dataset.status = String(r.status);
  if (r.ok) state.heldSignature = null;  // redraw the queue
  else document.querySelectorAll('button[data-order="' + CSS.escape(orderId) + '"]').forEach((b) => { b.disabled = false; });
  await loadHeld();
}

// -- dashboards ---------------------------------------------------------------------------------------------------

async function loadBoards() {
  const range = $("#range").value;
  const r = await fetch("/_ops/api/dashboards?range=" + encodeURIComponent(range), { cache: "no-store" });
  if (!r.ok) {
    $("#boards").textContent = "dashboards unavailable (" + r.status + ")";
    return;
  }
  state.boards = await r.json();
  renderBoards();
}

function renderBoards() {
  const data = state.boards;
  const tabs = $("#tabs"), host = $("#boards");
  if (!data.dashboards.length) {
    tabs.innerHTML = "";
    host.className = "muted";
    host.textContent = "No CloudWatch dashboard is deployed.";
    return;
  }
  if (!state.active || !data.dashboards.some((d) => d.name === state.active)) state.active = data.dashboards[0].name;
  tabs.innerHTML = data.dashboards.map((d) => '<button type="button" role="tab" data-board="' + esc(d.name) +
    '" aria-selected="' + (d.name === state.active) + '">' + esc(d.name) + "</button>").join("");
  host.className = "";
  host.innerHTML = "";
  const start = Date.parse(data.start), end = Date.parse(data.end);
  for (const board of data.dashboards) {
    const grid = document.createElement("div");
    grid.className = "board";
    grid.dataset.board = board.name;
    grid.hidden = board.name !== state.active;
    host.appendChild(grid);
    for (const w of board.widgets) grid.appendChild(widgetElement(w));
    if (!grid.hidden) drawCharts(grid, start, end);
  }
}

function widgetElement(w) {
  const el = document.createElement("section");
  el.className = "widget " + w.type;
  el.style.gridColumn = (w.x + 1) + " / span " + w.width;
  el.style.gridRow = (w.y + 1) + " / span " + w.height;
  el.dataset.title = w.title;
  el.dataset.type = w.type;
  let inner = w.title ? "<h3 title=\"" + esc(w.title) + "\">" + esc(w.title) + "</h3>" : "";
  if (w.type === "text") {
    inner += w.html;  // rendered by the server from markdown, every character escaped first
  } else if (w.type !== "metric") {
    inner += '<div class="note">' + esc(w.type) + " widget: " + esc(w.note) + "</div>";
  } else if (w.view === "singleValue" || w.view === "gauge" || w.view === "pie") {
    inner += '<div class="singles">' + w.series.map((s) => '<div class="single" data-series="' + esc(s.label) +
      '"><div class="figure" data-value="' + (s.value == null ? "" : s.value) + '" style="color:' + esc(s.color) +
      '">' + (s.note ? "–" : fmt(s.value)) + '</div><div class="label">' + esc(s.label) + "</div></div>").join("") +
      "</div>";
  } else {
    inner += '<div class="plot"></div><div class="legend"' + (w.legend === "hidden" ? " hidden" : "") + ">" + w.series.map((s) => '<span data-series="' +
      esc(s.label) + '"><span class="sw" style="background:' + esc(s.color) + '"></span>' + esc(s.label) +
      '<span class="figure" data-value="' + (s.value == null ? "" : s.value) + '" title="' +
      esc(s.stat + " over the range") + '">' + fmt(s.value) + "</span></span>").join("") + "</div>";
  }
  for (const note of w.notes || []) inner += '<div class="note">' + esc(note) + "</div>";
  el.innerHTML = inner;
  el._widget = w;
  return el;
}

function drawCharts(grid, start, end) {
  grid.querySelectorAll(".widget.metric .plot").forEach((plot) => {
    const w = plot.parentElement._widget;
    const width = Math.max(plot.clientWidth, 120), height = Math.max(plot.clientHeight, 60);
    plot.innerHTML = chartSvg(w, width, height, start, end);
  });
}

function niceScale(lo, hi, count) {
  // a step of 1, 2, 2.5 or 5 times a power of ten, and the domain widened to whole steps
  const span = hi - lo || 1;
  const mag = Math.pow(10, Math.floor(Math.log10(span / count)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => span / st <= count) || 10 * mag;
  const min = Math.floor(lo / step + 1e-9) * step, max = Math.ceil(hi / step - 1e-9) * step;
  const ticks = [];
  for (let t = min; t <= max + step * 1e-6; t += step) ticks.push(+t.toFixed(10));
  return { min, max: max > min ? max : min + step, ticks };
}

function axisScale(lines, axis, annotations) {
  const values = lines.flatMap((l) => l.pts.map((p) => p[1])).concat(annotations.map((a) => a.value));
  const lo = axis.min != null ? axis.min : Math.min(0, ...values);
  let hi = axis.max != null ? axis.max : Math.max(...values, lo + 1);
  if (hi <= lo) hi = lo + 1;
  const scale = niceScale(lo, hi, 4);
  if (axis.min != null) scale.min = axis.min;
  if (axis.max != null) scale.max = axis.max;
  scale.ticks = scale.ticks.filter((t) => t >= scale.min && t <= scale.max);
  return scale;
}

function chartSvg(w, width, height, start, end) {
  const series = w.series.filter((s) => s.points.length);
  // stacked: each point sits on the ones before it (same axis, same time)
  const lines = series.map((s) => ({ s, right: s.axis === "right", pts: s.points.map((p) => [p[0], p[1], 0]) }));
  if (w.stacked) {
    const base = { left: {}, right: {} };
    for (const l of lines) {
      const b = base[l.right ? "right" : "left"];
      for (const p of l.pts) { p[2] = b[p[0]] || 0; p[1] += p[2]; b[p[0]] = p[1]; }
    }
  }
  const hasRight = lines.some((l) => l.right);
  const pad = { l: 42, r: hasRight ? 42 : 8, t: 6, b: 16 };
  const iw = width - pad.l - pad.r, ih = height - pad.t - pad.b;
  const x = (t) => pad.l + ((t - start) / (end - start)) * iw;
  const yAxis = w.y_axis || {};
  const left = axisScale(lines.filter((l) => !l.right), yAxis.left || {}, w.annotations);
  const right = axisScale(lines.filter((l) => l.right), yAxis.right || {}, []);
  const yOf = (scale) => (v) => pad.t + ih - ((v - scale.min) / (scale.max - scale.min)) * ih;
  const yl = yOf(left), yr = yOf(right);
  let out = '<svg xmlns="' + SVG + '" width="' + width + '" height="' + height + '" viewBox="0 0 ' + width + " " +
    height + '"><g class="grid">';
  for (const t of left.ticks) out += '<line x1="' + pad.l + '" x2="' + (width - pad.r) + '" y1="' + yl(t) + '" y2="' + yl(t) + '"/>';
  out += '</g><g class="axis">';
  for (const t of left.ticks) out += '<text x="' + (pad.l - 4) + '" y="' + (yl(t) + 3) + '" text-anchor="end">' + fmt(t) + "</text>";
  if (hasRight) {
    for (const t of right.ticks) out += '<text x="' + (width - pad.r + 4) + '" y="' + (yr(t) + 3) + '">' + fmt(t) + "</text>";
  }
  const xticks = Math.max(2, Math.min(6, Math.floor(iw / 90)));
  for (let i = 0; i <= xticks; i++) {
    const t = start + ((end - start) * i) / xticks;
    out += '<text x="' + x(t) + '" y="' + (height - 3) + '" text-anchor="' + (i === 0 ? "start" : i === xticks ? "end" : "middle") +
      '">' + hhmm(t) + "</text>";
  }
  out += "</g>";
  for (const a of w.annotations) {
    if (a.value < left.min || a.value > left.max) continue;
    const color = esc(a.color || "#d13212");
    out += '<line x1="' + pad.l + '" x2="' + (width - pad.r) + '" y1="' + yl(a.value) + '" y2="' + yl(a.value) +
      '" stroke="' + color + '" stroke-dasharray="4 3"/><text x="' + (width - pad.r) + '" y="' + (yl(a.value) - 2) +
      '" text-anchor="end" font-size="10" fill="' + color + '">' + esc(a.label) + "</text>";
  }
  const bar = w.view === "bar";
  lines.forEach((l, k) => {
    const y = l.right ? yr : yl;
    const color = esc(l.s.color);
    const tip = (p) => "<title>" + esc(l.s.label) + " " + hhmm(p[0]) + ": " + fmt(p[1] - p[2]) + "</title>";
    if (bar) {
      const bw = Math.max(2, (iw * (l.s.period * 1000)) / (end - start) / Math.max(lines.length, 1) - 1);
      for (const p of l.pts) {
        out += '<rect x="' + (x(p[0]) + k * bw) + '" y="' + y(p[1]) + '" width="' + bw + '" height="' +
          Math.max(y(p[2]) - y(p[1]), 0) + '" fill="' + color + '">' + tip(p) + "</rect>";
      }
      return;
    }
    if (w.stacked && l.pts.length > 1) {
      const top = l.pts.map((p) => x(p[0]) + "," + y(p[1])).join(" ");
      const bottom = l.pts.slice().reverse().map((p) => x(p[0]) + "," + y(p[2])).join(" ");
      out += '<polygon points="' + top + " " + bottom + '" fill="' + color + '" fill-opacity="0.35"/>';
    }
    if (l.pts.length > 1) {
      out += '<polyline fill="none" stroke="' + color + '" stroke-width="1.6" points="' +
        l.pts.map((p) => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ") + '"/>';
    }
    for (const p of l.pts) {
      out += '<circle cx="' + x(p[0]).toFixed(1) + '" cy="' + y(p[1]).toFixed(1) + '" r="2.6" fill="' + color + '">' +
        tip(p) + "</circle>";
    }
  });
  out += "</svg>";
  if (!series.length) out += '<div class="empty">No data in the range</div>';
  return out;
}

// -- wiring -------------------------------------------------------------------------------------------------------

async function refreshAll(withKpis) {
  const jobs = [loadBoards(), loadHeld()];
  if (withKpis || Date.now() - state.kpiAt > 15000) {
    state.kpiAt = Date.now();
    jobs.push(loadKpis());
  }
  await Promise.allSettled(jobs);
  $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

function schedule() {
  clearInterval(state.timer);
  if ($("#auto").checked) state.timer = setInterval(() => refreshAll(false), 5000);
}

document.addEventListener("click", (e) => {
  const button = e.target.closest("button");
  if (!button) return;
  if (button.dataset.action) review(button.dataset.order, button.dataset.action);
  if (button.dataset.board) {
    state.active = button.dataset.board;
    renderBoards();
  }
});
$("#refresh").addEventListener("click", () => refreshAll(true));
$("#range").addEventListener("change", () => loadBoards());
$("#auto").addEventListener("change", schedule);
window.addEventListener("resize", () => { if (state.boards) renderBoards(); });
refreshAll(true);
schedule();
