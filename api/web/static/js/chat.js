// The analyst chat: POST /ask_chatbot/stream with {question, run_id}; the answer streams in as
// server-sent events ("data: {delta}" chunks, then "event: done" with the source).

import { currentRun } from "./plan.js";
import { apiFetch, el, errorText, on, readSSE, t } from "./util.js";

const $ = (id) => document.getElementById(id);

function message(who, cls) {
  const text = el("div", { class: "text" });
  const meta = el("div", { class: "source" });
  const node = el("div", { class: `msg ${cls}` }, el("div", { class: "who" }, who), text, meta);
  $("chat-log").append(node);
  return { text, meta, node };
}

async function ask(event) {
  event.preventDefault();
  const input = $("chat-question");
  const question = input.value.trim() || input.placeholder;
  const run = currentRun();
  if (!run) {
    message(t("analyst"), "system").text.textContent = t("chat_needs_run");
    return;
  }
  message(t("you"), "user").text.textContent = question;
  input.value = "";
  const answer = message(t("analyst"), "bot");
  answer.node.setAttribute("aria-busy", "true");
  $("chat-send").disabled = true;
  try {
    const r = await apiFetch("/ask_chatbot/stream", {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ question, run_id: run.run_id }),
    });
    if (!r.ok) {
      const body = await r.json().catch(() => null);
      throw new Error(errorText(body, r.status));
    }
    await readSSE(r, (name, data) => {
      const payload = JSON.parse(data);
      if (name === "done") {
        answer.meta.textContent = payload.source === "llm"
          ? t("source_llm", { model: payload.model || "LLM" }) : t("source_fallback");
        answer.meta.dataset.source = payload.source;
        if (payload.answer && !answer.text.textContent.trim()) answer.text.textContent = payload.answer;
      } else if (payload.delta !== undefined) {
        answer.text.textContent += payload.delta;
        $("chat-log").scrollTop = $("chat-log").scrollHeight;
      } else if (payload.error) {
        throw new Error(payload.error);
      }
    });
  } catch (err) {
    answer.meta.textContent = t("run_failed", { detail: err.message });
  } finally {
    answer.node.removeAttribute("aria-busy");
    $("chat-send").disabled = false;
  }
}

export function initChat() {
  $("chat-form").addEventListener("submit", ask);
  $("chat-question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("chat-form").requestSubmit(); }
  });
  on("run-shown", (run) => { $("chat-title").dataset.run = run.run_id; });
}
