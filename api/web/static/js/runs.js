// The Runs tab: history with filters (text, weather, model version, dates), open a past run,
// compare two runs side by side.

import { openRun } from "./plan.js";
import { el, getJSON, idr, idrShort, num, on, t, when } from "./util.js";

const $ = (id) => document.getElementById(id);
// Runs fetched for the history (the API's most per request).
const HISTORY_LIMIT = 200;
let runs = [];
const picked = new Set();

function conditions(run) {
  const f = (run.request && run.request.fixed_conditions) || {};
  return { weather: String(f.weatherCondition ?? ""), road: String(f.roadCondition ?? ""), shift: String(f.shift ?? "") };
}

function gridText(run) {
  const d = (run.request && run.request.decision_variables) || {};
  const s = (run.request && run.request.simulation) || {};
  const trucks = Array.isArray(d.alokasi_truk) ? d.alokasi_truk : [];
  const exc = Array.isArray(d.jumlah_excavator) ? d.jumlah_excavator : [];
  const span = trucks.length ? `${Math.min(...trucks)}–${Math.max(...trucks)}` : "?";
  return `${span} × [${exc.join(", ")}] × ${s.replications ?? "?"}`;
}

function normalWeather(value) {
  return value.toUpperCase().replace(/\s+/g, "_");
}

function filtered() {
  const text = $("runs-search").value.trim().toLowerCase();
  const weather = $("runs-weather").value;
  const model = $("runs-model").value;
  const from = $("runs-from").value;
  const to = $("runs-to").value;
  return runs.filter((run) => {
    const c = conditions(run);
    const day = (run.created_at || "").slice(0, 10);
    if (weather && normalWeather(c.weather) !== weather) return false;
    if (model && run.model_version !== model) return false;
    if (from && day < from) return false;
    if (to && day > to) return false;
    if (text && ![run.run_id, c.weather, c.road, c.shift, run.model_version].join(" ").toLowerCase().includes(text)) return false;
    return true;
  });
}

function render() {
  const rows = filtered();
  const table = $("runs-table");
  if (!rows.length) {
    table.replaceChildren(el("caption", {}, t("no_runs")));
    return;
  }
  const head = el("tr", {}, [t("compare"), t("created"), t("run_id"), t("conditions"), t("grid"), t("model_version"), ""]
    .map((h) => el("th", { scope: "col" }, h)));
  const body = rows.map((run) => {
    const c = conditions(run);
    const box = el("input", { type: "checkbox", "aria-label": t("select_run", { id: run.run_id }),
                              checked: picked.has(run.run_id) });
    box.addEventListener("change", () => {
      if (box.checked) picked.add(run.run_id); else picked.delete(run.run_id);
      while (picked.size > 2) picked.delete(picked.values().next().value);
      render();
    });
    const open = el("button", { type: "button", onclick: async () => {
      if (await openRun(run.run_id)) document.getElementById("tab-plan").click();
    } }, t("open"));
    return el("tr", {}, el("td", {}, box), el("td", {}, when(run.created_at)), el("td", { class: "mono" }, run.run_id),
              el("td", {}, `${c.weather} · ${c.road} · ${c.shift}`), el("td", {}, gridText(run)),
              el("td", {}, run.model_version), el("td", {}, open));
  });
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, body));
  $("runs-compare").disabled = picked.size !== 2;
}

export async function loadRuns() {
  try {
    runs = await getJSON(`/runs?limit=${HISTORY_LIMIT}`);
  } catch (err) {
    $("runs-table").replaceChildren(el("caption", {}, t("run_failed", { detail: err.message })));
    return;
  }
  const models = [...new Set(runs.map((r) => r.model_version))].sort();
  const select = $("runs-model");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, t("any")), ...models.map((m) => el("option", { value: m }, m)));
  select.value = models.includes(chosen) ? chosen : "";
  render();
}

function compareRows(a, b) {
  const row = (label, f) => el("tr", {}, el("th", { scope: "row" }, label), el("td", {}, f(a)), el("td", {}, f(b)));
  const top = (run, i) => ((run.result || {}).top_3_strategies || [])[i]?.strategy;
  const rows = [
    row(t("created"), (r) => when(r.created_at)),
    row(t("model_version"), (r) => r.model_version),
    row(t("conditions"), (r) => {
      const c = (r.result || {}).conditions; // as the service understood them (enum form)
      if (!c) { const q = conditions(r); return `${q.weather} · ${q.road} · ${q.shift}`; }
      return `${c.weather} · ${c.road_condition} · ${c.shift}`;
    }),
    row(`${t("haul_road")} / ${t("loading_unit")}`, (r) => {
      const c = (r.result || {}).conditions || {};
      return [c.road, c.loading_unit].filter(Boolean).join(" · ") || t("none");
    }),
    row(t("grid"), gridText),
  ];
  for (let i = 0; i < 3; i += 1) {
    rows.push(row(t("option", { n: i + 1 }), (r) => {
      const s = top(r, i);
      if (!s) return t("none");
      const p = s.metrics?.profit_idr || {};
      return el("span", {}, el("strong", {}, `${num(s.trucks)} ${t("trucks")} · ${num(s.excavators)} ${t("excavators")}`),
                el("br"), `${t("profit")}: ${idr(p.mean)}`,
                el("div", { class: "ci" }, `${t("ci95")}: ${idrShort(p.ci_low)} – ${idrShort(p.ci_high)}`),
                `${t("production")}: ${num(s.metrics?.production_t?.mean)} t · ${t("queue")}: ${num(s.metrics?.queue_hours?.mean, 2)} h`);
    }));
  }
  rows.push(row(t("warnings"), (r) => ((r.result || {}).warnings || []).join("; ") || t("none")));
  return rows;
}

async function compare() {
  const [idA, idB] = [...picked];
  const [a, b] = await Promise.all([getJSON(`/runs/${encodeURIComponent(idA)}`), getJSON(`/runs/${encodeURIComponent(idB)}`)]);
  const box = $("compare");
  box.hidden = false;
  box.replaceChildren(el("h3", {}, t("compare")), el("div", { class: "table-wrap" }, el("table", { class: "compare" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, ""), el("th", { scope: "col", class: "mono" }, a.run_id),
                        el("th", { scope: "col", class: "mono" }, b.run_id))),
    el("tbody", {}, compareRows(a, b)))));
  box.scrollIntoView({ block: "nearest" });
}

export function initRuns() {
  for (const id of ["runs-search", "runs-weather", "runs-model", "runs-from", "runs-to"]) {
    $(id).addEventListener("input", render);
  }
  $("runs-filter").addEventListener("submit", (e) => e.preventDefault());
  $("runs-refresh").addEventListener("click", loadRuns);
  $("runs-compare").addEventListener("click", compare);
  on("runs-changed", () => { if (!$("panel-runs").hidden) loadRuns(); });
}
