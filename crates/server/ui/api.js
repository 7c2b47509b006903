// The JSON API, as the UI uses it. Every call goes to the same endpoints any
// client would use (docs/api.md); errors carry the server's message.

export class ApiError extends Error {
  /** @param {string} message @param {number} status @param {string} [code] */
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Keys. The page gets its API key (scopes read and ingest) and, for the
// operator's views, an admin key from the URL's fragment (`#key=…&admin=…`,
// never sent to a server), keeps them in this browser's storage and removes
// them from the address bar. Admin-only reads (the dashboard, the list of
// active users, another user's features) use the admin key when there is one.
const KEY_STORE = "sommelier.key";
const ADMIN_STORE = "sommelier.admin";
(function readKeysFromFragment() {
  const m = /^#(key=[^/]*)$/.exec(location.hash);
  if (!m) return;
  const params = new URLSearchParams(m[1]);
  const key = params.get("key");
  const admin = params.get("admin");
  if (key) localStorage.setItem(KEY_STORE, key);
  if (admin) localStorage.setItem(ADMIN_STORE, admin);
  history.replaceState(null, "", `${location.pathname}#/browse`);
})();

/** Whether a key is set. */
export const hasKey = () => Boolean(localStorage.getItem(KEY_STORE));
/** Whether an admin key is set. */
export const hasAdminKey = () => Boolean(localStorage.getItem(ADMIN_STORE));
/** Sets (or with "" clears) the page's key or admin key. @param {"key"|"admin"} which @param {string} value */
export function setKey(which, value) {
  const store = which === "admin" ? ADMIN_STORE : KEY_STORE;
  if (value) localStorage.setItem(store, value.trim());
  else localStorage.removeItem(store);
}

/** @param {string} path @param {string} [method] */
function authHeader(path, method = "GET") {
  const adminOnly =
    path.startsWith("/v1/admin/") ||
    (method === "GET" && (/^\/v1\/users(\?|$)/.test(path) || /^\/v1\/users\/[^/]+\/features/.test(path)));
  const key = (adminOnly && localStorage.getItem(ADMIN_STORE)) || localStorage.getItem(KEY_STORE);
  return key ? { authorization: `Bearer ${key}` } : {};
}

/**
 * @param {string} path
 * @param {RequestInit & {json?: any}} [opts]
 */
export async function call(path, opts = {}) {
  const method = opts.method || (opts.json !== undefined ? "POST" : "GET");
  const init = { ...opts, headers: { ...authHeader(path, method), ...(opts.headers || {}) } };
  if (opts.json !== undefined) {
    init.method = init.method || "POST";
    init.body = JSON.stringify(opts.json);
    init.headers["content-type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(`the server did not answer (${e instanceof Error ? e.message : e}); is it running?`, 0);
  }
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!res.ok && res.status !== 207) {
    const msg = body && typeof body === "object" && body.message ? body.message : `${res.status} ${res.statusText}`;
    throw new ApiError(msg, res.status, body && body.code);
  }
  return body;
}

// Item cards by id, cached for the page's life (titles and genres do not
// change while someone browses; a reload fetches them again).
const cardCache = new Map();
/** @param {string[]} ids @returns {Promise<Map<string, any>>} */
export async function cards(ids) {
  const missing = [...new Set(ids.filter((id) => !cardCache.has(id)))];
  for (let i = 0; i < missing.length; i += 200) {
    const chunk = missing.slice(i, i + 200);
    const got = await call(`/v1/items?ids=${chunk.map(encodeURIComponent).join(",")}`);
    for (const c of got) cardCache.set(c.id, c);
  }
  return new Map(ids.filter((id) => cardCache.has(id)).map((id) => [id, cardCache.get(id)]));
}

export const stats = () => call("/v1/stats");
export const facets = () => call("/v1/facets");
/** @param {number} n */
export const activeUsers = (n) => call(`/v1/users?n=${n}`);
/** @param {string} id */
export const userFeatures = (id) => call(`/v1/users/${encodeURIComponent(id)}/features`).catch((e) => {
  // 404: no events yet; 403: only the user's token or an admin key may read them.
  if (e instanceof ApiError && (e.status === 404 || e.status === 403)) return null;
  throw e;
});
/** @param {any} body */
export const recommend = (body) => call("/v1/recommend", { json: body });
/** @param {string} id @param {number} k */
export const similar = (id, k) => call(`/v1/items/${encodeURIComponent(id)}/similar?k=${k}`);
/** @param {number} n */
export const trending = (n) => call(`/v1/trending?n=${n}`);
export const dashboard = () => call("/v1/admin/dashboard");

/**
 * A file of the API (a report's plot) as an object URL: an <img src> cannot
 * carry the key, so the file is fetched with it.
 * @param {string} path
 */
export async function fileUrl(path) {
  const res = await fetch(path, { headers: authHeader(path) });
  if (!res.ok) throw new ApiError(`${res.status} ${res.statusText}`, res.status);
  return URL.createObjectURL(await res.blob());
}
export const latestEval = () => call("/v1/admin/eval");
export const experiments = () => call("/v1/admin/experiments");
export const feedbackReport = () => call("/v1/admin/feedback");
/** A verdict on the reason given for a pick. @param {string} user @param {string} requestId @param {string} item @param {"helped"|"wrong"} verdict */
export const reasonFeedback = (user, requestId, item, verdict) =>
  call("/v1/feedback", { json: { user_id: user, request_id: requestId, item, verdict } });
/** @param {string} name */
export const experimentReport = (name) => call(`/v1/admin/experiments/${encodeURIComponent(name)}/report`);

/** Creates a user who consents to personalisation and memory. */
export async function createUser() {
  const id = `web-${Math.random().toString(36).slice(2, 8)}`;
  await call("/v1/users", {
    json: { id, consent: { personalization: true, long_term_memory: true, analytics: true } },
  });
  return id;
}

// Event times. On a live catalog the server stamps events with "now". On a
// historical data set (MovieLens ends in 2016) "now" would jump the feature
// clock years ahead and every decayed signal with it, so the UI stamps its
// events on the data set's own clock: its last event plus the time since the
// page loaded.
let dataClock = /** @type {null | {last: number, loaded: number}} */ (null);
let clockRead = /** @type {Promise<any> | null} */ (null);
/** Reads the store's stats once per page and sets the clock from them. */
export function statsOnce() {
  clockRead ??= stats().then((s) => {
    const last = s.last_event ? Date.parse(s.last_event) : NaN;
    dataClock = !Number.isNaN(last) && Date.now() - last > 86_400_000 ? { last, loaded: Date.now() } : null;
    return s;
  });
  return clockRead;
}
export function dataClockNote() {
  return dataClock ? new Date(dataClock.last).toISOString().slice(0, 10) : null;
}

/** The device class this page runs on, as events and requests report it. */
export function deviceClass() {
  return window.matchMedia("(pointer: coarse)").matches && window.matchMedia("(max-width: 820px)").matches
    ? "mobile"
    : "desktop";
}

/** The request context: this device and the local hour (the context features). */
export function requestContext() {
  return { device: deviceClass(), hour: new Date().getHours() };
}

/**
 * Sends one interaction.
 * @param {string} user @param {string} item @param {string} kind @param {number} [value]
 */
export async function sendEvent(user, item, kind, value) {
  await statsOnce().catch(() => null);
  /** @type {Record<string, any>} */
  const ev = { user, item, kind, channel: "web", device: deviceClass() };
  if (value !== undefined) ev.value = value;
  if (dataClock) ev.timestamp = new Date(dataClock.last + (Date.now() - dataClock.loaded)).toISOString();
  return call("/v1/events", { json: ev });
}

/**
 * One streamed chat turn: POST /v1/chat/stream, read as server-sent events.
 * @param {any} body
 * @param {(event: string, data: any) => void} on
 * @param {AbortSignal} [signal]
 */
export async function chatStream(body, on, signal) {
  let res;
  try {
    res = await fetch("/v1/chat/stream", {
      method: "POST",
      headers: { ...authHeader("/v1/chat/stream", "POST"), "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal,
    });
  } catch (e) {
    throw new ApiError(`the server did not answer (${e instanceof Error ? e.message : e})`, 0);
  }
  if (!res.ok || !res.body) {
    const err = await res.json().catch(() => ({}));
    throw new ApiError(err.message || `${res.status} ${res.statusText}`, res.status, err.code);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length) continue; // keep-alive comments
      let parsed;
      try {
        parsed = JSON.parse(data.join("\n"));
      } catch {
        parsed = data.join("\n");
      }
      on(name, parsed);
    }
  }
}
