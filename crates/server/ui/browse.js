// Browse: "for you" recommendations with their rationale and signals, filters,
// trending, similar items in a detail dialog, and the events a person sends by
// clicking, rating, liking or disliking, after which the list is fetched again
// and what changed is marked.
import * as api from "./api.js";
import { h, clear, status, errorBox, empty, skeleton, num, reasonVerdict } from "./dom.js";

/** Readable names of the ranker's signals (docs/ranking.md). */
const SIGNALS = {
  sources: "Several sources agree",
  "item.popularity": "Popularity",
  "item.trend": "Trend",
  "user.category_match": "Your genres",
  "context.daypart": "Chosen at this time of day",
  "context.device": "Chosen on this device",
  "boost.exploration": "Exploration boost",
  "boost.launch_window": "Launch boost",
  "boost.margin": "Margin boost",
  exposure_cap: "Shown often: capped",
};
/** Per-source features are `<source>.rank|top|score|raw`. */
const SOURCE_NAMES = {
  sequential: "What comes next",
  collaborative: "Similar people",
  user_profile: "Your taste",
  semantic: "Meaning of your words",
  lexical: "Your words",
  popular: "Popular",
  trending: "Trending",
  fresh: "New arrival",
};
const PARTS = { rank: "", top: " · top spot", score: " · score", raw: " · raw score" };
/** How the name of a signal scaled by the time away begins (`rank::signals::AWAY_PREFIX`). */
const AWAY_PREFIX = "away*";

/** @param {string} f */
function signalName(f) {
  if (SIGNALS[f]) return SIGNALS[f];
  // `away*<signal>`: the signal scaled by the time since the person's last event.
  if (f.startsWith(AWAY_PREFIX)) return `${signalName(f.slice(AWAY_PREFIX.length))} · after time away`;
  const [source, part] = f.split(".");
  return SOURCE_NAMES[source] ? `${SOURCE_NAMES[source]}${PARTS[part] ?? ` · ${part}`}` : f;
}

const SOURCES = {
  semantic: "meaning of your words",
  lexical: "your words",
  user_profile: "your taste profile",
  collaborative: "similar people",
  sequential: "what comes next",
  popular: "popularity",
  trending: "trending",
  fresh: "new arrivals",
};

/** Per page load: filters and what the person did, so buttons show state. */
const filters = { query: "", categories: new Set(), exclude: new Set(), year_min: "", year_max: "" };
/** @type {Map<string, {like?: boolean, dislike?: boolean, rating?: number}>} */
const done = new Map();

/**
 * @param {HTMLElement} view
 * @param {any} ctx
 */
export function render(view, ctx) {
  const forYou = h("div", { class: "grid", "data-testid": "for-you", "aria-busy": "true" }, skeleton(8));
  const notice = h("p", { class: "notice", "data-testid": "update-notice", "aria-live": "polite" });
  const summary = h("p", { class: "muted small", "data-testid": "rec-summary" });
  const trendingRow = h("div", { class: "row", "data-testid": "trending" }, skeleton(6));
  const activity = h("ol", { class: "activity", "data-testid": "activity" });
  const dialog = h("dialog", { class: "detail", "data-testid": "detail", "aria-labelledby": "detail-title" });
  const heading = ctx.user ? `For you, user ${ctx.user}` : "For you";
  // Filters: open beside the list on wide screens, folded above it on narrow ones.
  const filterBar = h("div", { class: "filter-body" });
  const filterPanel = h("details", { class: "filter-panel", open: !window.matchMedia("(max-width: 820px)").matches },
    h("summary", { "data-testid": "filters-toggle" }, "Search and filters"), filterBar);

  view.append(
    h("div", { class: "browse" },
      h("aside", { class: "filters", "aria-label": "Filters" }, filterPanel),
      h("div", { class: "browse-main" },
        h("section", { "aria-labelledby": "for-you-h" },
          h("div", { class: "section-head" },
            h("h1", { id: "for-you-h", text: heading }),
            h("button", { type: "button", class: "ghost", onclick: () => refresh("Refreshed.") }, "Refresh")),
          summary, notice, forYou),
        h("section", { "aria-labelledby": "trend-h" }, h("h2", { id: "trend-h", text: "Trending now" }), trendingRow),
        ctx.user ? h("section", { "aria-labelledby": "act-h" }, h("h2", { id: "act-h", text: "Your recent activity" }), activity) : null)),
    dialog,
  );

  /** @type {string[]} */
  let shown = [];

  // Filters change faster than answers come back: a list with twelve cards
  // waits for their metadata while a newer, empty one does not. Only the
  // latest refresh may draw, so an older answer never replaces a newer one.
  let generation = 0;

  async function refresh(/** @type {string|null} */ why) {
    const mine = ++generation;
    forYou.setAttribute("aria-busy", "true");
    try {
      const f = {};
      if (filters.categories.size) f.categories = [...filters.categories];
      if (filters.exclude.size) f.exclude_categories = [...filters.exclude];
      if (filters.year_min) f.year_min = Number(filters.year_min);
      if (filters.year_max) f.year_max = Number(filters.year_max);
      const body = { k: 12, filters: f, context: api.requestContext() };
      if (ctx.user) body.user_id = ctx.user;
      if (filters.query.trim()) body.query = filters.query.trim();
      const r = await api.recommend(body);
      const meta = await api.cards(r.items.map((i) => i.item));
      if (mine !== generation) return;
      const before = new Set(shown);
      const fresh = shown.length ? r.items.filter((i) => !before.has(i.item)).length : 0;
      clear(forYou);
      if (!r.items.length) {
        forYou.append(empty("Nothing matches these filters.", "Loosen a filter or clear the search."));
      }
      for (const rec of r.items) {
        forYou.append(card(rec, meta.get(rec.item), shown.length > 0 && !before.has(rec.item), r.request_id));
      }
      shown = r.items.map((i) => i.item);
      const used = r.sources.filter((s) => s.candidates > 0).map((s) => SOURCES[s.source] || s.source);
      const when = [r.context?.daypart, r.context?.device].filter(Boolean).join(", ");
      summary.textContent = `${r.ranker.startsWith("learned") ? "Learned ranker" : "Rank fusion"} over ${used.join(", ")}${when ? ` · for ${when}` : ""} · ${r.timings_ms.total.toFixed(1)} ms`;
      notice.textContent = why ? `${why} ${fresh ? `${fresh} new pick${fresh > 1 ? "s" : ""} (marked New).` : "The order changed."}` : "";
      notice.classList.toggle("show", Boolean(why));
    } catch (e) {
      if (mine === generation) clear(forYou).append(errorBox(e, () => refresh(null)));
    } finally {
      if (mine === generation) forYou.setAttribute("aria-busy", "false");
    }
    if (ctx.user && mine === generation) loadActivity();
  }

  async function loadActivity() {
    try {
      const f = await api.userFeatures(ctx.user);
      clear(activity);
      if (!f || !f.recent.length) {
        activity.append(h("li", { class: "muted" }, "Nothing yet. Like, rate or open a title and it shows here."));
        return;
      }
      const meta = await api.cards(f.recent.slice(0, 8).map((x) => x.item));
      for (const x of f.recent.slice(0, 8)) {
        const what = x.kind === "rating" ? `Rated ${x.value}` : x.kind[0].toUpperCase() + x.kind.slice(1).replace(/_/g, " ");
        activity.append(h("li", {}, h("span", { class: `kind k-${x.kind}`, text: what }), " ",
          meta.get(x.item)?.title || x.item));
      }
    } catch (e) {
      clear(activity).append(h("li", {}, errorBox(e)));
    }
  }

  /** Sends an event for the item, then refreshes the list. */
  async function act(/** @type {string} */ item, /** @type {string} */ kind, /** @type {number=} */ value, /** @type {string} */ title) {
    try {
      const user = await ctx.ensureUser();
      await api.sendEvent(user, item, kind, value);
      const d = done.get(item) || {};
      if (kind === "like") Object.assign(d, { like: true, dislike: false });
      if (kind === "dislike") Object.assign(d, { dislike: true, like: false });
      if (kind === "rating") d.rating = value;
      done.set(item, d);
      const label = kind === "rating" ? `You rated “${title}” ${value}/5.` : kind === "like" ? `You liked “${title}”.` : kind === "dislike" ? `You passed on “${title}”.` : `Opened “${title}”.`;
      status(label);
      if (kind !== "click") await refresh(`${label} Updated:`);
      else if (ctx.user) loadActivity();
    } catch (e) {
      status(`Could not record that: ${e instanceof Error ? e.message : e}`, "error");
    }
  }

  function actions(/** @type {string} */ id, /** @type {string} */ title) {
    const d = done.get(id) || {};
    const stars = h("div", { class: "stars", role: "group", "aria-label": `Rate ${title}` },
      [1, 2, 3, 4, 5].map((v) => h("button", {
        type: "button", class: `star${d.rating && v <= d.rating ? " on" : ""}`, "aria-label": `Rate ${v} of 5`,
        "aria-pressed": String(d.rating === v), "data-testid": `rate-${v}`,
        onclick: () => act(id, "rating", v, title),
      }, "★")));
    return h("div", { class: "actions" },
      h("button", { type: "button", class: "chip", "aria-pressed": String(Boolean(d.like)), "data-testid": "like", onclick: () => act(id, "like", undefined, title) }, "♥ Like"),
      h("button", { type: "button", class: "chip", "aria-pressed": String(Boolean(d.dislike)), "data-testid": "dislike", onclick: () => act(id, "dislike", undefined, title) }, "✕ Not for me"),
      stars);
  }

  function metaLine(/** @type {any} */ m) {
    if (!m) return null;
    const bits = [m.year, m.categories.slice(0, 3).join(", "), m.price != null ? `${m.price.toFixed(2)} ${m.currency || ""}` : null, m.available ? null : "unavailable"];
    return h("p", { class: "meta", text: bits.filter(Boolean).join(" · ") });
  }

  function card(/** @type {any} */ rec, /** @type {any} */ m, /** @type {boolean} */ isNew, /** @type {string} */ requestId) {
    const top = rec.why.filter((w) => w.contribution > 0).slice(0, 3);
    const max = Math.max(...top.map((w) => w.contribution), 1e-9);
    return h("article", { class: `card${isNew ? " is-new" : ""}`, "data-testid": "rec-card", "data-item": rec.item },
      h("div", { class: "card-head" },
        h("button", { type: "button", class: "title-link", onclick: () => openDetail(rec.item) }, rec.title),
        isNew ? h("span", { class: "badge new", text: "New" }) : null),
      metaLine(m),
      h("p", { class: "rationale", "data-testid": "rationale", text: rec.rationale }),
      reasonVerdict(requestId, rec.item, () => ctx.ensureUser(), api.reasonFeedback),
      top.length ? h("ul", { class: "signals", "aria-label": "Signals behind this pick", "data-testid": "why" },
        top.map((w) => h("li", { title: `${w.feature}: value ${w.value.toFixed(3)}, adds ${w.contribution.toFixed(3)}` },
          h("span", { class: "sig-name", text: signalName(w.feature) }),
          h("span", { class: "bar", "aria-hidden": "true" }, h("span", { style: `width:${Math.round((100 * w.contribution) / max)}%` })),
          h("span", { class: "sig-val", text: `+${w.contribution.toFixed(2)}` })))) : null,
      h("p", { class: "sources muted small" }, "From ", rec.provenance.map((p) => `${SOURCES[p.source] || p.source} #${p.rank}`).join(", ")),
      actions(rec.item, rec.title));
  }

  const close = h("button", { type: "button", class: "ghost close", "aria-label": "Close", onclick: () => dialog.close() }, "✕");
  const detailBody = h("div", {});
  dialog.append(close, detailBody);

  async function openDetail(/** @type {string} */ id) {
    clear(detailBody).append(h("p", { class: "muted" }, "Loading…"));
    if (!dialog.open) dialog.showModal();
    close.focus();
    const m = (await api.cards([id]).catch(() => new Map())).get(id);
    if (ctx.user) act(id, "click", undefined, m ? m.title : id);
    const sim = h("div", { class: "row", "data-testid": "similar" }, skeleton(4));
    clear(detailBody).append(
      h("h2", { id: "detail-title", text: m ? m.title : id }),
      metaLine(m),
      m && m.description ? h("p", { text: m.description }) : null,
      m && m.tags.length ? h("p", { class: "tags" }, m.tags.map((t) => h("span", { class: "tag", text: t }))) : null,
      actions(id, m ? m.title : id),
      h("h3", { text: "Similar" }), sim);
    try {
      const s = await api.similar(id, 8);
      const metas = await api.cards(s.items.map((i) => i.id));
      clear(sim);
      if (!s.items.length) sim.append(empty("No similar items found."));
      for (const it of s.items) sim.append(mini(it.id, metas.get(it.id), `${(it.score * 100).toFixed(0)}% similar`));
    } catch (e) {
      clear(sim).append(empty("No similar items for this one.", e instanceof Error ? e.message : String(e)));
    }
  }

  function mini(/** @type {string} */ id, /** @type {any} */ m, /** @type {string} */ note) {
    return h("button", { type: "button", class: "mini", "data-testid": "mini-card", onclick: () => openDetail(id) },
      h("span", { class: "mini-title", text: m ? m.title : id }),
      h("span", { class: "meta", text: [m && m.year, m && m.categories.slice(0, 2).join(", ")].filter(Boolean).join(" · ") }),
      h("span", { class: "muted small", text: note }));
  }

  async function loadTrending() {
    try {
      const t = await api.trending(12);
      const meta = await api.cards(t.map((x) => x.item));
      clear(trendingRow);
      if (!t.length) trendingRow.append(empty("Nothing is trending yet.", "Trending compares the last days with the weeks before."));
      t.forEach((x, i) => trendingRow.append(mini(x.item, meta.get(x.item), `#${i + 1} trending`)));
    } catch (e) {
      clear(trendingRow).append(errorBox(e, loadTrending));
    }
  }

  async function loadFilters() {
    let f;
    try {
      f = await api.facets();
    } catch (e) {
      filterBar.append(errorBox(e));
      return;
    }
    const search = h("input", { type: "search", id: "q", placeholder: "e.g. space adventure with robots", value: filters.query, "data-testid": "query" });
    const chipGroup = (/** @type {Set<string>} */ set, /** @type {string} */ label, /** @type {string} */ testid) =>
      h("div", { class: "chips", role: "group", "aria-label": label, "data-testid": testid },
        f.categories.slice(0, 18).map((c) => h("button", {
          type: "button", class: "chip", "aria-pressed": String(set.has(c.name)),
          title: `${num(c.count)} items`,
          onclick: (/** @type {Event} */ e) => {
            const b = /** @type {HTMLElement} */ (e.currentTarget);
            if (set.has(c.name)) set.delete(c.name);
            else set.add(c.name);
            b.setAttribute("aria-pressed", String(set.has(c.name)));
            refresh(null);
          },
        }, c.name)));
    const [ylo, yhi] = f.year_range || [null, null];
    const year = (/** @type {"year_min"|"year_max"} */ key, /** @type {string} */ label, /** @type {any} */ ph) =>
      h("label", { class: "inline" }, label,
        h("input", { type: "number", inputmode: "numeric", min: ylo ?? undefined, max: yhi ?? undefined, placeholder: ph ?? "", value: filters[key],
          onchange: (/** @type {Event} */ e) => { filters[key] = /** @type {HTMLInputElement} */ (e.target).value; refresh(null); } }));
    filterBar.append(
      h("form", { class: "search", role: "search", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); filters.query = search.value; refresh(null); } },
        h("label", { for: "q", text: "Describe what you want" }), search,
        h("button", { type: "submit", class: "primary" }, "Search")),
      h("h2", { class: "small-h", text: "Genres" }), chipGroup(filters.categories, "Only these genres", "include-genres"),
      h("details", {}, h("summary", {}, "Leave out genres"), chipGroup(filters.exclude, "Leave out these genres", "exclude-genres")),
      h("h2", { class: "small-h", text: "Release year" }),
      h("div", { class: "years" }, year("year_min", "From", ylo), year("year_max", "To", yhi)),
      h("button", { type: "button", class: "ghost", onclick: () => {
        filters.query = ""; filters.categories.clear(); filters.exclude.clear(); filters.year_min = ""; filters.year_max = "";
        clear(filterBar); loadFilters(); refresh(null);
      } }, "Clear filters"),
      h("p", { class: "muted small", text: `${num(f.items)} items in the catalog.` }));
  }

  loadFilters();
  refresh(null);
  loadTrending();
  if (!ctx.user) {
    view.querySelector(".browse-main")?.prepend(h("p", { class: "hint" },
      "You are browsing as a guest: these are popular picks. Pick a user at the top, or like or rate something and a profile is created for you."));
  }
}
