// Small DOM helpers: an element builder, formatting, and the status line.

/**
 * Builds an element. `attrs` keys starting with "on" become listeners;
 * `class`, `text`, `html`-free by design (text only, so catalog text can never
 * inject markup).
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node|string|null|undefined|false|Array<any>)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Removes every child. @param {Element} el */
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const nf = new Intl.NumberFormat("en");
/** @param {number} n */
export const num = (n) => nf.format(n);
/** @param {number} ms */
export function ms(ms) {
  if (ms == null || Number.isNaN(ms)) return "–";
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(2)} ms`;
}
/** @param {number} x */
export const pct = (x) => `${(100 * x).toFixed(x > 0 && x < 0.1 ? 1 : 0)}%`;

let statusTimer = 0;
/**
 * Shows a short message in the status line (announced to screen readers).
 * @param {string} text
 * @param {"info"|"error"} [kind]
 */
export function status(text, kind = "info") {
  const el = document.getElementById("status");
  if (!el) return;
  el.textContent = text;
  el.className = `status show ${kind}`;
  clearTimeout(statusTimer);
  statusTimer = window.setTimeout(() => (el.className = "status"), kind === "error" ? 8000 : 4000);
}

/**
 * An error box with what went wrong and a retry button.
 * @param {unknown} err
 * @param {() => void} [retry]
 */
export function errorBox(err, retry) {
  const msg = err instanceof Error ? err.message : String(err);
  return h("div", { class: "error-box", role: "alert", "data-testid": "error" },
    h("strong", { text: "Something went wrong. " }), msg,
    retry ? h("button", { type: "button", class: "ghost", onclick: retry }, "Try again") : null);
}

/** An empty state. @param {string} title @param {string} [hint] */
export function empty(title, hint) {
  return h("div", { class: "empty", "data-testid": "empty" }, h("p", { class: "empty-title", text: title }),
    hint ? h("p", { class: "muted", text: hint }) : null);
}

/** Loading placeholder cards. @param {number} n */
export function skeleton(n) {
  return Array.from({ length: n }, () => h("div", { class: "card skeleton", "aria-hidden": "true" }));
}

/**
 * "Did this reason help?": two small buttons under a pick's reason; a click
 * sends the verdict (POST /v1/feedback) for the list the pick came from and
 * says so in place.
 * @param {string} requestId the answer's request id
 * @param {string} item the pick
 * @param {() => Promise<string>} user who judges (created if need be)
 * @param {(user: string, requestId: string, item: string, verdict: "helped"|"wrong") => Promise<any>} send
 */
export function reasonVerdict(requestId, item, user, send) {
  const box = h("p", { class: "verdict muted small", "data-testid": "reason-verdict", "aria-live": "polite" });
  const ask = (/** @type {"helped"|"wrong"} */ verdict, /** @type {string} */ label) =>
    h("button", { type: "button", class: "ghost tiny", "data-testid": `reason-${verdict}`, onclick: async () => {
      try {
        await send(await user(), requestId, item, verdict);
        clear(box).append(verdict === "helped" ? "Thanks: this reason helped." : "Thanks: noted that this reason was wrong.");
      } catch (e) {
        clear(box).append(`Could not send that: ${e instanceof Error ? e.message : e}`);
      }
    } }, label);
  box.append("Reason: ", ask("helped", "helpful"), " ", ask("wrong", "wrong"));
  return box;
}

