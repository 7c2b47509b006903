//! Item-to-item similarity, one for every surface that asks "more like this"
//! (`/v1/items/{id}/similar`, "more like the second one", a chat request
//! that names an item): the co-occurrence neighbours people's choices
//! support, blended with the nearest items by content vector, content taking
//! over for items with few interactions.
//!
//! For a reference item x with `n` interactions, each candidate j scores
//! `α · co(x, j) + (1 − α) · content(x, j)` with `α = n / (n + prior)`, both
//! parts scaled to [0, 1] by x's best neighbour in that list; several
//! references add up. `prior` is fitted by `sommelier fit` (see
//! `models/similar.rs`): the interaction count at which co-occurrence and
//! content are equally good at finding the items people choose together.

use crate::snapshot::CatalogSnapshot;
use sommelier_collab::ItemNeighbors;
use sommelier_features::FeatureRead;
use sommelier_index::{Filter, IndexError, MetaRef};
use sommelier_types::Timestamp;
use std::collections::HashMap;

/// Neighbours read from each list per reference (the blend needs both lists
/// longer than the answer).
const DEPTH: usize = 100;

/// The prior when no fit chose one: content and co-occurrence weigh the
/// same for an item with this many interactions.
pub(crate) const DEFAULT_PRIOR: f64 = 20.0;

/// The blend over one catalog snapshot, fitted table and features.
pub(crate) struct Hybrid<'a> {
    /// The co-occurrence table (none before the first fit).
    pub(crate) cooccurrence: Option<&'a ItemNeighbors>,
    pub(crate) snapshot: &'a CatalogSnapshot,
    /// How many interactions an item has.
    pub(crate) interactions: &'a dyn Fn(&str) -> u64,
    /// `α = n / (n + prior)`.
    pub(crate) prior: f64,
}

/// Scales `list` so its best score is 1.
fn scaled(list: Vec<(String, f64)>) -> Vec<(String, f64)> {
    let top = list.iter().map(|x| x.1).fold(0.0, f64::max);
    if top <= 0.0 {
        return list;
    }
    list.into_iter().map(|(id, s)| (id, s / top)).collect()
}

impl Hybrid<'_> {
    /// The weight of co-occurrence for a reference with `n` interactions.
    pub(crate) fn alpha(&self, n: u64) -> f64 {
        if self.cooccurrence.is_none() {
            return 0.0;
        }
        let n = n as f64;
        if n + self.prior <= 0.0 {
            1.0
        } else {
            n / (n + self.prior)
        }
    }

    /// One reference's co-occurrence list, filtered.
    fn cooccurring(&self, item: &str, filter: &Filter) -> Vec<(String, f64)> {
        let Some(table) = self.cooccurrence else {
            return Vec::new();
        };
        table
            .neighbors(item)
            .into_iter()
            .filter(|(j, _)| {
                self.snapshot
                    .items
                    .get(*j)
                    .is_some_and(|it| filter.accepts_ref(MetaRef::of(it)))
            })
            .take(DEPTH)
            .map(|(j, w)| (j.to_string(), f64::from(w)))
            .collect()
    }

    /// One reference's nearest items by content vector, filtered.
    fn nearest(&self, item: &str, filter: &Filter) -> Result<Vec<(String, f64)>, IndexError> {
        let Some(v) = self.snapshot.vector(item) else {
            return Ok(Vec::new());
        };
        Ok(self
            .snapshot
            .search_index(&v, DEPTH + 1, filter)?
            .into_iter()
            .filter(|h| h.id != item)
            .map(|h| (h.id, f64::from(h.score.max(0.0))))
            .collect())
    }

    /// The blended scores of one reference's neighbours.
    fn blend(&self, item: &str, filter: &Filter) -> Result<HashMap<String, f64>, IndexError> {
        let alpha = self.alpha((self.interactions)(item));
        let mut out: HashMap<String, f64> = HashMap::new();
        if alpha > 0.0 {
            for (j, s) in scaled(self.cooccurring(item, filter)) {
                *out.entry(j).or_default() += alpha * s;
            }
        }
        if alpha < 1.0 {
            for (j, s) in scaled(self.nearest(item, filter)?) {
                *out.entry(j).or_default() += (1.0 - alpha) * s;
            }
        }
        Ok(out)
    }
}

impl sommelier_recall::ItemSimilarity for Hybrid<'_> {
    fn similar(
        &self,
        items: &[&str],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<(String, f64)>, IndexError> {
        let mut total: HashMap<String, f64> = HashMap::new();
        for item in items {
            for (j, s) in self.blend(item, filter)? {
                *total.entry(j).or_default() += s / items.len() as f64;
            }
        }
        let mut out: Vec<(String, f64)> = total
            .into_iter()
            .filter(|(j, _)| !items.contains(&j.as_str()))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.truncate(k);
        Ok(out)
    }
}

/// Interactions of an item in the online features at `now`.
pub(crate) fn interactions(f: &dyn FeatureRead, now: Timestamp) -> impl Fn(&str) -> u64 + '_ {
    move |item| f.item(item, now).map_or(0, |x| x.counts.iter().sum())
}
