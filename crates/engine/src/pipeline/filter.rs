//! Stage 4, hard filters: over the ranked list until the re-rank's pool is
//! full, keep what is live in the catalog snapshot, passes the request's
//! filter and is not an item the request refers to (no SQLite read per
//! request).

use crate::snapshot::CatalogSnapshot;
use sommelier_features::FeatureRead;
use sommelier_index::{Filter, MetaRef};
use sommelier_rank::{Entry, Ranked};
use sommelier_types::Timestamp;

/// The first `want` of `ranked` that pass, with their catalog rows and vectors.
pub(super) fn keep(
    ranked: Vec<Ranked>,
    snapshot: &CatalogSnapshot,
    f: &dyn FeatureRead,
    now: Timestamp,
    filter: &Filter,
    references: &[&str],
    want: usize,
) -> Vec<Entry> {
    let mut pool = Vec::with_capacity(want);
    for c in ranked {
        if pool.len() == want {
            break;
        }
        let Some(item) = snapshot.items.get(c.item.as_str()) else {
            continue; // not live
        };
        if !filter.accepts_ref(MetaRef::of(item)) || references.contains(&c.item.as_str()) {
            continue;
        }
        let events = c
            .events
            .unwrap_or_else(|| f.item(&c.item, now).map_or(0, |x| x.counts.iter().sum()));
        pool.push(Entry {
            vector: None,
            events,
            ranked: c,
            item: item.clone(),
        });
    }
    // The index holds the vectors: one read lock, and one read for the
    // whole pool where they are in a database.
    let ids: Vec<&str> = pool.iter().map(|e| e.item.id.as_str()).collect();
    let vectors = snapshot.index.read().vectors(&ids);
    for (e, v) in pool.iter_mut().zip(vectors) {
        e.vector = v;
    }
    pool
}
