//! Vector indexes over item embeddings, with the filters recommendations need
//! (kind, category, availability, price range, release year), incremental
//! upserts and deletes, and persistence to a folder.
//!
//! * [`HnswIndex`]: approximate search on an HNSW graph (the `usearch` crate),
//!   for large catalogs;
//! * [`ExactIndex`]: brute-force search, for small catalogs and as the ground
//!   truth that recall is measured against.
//!
//! Both implement [`VectorIndexRead`] (search) and [`VectorIndexWrite`]
//! (changes, save). Vectors are expected L2-normalised; scores are cosines.
//! The index holds only ids, vectors and filter fields, never item metadata.

mod error;
mod exact;
mod flat;
mod hnsw;
mod int8;
mod meta;

pub use error::{IndexError, Result};
pub use exact::ExactIndex;
pub use flat::IndexVector;
pub use hnsw::{HnswIndex, HnswParams, Quantization};
pub use meta::{Filter, ItemMeta, MetaRef};
pub use sommelier_types::dot;

use std::path::Path;

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Item id.
    pub id: String,
    /// Cosine similarity to the query (higher is closer).
    pub score: f32,
}

/// Searching an index.
pub trait VectorIndexRead {
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Number of live vectors.
    fn len(&self) -> usize;
    /// True when empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `k` items closest to `query` among those passing `filter`, closest
    /// first. Never returns a removed item or one the filter rejects.
    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>>;
    /// The vector the index keeps for `id`; `None` when it is not indexed.
    /// The index is the one copy of its vectors its owner reads them from:
    /// an `f16` graph's come back rounded to half precision, the exact
    /// index's and an `i8` graph's full-precision copy as they were given.
    fn vector(&self, id: &str) -> Option<std::sync::Arc<[f32]>>;
    /// The vectors of `ids`, in their order: [`VectorIndexRead::vector`]
    /// of each, or one read for all where the vectors are elsewhere (a
    /// database).
    fn vectors(&self, ids: &[&str]) -> Vec<Option<std::sync::Arc<[f32]>>> {
        ids.iter().map(|id| self.vector(id)).collect()
    }
}

/// Changing and saving an index.
pub trait VectorIndexWrite {
    /// Adds the item, or replaces its vector and filter fields.
    fn upsert(&mut self, id: &str, vector: &[f32], meta: &ItemMeta) -> Result<()>;
    /// [`VectorIndexWrite::upsert`] with a shared vector: an index that keeps
    /// full-precision vectors keeps this one rather than a copy.
    fn upsert_shared(
        &mut self,
        id: &str,
        vector: std::sync::Arc<[f32]>,
        meta: &ItemMeta,
    ) -> Result<()> {
        self.upsert(id, &vector, meta)
    }
    /// Removes the item; false when it was not there.
    fn remove(&mut self, id: &str) -> Result<bool>;
    /// Writes the index to `dir` (created if needed), replacing what was there.
    fn save(&self, dir: &Path) -> Result<()>;
}

/// Keeps the `k` best (score, slot) pairs; ties go to the lower slot.
pub(crate) fn top_k(mut scored: Vec<(f32, u32)>, k: usize) -> Vec<(f32, u32)> {
    let cmp = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if scored.len() > k && k > 0 {
        scored.select_nth_unstable_by(k - 1, cmp);
        scored.truncate(k);
    }
    scored.sort_by(cmp);
    scored.truncate(k);
    scored
}
