// The Live tab: the current shift's KPIs from GET /live/kpis, then updates over SSE
// (GET /live/kpis/stream: "init" with the snapshot or the warming status, then "update" events).
// Without live ingestion (503, or no such route) it says so.

import { apiFetch, el, num, readSSE, t, when } from "./util.js";

const $ = (id) => document.getElementById(id);
let started = false;

function label(key) {
  const text = t(`kpi_${key}`);
  return text === `kpi_${key}` ? key.replace(/_/g, " ") : text;
}

function show(snapshot) {
  if (!snapshot || snapshot.status === "warming") {
    $("live-status").textContent = t("live_waiting");
    return;
  }
  const data = snapshot.data && typeof snapshot.data === "object" ? snapshot.data : {};
  const dl = $("live-kpis");
  dl.replaceChildren();
  for (const [key, value] of Object.entries(data)) {
    if (value !== null && typeof value === "object") continue;
    const text = typeof value === "number" ? num(value, Number.isInteger(value) ? 0 : 2) : String(value ?? t("none"));
    dl.append(el("div", { class: "kpi", "data-kpi": key }, el("dt", {}, label(key)), el("dd", {}, text)));
  }
  const parts = [t("live_updated", { time: when(snapshot.generated_at || new Date().toISOString()) })];
  if (snapshot.shift) parts.push(t("live_shift", { shift: snapshot.shift, start: when(snapshot.shift_start) }));
  if (snapshot.stale) parts.push(t("live_stale", { age: num(snapshot.age_seconds) }));
  $("live-status").textContent = parts.join(" · ");
}

async function stream() {
  const r = await apiFetch("/live/kpis/stream", { headers: { Accept: "text/event-stream" } });
  if (!r.ok || !r.body) return;
  await readSSE(r, (name, data) => {
    let payload;
    try { payload = JSON.parse(data); } catch { return; }
    if (name === "init" || name === "update" || name === "message") show(payload);
  });
}

export async function startLive() {
  if (started) return;
  started = true;
  const r = await apiFetch("/live/kpis", { headers: { Accept: "application/json" } }).catch(() => null);
  const body = r ? await r.json().catch(() => null) : null;
  if (!r || r.status === 404 || r.status === 501 || r.status === 503) {
    $("live-status").textContent = t("live_absent");
    started = false;
    return;
  }
  show(r.status === 202 ? { status: "warming" } : body);
  stream().catch(() => { started = false; });
}
