// The Data tab: add vessels and sailing schedules; the API's 422s are shown next to their fields.

import { fillSchedules } from "./plan.js";
import { apiFetch, el, errorText, fieldErrors, getJSON, num, t, when } from "./util.js";

const $ = (id) => document.getElementById(id);

function clearErrors(form) {
  for (const p of form.querySelectorAll(".field-error")) { p.hidden = true; p.textContent = ""; }
  for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
}

/** Show {field: message} under the fields (prefix = the form's id prefix); the rest in the status line. */
function showErrors(form, prefix, errors) {
  const rest = [];
  let first = null;
  for (const [field, msg] of Object.entries(errors)) {
    const p = $(`${prefix}-${field}-error`);
    const input = form.elements[field];
    if (p && input) {
      p.textContent = msg;
      p.hidden = false;
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    } else {
      rest.push(`${field}: ${msg}`);
    }
  }
  form.querySelector(".form-status").textContent = [t("fix_fields"), ...rest].join(" ");
  first?.focus();
}

function values(form, numeric) {
  const out = {};
  for (const input of form.querySelectorAll("input, select")) {
    const v = input.value.trim();
    if (numeric.includes(input.name)) out[input.name] = v === "" ? null : Number(v);
    else if (v !== "" || input.required) out[input.name] = v;
  }
  return out;
}

async function post(form, prefix, url, numeric) {
  clearErrors(form);
  const status = form.querySelector(".form-status");
  status.textContent = "";
  const r = await apiFetch(url, { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
                               body: JSON.stringify(values(form, numeric)) });
  const body = await r.json().catch(() => null);
  if (r.status === 422) { showErrors(form, prefix, fieldErrors(body)); return; }
  if (!r.ok) { status.textContent = t("run_failed", { detail: errorText(body, r.status) }); return; }
  status.textContent = t("saved", { message: body.message });
  form.reset();
  await refresh();
}

function fillTables(vessels, schedules) {
  const head = (...cols) => el("thead", {}, el("tr", {}, cols.map((c) => el("th", { scope: "col" }, c))));
  $("vessels-table").replaceChildren(head(t("vessel_name"), t("vessel_type"), t("capacity")),
    el("tbody", {}, vessels.map((v) => el("tr", {}, el("td", {}, v.name), el("td", {}, v.type), el("td", {}, num(v.capacity_t))))));
  $("schedules-table").replaceChildren(head(t("vessel"), t("eta"), t("ets"), t("planned_quantity"), t("destination"), ""),
    el("tbody", {}, schedules.map((s) => el("tr", {}, el("td", {}, s.vessel_name), el("td", {}, when(s.eta)),
      el("td", {}, when(s.ets)), el("td", {}, num(s.planned_t)), el("td", {}, s.destination),
      el("td", {}, s.upcoming ? t("upcoming") : t("earlier"))))));
  const select = $("schedule-vessel");
  const chosen = select.value;
  select.replaceChildren(...vessels.map((v) => el("option", { value: v.id }, `${v.name} (${num(v.capacity_t)} t)`)));
  if (vessels.some((v) => v.id === chosen)) select.value = chosen;
}

export async function refresh() {
  const [vessels, schedules] = await Promise.all([getJSON("/master/vessels"), getJSON("/master/schedules")]);
  fillTables(vessels, schedules);
  fillSchedules(schedules);
}

export function initData(page) {
  fillTables(page.choices.vessels, page.choices.schedules);
  $("vessel-form").addEventListener("submit", (e) => { e.preventDefault(); post(e.target, "vessel", "/add_vessel", ["capacity"]); });
  $("schedule-form").addEventListener("submit", (e) => {
    e.preventDefault();
    post(e.target, "schedule", "/add_schedule", ["plannedQuantity"]);
  });
}
