//! Brute-force search: exact, for small catalogs and as ground truth.

use crate::error::{IndexError, Result, replace_file};
use crate::meta::{Filter, ItemMeta, Slots};
use crate::{Hit, VectorIndexRead, VectorIndexWrite, top_k};
use std::path::Path;

/// Every vector in one flat array; a search scores all of them.
pub struct ExactIndex {
    slots: Slots,
    vectors: Vec<f32>,
}

impl ExactIndex {
    /// An empty index of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            slots: Slots::new(dim),
            vectors: Vec::new(),
        }
    }

    /// Loads an index saved with [`VectorIndexWrite::save`].
    pub fn load(dir: &Path) -> Result<Self> {
        let slots = Slots::load(dir)?;
        let path = dir.join("vectors.f32");
        let bytes = std::fs::read(&path).map_err(IndexError::io(&path))?;
        if bytes.len() != slots.slots.len() * slots.dim * 4 {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!(
                    "vectors.f32 has {} bytes for {} slots",
                    bytes.len(),
                    slots.slots.len()
                ),
            });
        }
        let vectors = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self { slots, vectors })
    }
}

/// Dot product with eight independent sums, which the compiler vectorises (a
/// single running sum must stay sequential under IEEE rules).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
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
        let dim = self.slots.dim;
        let scored: Vec<(f32, u32)> = (0..self.slots.slots.len() as u32)
            .filter(|&s| self.slots.passes(s, filter))
            .map(|s| {
                let v = &self.vectors[s as usize * dim..][..dim];
                (dot(v, query), s)
            })
            .collect();
        Ok(top_k(scored, k)
            .into_iter()
            .map(|(score, s)| Hit {
                id: self.slots.slots[s as usize].id.clone(),
                score,
            })
            .collect())
    }
}

impl VectorIndexWrite for ExactIndex {
    fn upsert(&mut self, id: &str, vector: &[f32], meta: &ItemMeta) -> Result<()> {
        self.slots.check(id, vector)?;
        let dim = self.slots.dim;
        let (s, _) = self.slots.upsert(id, meta);
        let at = s as usize * dim;
        if at == self.vectors.len() {
            self.vectors.extend_from_slice(vector);
        } else {
            self.vectors[at..at + dim].copy_from_slice(vector);
        }
        Ok(())
    }

    fn remove(&mut self, id: &str) -> Result<bool> {
        Ok(self.slots.remove(id).is_some())
    }

    fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(IndexError::io(dir))?;
        let bytes: Vec<u8> = self.vectors.iter().flat_map(|x| x.to_le_bytes()).collect();
        replace_file(dir, "vectors.f32", &bytes)?;
        self.slots.save(dir)
    }
}
