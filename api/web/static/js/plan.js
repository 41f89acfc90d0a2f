// The Plan tab: build the strategies body from the form, run it (directly, or as a job with SSE
// progress when the service answers 202), and show a run: cards, warnings, vessel analysis, charts, table.

import { lineChart, scatterChart } from "./charts.js";
import { apiFetch, apiKey, el, emit, errorText, idr, idrShort, num, page, pct, readSSE, t, when } from "./util.js";

const $ = (id) => document.getElementById(id);
const form = $("plan-form");

// --- the request body ------------------------------------------------------------------------------

function range(from, to, step) {
  const out = [];
  for (let n = from; n <= to; n += step) out.push(n);
  return out;
}

function numberOf(name) {
  const v = form.elements[name].value;
  return v === "" ? NaN : Number(v);
}

/** Start of the chosen shift on the chosen date (mine time, WIB = UTC+7), or null for "today". */
function shiftStart() {
  const date = form.elements.shift_date.value;
  if (!date) return null;
  const option = form.elements.shift.selectedOptions[0];
  const hour = String(option.dataset.startHour).padStart(2, "0");
  return `${date}T${hour}:00:00+07:00`;
}

/** [body, problems]: the strategies body of the form, or the fields to fix first. */
export function buildBody() {
  const problems = [];
  const from = numberOf("trucks_from");
  const to = numberOf("trucks_to");
  const step = numberOf("trucks_step");
  if (!Number.isInteger(from) || from < 1) problems.push(["trucks-from", t("trucks_from")]);
  if (!Number.isInteger(to) || to < from) problems.push(["trucks-to", t("trucks_to")]);
  if (!Number.isInteger(step) || step < 1) problems.push(["trucks-step", t("trucks_step")]);
  const excavators = [...form.querySelectorAll('input[name="excavators"]:checked')].map((i) => Number(i.value));
  if (!excavators.length) problems.push(["excavator-counts", t("excavator_counts")]);
  const financial = {};
  for (const key of Object.keys(page.defaults.financial)) {
    const v = numberOf(key);
    if (!Number.isFinite(v) || v < 0) problems.push([`fin-${key}`, t(key)]);
    financial[key] = v;
  }
  const simulation = { replications: numberOf("replications"), duration_hours: numberOf("duration_hours"),
                       seed: numberOf("seed") };
  if (!Number.isInteger(simulation.replications) || simulation.replications < 1) problems.push(["replications", t("replications")]);
  if (!(simulation.duration_hours > 0)) problems.push(["duration", t("duration_hours")]);
  if (!Number.isInteger(simulation.seed) || simulation.seed < 0) problems.push(["seed", t("seed")]);
  const fixed = {
    weatherCondition: form.elements.weatherCondition.value,
    roadCondition: form.elements.roadCondition.value,
    shift: form.elements.shift.value,
    target_road_id: form.elements.target_road_id.value || null,
    target_excavator_id: form.elements.target_excavator_id.value || null,
    target_schedule_id: form.elements.target_schedule_id.value || null,
  };
  const start = shiftStart();
  if (start) fixed.simulation_start_date = start;
  const body = {
    fixed_conditions: fixed,
    decision_variables: { alokasi_truk: problems.length ? [] : range(from, to, step), jumlah_excavator: excavators },
    financial_params: financial,
    simulation,
  };
  const dispatch = form.elements.dispatch;
  if (dispatch && !$("dispatch-row").hidden && dispatch.value) body.decision_variables.dispatch = [dispatch.value];
  return [body, problems];
}

// Which form control a 422's field path belongs to.
const FIELD_CONTROLS = {
  weatherCondition: "weather", roadCondition: "road-condition", shift: "shift", simulation_start_date: "shift-date",
  target_road_id: "road", target_excavator_id: "loading-unit", target_schedule_id: "schedule",
  alokasi_truk: "trucks-from", jumlah_excavator: "excavator-counts", replications: "replications",
  duration_hours: "duration", seed: "seed",
};

function clearProblems() {
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  $("form-errors").hidden = true;
  $("form-errors").textContent = "";
}

function showProblems(pairs) {
  clearProblems();
  for (const [id] of pairs) $(id)?.setAttribute("aria-invalid", "true");
  $("form-errors").textContent = pairs.map(([, text]) => text).join(" · ");
  $("form-errors").hidden = false;
  $(pairs[0]?.[0])?.focus?.();
}

// --- running ---------------------------------------------------------------------------------------

function setBusy(busy, text) {
  $("run-button").disabled = busy;
  $("run-progress").hidden = !busy;
  if (text !== undefined) $("run-status").textContent = text;
}

async function followJob(location, body) {
  // The job path (202 + Location): progress over SSE at <job>/events, the result at <job>.
  const bar = $("run-progress-bar");
  const events = await apiFetch(`${location}/events`, { headers: { Accept: "text/event-stream" } });
  if (events.ok && events.body) {
    await readSSE(events, (name, data) => {
      let info = {};
      try { info = JSON.parse(data); } catch { return; }
      const done = info.done ?? info.completed ?? info.simulations_done;
      const total = info.total ?? info.simulations ?? info.simulations_total;
      if (Number.isFinite(done) && Number.isFinite(total) && total > 0) {
        bar.max = total;
        bar.value = done;
        $("run-status").textContent = t("progress_done", { done: num(done), total: num(total) });
      }
    });
  }
  for (;;) {
    const r = await apiFetch(location, { headers: { Accept: "application/json" } });
    const job = await r.json().catch(() => ({}));
    if (r.status === 200 && (job.result || job.top_3_strategies)) return job.result || job;
    if (!r.ok && r.status !== 202) throw new Error(errorText(job, r.status));
    if (job.status === "failed" || job.status === "error") throw new Error(job.detail || job.error || "job failed");
    await new Promise((ok) => setTimeout(ok, 500));
  }
}

async function run(event) {
  event.preventDefault();
  const [body, problems] = buildBody();
  if (problems.length) { showProblems(problems); return; }
  clearProblems();
  const scenarios = body.decision_variables.alokasi_truk.length * body.decision_variables.jumlah_excavator.length;
  const bar = $("run-progress-bar");
  bar.removeAttribute("value");
  setBusy(true, t("running", { n: num(scenarios), r: num(body.simulation.replications) }));
  const started = performance.now();
  try {
    let r;
    for (;;) {
      r = await apiFetch("/get_top_3_strategies", {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      if (r.status !== 503) break;
      const wait = Number(r.headers.get("Retry-After") || 2);
      const info = await r.json().catch(() => ({}));
      $("run-status").textContent = t("queued", { detail: info.detail || "" });
      await new Promise((ok) => setTimeout(ok, wait * 1000));
    }
    let result;
    if (r.status === 202) {
      const info = await r.json().catch(() => ({}));
      const location = r.headers.get("Location") || info.location || (info.job_id && `/jobs/${info.job_id}`);
      result = await followJob(location, body);
    } else {
      result = await r.json().catch(() => null);
      if (r.status === 422) {
        const pairs = (result?.detail || []).map((e) => {
          const loc = (e.loc || []).filter((p) => typeof p === "string");
          return [FIELD_CONTROLS[loc[loc.length - 1]] || "run-button", `${loc.slice(1).join(".")}: ${e.msg}`];
        });
        showProblems(pairs.length ? pairs : [["run-button", errorText(result, 422)]]);
        setBusy(false, "");
        return;
      }
      if (!r.ok) throw new Error(errorText(result, r.status));
    }
    const seconds = (performance.now() - started) / 1000;
    setBusy(false, t("run_done", { n: num(result.grid?.simulations), s: num(seconds, 1) }));
    showRun({ run_id: result.run_id, result, request: body, model_version: result.model_version,
              created_at: new Date().toISOString() });
    emit("runs-changed");
  } catch (err) {
    setBusy(false, t("run_failed", { detail: err.message }));
  }
}

// --- showing a run ---------------------------------------------------------------------------------

let current = null;
export function currentRun() { return current; }

function ci(estimate, format) {
  if (!estimate || estimate.ci_low === null || estimate.ci_low === undefined) return "";
  return `${t("ci95")}: ${format(estimate.ci_low)} – ${format(estimate.ci_high)}`;
}

const CARD_METRICS = [
  ["profit", "profit_idr", idr, idrShort, true],
  ["production", "production_t", (v) => `${num(v)} t`, (v) => `${num(v)} t`, true],
  ["fuel_ratio", "fuel_ratio_l_per_t", (v) => `${num(v, 3)} L/t`, (v) => num(v, 3), true],
  ["queue", "queue_hours", (v) => `${num(v, 2)} h`, (v) => num(v, 2), false],
  ["cycle_time", "cycle_time_min", (v) => `${num(v, 1)} min`, (v) => num(v, 1), false],
];

function warningMark(warnings) {
  // The warnings (conditions the model barely saw) affect every model-predicted number.
  return el("span", { class: "warn-mark", role: "img", "aria-label": t("extrapolation"),
                      title: warnings.join("\n") }, "⚠");
}

function card(item, index, warnings) {
  const label = Object.keys(item)[0];
  const block = item[label] || {};
  const s = item.strategy || {};
  const m = s.metrics || {};
  const heading = el("h4", {}, t("option", { n: index + 1 }), " · ",
                     s.rank === 1 ? t("main_recommendation") : t("alternative"));
  const rule = s.dispatch && s.dispatch !== "fixed" ? ` · ${t("dispatch_rule")}: ${s.dispatch}` : "";
  const fleet = el("p", { class: "fleet" },
    el("strong", { text: `${num(s.trucks)} ${t("trucks")} · ${num(s.excavators)} ${t("excavators")}${rule}` }),
    el("br"), block.INSTRUKSI_FLAT?.ALAT_MUAT_TARGET || "", " · ", block.INSTRUKSI_FLAT?.JALUR_ANGKUT || "");
  const dl = el("dl", { class: "metrics" });
  for (const [key, metric, full, short, predicted] of CARD_METRICS) {
    const e = m[metric];
    if (!e) continue;
    dl.append(el("dt", {}, t(key)),
              el("dd", { "data-metric": metric }, el("span", { class: "value" }, full(e.mean)),
                 predicted && warnings.length ? warningMark(warnings) : null,
                 el("span", { class: "ci" }, ci(e, short))));
  }
  if (m.vessel_hours_to_target && m.vessel_late_probability) {
    dl.append(el("dt", {}, t("vessel_late")), el("dd", {}, pct(m.vessel_late_probability.mean)));
  }
  const extra = [];
  if (s.tied_with?.length) extra.push(el("p", { class: "tied" }, t("tied", { keys: s.tied_with.join(", ") })));
  if (s.guideline) extra.push(el("p", { class: "guideline" }, el("strong", {}, `${t("safety")}: `), s.guideline));
  return el("article", { class: `card${s.rank === 1 ? " best" : ""}`, "data-testid": "strategy-card",
                         "aria-label": `${t("option", { n: index + 1 })}` }, heading, fleet, dl, ...extra);
}

function vessel(items, warnings) {
  const box = $("vessel-analysis");
  box.replaceChildren();
  for (const [i, item] of items.entries()) {
    const s = item.strategy || {};
    const m = s.metrics || {};
    const parts = [el("strong", {}, `${t("option", { n: i + 1 })} (${s.scenario_key}): `), s.vessel_analysis || ""];
    if (m.vessel_hours_to_target && m.vessel_late_probability) { // only with a vessel to load
      parts.push(" · ", el("span", { class: "value" }, `${t("vessel_late")}: ${pct(m.vessel_late_probability.mean)}`));
      if (warnings.length) parts.push(warningMark(warnings));
    }
    box.append(el("p", {}, ...parts));
  }
}

/** The dispatch rule in a scenario key ("T8-E3/shortest_wait"); "" for the fixed rule ("T8-E3"). */
function ruleOf(key) {
  const cut = String(key || "").indexOf("/");
  return cut < 0 ? "" : key.slice(cut + 1);
}

function charts(result) {
  const all = result.all_strategies || [];
  const byExc = new Map(); // one line per (excavator count, dispatch rule)
  for (const s of all) {
    const series = `${s.excavators}|${ruleOf(s.scenario_key)}`;
    if (!byExc.has(series)) byExc.set(series, []);
    const p = s.profit_idr || {};
    byExc.get(series).push({
      x: s.trucks, y: p.mean, lo: p.ci_low, hi: p.ci_high,
      text: `${s.scenario_key}: ${idr(p.mean)} (${ci(p, idrShort)})`,
    });
  }
  const series = [...byExc.entries()]
    .map(([key, points]) => { const [n, rule] = key.split("|"); return { n: Number(n), rule, points }; })
    .sort((a, b) => a.n - b.n || a.rule.localeCompare(b.rule))
    .map(({ n, rule, points }) => ({ name: `${num(n)} ${t("excavators")}${rule ? ` · ${rule}` : ""}`, points }));
  lineChart($("chart-profit"), series, {
    labelledBy: "chart-profit-title", xLabel: t("trucks"), yLabel: t("profit"), xFormat: (v) => num(v),
    yFormat: idrShort, legendLabel: t("excavator_counts"),
  });
  scatterChart($("chart-pareto"), all.map((s) => ({
    x: s.queue_hours?.mean, y: s.profit_idr?.mean, highlight: s.pareto,
    text: `${s.scenario_key}: ${idr(s.profit_idr?.mean)} · ${t("queue")} ${num(s.queue_hours?.mean, 2)} h`,
  })), {
    labelledBy: "chart-pareto-title", xLabel: `${t("queue")} (h)`, yLabel: t("profit"), xFormat: (v) => num(v, 1),
    yFormat: idrShort, highlightName: t("pareto_member"), otherName: t("dominated"),
  });
}

const TABLE_COLUMNS = [
  ["rank", (s) => s.rank, (s) => num(s.rank)],
  ["trucks", (s) => s.trucks, (s) => num(s.trucks)],
  ["excavators", (s) => s.excavators, (s) => num(s.excavators)],
  ["profit", (s) => s.profit_idr?.mean, (s) => idr(s.profit_idr?.mean), (s) => ci(s.profit_idr, idrShort)],
  ["production", (s) => s.production_t?.mean, (s) => `${num(s.production_t?.mean)} t`,
   (s) => ci(s.production_t, (v) => num(v))],
  ["queue", (s) => s.queue_hours?.mean, (s) => `${num(s.queue_hours?.mean, 2)} h`,
   (s) => ci(s.queue_hours, (v) => num(v, 2))],
  ["pareto_member", (s) => (s.pareto ? 1 : 0), (s) => (s.pareto ? "✓" : "")],
];

/** A sortable table: headers are buttons; aria-sort tells the direction. */
export function sortableTable(table, rows, columns, initial = 0) {
  let sortIndex = initial;
  let ascending = true;
  const render = () => {
    const [, key] = columns[sortIndex];
    const sorted = [...rows].sort((a, b) => {
      const x = key(a); const y = key(b);
      const cmp = x === y ? 0 : x === undefined || x === null ? 1 : y === undefined || y === null ? -1 : x < y ? -1 : 1;
      return ascending ? cmp : -cmp;
    });
    const head = el("tr", {}, columns.map(([name], i) => el("th", {
      scope: "col", "aria-sort": i === sortIndex ? (ascending ? "ascending" : "descending") : "none",
    }, el("button", { type: "button", class: "sort", "aria-label": t("sort_by", { col: t(name) }),
                      onclick: () => { ascending = i === sortIndex ? !ascending : true; sortIndex = i; render(); } },
          t(name), i === sortIndex ? (ascending ? " ▲" : " ▼") : ""))));
    const body = sorted.map((s) => el("tr", {}, columns.map(([, , show, sub]) => el("td", {}, show(s),
      sub ? el("div", { class: "ci" }, sub(s)) : null))));
    table.replaceChildren(el("thead", {}, head), el("tbody", {}, body));
  };
  render();
}

export function showRun(run) {
  current = run;
  const result = run.result || {};
  const warnings = result.warnings || [];
  $("results").hidden = false;
  $("results-meta").textContent = [
    `${t("run_id")} ${run.run_id}`, `${t("model_version")} ${run.model_version || result.model_version}`,
    result.grid ? `${t("grid")} ${num(result.grid.scenarios)} × ${num(result.grid.replications)} = ${num(result.grid.simulations)}` : "",
    when(run.created_at),
  ].filter(Boolean).join(" · ");
  $("download-xlsx").href = `/runs/${encodeURIComponent(run.run_id)}/export.xlsx`;
  $("download-csv").href = `/runs/${encodeURIComponent(run.run_id)}/export.csv`;
  const box = $("warnings");
  box.replaceChildren();
  box.hidden = !warnings.length;
  if (warnings.length) {
    box.append(el("strong", {}, `⚠ ${t("warnings")}`), el("ul", {}, warnings.map((w) => el("li", {}, w))));
  }
  const items = result.top_3_strategies || [];
  $("cards").replaceChildren(...items.map((item, i) => card(item, i, warnings)));
  vessel(items, warnings);
  charts(result);
  sortableTable($("all-table"), result.all_strategies || [], TABLE_COLUMNS);
  if (location.hash !== `#run=${run.run_id}`) history.replaceState(null, "", `#run=${run.run_id}`);
  emit("run-shown", run);
}

export async function openRun(runId) {
  const r = await apiFetch(`/runs/${encodeURIComponent(runId)}`, { headers: { Accept: "application/json" } });
  if (!r.ok) return false;
  showRun(await r.json());
  return true;
}

// --- schedules select (also refreshed after the Data tab adds one) -----------------------------------

export function fillSchedules(schedules) {
  const select = $("schedule");
  const chosen = select.value;
  const upcoming = schedules.filter((s) => s.upcoming);
  const earlier = schedules.filter((s) => !s.upcoming);
  const option = (s) => el("option", { value: s.id },
    `${s.vessel_name} · ETA ${when(s.eta)} · ${num(s.planned_t)} t`);
  select.replaceChildren(el("option", { value: "" }, t("no_vessel")));
  if (upcoming.length) select.append(el("optgroup", { label: t("upcoming") }, upcoming.map(option)));
  if (earlier.length) select.append(el("optgroup", { label: t("earlier") }, earlier.map(option)));
  select.value = schedules.some((s) => s.id === chosen) ? chosen : "";
}

/** A download link; with stored credentials it is fetched with them and saved from a blob. */
async function download(event) {
  if (!apiKey()) return; // a plain link: the browser downloads it
  event.preventDefault();
  const link = event.currentTarget;
  const r = await apiFetch(link.href);
  if (!r.ok) { $("run-status").textContent = t("run_failed", { detail: `HTTP ${r.status}` }); return; }
  const name = (r.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/)?.[1] || "mineops-run";
  const url = URL.createObjectURL(await r.blob());
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function initPlan() {
  fillSchedules(page.choices.schedules);
  $("download-xlsx").addEventListener("click", download);
  $("download-csv").addEventListener("click", download);
  form.addEventListener("submit", run);
  if (Array.isArray(page.choices.dispatch_rules) && page.choices.dispatch_rules.length) {
    $("dispatch").replaceChildren(...page.choices.dispatch_rules.map((r) => el("option", { value: r }, r)));
    $("dispatch-row").hidden = false;
  }
}
