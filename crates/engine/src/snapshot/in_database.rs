//! `vectors.index = "pgvector"`: the snapshot's vector index is the
//! database's. Searches are the store's [`VectorSearch`] (pgvector's HNSW,
//! filters in SQL); the process keeps no copy of the catalog's vectors,
//! only those requests read lately (the user's history, the ranked
//! candidates), in a cache of `vectors.cache_vectors`.
//!
//! The database answers from its newest state, which may be ahead of the
//! snapshot; [`super::CatalogSnapshot`] keeps only hits of items it holds.

use super::IdMap;
use parking_lot::Mutex;
use sommelier_index::{Filter, Hit, IndexError, ItemMeta, VectorIndexRead, VectorIndexWrite};
use sommelier_store::Store;
use sommelier_types::IdKey;
use std::sync::Arc;

/// The vector index inside the store's database.
pub(crate) struct DatabaseIndex {
    store: Arc<dyn Store>,
    model: String,
    dim: usize,
    /// Live vectors when the snapshot was built (the snapshot's own count,
    /// `hashes`, follows later changes).
    len: usize,
    ef: usize,
    cache: Mutex<RecentVectors>,
}

impl DatabaseIndex {
    /// The index over `model`'s vectors (of dimension `dim`, `len` of them)
    /// in `store`, which must search vectors itself.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        model: &str,
        dim: usize,
        len: usize,
        ef: usize,
        cache: usize,
    ) -> Self {
        Self {
            store,
            model: model.to_string(),
            dim,
            len,
            ef,
            cache: Mutex::new(RecentVectors::new(cache)),
        }
    }

    fn search_in_database(&self) -> Result<&dyn sommelier_store::VectorSearch, IndexError> {
        self.store.vector_search().ok_or_else(|| {
            IndexError::Database(format!(
                "the {} store cannot search vectors; vectors.index = \"pgvector\" needs PostgreSQL",
                self.store.backend()
            ))
        })
    }
}

impl VectorIndexRead for DatabaseIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.len
    }

    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>, IndexError> {
        if self.dim == 0 {
            // The catalog had no vectors when the snapshot was built; the
            // first one to arrive makes the next patch rebuild it.
            return Ok(Vec::new());
        }
        if query.len() != self.dim {
            return Err(IndexError::Dimension {
                expected: self.dim,
                got: query.len(),
            });
        }
        let hits = self
            .search_in_database()?
            .search_vectors(&self.model, query, k, &filter.into(), self.ef)
            .map_err(|e| IndexError::Database(e.to_string()))?;
        Ok(hits
            .into_iter()
            .map(|(id, score)| Hit { id, score })
            .collect())
    }

    fn vector(&self, id: &str) -> Option<Arc<[f32]>> {
        self.vectors(&[id]).pop().flatten()
    }

    fn vectors(&self, ids: &[&str]) -> Vec<Option<Arc<[f32]>>> {
        let mut out: Vec<Option<Arc<[f32]>>> = {
            let mut cache = self.cache.lock();
            ids.iter().map(|id| cache.get(id)).collect()
        };
        let missing: Vec<&str> = ids
            .iter()
            .zip(&out)
            .filter(|(_, v)| v.is_none())
            .map(|(id, _)| *id)
            .collect();
        if missing.is_empty() {
            return out;
        }
        let read = self.search_in_database().and_then(|s| {
            s.vectors_of(&self.model, &missing)
                .map_err(|e| IndexError::Database(e.to_string()))
        });
        let read = match read {
            Ok(r) => r,
            Err(e) => {
                // The request goes on without these vectors (as for items
                // that have none) rather than failing as a whole.
                tracing::warn!(error = %e, items = missing.len(), "vectors not read from the database");
                return out;
            }
        };
        let mut found: IdMap<Arc<[f32]>> = IdMap::default();
        {
            let mut cache = self.cache.lock();
            for (id, v) in read {
                let v: Arc<[f32]> = v.into();
                cache.put(&id, v.clone());
                found.insert(IdKey::new(&id), v);
            }
        }
        for (id, slot) in ids.iter().zip(&mut out) {
            if slot.is_none() {
                *slot = found.get(*id).cloned();
            }
        }
        out
    }
}

impl VectorIndexWrite for DatabaseIndex {
    /// The database has the item already (the snapshot patch read it from
    /// there): only the cached copy is replaced.
    fn upsert(&mut self, id: &str, vector: &[f32], meta: &ItemMeta) -> Result<(), IndexError> {
        self.upsert_shared(id, vector.into(), meta)
    }

    fn upsert_shared(
        &mut self,
        id: &str,
        vector: Arc<[f32]>,
        _meta: &ItemMeta,
    ) -> Result<(), IndexError> {
        if vector.len() != self.dim {
            return Err(IndexError::Dimension {
                expected: self.dim,
                got: vector.len(),
            });
        }
        self.cache.lock().put(id, vector);
        Ok(())
    }

    fn remove(&mut self, id: &str) -> Result<bool, IndexError> {
        Ok(self.cache.lock().remove(id))
    }

    /// Nothing to save: the index lives in the database.
    fn save(&self, _dir: &std::path::Path) -> Result<(), IndexError> {
        Ok(())
    }
}

/// The vectors read lately, at most `capacity`: two generations, the
/// current one filled until it holds half the capacity, then kept as the
/// previous one (a vector read from there moves back to the current) while
/// the one before is dropped. Close to least-recently-used, with no
/// bookkeeping per read.
struct RecentVectors {
    capacity: usize,
    current: IdMap<Arc<[f32]>>,
    previous: IdMap<Arc<[f32]>>,
}

impl RecentVectors {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            current: IdMap::default(),
            previous: IdMap::default(),
        }
    }

    fn get(&mut self, id: &str) -> Option<Arc<[f32]>> {
        if let Some(v) = self.current.get(id) {
            return Some(v.clone());
        }
        let v = self.previous.remove(id)?;
        self.put(id, v.clone());
        Some(v)
    }

    fn put(&mut self, id: &str, v: Arc<[f32]>) {
        if self.capacity == 0 {
            return;
        }
        if self.current.len() >= self.capacity.div_ceil(2) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.previous.remove(id);
        self.current.insert(IdKey::new(id), v);
    }

    fn remove(&mut self, id: &str) -> bool {
        let a = self.current.remove(id).is_some();
        let b = self.previous.remove(id).is_some();
        a || b
    }
}

#[cfg(test)]
mod tests {
    use super::RecentVectors;
    use std::sync::Arc;

    #[test]
    fn the_cache_keeps_at_most_its_capacity_and_what_was_read_lately() {
        let v = |x: f32| -> Arc<[f32]> { vec![x].into() };
        let mut c = RecentVectors::new(4);
        for i in 0..4 {
            c.put(&format!("i{i}"), v(i as f32));
        }
        // i0 and i1 went to the previous generation when i2 came; reading
        // i0 brings it back, and i1, left behind, is dropped.
        assert_eq!(c.get("i0").as_deref(), Some(&[0.0][..]));
        c.put("i4", v(4.0));
        c.put("i5", v(5.0));
        assert!(c.get("i1").is_none());
        assert!(c.current.len() + c.previous.len() <= 4);
        assert!(c.get("i5").is_some());
        assert!(c.remove("i5"));
        assert!(c.get("i5").is_none());
        let mut off = RecentVectors::new(0);
        off.put("a", v(1.0));
        assert!(off.get("a").is_none());
    }
}
