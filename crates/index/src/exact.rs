//! Brute-force search: exact, for small catalogs and as ground truth.

use crate::error::{IndexError, Result};
use crate::flat::{FlatVectors, IndexVector};
use crate::meta::{Filter, ItemMeta, Slots};
use crate::{Hit, VectorIndexRead, VectorIndexWrite, top_k};
use sommelier_types::dot;
use std::path::Path;

/// Every vector in one flat array; a search scores all of them.
pub struct ExactIndex {
    slots: Slots,
    vectors: FlatVectors,
}

impl ExactIndex {
    /// An empty index of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            slots: Slots::new(dim),
            vectors: FlatVectors::new(dim),
        }
    }

    /// Loads an index saved with [`VectorIndexWrite::save`].
    pub fn load(dir: &Path) -> Result<Self> {
        let slots = Slots::load(dir)?;
        slots.verify_files(dir)?;
        let vectors = FlatVectors::load(dir, slots.dim, slots.slots.len(), &|_| None)?;
        Ok(Self { slots, vectors })
    }

    /// Adds or replaces one item, its vector copied or shared.
    fn put(&mut self, id: &str, vector: &impl IndexVector, meta: &ItemMeta) -> Result<()> {
        self.slots.check(id, vector.coords())?;
        let (s, _) = self.slots.upsert(id, meta);
        self.vectors.set(s, vector);
        Ok(())
    }
}
impl VectorIndexRead for ExactIndex {
    fn dim(&self) -> usize {
        self.slots.dim
    }

    fn len(&self) -> usize {
        self.slots.live()
    }

    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        self.slots.check("query", query)?;
        let check = self.slots.prepare(filter);
        let scored: Vec<(f32, u32)> = (0..self.slots.slots.len() as u32)
            .filter(|&s| self.slots.passes(s, &check))
            .map(|s| (dot(self.vectors.get(s), query), s))
            .collect();
        Ok(top_k(scored, k)
            .into_iter()
            .map(|(score, s)| Hit {
                id: self.slots.slots[s as usize].id.clone(),
                score,
            })
            .collect())
    }

    fn vector(&self, id: &str) -> Option<std::sync::Arc<[f32]>> {
        self.slots.live_slot(id).map(|s| self.vectors.shared(s))
    }
}

impl VectorIndexWrite for ExactIndex {
    fn upsert(&mut self, id: &str, vector: &[f32], meta: &ItemMeta) -> Result<()> {
        self.put(id, &vector, meta)
    }

    fn upsert_shared(
        &mut self,
        id: &str,
        vector: std::sync::Arc<[f32]>,
        meta: &ItemMeta,
    ) -> Result<()> {
        self.put(id, &vector, meta)
    }

    fn remove(&mut self, id: &str) -> Result<bool> {
        let slot = self.slots.remove(id);
        if let Some(s) = slot {
            self.vectors.clear(s);
        }
        Ok(slot.is_some())
    }

    fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(IndexError::io(dir))?;
        let file = self.vectors.save(dir)?;
        self.slots.save(dir, &[file])
    }
}
