//! Vectors by slot number, saved as one little-endian `f32` array: the exact
//! index's storage, and the full-precision copy an `i8` HNSW graph re-scores
//! its candidates with. Each slot holds a reference-counted vector, so an
//! index can keep the very vectors its owner already holds (the engine's
//! catalog snapshot) instead of a second copy: at a million 384-d vectors
//! that copy was 1.5 GB.

use crate::error::{IndexError, Result, replace_file};
use crate::meta::SavedFile;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// File name of the saved array.
const FILE: &str = "vectors.f32";

/// A vector handed to an index: borrowed (copied where the index keeps one)
/// or shared (kept by reference).
pub trait IndexVector {
    /// The coordinates.
    fn coords(&self) -> &[f32];
    /// The shared vector, when it is one.
    fn shared(&self) -> Option<Arc<[f32]>>;
}

impl IndexVector for &[f32] {
    fn coords(&self) -> &[f32] {
        self
    }
    fn shared(&self) -> Option<Arc<[f32]>> {
        None
    }
}

impl IndexVector for Arc<[f32]> {
    fn coords(&self) -> &[f32] {
        self
    }
    fn shared(&self) -> Option<Arc<[f32]>> {
        Some(self.clone())
    }
}

/// `dim` floats per slot.
#[derive(Debug, Clone)]
pub(crate) struct FlatVectors {
    dim: usize,
    rows: Vec<Arc<[f32]>>,
    /// Zeros, for slots not set (or cleared): one allocation for all of them.
    zero: Arc<[f32]>,
}

impl FlatVectors {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            rows: Vec::new(),
            zero: vec![0.0; dim].into(),
        }
    }

    /// Stores `v` at `slot` (by reference when it is shared), growing the
    /// table when the slot is new.
    pub fn set(&mut self, slot: u32, v: &impl IndexVector) {
        let row = v.shared().unwrap_or_else(|| v.coords().into());
        let at = slot as usize;
        if at >= self.rows.len() {
            self.rows.resize(at + 1, self.zero.clone());
        }
        self.rows[at] = row;
    }

    /// Lets go of the vector at `slot` (its item was removed).
    pub fn clear(&mut self, slot: u32) {
        if let Some(row) = self.rows.get_mut(slot as usize) {
            *row = self.zero.clone();
        }
    }

    pub fn get(&self, slot: u32) -> &[f32] {
        &self.rows[slot as usize]
    }

    /// The vector at `slot`, shared.
    pub fn shared(&self, slot: u32) -> Arc<[f32]> {
        self.rows[slot as usize].clone()
    }

    /// Writes the array; the file as the slot table records it.
    pub fn save(&self, dir: &Path) -> Result<SavedFile> {
        let mut bytes = Vec::with_capacity(self.rows.len() * self.dim * 4);
        for row in &self.rows {
            bytes.extend(row.iter().flat_map(|x| x.to_le_bytes()));
        }
        replace_file(dir, FILE, &bytes)?;
        Ok(SavedFile {
            name: FILE.to_string(),
            len: bytes.len() as u64,
            sum: sommelier_types::codec::checksum(&bytes),
        })
    }

    /// Reads a saved array that must hold exactly `slots` vectors. Where
    /// `share` offers a vector equal to the saved one for a slot, that vector
    /// is kept instead of a copy.
    pub fn load(
        dir: &Path,
        dim: usize,
        slots: usize,
        share: &dyn Fn(u32) -> Option<Arc<[f32]>>,
    ) -> Result<Self> {
        let path = dir.join(FILE);
        let file = std::fs::File::open(&path).map_err(IndexError::io(&path))?;
        let len = file.metadata().map_err(IndexError::io(&path))?.len();
        if len != (slots * dim * 4) as u64 {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!("{FILE} has {len} bytes for {slots} slots"),
            });
        }
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut me = Self::new(dim);
        me.rows.reserve_exact(slots);
        let mut bytes = vec![0u8; dim * 4];
        let mut row = vec![0f32; dim];
        for slot in 0..slots as u32 {
            reader
                .read_exact(&mut bytes)
                .map_err(IndexError::io(&path))?;
            for (x, b) in row.iter_mut().zip(bytes.chunks_exact(4)) {
                *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            me.rows.push(match share(slot) {
                Some(v) if *v == *row => v,
                _ if row.iter().all(|&x| x == 0.0) => me.zero.clone(),
                _ => row.as_slice().into(),
            });
        }
        Ok(me)
    }
}
