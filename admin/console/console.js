// hookguard console: polls the admin API and draws the page. Everything
// from the API is set as text (textContent, attribute values), never parsed
// as HTML: event ids and types come from senders.
"use strict";

const HDR = { "X-Hookguard-Console": "1" };
const POLL_MS = 2000, HIDDEN_POLL_MS = 10000;

// label: the tiles' and the legend's; one: a single event's badge.
const OUTCOMES = {
  forwarded: { label: "Forwarded", one: "forwarded", desc: "verified; your app answered 2xx" },
  queued: { label: "Queued", one: "queued", desc: "verified and stored; the queue delivers it to your app (see Queue)" },
  duplicate: { label: "Duplicates", one: "duplicate", desc: "a copy of an event already delivered: answered, not sent again" },
  rejected: { label: "Rejected", one: "rejected", desc: "refused by hookguard: never reached your app" },
  app_rejected: { label: "App refused", one: "app refused", desc: "verified, but your app answered non-2xx" },
  upstream_error: { label: "App unreachable", one: "app unreachable", desc: "your app could not be reached in time" },
  busy: { label: "Busy", one: "busy", desc: "a copy was in flight; the sender was told to retry" },
  other: { label: "Other", one: "other", desc: "" },
};

const STATUS_TEXT = {
  200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
  404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
  413: "Content Too Large", 422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
  502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
};

const REASONS = {
  not_found: "no route has this path",
  method_not_allowed: "not a POST",
  forbidden_source: "the sender's address is not in the route's allow_cidrs",
  body_too_large: "the body is larger than the route's max_body",
  unreadable_body: "the body could not be read",
  malformed_query: "the query string could not be parsed",
  missing_signature: "no signature: not sent by the provider",
  unknown_key: "signed with a key id that is not configured",
  signature_mismatch: "the signature does not match the secret: a forgery, or the wrong secret is configured",
  body_mismatch: "the body was changed after it was signed",
  unsupported_algorithm: "signed with an algorithm hookguard does not accept",
  stale: "too old (or from the future): outside the provider's tolerance, as a replay would be",
  malformed_signature: "the signature cannot be parsed",
  unsigned: "the provider's format needs a signature that is absent",
  malformed_body: "the body is not in the provider's format",
  invalid: "the request is not a valid webhook of the provider",
  dedupe_store_error: "the dedupe store failed; the sender was told to retry",
  in_flight: "another copy was being delivered; the sender was told to retry",
  upstream_unreachable: "your app refused the connection or is down",
  upstream_timeout: "your app did not answer within the route's timeout",
  queue_full: "the queue is full (queue.max_events); the sender was told to retry",
  queue_error: "the queue's store failed; the sender was told to retry",
};

const state = { lastSeq: 0, events: [], kept: 500, summary: null, queue: null, dead: [], details: new Map(), fresh: new Set(), failures: 0 };

// el makes an element; strings among children become text nodes.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function $(id) { return document.getElementById(id); }

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin", headers: HDR, cache: "no-store" }, opts || {}));
  if (r.status === 401) {
    location.replace("/login");
    throw new Error("logged out");
  }
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
  return j;
}

const fmtTime = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const fmtNum = (n) => (n || 0).toLocaleString();

function fmtAge(sec) {
  if (!sec) return "—";
  if (sec < 60) return Math.round(sec) + " s";
  if (sec < 3600) return Math.round(sec / 60) + " min";
  if (sec < 86400) return (sec / 3600).toFixed(1) + " h";
  return (sec / 86400).toFixed(1) + " d";
}

function fmtAgo(t) {
  const s = (Date.now() - new Date(t).getTime()) / 1000;
  return fmtAge(Math.max(s, 1)) + " ago";
}

function badge(outcome) {
  const o = OUTCOMES[outcome] || { one: outcome || "?" };
  return el("span", { class: "badge o-" + (OUTCOMES[outcome] ? outcome : "other"), title: o.desc || "", text: o.one });
}

function reasonText(reason) { return REASONS[reason] || ""; }

// ---- polling ------------------------------------------------------------

async function poll() {
  try {
    const [summary, evs] = await Promise.all([
      api("/console/api/summary"),
      api("/console/api/events?after=" + state.lastSeq),
    ]);
    if (evs.last_seq < state.lastSeq) { // hookguard restarted: start over
      state.lastSeq = 0; state.events = [];
      return poll();
    }
    state.summary = summary;
    state.kept = summary.kept;
    mergeEvents(evs);
    if (summary.queue) await pollQueue();
    state.failures = 0;
    render();
    setLive(true, "live · updated " + fmtTime(Date.now()));
  } catch (e) {
    state.failures++;
    setLive(false, "not connected (" + e.message + "), retrying");
  }
  setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
}

async function pollQueue() {
  const [q, d] = await Promise.all([api("/queue"), api("/queue/dead")]);
  state.queue = q.routes || [];
  state.dead = d.dead || [];
  // The app's last answer, from each dead letter's detail (a few a poll).
  const ids = new Set(state.dead.map((x) => x.id + "@" + x.last_attempt));
  for (const k of state.details.keys()) if (!ids.has(k)) state.details.delete(k);
  const missing = state.dead.filter((x) => !state.details.has(x.id + "@" + x.last_attempt)).slice(0, 10);
  await Promise.all(missing.map(async (x) => {
    try {
      state.details.set(x.id + "@" + x.last_attempt, await api("/queue/dead/" + encodeURIComponent(x.id)));
    } catch (e) { /* gone meanwhile */ }
  }));
}

function mergeEvents(evs) {
  state.fresh = new Set();
  if (state.lastSeq > 0) for (const e of evs.events) state.fresh.add(e.seq);
  state.events = evs.events.concat(state.events).slice(0, state.kept);
  state.lastSeq = evs.last_seq;
}

function setLive(ok, text) {
  const l = $("live");
  l.className = "live " + (ok ? "ok" : "bad");
  l.textContent = text;
}

// ---- rendering ----------------------------------------------------------

function render() {
  const s = state.summary;
  $("since").textContent = new Date(s.since).toLocaleString();
  $("kept").textContent = String(s.kept);
  $("logout").hidden = !s.login;
  renderTiles(s);
  renderChart(s.chart);
  renderRoutes(s.routes);
  $("queue-card").hidden = !s.queue;
  if (s.queue) { renderQueue(); renderDead(); }
  renderEvents();
}

function totals(routes) {
  const t = { outcomes: {}, reasons: {} };
  for (const r of routes) {
    for (const [o, n] of Object.entries(r.outcomes)) t.outcomes[o] = (t.outcomes[o] || 0) + n;
    for (const [o, rs] of Object.entries(r.reasons || {})) {
      t.reasons[o] = t.reasons[o] || {};
      for (const [k, n] of Object.entries(rs)) t.reasons[o][k] = (t.reasons[o][k] || 0) + n;
    }
  }
  return t;
}

function reasonList(reasons) {
  return Object.entries(reasons || {}).sort((a, b) => b[1] - a[1])
    .map(([k, n]) => n + " " + k.replaceAll("_", " ")).join(" · ");
}

function renderTiles(s) {
  const t = totals(s.routes);
  const show = ["forwarded", "queued", "duplicate", "rejected", "app_rejected", "upstream_error", "busy"]
    .filter((o) => ["forwarded", "duplicate", "rejected"].includes(o) || (o === "queued" && s.queue) || t.outcomes[o]);
  const tiles = show.map((o) => {
    const why = reasonList(t.reasons[o]);
    return el("div", { class: "tile o-" + o, "data-outcome": o },
      el("div", { class: "num", text: fmtNum(t.outcomes[o]) }),
      el("div", { class: "label", text: OUTCOMES[o].label }),
      el("div", { class: "desc", text: why || OUTCOMES[o].desc, title: OUTCOMES[o].desc }));
  });
  $("tiles").replaceChildren(...tiles);
}

function niceMax(n) {
  if (n <= 5) return 5;
  const p = Math.pow(10, Math.floor(Math.log10(n)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

function renderChart(chart) {
  const box = $("chart");
  const W = Math.max(box.clientWidth, 280), H = 190;
  const left = 34, right = 8, top = 10, bottom = 22;
  const n = chart.buckets.length;
  const sums = chart.buckets.map((b) => b.counts.reduce((a, c) => a + c, 0));
  const max = niceMax(Math.max(...sums, 0));
  const plotW = W - left - right, plotH = H - top - bottom;
  const bw = plotW / n;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H });
  for (const f of [0, 0.5, 1]) {
    const y = top + plotH - f * plotH;
    s.append(svg("line", { class: "axis", x1: left, x2: W - right, y1: y, y2: y }));
    s.append(svg("text", { class: "tick", x: left - 6, y: y + 4, "text-anchor": "end" }, String(Math.round(f * max))));
  }
  chart.buckets.forEach((b, i) => {
    let y = top + plotH;
    const x = left + i * bw + Math.min(2, bw * 0.1);
    const w = Math.max(bw - 2 * Math.min(2, bw * 0.1), 1);
    const g = svg("g", { "data-bucket": i });
    const parts = [];
    b.counts.forEach((c, k) => {
      if (!c) return;
      const h = (c / max) * plotH;
      y -= h;
      const o = chart.outcomes[k];
      g.append(svg("rect", { class: "bar o-" + o, x, y, width: w, height: Math.max(h, 1) }));
      parts.push(c + " " + (OUTCOMES[o] ? OUTCOMES[o].one : o));
    });
    if (parts.length) {
      g.append(svg("title", {}, fmtTime(b.start) + ": " + parts.join(", ")));
      s.append(g);
    }
  });
  const mins = Math.round((n * chart.bucket_seconds) / 60);
  for (const [i, label] of [[0, "−" + mins + " min"], [Math.round(n / 3), "−" + Math.round((mins * 2) / 3) + " min"],
    [Math.round((2 * n) / 3), "−" + Math.round(mins / 3) + " min"], [n, "now"]]) {
    const x = left + i * bw;
    s.append(svg("text", { class: "tick", x, y: H - 6, "text-anchor": i === 0 ? "start" : i === n ? "end" : "middle" }, label));
  }
  if (!sums.some((x) => x > 0)) {
    s.append(svg("text", { class: "empty", x: left + plotW / 2, y: top + plotH / 2, "text-anchor": "middle" },
      "No webhook in the last " + mins + " minutes"));
  }
  box.replaceChildren(s);
  $("bucket").textContent = chart.bucket_seconds + " s";
  const seen = new Set();
  chart.buckets.forEach((b) => b.counts.forEach((c, k) => { if (c) seen.add(chart.outcomes[k]); }));
  $("legend").replaceChildren(...chart.outcomes.filter((o) => o !== "other" || seen.has(o)).map((o) =>
    el("li", { class: "o-" + o, title: (OUTCOMES[o] || {}).desc || "" }, el("span", { class: "swatch" }),
      (OUTCOMES[o] || { label: o }).label)));
}

function numCell(label, n, extra) {
  return el("td", { class: "n" + (n ? "" : " zero"), "data-label": label }, fmtNum(n), extra || null);
}

function renderRoutes(routes) {
  $("routes-empty").hidden = routes.length > 0;
  $("routes").hidden = routes.length === 0;
  const rows = routes.map((r) => {
    const o = r.outcomes, rs = r.reasons || {};
    const why = (k) => {
      const t = reasonList(rs[k]);
      return t ? el("span", { class: "reasons", text: t }) : null;
    };
    return el("tr", { "data-route": r.route },
      el("td", { class: "mono", "data-label": "Route", text: r.route || "(no route)" }),
      el("td", { "data-label": "Provider", text: r.provider || "—" }),
      numCell("Forwarded", o.forwarded),
      numCell("Queued", o.queued),
      numCell("Duplicates", o.duplicate),
      numCell("Rejected", o.rejected, why("rejected")),
      numCell("App refused", o.app_rejected),
      numCell("App unreachable", o.upstream_error, why("upstream_error")),
      numCell("Total", r.total));
  });
  $("routes").tBodies[0].replaceChildren(...rows);
}

function renderQueue() {
  const rows = (state.queue || []).map((q) => el("tr", { "data-route": q.route },
    el("td", { class: "mono", "data-label": "Route", text: q.route }),
    numCell("Waiting", q.waiting), numCell("Retrying", q.retrying), numCell("Dead letters", q.dead),
    el("td", { class: "n", "data-label": "Oldest waiting", text: fmtAge(q.oldest_waiting_seconds) })));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 5, class: "zero", text: "Nothing queued yet." })));
  $("queue").tBodies[0].replaceChildren(...rows);
}

function statusLine(code) { return code ? code + (STATUS_TEXT[code] ? " " + STATUS_TEXT[code] : "") : ""; }

function lastAnswer(d) {
  const cell = el("td", { "data-label": "Last answer" });
  const detail = state.details.get(d.id + "@" + d.last_attempt);
  if (d.last_status) cell.append(el("span", { text: statusLine(d.last_status) }));
  else cell.append(el("span", { text: d.last_error || "—" }));
  const body = detail && detail.answer && detail.answer.body ? detail.answer.body.trim() : "";
  const note = body || (d.last_status && d.last_error) || "";
  if (note) cell.append(el("span", { class: "reasons quote", title: note, text: "“" + (note.length > 80 ? note.slice(0, 80) + "…" : note) + "”" }));
  return cell;
}

// renderDead rebuilds the dead letters' rows only when they changed, so that
// a button is never replaced under the pointer; the ages are refreshed in
// place.
function renderDead() {
  const dead = state.dead;
  const key = JSON.stringify(dead) + "|" + [...state.details.keys()].join(",");
  if (key === state.deadKey) {
    for (const c of $("dead").querySelectorAll("td.ago")) c.textContent = fmtAgo(c.dataset.at);
    return;
  }
  state.deadKey = key;
  $("dead-empty").hidden = dead.length > 0;
  $("dead").hidden = dead.length === 0;
  const rows = dead.map((d) => {
    const replay = el("button", { class: "btn", type: "button", "data-action": "replay", "data-id": d.id,
      title: "Put it back in the queue: hookguard delivers it to your app again", text: "Replay" });
    const drop = el("button", { class: "btn btn-danger", type: "button", "data-action": "drop", "data-id": d.id,
      title: "Delete it for good", text: "Drop" });
    replay.addEventListener("click", () => act("replay", d, replay));
    drop.addEventListener("click", () => act("drop", d, drop));
    return el("tr", { "data-id": d.id },
      el("td", { class: "mono", "data-label": "Event id", text: d.event_id || d.id }),
      el("td", { class: "mono", "data-label": "Route", text: d.route }),
      el("td", { "data-label": "Type", text: d.type || "—" }),
      numCell("Attempts", d.attempts),
      lastAnswer(d),
      el("td", { class: "ago", "data-label": "Dead since", "data-at": d.dead_at, title: new Date(d.dead_at).toLocaleString(), text: fmtAgo(d.dead_at) }),
      el("td", { "data-label": "" }, el("span", { class: "actions" }, replay, drop)));
  });
  $("dead").tBodies[0].replaceChildren(...rows);
}

// act replays or drops a dead letter. Drop asks for a second click.
async function act(action, d, button) {
  if (action === "drop" && !button.classList.contains("armed")) {
    button.classList.add("armed");
    button.textContent = "Drop for good?";
    setTimeout(() => { button.classList.remove("armed"); button.textContent = "Drop"; }, 4000);
    return;
  }
  button.disabled = true;
  const id = encodeURIComponent(d.id);
  const msg = $("queue-msg");
  try {
    if (action === "replay") await api("/queue/dead/" + id + "/replay", { method: "POST" });
    else await api("/queue/dead/" + id, { method: "DELETE" });
    msg.className = "msg good";
    msg.textContent = action === "replay"
      ? "Replayed " + (d.event_id || d.id) + ": hookguard delivers it to your app again now."
      : "Dropped " + (d.event_id || d.id) + ".";
    state.dead = state.dead.filter((x) => x.id !== d.id);
    renderDead();
  } catch (e) {
    msg.className = "msg bad";
    msg.textContent = "Could not " + action + " " + (d.event_id || d.id) + ": " + e.message;
    button.disabled = false;
  }
  msg.hidden = false;
}

// group folds runs of the same event with the same outcome (a burst of
// copies, a flood of forgeries) into one row with a count.
function group(list) {
  const out = [];
  for (const e of list) {
    const g = out[out.length - 1];
    if (g && g.route === e.route && g.event_id === e.event_id && g.type === e.type && g.outcome === e.outcome &&
        g.reason === e.reason && g.status === e.status && g.upstream_status === e.upstream_status) {
      g.count++;
      g.first = e.time;
      g.fresh = g.fresh || state.fresh.has(e.seq);
      continue;
    }
    out.push(Object.assign({}, e, { count: 1, first: e.time, fresh: state.fresh.has(e.seq) }));
  }
  return out;
}

function fmtTook(ms) { return ms < 1 ? ms.toFixed(2) + " ms" : ms < 1000 ? ms.toFixed(1) + " ms" : (ms / 1000).toFixed(2) + " s"; }

function renderEvents(force) {
  const f = $("filter").value;
  const key = state.lastSeq + "|" + f;
  if (key === state.eventsKey && force !== true) return;
  state.eventsKey = key;
  const seen = new Set(state.events.map((e) => e.outcome));
  syncFilter(seen);
  const list = group(state.events.filter((e) => !f || e.outcome === f));
  $("events-empty").hidden = list.length > 0;
  $("events-empty").textContent = state.events.length ? "No event with this outcome." : "No event yet.";
  $("events").hidden = list.length === 0;
  const rows = list.map((e) => {
    const status = el("td", { class: "n", "data-label": "Status", title: statusLine(e.status), text: String(e.status || "—") });
    if (e.upstream_status && e.upstream_status !== e.status) status.append(el("span", { class: "reasons", text: "app " + e.upstream_status }));
    const outcome = el("td", { class: "outcome", "data-label": "Outcome" }, badge(e.outcome));
    if (e.count > 1) outcome.append(el("span", { class: "count", title: e.count + " in a row", text: "×" + e.count }));
    const reason = el("td", { class: "reason", "data-label": "Reason" });
    if (e.reason) {
      reason.append(el("span", { text: e.reason.replaceAll("_", " ") }));
      if (reasonText(e.reason)) reason.append(el("span", { class: "reasons why", text: reasonText(e.reason) }));
    }
    const time = e.count > 1 && fmtTime(e.first) !== fmtTime(e.time) ? fmtTime(e.first) + "–" + fmtTime(e.time) : fmtTime(e.time);
    return el("tr", { class: e.fresh ? "new" : null, "data-seq": e.seq, "data-outcome": e.outcome },
      el("td", { "data-label": "Time", class: "time", title: new Date(e.time).toLocaleString(), text: time }),
      el("td", { class: "mono", "data-label": "Route", text: e.route || "(no route)" }),
      el("td", { "data-label": "Provider", text: e.provider || "—" }),
      el("td", { class: "mono event-id", "data-label": "Event id", title: e.event_id ? null : "not known: refused before the event was read",
        text: e.event_id || "—" }),
      el("td", { "data-label": "Type", class: "event-type", text: e.type || "—" }),
      outcome, reason, status,
      el("td", { class: "n", "data-label": "Took", text: fmtTook(e.duration_ms) }));
  });
  $("events").tBodies[0].replaceChildren(...rows);
}

function syncFilter(seen) {
  const sel = $("filter");
  const have = new Set([...sel.options].map((o) => o.value));
  for (const o of Object.keys(OUTCOMES)) {
    if (seen.has(o) && !have.has(o)) sel.append(el("option", { value: o, text: OUTCOMES[o].one + " only" }));
  }
}

function renderGlossary() {
  const items = [];
  for (const [o, v] of Object.entries(OUTCOMES)) {
    if (o === "other") continue;
    items.push(el("dt", {}, badge(o)), el("dd", { text: v.desc }));
  }
  for (const [r, t] of Object.entries(REASONS)) items.push(el("dt", { class: "mono", text: r.replaceAll("_", " ") }), el("dd", { text: t }));
  $("glossary").replaceChildren(...items);
}

async function logout() {
  try { await fetch("/logout", { method: "POST", headers: HDR, credentials: "same-origin" }); } finally { location.replace("/login"); }
}

document.addEventListener("DOMContentLoaded", () => {
  renderGlossary();
  $("filter").addEventListener("change", () => renderEvents(true));
  $("logout").addEventListener("click", logout);
  let resize;
  window.addEventListener("resize", () => {
    clearTimeout(resize);
    resize = setTimeout(() => { if (state.summary) renderChart(state.summary.chart); }, 150);
  });
  poll();
});
