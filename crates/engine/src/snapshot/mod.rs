//! The catalog snapshot: every live item, the vector index (the one copy of
//! their vectors kept in memory),
//! the BM25 index and the newest items, built from the store on first use
//! and read by every request instead of SQLite. A change of a few items
//! afterwards is applied to it in place ([`Engine::catalog_changed_for`],
//! `patch.rs`), a large one rebuilds it (`build.rs`); a built HNSW graph is
//! saved for the next start (`saved.rs`).
//!
//! The snapshot knows nothing of its readers: what chat or browsing derive
//! from the whole catalog they cache themselves, keyed by the snapshot's
//! [`CatalogSnapshot::generation`] ([`GenerationCache`]).

mod build;
mod file;
mod in_database;
mod patch;
mod saved;

pub use file::{CatalogSaved, CatalogStart};

use crate::{Engine, EngineError, Result};
use parking_lot::{Mutex, RwLock};
use sommelier_index::{Filter, Hit, IndexError, VectorIndexRead, VectorIndexWrite};
use sommelier_types::{Item, Timestamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A vector index that can be searched and changed.
pub(crate) trait AnyIndex: VectorIndexRead + VectorIndexWrite + Send + Sync {}
impl<T: VectorIndexRead + VectorIndexWrite + Send + Sync> AnyIndex for T {}

/// The vector index of a snapshot, shared with the snapshots patched from it:
/// searches take the read lock, a patch takes the write lock per item.
pub(crate) type SharedIndex = Arc<RwLock<Box<dyn AnyIndex>>>;

/// Catalog snapshot tables by item id. foldhash: each request looks up every
/// history item and every candidate it keeps, and SipHash over the id showed
/// in profiles at 1M items; inline keys ([`sommelier_types::IdKey`]), so a
/// lookup does not follow a pointer to compare the id.
pub(crate) type IdMap<V> = foldhash::HashMap<sommelier_types::IdKey, V>;

/// The live catalog as requests read it.
pub(crate) struct CatalogSnapshot {
    /// The catalog generation it was built from (see [`SnapshotState`]).
    pub(crate) generation: u64,
    /// The store's catalog log position it reflects: every change up to it
    /// is in, later ones are read again by the next patch.
    pub(crate) position: u64,
    /// The content hash of each vector (what a saved graph is checked
    /// against), by the ids of the live items that have a vector.
    pub(crate) hashes: IdMap<Arc<str>>,
    pub(crate) index: SharedIndex,
    /// Which index was built: `exact` (below `vectors.exact_below`) or `hnsw`.
    pub(crate) backend: &'static str,
    /// How an HNSW graph stores its vectors (`i8`, `f16`, `f32`).
    pub(crate) storage: Option<&'static str>,
    /// The newest live items (id, created at), newest first: the fresh source.
    pub(crate) newest: Vec<(String, Timestamp)>,
    /// Every live item, so the request path reads no rows from SQLite.
    pub(crate) items: IdMap<Arc<Item>>,
    /// BM25 over the live items' text (`None` if it could not be built),
    /// shared with the snapshots patched from this one.
    pub(crate) lexical: Option<Arc<sommelier_lexical::LexicalIndex>>,
}

/// [`CatalogSnapshot::backend`] of an index inside the database.
pub(crate) const PGVECTOR: &str = "pgvector";

impl CatalogSnapshot {
    /// The `k` nearest vectors passing `filter`.
    pub(crate) fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        self.search_index(query, k, filter).map_err(index_err)
    }

    /// The `k` nearest vectors passing `filter`, of items this snapshot
    /// holds. An index in the process holds the snapshot's items; the
    /// database's answers from its newest state, with items this snapshot
    /// does not have yet (or that the content policy keeps out): those are
    /// dropped, and more asked for while dropping left fewer than `k`.
    pub(crate) fn search_index(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Hit>, IndexError> {
        let index = self.index.read();
        if self.backend != PGVECTOR {
            return index.search(query, k, filter);
        }
        let mut asked = k;
        loop {
            let hits = index.search(query, asked, filter)?;
            let complete = hits.len() < asked;
            let live: Vec<Hit> = hits
                .into_iter()
                .filter(|h| self.items.contains_key(h.id.as_str()))
                .take(k)
                .collect();
            if live.len() == k || complete || asked >= k.saturating_mul(8) {
                return Ok(live);
            }
            asked *= 2;
        }
    }

    /// Vectors in the index.
    pub(crate) fn indexed(&self) -> usize {
        if self.backend == PGVECTOR {
            return self.hashes.len();
        }
        self.index.read().len()
    }

    /// An item's vector, from the index (which holds the only copy).
    pub(crate) fn vector(&self, item: &str) -> Option<Arc<[f32]>> {
        self.index.read().vector(item)
    }
}

impl sommelier_recall::VectorReads for CatalogSnapshot {
    fn vector(&self, item: &str) -> Option<Arc<[f32]>> {
        CatalogSnapshot::vector(self, item)
    }

    fn vectors(&self, items: &[&str]) -> Vec<Option<Arc<[f32]>>> {
        self.index.read().vectors(items)
    }

    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>, IndexError> {
        self.search_index(query, k, filter)
    }
}

/// Something derived from a whole snapshot (chat's category vocabulary,
/// browsing's facets), computed once per snapshot generation by whoever
/// reads it.
pub(crate) struct GenerationCache<T> {
    slot: Mutex<Option<(u64, Arc<T>)>>,
}

impl<T> Default for GenerationCache<T> {
    fn default() -> Self {
        Self {
            slot: Mutex::new(None),
        }
    }
}

impl<T> GenerationCache<T> {
    /// The value for `snapshot`: cached when computed for its generation,
    /// otherwise computed now by `make`.
    pub(crate) fn get(&self, snapshot: &CatalogSnapshot, make: impl FnOnce() -> T) -> Arc<T> {
        let mut slot = self.slot.lock();
        match slot.as_ref() {
            Some((g, v)) if *g == snapshot.generation => v.clone(),
            _ => {
                let v = Arc::new(make());
                *slot = Some((snapshot.generation, v.clone()));
                v
            }
        }
    }
}

/// Newest items kept for the fresh source.
pub(super) const NEWEST_KEPT: usize = 2_000;

/// The catalog snapshot in use and the catalog generation the store is at.
///
/// A catalog change bumps the generation; the snapshot is rebuilt by the next
/// caller that finds it stale, one build at a time, *without* holding the
/// snapshot's lock: while it builds, every other reader keeps answering from
/// the previous snapshot instead of waiting.
#[derive(Default)]
pub(crate) struct SnapshotState {
    current: RwLock<Option<Arc<CatalogSnapshot>>>,
    generation: AtomicU64,
    building: Mutex<()>,
    /// Held while a built graph is written to disk.
    saving: Arc<Mutex<()>>,
    /// When the catalog was last saved, and the log position saved.
    catalog_saved: Mutex<Option<(std::time::Instant, u64)>>,
    /// How the first snapshot was made.
    start: Mutex<Option<CatalogStart>>,
}

impl SnapshotState {
    /// The catalog or its vectors changed: the snapshot is stale from now on.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl Engine {
    /// The current snapshot if one is built, fresh or stale; never builds.
    pub(crate) fn built_snapshot(&self) -> Option<Arc<CatalogSnapshot>> {
        self.snapshots.current.read().clone()
    }

    /// The catalog snapshot. Fresh when no change happened since it was built;
    /// otherwise this call rebuilds it, unless another call is already doing
    /// so, in which case the previous snapshot answers (no reader waits for a
    /// rebuild, only for the very first build).
    pub(crate) fn snapshot(&self) -> Result<Arc<CatalogSnapshot>> {
        let wanted = self.snapshots.generation.load(Ordering::SeqCst);
        let stale = match self.snapshots.current.read().as_ref() {
            Some(s) if s.generation == wanted => return Ok(s.clone()),
            Some(s) => Some(s.clone()),
            None => None,
        };
        let _building = match (stale, self.snapshots.building.try_lock()) {
            (_, Some(guard)) => guard,
            (Some(previous), None) => return Ok(previous),
            (None, None) => self.snapshots.building.lock(),
        };
        // Another caller may have finished a build while this one waited.
        if let Some(s) = self.snapshots.current.read().as_ref()
            && s.generation == self.snapshots.generation.load(Ordering::SeqCst)
        {
            return Ok(s.clone());
        }
        self.rebuild_snapshot()
    }

    /// Builds the snapshot of the current catalog generation and puts it in
    /// place. The caller holds `snapshots.building`.
    fn rebuild_snapshot(&self) -> Result<Arc<CatalogSnapshot>> {
        let wanted = self.snapshots.generation.load(Ordering::SeqCst);
        let first = self.snapshots.current.read().is_none();
        let built = if first {
            self.first_snapshot(wanted)?
        } else {
            Arc::new(self.build_snapshot(wanted)?)
        };
        let previous = self.snapshots.current.write().replace(built.clone());
        drop(previous);
        // What the build read on the way (and a previous snapshot no
        // request holds any more) is freed: its pages go back to the kernel.
        let t = std::time::Instant::now();
        crate::memory::release_freed_memory();
        tracing::info!(ms = t.elapsed().as_millis() as u64, "freed memory released");
        Ok(built)
    }

    /// The first snapshot of this process: from the last save when it can be
    /// brought up to date, else read from the store.
    fn first_snapshot(&self, generation: u64) -> Result<Arc<CatalogSnapshot>> {
        let started = std::time::Instant::now();
        let reason = if self.config().server.catalog_save_secs == 0 {
            None
        } else {
            match self.snapshot_from_save(generation)? {
                Ok(s) => return Ok(s),
                Err(reason) => Some(reason),
            }
        };
        if let Some(r) = reason.as_deref().filter(|r| *r != "nothing saved") {
            tracing::warn!(reason = %r, "catalog snapshot read from the store");
        }
        let built = Arc::new(self.build_snapshot(generation)?);
        *self.snapshots.start.lock() = Some(CatalogStart {
            source: "store",
            reason,
            items: built.items.len() as u64,
            changed_since_save: 0,
            ms: started.elapsed().as_millis() as u64,
        });
        Ok(built)
    }

    /// A write changed the catalog or its vectors (already committed): marks
    /// the snapshot stale and, when one is in use, rebuilds it before
    /// returning, so the writer reads its own write. The rebuild lock is taken
    /// first, so readers meanwhile answer from the previous snapshot instead
    /// of starting a rebuild of their own.
    pub(crate) fn catalog_changed(&self) -> Result<()> {
        let _building = self.snapshots.building.lock();
        self.snapshots.invalidate();
        if self.snapshots.current.read().is_some() {
            self.rebuild_snapshot()?;
        }
        Ok(())
    }
}

impl Engine {
    /// Applies catalog changes another process wrote (an import beside the
    /// server): the catalog log moved past the snapshot in use.
    pub fn follow_catalog(&self) -> Result<()> {
        let Some(current) = self.built_snapshot() else {
            return Ok(());
        };
        if self.store().catalog_position()? > current.position {
            self.catalog_changed_for(&[])?;
        }
        Ok(())
    }
}

pub(super) fn index_err(e: IndexError) -> EngineError {
    EngineError::Index(e)
}

#[cfg(test)]
mod tests;
