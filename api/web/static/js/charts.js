// Small SVG charts (no library): a line chart with 95% bands and a scatter chart.
// Points are focusable (Tab) and show their values on hover or focus; legend entries toggle series.

import { el } from "./util.js";

const SVG = "http://www.w3.org/2000/svg";
// Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
const SIZE = { width: 560, height: 330, left: 78, right: 16, top: 28, bottom: 46 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (lo === hi) { lo -= 1; hi += 1; }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

function frame(container, labelledBy, xLabel, yLabel, xDomain, yDomain, xFormat, yFormat, xTicks) {
  container.replaceChildren();
  const root = svg("svg", { viewBox: `0 0 ${SIZE.width} ${SIZE.height}`, role: "img", "aria-labelledby": labelledBy,
                            class: "chart-svg" });
  const x = scale(xDomain[0], xDomain[1], SIZE.left, SIZE.width - SIZE.right);
  const y = scale(yDomain[0], yDomain[1], SIZE.height - SIZE.bottom, SIZE.top);
  const axes = svg("g", { class: "axes" });
  for (const v of niceTicks(yDomain[0], yDomain[1], 5)) {
    axes.append(svg("line", { x1: SIZE.left, x2: SIZE.width - SIZE.right, y1: y(v), y2: y(v), class: "grid" }));
    axes.append(svg("text", { x: SIZE.left - 6, y: y(v) + 4, "text-anchor": "end" }, yFormat(v)));
  }
  for (const v of xTicks || niceTicks(xDomain[0], xDomain[1], 6)) {
    axes.append(svg("line", { x1: x(v), x2: x(v), y1: SIZE.height - SIZE.bottom, y2: SIZE.height - SIZE.bottom + 4,
                              class: "tick" }));
    axes.append(svg("text", { x: x(v), y: SIZE.height - SIZE.bottom + 17, "text-anchor": "middle" }, xFormat(v)));
  }
  axes.append(svg("line", { x1: SIZE.left, x2: SIZE.width - SIZE.right, y1: SIZE.height - SIZE.bottom,
                            y2: SIZE.height - SIZE.bottom, class: "axis" }));
  axes.append(svg("text", { x: (SIZE.left + SIZE.width) / 2, y: SIZE.height - 6, "text-anchor": "middle",
                            class: "axis-label" }, xLabel));
  axes.append(svg("text", { x: 4, y: 14, class: "axis-label", "text-anchor": "start" }, yLabel));
  root.append(axes);
  const tip = el("div", { class: "chart-tip", role: "status", hidden: true });
  container.append(root, tip);
  return { root, x, y, tip };
}

function attachTip(point, tip, container, text) {
  point.setAttribute("tabindex", "0");
  point.setAttribute("aria-label", text);
  point.append(svg("title", {}, text));
  const show = () => {
    tip.textContent = text;
    tip.hidden = false;
    const box = point.getBoundingClientRect();
    const host = container.getBoundingClientRect();
    tip.style.left = `${Math.min(box.left - host.left + 10, host.width - 220)}px`;
    tip.style.top = `${box.top - host.top - 36}px`;
  };
  const hide = () => { tip.hidden = true; };
  point.addEventListener("mouseenter", show);
  point.addEventListener("focus", show);
  point.addEventListener("mouseleave", hide);
  point.addEventListener("blur", hide);
}

function extent(values) {
  const v = values.filter((n) => Number.isFinite(n));
  return v.length ? [Math.min(...v), Math.max(...v)] : [0, 1];
}

function pad([lo, hi], share = 0.06) {
  const d = (hi - lo) || Math.abs(hi) || 1;
  return [lo - d * share, hi + d * share];
}

/**
 * Lines with 95% bands. series: [{name, points: [{x, y, lo, hi, text}]}]; options: labelledBy, xLabel,
 * yLabel, xFormat, yFormat. Returns the legend element (already in the container).
 */
export function lineChart(container, series, options) {
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]));
  const xDomain = pad(extent(xs), 0.04);
  const integers = [...new Set(xs)].sort((a, b) => a - b);
  const xTicks = integers.length <= 16 ? integers : undefined;
  const { root, x, y, tip } = frame(container, options.labelledBy, options.xLabel, options.yLabel, xDomain,
                                    pad(extent(ys)), options.xFormat, options.yFormat, xTicks);
  const legend = el("div", { class: "legend", role: "group", "aria-label": options.legendLabel || "" });
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const g = svg("g", { class: "series", "data-series": s.name });
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.every((p) => Number.isFinite(p.lo) && Number.isFinite(p.hi)) && pts.length > 1) {
      const upper = pts.map((p) => `${x(p.x)},${y(p.hi)}`);
      const lower = pts.slice().reverse().map((p) => `${x(p.x)},${y(p.lo)}`);
      g.append(svg("polygon", { points: [...upper, ...lower].join(" "), fill: color, opacity: 0.15 }));
    }
    g.append(svg("polyline", { points: pts.map((p) => `${x(p.x)},${y(p.y)}`).join(" "), fill: "none",
                               stroke: color, "stroke-width": 2 }));
    for (const p of pts) {
      if (Number.isFinite(p.lo) && Number.isFinite(p.hi)) {
        g.append(svg("line", { x1: x(p.x), x2: x(p.x), y1: y(p.lo), y2: y(p.hi), stroke: color, opacity: 0.6 }));
      }
      const dot = svg("circle", { cx: x(p.x), cy: y(p.y), r: 5, fill: color, class: "point" });
      attachTip(dot, tip, container, p.text);
      g.append(dot);
    }
    root.append(g);
    const button = el("button", { type: "button", class: "legend-item", "aria-pressed": "true" },
                      el("span", { class: "swatch", style: `background:${color}`, "aria-hidden": "true" }), s.name);
    button.addEventListener("click", () => {
      const on = button.getAttribute("aria-pressed") === "true";
      button.setAttribute("aria-pressed", on ? "false" : "true");
      g.style.display = on ? "none" : "";
    });
    legend.append(button);
  });
  container.append(legend);
  return legend;
}

/**
 * A scatter of points [{x, y, text, highlight}]; highlighted points (the Pareto front) are drawn larger
 * and in colour (not joined: the front is over three objectives, this is its profit-queue projection).
 * options as lineChart plus highlightName, otherName.
 */
export function scatterChart(container, points, options) {
  const { root, x, y, tip } = frame(container, options.labelledBy, options.xLabel, options.yLabel,
                                    pad(extent(points.map((p) => p.x))), pad(extent(points.map((p) => p.y))),
                                    options.xFormat, options.yFormat);
  for (const p of [...points].sort((a, b) => Number(a.highlight) - Number(b.highlight))) {
    const dot = p.highlight
      ? svg("circle", { cx: x(p.x), cy: y(p.y), r: 6, fill: PALETTE[1], class: "point pareto" })
      : svg("circle", { cx: x(p.x), cy: y(p.y), r: 4, fill: "#6b7280", class: "point" });
    attachTip(dot, tip, container, p.text);
    root.append(dot);
  }
  container.append(el("div", { class: "legend" },
    el("span", { class: "legend-item static" }, el("span", { class: "swatch", style: `background:${PALETTE[1]}` }),
       options.highlightName),
    el("span", { class: "legend-item static" }, el("span", { class: "swatch", style: "background:#6b7280" }),
       options.otherName)));
}
