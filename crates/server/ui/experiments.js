// The dashboard's experiments panel: every experiment with its state, layer
// and traffic, and per variant its units (against the share its weight
// asks for), lists, click-through and conversion with their intervals and
// latency; each treatment's difference from the control with its interval
// and always-valid p-value, and a warning when the split is off (sample
// ratio mismatch). GET /v1/admin/experiments and …/{name}/report.
import * as api from "./api.js";
import { h, clear, errorBox, empty, num, ms, pct } from "./dom.js";

/** @param {HTMLElement} box */
export async function loadExperiments(box) {
  try {
    const [list, verdicts] = await Promise.all([api.experiments(), api.feedbackReport()]);
    const reports = await Promise.all(list.map((/** @type {any} */ e) => api.experimentReport(e.name).catch((/** @type {any} */ err) => ({ error: err }))));
    clear(box).append(h("h2", { text: "Experiments" }));
    if (!list.length) {
      box.append(empty("No experiments.", "Declare one in the configuration ([[experiments]]) or with POST /v1/admin/experiments; see docs/experiments.md."));
    }
    list.forEach((/** @type {any} */ e, /** @type {number} */ i) => box.append(experiment(e, reports[i])));
    box.append(feedback(verdicts));
  } catch (e) {
    clear(box).append(h("h2", { text: "Experiments" }), errorBox(e, () => loadExperiments(box)));
  }
}

const interval = (/** @type {any} */ m) => `${pct(m.value)} ± ${pct(1.96 * m.se)}`;

function experiment(/** @type {any} */ e, /** @type {any} */ r) {
  const head = h("p", { class: "small" },
    h("strong", { text: e.name }), ` · ${e.state} · layer ${e.layer} · ${pct(e.traffic)} of users by ${e.unit} · ${e.surfaces.join(", ")}${e.description ? ` — ${e.description}` : ""}`);
  if (r.error) return h("div", { class: "experiment", "data-testid": "experiment", "data-name": e.name }, head, errorBox(r.error, () => {}));
  if (r.interleaving) return h("div", { class: "experiment", "data-testid": "experiment", "data-name": e.name }, head, interleaved(e, r.interleaving));
  const variants = h("table", { class: "data", "data-testid": "experiment-variants" },
    h("caption", { text: `${e.name}: variants` }),
    h("thead", {}, h("tr", {}, ["variant", "units", "share (asked)", "lists", "CTR", "conversion", "p50 / p99"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, r.variants.map((/** @type {any} */ v) => h("tr", { "data-variant": v.variant },
      h("th", { scope: "row", text: v.variant === r.control ? `${v.variant} (control)` : v.variant }),
      h("td", { text: num(v.units) }),
      h("td", { text: `${pct(v.share)} (${pct(v.expected_share)})` }),
      h("td", { text: num(v.exposures) }),
      h("td", { text: interval(v.ctr) }),
      h("td", { text: interval(v.conversion) }),
      h("td", { text: `${ms(v.latency_p50_ms)} / ${ms(v.latency_p99_ms)}` })))));
  const compared = r.comparisons.filter((/** @type {any} */ c) => c.metric === "ctr" || c.metric === "conversion");
  const comparisons = h("table", { class: "data", "data-testid": "experiment-comparisons" },
    h("caption", { text: `${e.name}: against ${r.control}` }),
    h("thead", {}, h("tr", {}, ["variant", "metric", "difference", "95 % interval", "relative", "p (sequential)", ""].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, compared.map((/** @type {any} */ c) => h("tr", {},
      h("th", { scope: "row", text: c.variant }), h("td", { text: c.metric }),
      h("td", { text: signed(c.difference) }), h("td", { text: `${signed(c.low)} … ${signed(c.high)}` }),
      h("td", { text: `${c.relative >= 0 ? "+" : ""}${(100 * c.relative).toFixed(1)} %` }),
      h("td", { text: c.p_sequential.toFixed(4) }),
      h("td", { text: c.significant ? "significant" : "" })))));
  const srm = r.srm
    ? h("p", { class: "warn small", role: "alert", "data-testid": "srm", text: `Sample ratio mismatch (p = ${r.srm_p.toExponential(1)}): units did not split as the weights say; find out why before reading any difference.` })
    : h("p", { class: "muted small", "data-testid": "srm", text: `Split as asked (sample ratio p = ${r.srm_p.toFixed(3)}), ${num(r.looks)} daily look(s); "significant" uses the sequential test, which may be read every day.` });
  return h("div", { class: "experiment", "data-testid": "experiment", "data-name": e.name }, head,
    h("div", { class: "scroll" }, variants), h("div", { class: "scroll" }, comparisons), srm);
}

function interleaved(/** @type {any} */ e, /** @type {any} */ i) {
  const [a, b] = i.variants;
  return h("div", { class: "scroll" }, h("table", { class: "data", "data-testid": "experiment-interleaving" },
    h("caption", { text: `${e.name}: interleaved lists (team draft)` }),
    h("thead", {}, h("tr", {}, ["lists", "with clicks", "users", `${a} wins`, `${b} wins`, "ties", `preference for ${b}`, "95 % interval", "p"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, h("tr", {},
      [num(i.lists), num(i.lists_with_clicks), num(i.units), num(i.wins[0]), num(i.wins[1]), num(i.ties), signed(i.preference), `${signed(i.low)} … ${signed(i.high)}`, i.p.toFixed(4)]
        .map((t) => h("td", { text: t }))))));
}

/** Verdicts on reasons, by who wrote them and the prompt version. */
function feedback(/** @type {any} */ f) {
  const head = h("h3", { text: "Feedback on reasons" });
  if (!f.rows.length) return h("div", { "data-testid": "reason-feedback" }, head, empty("No verdicts yet.", "People judge a pick's reason with the helpful / wrong buttons under it (POST /v1/feedback)."));
  return h("div", { class: "scroll", "data-testid": "reason-feedback" }, head, h("table", { class: "data" },
    h("thead", {}, h("tr", {}, ["reason by", "prompt", "surface", "helpful", "wrong", "helpful share", "95 % interval"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, f.rows.map((/** @type {any} */ r) => h("tr", {},
      h("th", { scope: "row", text: r.rationale === "llm" ? "model" : "signals" }),
      [r.prompt_version, r.surface, num(r.helped), num(r.wrong), pct(r.helpful_share), `${pct(r.low)} … ${pct(r.high)}`].map((t) => h("td", { text: t })))))),
    f.unmatched ? h("p", { class: "muted small", text: `${num(f.unmatched)} verdicts name a list or item the exposure log does not hold.` }) : null);
}

const signed = (/** @type {number} */ x) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(4)}`;
