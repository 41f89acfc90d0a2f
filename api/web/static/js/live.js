// The Live tab: the current shift's KPIs from GET /live/kpis, then updates over SSE
// (GET /live/kpis/stream: "init" and "update" events). Without live ingestion it says so.

import { el, num, readSSE, t, when } from "./util.js";

const $ = (id) => document.getElementById(id);
let started = false;

function show(snapshot) {
  const data = snapshot && typeof snapshot === "object" ? (snapshot.data ?? snapshot) : {};
  const dl = $("live-kpis");
  dl.replaceChildren();
  for (const [key, value] of Object.entries(data)) {
    if (value !== null && typeof value === "object") continue;
    const text = typeof value === "number" ? num(value, Number.isInteger(value) ? 0 : 2) : String(value);
    dl.append(el("div", { class: "kpi" }, el("dt", {}, key.replace(/_/g, " ")), el("dd", {}, text)));
  }
  $("live-status").textContent = t("live_updated", { time: when(snapshot?.generated_at || new Date().toISOString()) });
}

async function stream() {
  const r = await fetch("/live/kpis/stream", { headers: { Accept: "text/event-stream" } });
  if (!r.ok || !r.body) return;
  await readSSE(r, (name, data) => {
    try { show(JSON.parse(data)); } catch { /* a keep-alive or a non-JSON line */ }
  });
}

export async function startLive() {
  if (started) return;
  started = true;
  const r = await fetch("/live/kpis", { headers: { Accept: "application/json" } }).catch(() => null);
  const body = r ? await r.json().catch(() => null) : null;
  if (!r || r.status === 404 || r.status === 501 || (r.status === 503 && !body?.retry_after_seconds)) {
    $("live-status").textContent = t("live_absent");
    started = false;
    return;
  }
  if (r.status === 202) $("live-status").textContent = t("live_waiting");
  else if (r.ok) show(body);
  stream().catch(() => { $("live-status").textContent = t("live_absent"); started = false; });
}
