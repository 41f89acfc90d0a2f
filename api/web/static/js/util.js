// Shared helpers of the planner page: the page's data, texts, number formats, DOM and SSE parsing.

export const page = JSON.parse(document.getElementById("page-data").textContent);
const texts = page.texts;
const locale = page.locale;

/** The text `key` in the page's language, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = texts[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

const integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const decimals = new Map();

/** A number in the page's language (thousands separators, decimal comma in Indonesian). */
export function num(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(Number(x))) return t("none");
  if (digits === 0) return integer.format(x);
  if (!decimals.has(digits)) {
    decimals.set(digits, new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits }));
  }
  return decimals.get(digits).format(x);
}

const money = new Intl.NumberFormat(locale, { style: "currency", currency: "IDR", maximumFractionDigits: 0 });
const moneyCompact = new Intl.NumberFormat(locale, {
  style: "currency", currency: "IDR", notation: "compact", maximumFractionDigits: 2,
});

/** Rupiah, whole: "Rp 1.210.000.000" (id) or "IDR 1,210,000,000" (en). */
export function idr(x) {
  return x === null || x === undefined ? t("none") : money.format(x);
}

/** Rupiah, short for axes and intervals: "Rp 1,21 M" / "IDR 1.21B". */
export function idrShort(x) {
  return x === null || x === undefined ? t("none") : moneyCompact.format(x);
}

const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
export function pct(x) {
  return x === null || x === undefined ? t("none") : percent.format(x);
}

// Times are shown on the mine's clock (the forms take WIB too), whatever the browser's zone.
const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone: page.time_zone });
export function when(iso) {
  if (!iso) return t("none");
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

/** Build an element: el("p", {class: "x", text: "hi"}, child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Read a server-sent-events response body (fetch), calling onEvent(name, data) per event. */
export async function readSSE(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      let name = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(":")) continue; // keep-alive comment
        const [field, ...rest] = line.split(":");
        const value = rest.join(":").replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) onEvent(name, data.join("\n"));
    }
  }
}

/** FastAPI's 422 body as {field: message} (the last element of each error's loc). */
export function fieldErrors(body) {
  const out = {};
  const detail = body && Array.isArray(body.detail) ? body.detail : [];
  for (const e of detail) {
    const loc = Array.isArray(e.loc) ? e.loc : [];
    const field = loc.length ? String(loc[loc.length - 1]) : "body";
    out[field] = out[field] ? `${out[field]}; ${e.msg}` : e.msg;
  }
  return out;
}

/** A message from an error response body (FastAPI's detail string or list). */
export function errorText(body, status) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
  }
  return `HTTP ${status}`;
}

// Credentials for a service that requires them (API key or JWT, sent as a bearer token): asked for
// when a request answers 401/403, kept for this browser tab only (sessionStorage).
const KEY_STORE = "mineops_api_key";
export function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }
export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
}

/** fetch() with the stored credentials; a 401/403 asks the page for a key ("auth-needed"). */
export async function apiFetch(url, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = apiKey();
  if (key && !headers.has("Authorization")) headers.set("Authorization", `Bearer ${key}`);
  const r = await fetch(url, { ...options, headers });
  if (r.status === 401 || r.status === 403) emit("auth-needed", r.status);
  return r;
}

export async function getJSON(url) {
  const r = await apiFetch(url, { headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error(errorText(body, r.status));
  return body;
}

/** A tiny event bus between the page's modules ("run-loaded", "data-changed"). */
export const bus = new EventTarget();
export function emit(name, detail) { bus.dispatchEvent(new CustomEvent(name, { detail })); }
export function on(name, fn) { bus.addEventListener(name, (e) => fn(e.detail)); }
