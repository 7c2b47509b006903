//! What an `i8` graph keeps beside the graph: the scale its vectors were
//! quantized with, and their full-precision copy for re-scoring.
//!
//! usearch's own `f32 → i8` cast divides each vector by its norm and
//! multiplies by 127, truncating. For a unit vector of 384 dimensions, whose
//! coordinates rarely exceed ±0.3, that uses about a fifth of the `i8` range,
//! and on catalogs whose neighbours differ by little (tight clusters) the
//! graph's walk goes wrong (recall@10 0.61 on one million packed synthetic
//! vectors, docs/benchmarks.md). Here the vectors are quantized by the
//! engine instead: one scale for the whole graph, fitted so that the largest
//! coordinate of the first bulk load maps to 127, with rounding. One global
//! factor keeps the order of inner products; each query is scaled by its
//! own largest coordinate, which changes no ranking either.

use crate::error::{IndexError, Result, replace_file};
use crate::flat::FlatVectors;
use crate::meta::SavedFile;
use std::path::Path;

/// File name of the saved scale.
const FILE: &str = "i8.json";

/// The scale of usearch's cast for unit vectors, and of a graph saved before
/// the scale was fitted (no `i8.json`): coordinates in [-1, 1].
const UNIT_SCALE: f32 = 127.0;

/// A first load smaller than this is too few vectors to say how large the
/// catalog's coordinates get: its scale leaves room for any unit vector.
const MIN_FIT: usize = 1_000;

#[derive(Debug, Clone)]
pub(crate) struct Int8 {
    /// Full-precision vectors by slot.
    pub(crate) exact: FlatVectors,
    /// `i8` level per unit of a coordinate.
    scale: f32,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    scale: f32,
}

impl Int8 {
    pub(crate) fn new(dim: usize) -> Self {
        Self {
            exact: FlatVectors::new(dim),
            scale: UNIT_SCALE,
        }
    }

    /// Fits the scale to the first load of an empty graph: its largest
    /// coordinate maps to 127 (for a small load, at most 1 does, the range of
    /// a unit vector). Later vectors with larger coordinates are clamped
    /// (their graph distances coarser; their re-scored ones exact). Vectors
    /// need not be unit length: one global factor keeps every inner product's
    /// order, so this also serves factor-model vectors.
    pub(crate) fn fit<'a>(&mut self, first: impl ExactSizeIterator<Item = &'a [f32]>) {
        let small = first.len() < MIN_FIT;
        let mut largest = first
            .flat_map(|v| v.iter())
            .fold(0f32, |m, x| m.max(x.abs()));
        if small {
            largest = largest.max(1.0);
        }
        if largest.is_finite() && largest > 0.0 {
            self.scale = 127.0 / largest;
        }
    }

    /// A catalog vector in the graph's levels.
    pub(crate) fn quantize(&self, v: &[f32]) -> Vec<i8> {
        levels(v, self.scale)
    }

    /// A query in levels of its own: its largest coordinate maps to 127.
    pub(crate) fn quantize_query(v: &[f32]) -> Vec<i8> {
        let largest = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        if largest > 0.0 && largest.is_finite() {
            levels(v, 127.0 / largest)
        } else {
            vec![0; v.len()]
        }
    }

    /// Writes the copy and the scale; both files as the slot table records them.
    pub(crate) fn save(&self, dir: &Path) -> Result<[SavedFile; 2]> {
        let copy = self.exact.save(dir)?;
        let text =
            serde_json::to_vec(&Saved { scale: self.scale }).map_err(|e| IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!("{FILE}: {e}"),
            })?;
        replace_file(dir, FILE, &text)?;
        Ok([
            copy,
            SavedFile {
                name: FILE.to_string(),
                len: text.len() as u64,
                sum: sommelier_types::codec::checksum(&text),
            },
        ])
    }

    /// Loads the copy of `slots` vectors (keeping those `share` offers
    /// where they are equal) and the scale (the unit scale for a graph saved
    /// before it was fitted).
    pub(crate) fn load(
        dir: &Path,
        dim: usize,
        slots: usize,
        share: &dyn Fn(u32) -> Option<std::sync::Arc<[f32]>>,
    ) -> Result<Self> {
        let exact = FlatVectors::load(dir, dim, slots, share)?;
        let path = dir.join(FILE);
        let scale = match std::fs::read(&path) {
            Ok(bytes) => {
                let saved: Saved =
                    serde_json::from_slice(&bytes).map_err(|e| IndexError::Corrupt {
                        dir: dir.to_path_buf(),
                        reason: format!("{FILE}: {e}"),
                    })?;
                if !(saved.scale.is_finite() && saved.scale > 0.0) {
                    return Err(IndexError::Corrupt {
                        dir: dir.to_path_buf(),
                        reason: format!("{FILE}: scale {} is not a positive number", saved.scale),
                    });
                }
                saved.scale
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => UNIT_SCALE,
            Err(e) => return Err(IndexError::io(&path)(e)),
        };
        Ok(Self { exact, scale })
    }
}

fn levels(v: &[f32], scale: f32) -> Vec<i8> {
    v.iter()
        .map(|x| (x * scale).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_scale_maps_the_largest_coordinate_to_127() {
        let vectors: Vec<Vec<f32>> = (0..MIN_FIT)
            .map(|i| vec![0.25 * (i % 2) as f32, -0.125, 0.0])
            .collect();
        let mut q = Int8::new(3);
        q.fit(vectors.iter().map(|v| v.as_slice()));
        assert_eq!(q.quantize(&[0.25, -0.125, 0.01]), vec![127, -64, 5]);
        // Beyond the fitted range: clamped, not wrapped.
        assert_eq!(q.quantize(&[0.5, -0.5, 0.0]), vec![127, -127, 0]);
    }

    #[test]
    fn a_small_first_load_leaves_room_for_unit_vectors() {
        let mut q = Int8::new(2);
        q.fit([[0.1f32, 0.2]].iter().map(|v| v.as_slice()));
        assert_eq!(q.quantize(&[1.0, -0.5]), vec![127, -64]);
        // Coordinates beyond 1 (factor vectors) set the scale themselves.
        let mut q = Int8::new(2);
        q.fit([[4.0f32, -2.0]].iter().map(|v| v.as_slice()));
        assert_eq!(q.quantize(&[4.0, 1.0]), vec![127, 32]);
    }

    #[test]
    fn queries_use_their_own_range() {
        assert_eq!(Int8::quantize_query(&[0.1, -0.05, 0.0]), vec![127, -64, 0]);
        assert_eq!(Int8::quantize_query(&[0.0, 0.0]), vec![0, 0]);
    }

    #[test]
    fn scale_survives_save_and_a_legacy_save_reads_as_unit() {
        let dir = tempfile::tempdir().unwrap();
        let vectors: Vec<Vec<f32>> = (0..MIN_FIT).map(|_| vec![0.5f32, 0.0]).collect();
        let mut q = Int8::new(2);
        for (s, v) in vectors.iter().enumerate() {
            q.exact.set(s as u32, &v.as_slice());
        }
        q.fit(vectors.iter().map(|v| v.as_slice()));
        q.save(dir.path()).unwrap();
        let back = Int8::load(dir.path(), 2, MIN_FIT, &|_| None).unwrap();
        assert_eq!(back.scale, 254.0);
        std::fs::remove_file(dir.path().join(FILE)).unwrap();
        let legacy = Int8::load(dir.path(), 2, MIN_FIT, &|_| None).unwrap();
        assert_eq!(legacy.scale, UNIT_SCALE);
    }
}
