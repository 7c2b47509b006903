// Chat: a conversation streamed from POST /v1/chat/stream. While a turn runs
// the classical candidates show at once and the model's draft reasons stream
// in (marked as a draft: the gate may still refuse them); the final answer
// replaces the draft with the items that passed, their reasons, follow-up
// chips, a badge saying whether the LLM or the fallback answered, and the
// parsed intent on request.
import * as api from "./api.js";
import { h, clear, status, errorBox, ms, reasonVerdict } from "./dom.js";

const STARTERS = [
  "light-hearted comedies from the 90s",
  "scary movies from the 80s, no gore",
  "animated films for kids",
  "a tense thriller like Heat",
];

/** The conversation survives switching views (not a reload). */
const convo = { session: /** @type {string|null} */ (null), user: /** @type {string|null} */ (null), nodes: /** @type {HTMLElement[]} */ ([]) };

/**
 * @param {HTMLElement} view
 * @param {any} ctx
 */
export function render(view, ctx) {
  if (convo.user !== ctx.user) {
    convo.session = null;
    convo.nodes = [];
    convo.user = ctx.user;
  }
  const log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", "data-testid": "chat-log" });
  const input = /** @type {HTMLTextAreaElement} */ (h("textarea", {
    id: "msg", rows: 2, maxlength: 2000, placeholder: "Ask for something to watch, or ask about an item…", "data-testid": "chat-input",
    onkeydown: (/** @type {KeyboardEvent} */ e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        form.requestSubmit();
      }
    },
  }));
  const send = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "primary", "data-testid": "chat-send" }, "Send"));
  const form = h("form", { class: "composer", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); ask(input.value); } },
    h("label", { for: "msg", class: "sr-only", text: "Message" }), input, send);
  const starters = h("div", { class: "starters" },
    h("p", { class: "muted", text: ctx.user ? `Chatting as user ${ctx.user}: answers use their history.` : "Chatting as a guest. Pick a user at the top to personalise answers." }),
    h("div", { class: "chips" }, STARTERS.map((s) => h("button", { type: "button", class: "chip", onclick: () => ask(s) }, s))));

  view.append(h("section", { class: "chat", "aria-labelledby": "chat-h" },
    h("div", { class: "section-head" },
      h("h1", { id: "chat-h", text: "Ask Sommelier" }),
      h("button", { type: "button", class: "ghost", "data-testid": "new-chat", onclick: () => { convo.session = null; convo.nodes = []; clear(log).append(starters); input.focus(); } }, "New conversation")),
    log, form));
  if (convo.nodes.length) log.append(...convo.nodes);
  else log.append(starters);
  input.focus();

  async function ask(/** @type {string} */ text) {
    const message = text.trim();
    if (!message || send.disabled) return;
    starters.remove();
    input.value = "";
    send.disabled = true;
    const mine = h("div", { class: "msg me" }, h("p", { text: message }));
    const answer = h("div", { class: "msg bot", "data-testid": "bot-message", "aria-busy": "true" });
    const progress = h("p", { class: "muted progress", text: "Understanding your request…" });
    const draft = h("ol", { class: "draft", "aria-label": "Draft reasons from the model (not yet checked)" });
    answer.append(progress, draft);
    convo.nodes.push(mine, answer);
    log.append(mine, answer);
    answer.scrollIntoView({ block: "end" });
    /** @type {[string, string][]} */
    let candidates = [];
    let raw = "";
    let final = null;
    try {
      const body = { message, channel: "cards", k: 5, context: api.requestContext() };
      if (convo.session) body.session_id = convo.session;
      if (ctx.user) body.user_id = ctx.user;
      await api.chatStream(body, (event, data) => {
        if (event === "intent") progress.textContent = "Finding candidates…";
        else if (event === "candidates") {
          candidates = data.items || [];
          progress.textContent = candidates.length ? `Choosing among ${candidates.length} candidates: ${candidates.slice(0, 4).map((c) => c[1]).join(", ")}…` : "No candidates found.";
        } else if (event === "token") {
          raw += data.text;
          showDraft(draft, raw, candidates);
        } else if (event === "done") final = data;
        else if (event === "error") throw new Error(data.error || "the turn failed");
      });
      if (!final) throw new Error("the answer ended before it was complete");
      convo.session = final.session_id;
      clear(answer).append(...answerNodes(final, ask, () => ctx.ensureUser()));
    } catch (e) {
      clear(answer).append(errorBox(e, () => { answer.remove(); mine.remove(); ask(message); }));
      status(`The chat turn failed: ${e instanceof Error ? e.message : e}`, "error");
    } finally {
      answer.setAttribute("aria-busy", "false");
      send.disabled = false;
      input.focus();
      answer.scrollIntoView({ block: "end" });
    }
  }
}

/** Shows the model's reasons as they stream (its JSON is read as it grows). */
function showDraft(/** @type {HTMLElement} */ draft, /** @type {string} */ raw, /** @type {[string,string][]} */ candidates) {
  clear(draft);
  const re = /"id"\s*:\s*(\d+)\s*,\s*"why"\s*:\s*"((?:[^"\\]|\\.)*)/g;
  let m;
  while ((m = re.exec(raw))) {
    const c = candidates[Number(m[1]) - 1];
    let why = m[2];
    try {
      why = JSON.parse(`"${why.replace(/\\$/, "")}"`);
    } catch { /* a half-received escape: show it raw */ }
    draft.append(h("li", {}, h("strong", { text: c ? c[1] : `#${m[1]}` }), " — ", why));
  }
}

function badge(/** @type {any} */ r) {
  if (r.llm.used) {
    const model = r.llm.rerank?.used ? r.llm.rerank.model : r.llm.reply?.used ? r.llm.reply.model : r.llm.intent?.model;
    return h("span", { class: "badge llm", "data-testid": "llm-badge", "data-used": "true", title: `Answered by ${model || "the LLM"}` }, `LLM · ${(model || "").replace(/^local:/, "")}`);
  }
  return h("span", { class: "badge fallback", "data-testid": "llm-badge", "data-used": "false", title: "The classical pipeline answered; the model's answer was not used" },
    `Fallback${r.fallback ? ` · ${r.fallback}` : ""}`);
}

function answerNodes(/** @type {any} */ r, /** @type {(s: string) => void} */ ask, /** @type {() => Promise<string>} */ user) {
  const nodes = [];
  nodes.push(h("div", { class: "msg-head" }, badge(r), h("span", { class: "muted small", text: `turn ${r.turn} · ${ms(r.timings_ms.total)}` })));
  nodes.push(h("p", { class: "reply", "data-testid": "reply", text: r.reply }));
  if (r.tool) {
    nodes.push(h("details", { class: "tool" }, h("summary", {}, `Looked up with ${r.tool.name}`),
      h("pre", { text: JSON.stringify(r.tool.result, null, 2) })));
  }
  if (r.items.length) {
    nodes.push(h("div", { class: "chat-cards" }, r.items.map((/** @type {any} */ it) =>
      h("article", { class: "card compact", "data-testid": "chat-card", "data-item": it.item },
        h("h3", { text: it.title }),
        h("p", { class: "meta", text: [it.year, it.categories.slice(0, 3).join(", "), it.price != null ? it.price.toFixed(2) : null].filter(Boolean).join(" · ") }),
        h("p", { class: "rationale" }, it.why, " ",
          h("span", { class: `src src-${it.why_source}`, title: it.why_source === "llm" ? "Written by the model, checked by the gate" : "Built from the ranker's signals" }, it.why_source === "llm" ? "model" : "signals")),
        r.request_id ? reasonVerdict(r.request_id, it.item, user, api.reasonFeedback) : null))));
  }
  if (r.follow_ups.length) {
    nodes.push(h("div", { class: "chips follow", role: "group", "aria-label": "Suggested follow-ups" },
      r.follow_ups.map((/** @type {string} */ q) => h("button", { type: "button", class: "chip", "data-testid": "follow-up", onclick: () => ask(q) }, q))));
  }
  const i = r.intent;
  const like = (i.like_items || []).map((/** @type {any} */ x) => x.title + (x.alternatives && x.alternatives.length ? ` (also: ${x.alternatives.map((/** @type {any} */ a) => a[1]).join(", ")})` : "")).join(", ");
  const unknown = (i.unknown_references || []).join(", ");
  const mods = (i.modifiers || []).map((/** @type {any} */ m) => m.applied ? `${m.words}: ${m.applied}` : m.words).join("; ");
  const rows = [
    ["like", like], ["not in the catalog", unknown], ["modifiers", mods],
    ["query", i.query], ["categories", i.categories.join(", ")], ["exclude", i.exclude.join(", ")], ["mood", i.mood.join(", ")],
    ["years", i.year_min || i.year_max ? `${i.year_min ?? "…"}–${i.year_max ?? "…"}` : ""],
    ["price", i.price_min != null || i.price_max != null ? `${i.price_min ?? "…"}–${i.price_max ?? "…"}` : ""],
    ["sort", i.sort], ["dropped", (r.intent_dropped || []).join("; ")], ["memory", r.memory_used ? "used" : ""],
    ["as of", r.clock ? `${r.clock.at.slice(0, 10)} (${r.clock.source === "events" ? "the data's last day" : r.clock.source})` : ""],
  ].filter(([, v]) => v);
  const stages = ["intent", "rerank", "reply"].filter((s) => r.llm[s]).map((s) => {
    const st = r.llm[s];
    return `${s}: ${st.used ? "used" : `fallback (${st.fallback || "not used"})`}${st.cached ? ", cached" : ""}, ${ms(st.ms)}`;
  });
  nodes.push(h("details", { class: "intent", "data-testid": "intent" },
    h("summary", {}, "What Sommelier understood"),
    h("dl", {}, rows.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })])),
    stages.length ? h("p", { class: "muted small", text: `LLM ${stages.join(" · ")}` }) : null,
    h("p", { class: "muted small", text: Object.entries(r.timings_ms).map(([k, v]) => `${k} ${ms(/** @type {number} */ (v))}`).join(" · ") })));
  return nodes;
}
