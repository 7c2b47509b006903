// The shell: routes (#/browse, #/chat, #/dashboard), the user picker, and the
// footer. Each view module exports `render(view, ctx)` and may return a
// cleanup function (the dashboard stops polling with it).
import * as api from "./api.js";
import { h, clear, status, num } from "./dom.js";
import * as browse from "./browse.js";
import * as chat from "./chat.js";
import * as dashboard from "./dashboard.js";

const views = { browse, chat, dashboard };
const KEY = "sommelier.user";

const ctx = {
  /** The selected user id, or null for a guest. */
  user: /** @type {string|null} */ (localStorage.getItem(KEY) || null),
  /** Selects (and remembers) a user, adding it to the picker if new. */
  setUser(/** @type {string|null} */ id, rerender = true) {
    ctx.user = id || null;
    if (id) localStorage.setItem(KEY, id);
    else localStorage.removeItem(KEY);
    const sel = /** @type {HTMLSelectElement} */ (document.getElementById("user-select"));
    if (id && ![...sel.options].some((o) => o.value === id)) {
      sel.add(new Option(`${id} · new`, id), 1);
    }
    sel.value = id || "";
    if (rerender) route();
  },
  /** The user for an action that needs one: creates a profile for a guest. */
  async ensureUser() {
    if (ctx.user) return ctx.user;
    const id = await api.createUser();
    ctx.setUser(id, false);
    status(`Created user ${id} to remember what you like.`);
    return id;
  },
};

let cleanup = /** @type {null | (() => void)} */ (null);

function route() {
  const name = (location.hash.replace(/^#\/?/, "").split("?")[0] || "browse");
  const view = views[name] ? name : "browse";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("data-route") === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (cleanup) cleanup();
  cleanup = null;
  const main = clear(/** @type {HTMLElement} */ (document.getElementById("view")));
  document.title = `Sommelier · ${view[0].toUpperCase()}${view.slice(1)}`;
  const done = views[view].render(main, ctx);
  Promise.resolve(done).then((c) => {
    if (typeof c === "function") cleanup = c;
  });
}

async function loadUsers() {
  const sel = /** @type {HTMLSelectElement} */ (document.getElementById("user-select"));
  try {
    const users = api.hasAdminKey() ? await api.activeUsers(30) : [];
    for (const u of users) sel.add(new Option(`User ${u.user} · ${num(u.events)} events`, u.user));
  } catch (e) {
    status(`Could not list users: ${e instanceof Error ? e.message : e}`, "error");
  }
  if (ctx.user && ![...sel.options].some((o) => o.value === ctx.user)) sel.add(new Option(ctx.user, ctx.user), 1);
  sel.value = ctx.user || "";
  sel.addEventListener("change", () => ctx.setUser(sel.value || null));
  document.getElementById("new-user")?.addEventListener("click", async () => {
    try {
      ctx.setUser(await api.createUser());
      status("New user created: no history yet, so recommendations start from what is popular.");
    } catch (e) {
      status(`Could not create a user: ${e instanceof Error ? e.message : e}`, "error");
    }
  });
}

async function footer() {
  const foot = clear(/** @type {HTMLElement} */ (document.getElementById("foot")));
  try {
    const s = await api.statsOnce();
    const clock = api.dataClockNote();
    foot.append(
      h("span", {}, `${num(s.items)} items · ${num(s.users || s.event_users)} users · ${num(s.events)} events`),
      clock ? h("span", { class: "muted" }, ` · historical data: your events are stamped on the data set's clock (${clock})`) : null,
    );
  } catch (e) {
    foot.append(h("span", { class: "muted" }, "The server is not answering."));
  }
}

// Every API call needs a key: the link `sommelier demo` prints carries one;
// without it, ask once.
if (!api.hasKey()) {
  const k = window.prompt("This server needs an API key (the link `sommelier demo` prints carries one). Paste a key with the read scope:");
  if (k) api.setKey("key", k);
}
window.addEventListener("hashchange", route);
footer();
// The picker is filled before the first view renders, so a choice made at
// once is not overwritten by a late first render.
await loadUsers();
route();
