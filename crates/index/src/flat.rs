//! Vectors in one flat array by slot number, saved as little-endian `f32`:
//! the exact index's storage, and the full-precision copy an `i8` HNSW graph
//! re-scores its candidates with.

use crate::error::{IndexError, Result, replace_file};
use std::path::Path;

/// File name of the saved array.
const FILE: &str = "vectors.f32";

/// `dim` floats per slot, slot `s` at `s * dim`.
#[derive(Debug, Clone)]
pub(crate) struct FlatVectors {
    dim: usize,
    data: Vec<f32>,
}

impl FlatVectors {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            data: Vec::new(),
        }
    }

    /// Stores `v` at `slot`, growing the array when the slot is new.
    pub fn set(&mut self, slot: u32, v: &[f32]) {
        let at = slot as usize * self.dim;
        if at + self.dim > self.data.len() {
            self.data.resize(at + self.dim, 0.0);
        }
        self.data[at..at + self.dim].copy_from_slice(v);
    }

    pub fn get(&self, slot: u32) -> &[f32] {
        &self.data[slot as usize * self.dim..][..self.dim]
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let bytes: Vec<u8> = self.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        replace_file(dir, FILE, &bytes)
    }

    /// Reads a saved array that must hold exactly `slots` vectors.
    pub fn load(dir: &Path, dim: usize, slots: usize) -> Result<Self> {
        let path = dir.join(FILE);
        let bytes = std::fs::read(&path).map_err(IndexError::io(&path))?;
        if bytes.len() != slots * dim * 4 {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!("{FILE} has {} bytes for {slots} slots", bytes.len()),
            });
        }
        let data = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self { dim, data })
    }
}
