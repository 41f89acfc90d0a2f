// The planner page's entry point: tabs (arrow keys move between them), language switch, modules.

import { initChat } from "./chat.js";
import { initData } from "./data.js";
import { startLive } from "./live.js";
import { initPlan, openRun } from "./plan.js";
import { initRuns, loadRuns } from "./runs.js";
import { on, page, setApiKey, t } from "./util.js";

const LANGUAGE_COOKIE = "mineops_lang";
const tabs = [...document.querySelectorAll('[role="tab"]')];

function select(tab, focus = true) {
  for (const other of tabs) {
    const on = other === tab;
    other.setAttribute("aria-selected", on ? "true" : "false");
    other.tabIndex = on ? 0 : -1;
    document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
  }
  if (focus) tab.focus();
  if (tab.id === "tab-runs") loadRuns();
  if (tab.id === "tab-live") startLive();
}

function initTabs() {
  for (const [i, tab] of tabs.entries()) {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (e) => {
      const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
      if (e.key in moves) {
        e.preventDefault();
        select(tabs[(moves[e.key] + tabs.length) % tabs.length]);
      }
    });
  }
}

function initLanguage() {
  const chooser = document.getElementById("lang-select");
  chooser.addEventListener("change", () => {
    document.cookie = `${LANGUAGE_COOKIE}=${chooser.value}; path=/; max-age=31536000; SameSite=Lax`;
    const url = new URL(location.href);
    if (url.searchParams.has("lang")) {
      url.searchParams.delete("lang");
      location.replace(url.toString()); // the hash keeps the open run
    } else {
      location.reload();
    }
  });
}

function initKey() {
  const form = document.getElementById("key-form");
  on("auth-needed", (status) => {
    document.getElementById("key-message").textContent = t(status === 403 ? "auth_forbidden" : "auth_needed");
    if (form.hidden) {
      form.hidden = false;
      document.getElementById("api-key").focus();
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setApiKey(document.getElementById("api-key").value.trim());
    location.reload(); // every panel reloads its data with the key (the hash keeps the open run)
  });
}

/** While the service warms up, poll /ready: the status line follows and Run waits for it. */
async function followReadiness() {
  const status = document.getElementById("service-status");
  const run = document.getElementById("run-button");
  if (page.service.ready) return;
  run.disabled = true;
  for (;;) {
    const r = await fetch("/ready", { headers: { Accept: "application/json" } }).catch(() => null);
    const body = r ? await r.json().catch(() => ({})) : {};
    if (r && r.ok) {
      status.textContent = t("service_ready", { version: body.champion });
      status.className = "status ok";
      run.disabled = false;
      return;
    }
    status.textContent = body.status === "error" ? t("run_failed", { detail: body.detail || "" })
      : t("service_starting", { phase: body.phase || "…" });
    await new Promise((ok) => setTimeout(ok, 2000));
  }
}

initTabs();
initKey();
followReadiness();
initLanguage();
initPlan();
initChat();
initRuns();
initData(page);
const match = location.hash.match(/^#run=([\w-]+)$/);
if (match) openRun(match[1]);
document.body.dataset.ready = "true"; // the scripts have run (browser tests wait for this)
