//! The items a turn names and how it wants the answer to differ from them:
//! the intent's mentions resolved to catalog items by the title index (or
//! reported as not in the catalog), and its modifiers applied — category
//! lifts as boosts, bounds relative to the referenced items as filters —
//! each saying in the intent what it did.

use super::turn::Turn;
use crate::references::{Resolved, TitleIndex};
use sommelier_llm::intent::{Intent, Relative};
use std::collections::BTreeMap;

/// How much a modifier lifts (or lowers) each of its categories, on the
/// re-rank's 0–1 scale.
const MODIFIER_BOOST: f64 = 0.3;

impl Turn<'_> {
    /// Resolves the intent's mentions: found items go to `like_items`, words
    /// after a title that name nothing back to the query, names that match
    /// nothing to `unknown_references`.
    pub(super) fn resolve_references(&self, intent: &mut Intent) {
        if intent.references.is_empty() {
            return;
        }
        let snapshot = &self.pipeline.snapshot;
        let titles = self
            .engine
            .titles
            .get(snapshot, || TitleIndex::of(snapshot));
        let features = self.engine.built_features();
        let state = features.map(|f| f.state.read());
        // A name means the item most people know by it: all-time
        // interactions, the recent (decayed) popularity breaking ties — "Carrie"
        // is the 1976 film, however much the 2013 remake is watched lately.
        let popularity = |id: &str| -> f64 {
            state.as_ref().map_or(0.0, |f| {
                sommelier_features::FeatureRead::item(&**f, id, self.clock.at).map_or(0.0, |x| {
                    x.counts.iter().sum::<u64>() as f64 + x.popularity.clamp(0.0, 1e6) * 1e-7
                })
            })
        };
        for m in &intent.references {
            match titles.resolve(m, &popularity) {
                Resolved::Found(found, rest) => {
                    // Words of a title the model proposed may have been read
                    // as query words by the rules; those of a longer title read past a
                    // filter word ("Rebel Without a Cause") too.
                    let cut = if m.tentative {
                        0
                    } else {
                        m.text.split_whitespace().count()
                    };
                    for r in &found {
                        for w in r.written.split_whitespace().skip(cut) {
                            intent.query = remove_word(&intent.query, w);
                        }
                    }
                    for r in found {
                        if !intent.like_items.iter().any(|x| x.item == r.item) {
                            intent.like_items.push(r);
                        }
                    }
                    if !rest.is_empty() {
                        intent.query = format!("{} {rest}", intent.query).trim().to_string();
                    }
                }
                // A title the model proposed and the catalog does not know
                // was the model's guess, not the person's words.
                Resolved::Unknown if m.tentative => {
                    tracing::debug!(text = %sommelier_privacy::redact(&m.text).text, "a tentative reference names no catalog title");
                    let mut query = intent.query.clone();
                    for w in m.text.split_whitespace() {
                        query = remove_word(&query, w);
                    }
                    intent.query = format!("{query} {}", m.text.to_lowercase())
                        .trim()
                        .to_string();
                }
                Resolved::Unknown => intent.unknown_references.push(m.text.clone()),
            }
        }
    }

    /// Applies the intent's modifiers: category lifts and drops become the
    /// request's category boosts; bounds relative to the referenced items
    /// become filters. Each modifier says what it did.
    pub(super) fn apply_modifiers(&self, intent: &mut Intent) -> BTreeMap<String, f64> {
        let mut boosts: BTreeMap<String, f64> = BTreeMap::new();
        let refs: Vec<std::sync::Arc<sommelier_types::Item>> = intent
            .like_items
            .iter()
            .filter_map(|r| self.pipeline.snapshot.items.get(r.item.as_str()).cloned())
            .collect();
        let names: Vec<&str> = intent.like_items.iter().map(|r| r.title.as_str()).collect();
        let of_refs = names.join(" and ");
        let years: Vec<i32> = refs.iter().filter_map(|i| i.year()).collect();
        let prices: Vec<f64> = refs.iter().filter_map(|i| i.price_amount()).collect();
        let runtimes: Vec<f64> = refs
            .iter()
            .filter_map(|i| i.attributes.get("runtime").and_then(|v| v.as_f64()))
            .collect();
        let mut bounds: Vec<Bound> = Vec::new();
        for m in &mut intent.modifiers {
            let mut did: Vec<String> = Vec::new();
            for c in &m.more {
                *boosts.entry(c.clone()).or_default() += MODIFIER_BOOST;
            }
            for c in &m.less {
                *boosts.entry(c.clone()).or_default() -= MODIFIER_BOOST;
            }
            if !m.more.is_empty() {
                did.push(format!("lifts {}", m.more.join(", ")));
            }
            if !m.less.is_empty() {
                did.push(format!("lowers {}", m.less.join(", ")));
            }
            match (m.relative, refs.is_empty()) {
                (None, _) => {}
                (Some(_), true) => did.push("relative to the items shown before".into()),
                (Some(Relative::Newer), false) => match years.iter().max() {
                    Some(y) => {
                        bounds.push(Bound::YearMin(y + 1));
                        did.push(format!("released after {y} ({of_refs})"));
                    }
                    None => did.push(format!("no release year for {of_refs}")),
                },
                (Some(Relative::Older), false) => match years.iter().min() {
                    Some(y) => {
                        bounds.push(Bound::YearMax(y - 1));
                        did.push(format!("released before {y} ({of_refs})"));
                    }
                    None => did.push(format!("no release year for {of_refs}")),
                },
                (Some(Relative::Cheaper), false) => match prices.iter().copied().reduce(f64::min) {
                    Some(p) => {
                        bounds.push(Bound::PriceMax((p * 100.0).floor() / 100.0 - 0.01));
                        did.push(format!("cheaper than {p:.2} ({of_refs})"));
                    }
                    None => did.push(format!("no price for {of_refs}")),
                },
                (Some(Relative::Pricier), false) => match prices.iter().copied().reduce(f64::max) {
                    Some(p) => {
                        bounds.push(Bound::PriceMin(p + 0.01));
                        did.push(format!("dearer than {p:.2} ({of_refs})"));
                    }
                    None => did.push(format!("no price for {of_refs}")),
                },
                (Some(Relative::Shorter | Relative::Longer), false) => {
                    if runtimes.is_empty() {
                        did.push("the catalog has no running time to compare".into());
                    } else {
                        did.push("running time is not a filter yet".into());
                    }
                }
            }
            if m.more.is_empty() && m.less.is_empty() && m.relative.is_none() {
                did.push("no catalog category for it".into());
            }
            m.applied = Some(did.join("; "));
        }
        for bound in bounds {
            match bound {
                Bound::YearMin(y) => {
                    intent.year_min = Some(y);
                    intent.year_max = None;
                }
                Bound::YearMax(y) => {
                    intent.year_max = Some(y);
                    intent.year_min = None;
                }
                Bound::PriceMin(p) => intent.price_min = Some(p),
                Bound::PriceMax(p) => intent.price_max = Some(p),
            }
        }
        boosts.retain(|_, w| *w != 0.0);
        boosts
    }
}

/// A bound a relative modifier puts on the answer, replacing the intent's.
enum Bound {
    /// Released in or after this year.
    YearMin(i32),
    /// Released in or before this year.
    YearMax(i32),
    /// At least this price.
    PriceMin(f64),
    /// At most this price.
    PriceMax(f64),
}

/// `query` without the first occurrence of `word` (case and punctuation
/// ignored).
fn remove_word(query: &str, word: &str) -> String {
    let key = |w: &str| {
        w.chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    };
    let target = key(word);
    let mut removed = false;
    query
        .split_whitespace()
        .filter(|w| {
            if !removed && !target.is_empty() && key(w) == target {
                removed = true;
                false
            } else {
                true
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
