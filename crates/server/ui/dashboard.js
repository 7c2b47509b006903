// Operator dashboard: per-stage latency histograms of both request paths, LLM
// usage and fallback reasons, cache hit rate, activity over the last ten
// minutes, catalog, index and model state, the experiments with their
// variant metrics (experiments.js), and the latest offline evaluation with
// its plots. Polls GET /v1/admin/dashboard every five seconds, the
// experiments' reports every fifteen.
import * as api from "./api.js";
import { h, clear, errorBox, empty, num, ms, pct } from "./dom.js";
import { histogram, activity, shareBar } from "./charts.js";
import { loadExperiments } from "./experiments.js";

const EVERY_MS = 5000;

/** @param {HTMLElement} view */
export function render(view) {
  const tiles = h("div", { class: "tiles", "data-testid": "tiles" });
  const act = h("div", { class: "panel", "data-testid": "activity" });
  const latency = h("div", { class: "panel wide", "data-testid": "latency" });
  const llm = h("div", { class: "panel", "data-testid": "llm" });
  const catalog = h("div", { class: "panel", "data-testid": "catalog" });
  const evalBox = h("div", { class: "panel wide", "data-testid": "eval" });
  const experimentsBox = h("div", { class: "panel wide", "data-testid": "experiments" });
  const updated = h("p", { class: "muted small", "aria-live": "off" });
  view.append(h("section", { class: "dash", "aria-labelledby": "dash-h" },
    h("div", { class: "section-head" }, h("h1", { id: "dash-h", text: "Operator dashboard" }), updated),
    tiles, h("div", { class: "panels" }, act, llm, latency, catalog, experimentsBox, evalBox)));

  let stopped = false;
  let timer = 0;
  async function tick() {
    try {
      const d = await api.dashboard();
      if (stopped) return;
      draw(d);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()} · every ${EVERY_MS / 1000} s`;
    } catch (e) {
      clear(tiles).append(errorBox(e, tick));
    }
    if (!stopped) timer = window.setTimeout(tick, EVERY_MS);
  }

  function draw(/** @type {any} */ d) {
    const slots = d.activity.slots;
    const lastMin = (/** @type {string} */ k) => slots.slice(-6).reduce((a, x) => a + x[k], 0);
    const turns = d.chat_turns.llm + d.chat_turns.fallback;
    const cache = d.llm ? d.llm.cache : null;
    const total = d.recommend_latency.find((x) => x.stage === "total");
    clear(tiles).append(
      tile("Catalog", num(d.store.items), `${num(d.store.items_available)} available`),
      tile("Events", num(d.store.events), `${num(lastMin("events"))} in the last minute`, "events-rate"),
      tile("Recommendations", total ? num(total.count) : "0", `${num(lastMin("recommendations"))} in the last minute · p99 ${total ? ms(total.p99_ms) : "–"}`),
      tile("LLM answered", turns ? pct(d.chat_turns.llm / turns) : "–", `${num(turns)} chat turns · ${num(d.chat_turns.fallback)} fallbacks`, "llm-rate"),
      tile("Cache hit rate", cache ? pct(cache.hit_ratio) : "–", cache ? `${num(cache.hits)} hits of ${num(cache.hits + cache.misses)} · ${num(cache.entries)} entries` : "LLM not loaded yet", "cache-rate"),
      tile("Models", d.models ? age(d.models.fitted_at) : "not fitted", d.models ? d.models.version : "run sommelier fit"),
    );

    clear(act).append(h("h2", { text: "Activity, last 10 minutes" }),
      activity([
        { name: "events", values: slots.map((/** @type {any} */ x) => x.events) },
        { name: "recommendations", values: slots.map((/** @type {any} */ x) => x.recommendations) },
        { name: "chat turns", values: slots.map((/** @type {any} */ x) => x.chat_turns) },
      ], d.activity.slot_secs),
      h("p", { class: "muted small", text: `Ingest since start: ${num(d.ingest.accepted)} accepted, ${num(d.ingest.rejected)} rejected, ${num(d.ingest.duplicates)} duplicates.` }));

    clear(latency).append(h("h2", { text: "Latency per stage" }),
      stageTable("POST /v1/recommend", d.recommend_latency),
      stageTable("POST /v1/chat", d.chat_latency));

    clear(llm).append(h("h2", { text: "LLM layer" }));
    if (!d.llm) {
      llm.append(empty("The LLM layer is not loaded yet.", "It loads in the background at start, or on the first chat turn."));
    } else {
      llm.append(h("p", { class: "small" }, "Intent: ", h("code", { text: d.llm.small }), " · re-rank and replies: ", h("code", { text: d.llm.large })));
      if (turns) {
        llm.append(h("p", { class: "small", text: "Chat turns: LLM answer used vs fallback" }),
          shareBar([{ label: "LLM", value: d.chat_turns.llm, cls: "seg-llm" }, { label: "fallback", value: d.chat_turns.fallback, cls: "seg-fallback" }]));
      }
      /** @type {Map<string, Map<string, number>>} */
      const by = new Map();
      for (const o of d.llm.stages) {
        if (!by.has(o.stage)) by.set(o.stage, new Map());
        by.get(o.stage)?.set(o.outcome, o.count);
      }
      if (!by.size) llm.append(empty("No LLM calls yet.", "Ask something in Chat."));
      else {
        llm.append(h("div", { class: "scroll" }, h("table", { class: "data" },
          h("caption", { text: "Outcomes per stage (fallback reasons)" }),
          h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "stage" }), h("th", { scope: "col", text: "used" }), h("th", { scope: "col", text: "fallback rate" }), h("th", { scope: "col", text: "reasons" }))),
          h("tbody", {}, [...by].map(([stage, outs]) => {
            const used = outs.get("llm") || 0;
            const all = [...outs.values()].reduce((a, b) => a + b, 0);
            const reasons = [...outs].filter(([o]) => o !== "llm").map(([o, n]) => `${o} ${n}`).join(", ");
            return h("tr", {}, h("th", { scope: "row", text: stage }), h("td", { text: `${num(used)} / ${num(all)}` }), h("td", { text: pct((all - used) / (all || 1)) }), h("td", { text: reasons || "–" }));
          })))));
      }
      if (d.llm.tokens.length) {
        llm.append(h("div", { class: "scroll" }, h("table", { class: "data" },
          h("caption", { text: "Tokens per model" }),
          h("thead", {}, h("tr", {}, ["model", "calls", "prompt", "reused prefix", "generated"].map((c) => h("th", { scope: "col", text: c })))),
          h("tbody", {}, d.llm.tokens.map((/** @type {any} */ t) => h("tr", {}, h("th", { scope: "row", text: t.model.replace(/^local:/, "") }),
            [t.calls, t.prompt, t.cached, t.completion].map((v) => h("td", { text: num(v) }))))))));
      }
    }

    clear(catalog).append(h("h2", { text: "Catalog, index and models" }),
      h("dl", { class: "facts" },
        fact("Items", `${num(d.store.items)} live · ${num(d.store.items_deleted)} deleted`),
        fact("Users", `${num(d.store.users)} profiles · ${num(d.store.event_users)} with events`),
        fact("Events", `${num(d.store.events)} (${Object.entries(d.store.events_by_kind).map(([k, v]) => `${k} ${num(/** @type {number} */ (v))}`).join(", ")})`),
        fact("Event span", d.store.first_event ? `${d.store.first_event.slice(0, 10)} → ${d.store.last_event.slice(0, 10)}` : "–"),
        fact("Features", d.feature_events_applied == null ? "building…" : `${num(d.feature_events_applied)} events folded in`
          + (d.features_start ? (d.features_start.source === "saved"
            ? ` · loaded from their save at start, ${num(d.features_start.events_read)} newer events read (${num(d.features_start.ms)} ms)`
            : ` · rebuilt from the log at start (${num(d.features_start.ms)} ms${d.features_start.reason ? `: ${d.features_start.reason}` : ""})`) : "")),
        fact("Catalog", d.catalog_start == null ? "building…" : (d.catalog_start.source === "saved"
          ? `${num(d.catalog_start.items)} items loaded from their save at start, ${num(d.catalog_start.changed_since_save)} changed since read again (${num(d.catalog_start.ms)} ms)`
          : `${num(d.catalog_start.items)} items read from the store at start (${num(d.catalog_start.ms)} ms${d.catalog_start.reason ? `: ${d.catalog_start.reason}` : ""})`)),
        fact("Problems found at start", Object.keys(d.damage).length ? Object.entries(d.damage).map(([k, v]) => `${k} ${num(/** @type {number} */ (v))}`).join(", ") + " (see the server log)" : "none"),
        fact("Vector index", d.index ? `${d.index.backend}${d.index.storage ? ` (${d.index.storage})` : ""}, ${num(d.index.vectors)} × ${d.index.dim} (${d.index.embedding_model})` : "building…"),
        fact("Lexical index", d.index && d.index.lexical_docs != null ? `BM25, ${num(d.index.lexical_docs)} documents` : "–"),
        fact("Embedding backlog", d.embed_backlog.pending ? "items waiting for vectors: a run is due"
          : d.embed_backlog.last ? `none; the last run embedded ${num(d.embed_backlog.last.embedded)} of ${num(d.embed_backlog.last.items)} items` : "none"),
        fact("Fitted models", d.models ? `${d.models.version}: ${num(d.models.interactions)} interactions, ${d.models.collaborative === "als" ? `iALS ${num(d.models.als_items)} items × ${d.models.als_factors}` : `EASE ${num(d.models.ease_items)} items`}, ${num(d.models.sequential_pairs)} next-item pairs, fit in ${d.models.seconds.toFixed(1)} s` : "none yet"),
        fact("Ranker", d.models && d.models.ranker ? (d.models.ranker.skipped ? `skipped: ${d.models.ranker.skipped}` : `${num(d.models.ranker.examples)} examples, log-loss ${d.models.ranker.log_loss.toFixed(4)}`) : "–"),
        fact("Disk", `${(d.store.disk_bytes / 1048576).toFixed(1)} MiB`),
        fact("Version", d.version)));
  }

  async function loadEval() {
    try {
      const r = await api.latestEval();
      clear(evalBox).append(h("h2", { text: "Latest offline evaluation" }));
      if (!r.report) {
        evalBox.append(empty("No evaluation report yet.", `Run \`sommelier eval --dataset movielens-small\` (or bench/peers/run.sh for the peers too); reports are read from the data folder's eval/ folder. The demo runs one in the background at first start.`));
        return false;
      }
      const rep = r.report;
      const k = rep.systems[0] && rep.systems[0].at["10"] ? "10" : Object.keys(rep.systems[0]?.at || {}).pop();
      // bench/peers/run.sh writes its peers into the report itself; an older
      // report has them only in the .peers.json beside it.
      const inReport = new Set(rep.systems.map((/** @type {any} */ s) => s.system));
      const rows = [...rep.systems.map((/** @type {any} */ s) => ({ ...s, peer: !!s.peer })), ...((r.peers && r.peers.systems) || []).filter((/** @type {any} */ s) => !inReport.has(s.system)).map((/** @type {any} */ s) => ({ ...s, peer: true }))];
      evalBox.append(
        h("p", { class: "small", text: `${rep.dataset}, ${rep.protocol}${rep.ties ? ` (ties by ${rep.ties})` : ""} (${rep.split} split): ${num(rep.test_users)} test users (${num(rep.tied_users || 0)} tied in time with their last training item), ${num(rep.catalog)} items, written ${new Date(r.modified_ms).toLocaleString()}.` }),
        h("div", { class: "scroll" }, h("table", { class: "data", "data-testid": "eval-table" },
          h("caption", { text: `Metrics @${k}` }),
          h("thead", {}, h("tr", {}, ["system", "NDCG", "HR", "MRR", "coverage", "ms/user"].map((c) => h("th", { scope: "col", text: c })))),
          h("tbody", {}, rows.filter((s) => s.at[k]).map((s) => h("tr", { class: s.peer ? "peer" : "" },
            h("th", { scope: "row", text: s.peer ? `${s.system} (peer)` : s.system }),
            [s.at[k].ndcg, s.at[k].hr, s.at[k].mrr, s.at[k].coverage].map((v) => h("td", { text: v.toFixed(4) })),
            h("td", { text: s.ms_per_user.toFixed(2) })))))),
        h("div", { class: "plots" }, r.plots.map((/** @type {string} */ p) => {
          const img = /** @type {HTMLImageElement} */ (h("img", { alt: `Plot: ${p.replace(/^plot-|\.svg$/g, "").replace(/-/g, " ")}`, "data-testid": "eval-plot" }));
          api.fileUrl(`/v1/admin/eval/files/${encodeURIComponent(p)}`).then((u) => { img.src = u; }).catch(() => { img.alt = `${img.alt} (not loaded)`; });
          return h("figure", {}, img, h("figcaption", { class: "muted small", text: p }));
        })));
      return true;
    } catch (e) {
      clear(evalBox).append(h("h2", { text: "Latest offline evaluation" }), errorBox(e, loadEval));
      return true;
    }
  }

  tick();
  // The demo writes its first report a minute after start: look again until one is there.
  let evalTimer = 0;
  const pollEval = async () => {
    if (stopped) return;
    if (!(await loadEval()) && !stopped) evalTimer = window.setTimeout(pollEval, 15000);
  };
  pollEval();
  // Reports scan the logs: every fifteen seconds is enough.
  let experimentsTimer = 0;
  const pollExperiments = async () => {
    await loadExperiments(experimentsBox);
    if (!stopped) experimentsTimer = window.setTimeout(pollExperiments, 15000);
  };
  pollExperiments();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(evalTimer);
    clearTimeout(experimentsTimer);
  };
}

function tile(/** @type {string} */ label, /** @type {string} */ value, /** @type {string} */ sub, /** @type {string=} */ testid) {
  return h("div", { class: "tile", "data-testid": testid }, h("p", { class: "tile-label", text: label }), h("p", { class: "tile-value", text: value }), h("p", { class: "muted small", text: sub }));
}

function fact(/** @type {string} */ k, /** @type {string} */ v) {
  return [h("dt", { text: k }), h("dd", { text: v })];
}

function age(/** @type {string} */ fittedAt) {
  const s = Math.max(0, (Date.now() - Date.parse(fittedAt)) / 1000);
  if (Number.isNaN(s)) return "fitted";
  if (s < 90) return `${Math.round(s)} s old`;
  if (s < 5400) return `${Math.round(s / 60)} min old`;
  return `${(s / 3600).toFixed(1)} h old`;
}

function stageTable(/** @type {string} */ title, /** @type {any[]} */ stages) {
  if (!stages.length) return h("div", {}, h("h3", { text: title }), empty("No requests yet."));
  const order = (/** @type {any} */ x) => (x.stage === "total" ? 1 : 0);
  return h("div", { class: "scroll" }, h("table", { class: "data latency" },
    h("caption", { text: title }),
    h("thead", {}, h("tr", {}, ["stage", "count", "mean", "p50", "p99", "histogram"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, [...stages].sort((a, b) => order(a) - order(b)).map((st) => h("tr", { class: st.stage === "total" ? "total" : "" },
      h("th", { scope: "row", text: st.stage }), h("td", { text: num(st.count) }), h("td", { text: ms(st.mean_ms) }),
      h("td", { text: st.p50_ms == null ? "–" : `≤ ${ms(st.p50_ms)}` }), h("td", { text: st.p99_ms == null ? "–" : `≤ ${ms(st.p99_ms)}` }),
      h("td", {}, histogram(st)))))));
}
