// Inline SVG charts: a latency histogram, an activity chart, a share bar. No
// library; each chart has a text alternative for screen readers.
const NS = "http://www.w3.org/2000/svg";

/** @param {string} tag @param {Record<string, any>} attrs @param {...Node} kids */
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...kids);
  return el;
}

/** @param {number} b bucket bound in ms */
function boundLabel(b) {
  if (b >= 1000) return `${b / 1000}s`;
  if (b >= 1) return `${b}ms`;
  return `${b * 1000}µs`;
}

/**
 * A stage's latency histogram (bucket counts, not cumulative).
 * @param {{stage: string, buckets: number[], bounds_ms: number[], count: number}} st
 */
export function histogram(st) {
  const W = 200, H = 40, pad = 12;
  let lo = st.buckets.findIndex((c) => c > 0);
  let hi = st.buckets.length - 1 - [...st.buckets].reverse().findIndex((c) => c > 0);
  if (lo < 0) { lo = 0; hi = 0; }
  lo = Math.max(0, lo - 1);
  hi = Math.min(st.buckets.length - 1, hi + 1);
  const shown = st.buckets.slice(lo, hi + 1);
  const max = Math.max(...shown, 1);
  const bw = (W - 2) / shown.length;
  const label = (/** @type {number} */ i) => (i < st.bounds_ms.length ? `≤${boundLabel(st.bounds_ms[i])}` : `>${boundLabel(st.bounds_ms[st.bounds_ms.length - 1])}`);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + pad}`, width: W, height: H + pad, role: "img", class: "hist",
    "aria-label": `${st.stage}: ${shown.map((c, i) => `${c} ${label(lo + i)}`).join(", ")}` });
  shown.forEach((c, i) => {
    const bh = c ? Math.max(2, (H - 4) * (c / max)) : 0;
    const rect = s("rect", { x: 1 + i * bw + 1, y: H - bh, width: Math.max(1, bw - 2), height: bh, rx: 1.5 });
    rect.append(s("title", {}, document.createTextNode(`${label(lo + i)}: ${c}`)));
    svg.append(rect);
  });
  svg.append(s("text", { x: 1, y: H + pad - 1, class: "axis" }, document.createTextNode(label(lo))));
  svg.append(s("text", { x: W - 1, y: H + pad - 1, class: "axis", "text-anchor": "end" }, document.createTextNode(label(hi))));
  return svg;
}

/**
 * Bars per time slot for a few series, one row each.
 * @param {{name: string, values: number[]}[]} series
 * @param {number} slotSecs
 */
export function activity(series, slotSecs) {
  const W = 600, row = 46, gap = 10;
  const H = series.length * (row + gap);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "activity-chart", role: "img", preserveAspectRatio: "none",
    "aria-label": series.map((x) => `${x.name}: ${x.values.reduce((a, b) => a + b, 0)} in the last ${(x.values.length * slotSecs) / 60} minutes`).join("; ") });
  series.forEach((x, r) => {
    const y0 = r * (row + gap);
    const max = Math.max(...x.values, 1);
    const bw = W / x.values.length;
    svg.append(s("text", { x: 2, y: y0 + 11, class: "axis" }, document.createTextNode(`${x.name} (max ${max} per ${slotSecs}s)`)));
    x.values.forEach((v, i) => {
      const bh = v ? Math.max(1.5, (row - 16) * (v / max)) : 0;
      svg.append(s("rect", { x: i * bw + 0.5, y: y0 + row - bh, width: Math.max(0.5, bw - 1), height: bh, class: `series-${r}` }));
    });
    svg.append(s("line", { x1: 0, x2: W, y1: y0 + row + 0.5, y2: y0 + row + 0.5, class: "baseline" }));
  });
  return svg;
}

/**
 * A horizontal share bar, e.g. LLM used vs fallback.
 * @param {{label: string, value: number, cls: string}[]} parts
 */
export function shareBar(parts) {
  const total = parts.reduce((a, p) => a + p.value, 0) || 1;
  const bar = document.createElement("div");
  bar.className = "share";
  bar.setAttribute("role", "img");
  bar.setAttribute("aria-label", parts.map((p) => `${p.label} ${Math.round((100 * p.value) / total)}%`).join(", "));
  for (const p of parts) {
    if (!p.value) continue;
    const seg = document.createElement("span");
    seg.className = p.cls;
    seg.style.width = `${(100 * p.value) / total}%`;
    seg.title = `${p.label}: ${p.value}`;
    bar.append(seg);
  }
  return bar;
}
