//! The HNSW graph saved between starts: written in the background after a
//! full build, with the content hash of every vector; loaded at the next start
//! and brought up to date with what changed meanwhile.

use super::SharedIndex;
use crate::{Engine, GraphStorage};
use sommelier_index::{HnswIndex, HnswParams, ItemMeta, VectorIndexRead, VectorIndexWrite};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Content hashes of the vectors a saved graph was built from.
const HASHES_FILE: &str = "hashes.json";

impl Engine {
    /// Where the HNSW graph of `vectors.model` is saved between starts.
    fn saved_index_dir(&self) -> std::path::PathBuf {
        self.config()
            .data_dir
            .join("index")
            .join(&self.config().vectors.model)
    }

    /// The graph an earlier build saved, brought up to date with the store:
    /// vectors whose content hash changed or that are new are inserted,
    /// those of items no longer live removed, every item's filter fields
    /// refreshed. `None` (and a full build) when nothing usable is saved or
    /// more than a tenth of the catalog differs.
    pub(super) fn load_saved_index(
        &self,
        dim: usize,
        live: &[(String, ItemMeta)],
        vectors: &super::IdMap<Arc<[f32]>>,
        hashes: &super::IdMap<Arc<str>>,
        params: HnswParams,
    ) -> Option<HnswIndex> {
        let started = Instant::now();
        let dir = self.saved_index_dir();
        let saved: HashMap<String, String> =
            serde_json::from_slice(&std::fs::read(dir.join(HASHES_FILE)).ok()?).ok()?;
        // With `auto` storage the saved graph is `i8` or `f16`, as its
        // recall check decided when it was built.
        // An `i8` graph's full-precision copy keeps the snapshot's own
        // vectors where they are unchanged: one copy of each in memory.
        let as_saved = self.config().vectors.quantization == GraphStorage::Auto;
        let share = |id: &str| vectors.get(id).cloned();
        let loaded = HnswIndex::load_with(&dir, params, !as_saved, &share);
        let mut ix = match loaded {
            Ok(ix) if ix.dim() == dim => ix,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "saved vector index not loaded; building it");
                return None;
            }
        };
        let wanted: std::collections::HashSet<&str> =
            live.iter().map(|(id, _)| id.as_str()).collect();
        let gone: Vec<String> = ix
            .ids()
            .filter(|id| !wanted.contains(id))
            .map(str::to_string)
            .collect();
        let mut changed: Vec<(&str, Arc<[f32]>, &ItemMeta)> = Vec::new();
        for (id, meta) in live {
            let same = saved
                .get(id)
                .is_some_and(|h| hashes.get(id.as_str()).is_some_and(|x| **x == **h));
            if !(same && ix.set_meta(id, meta)) {
                changed.push((id.as_str(), vectors[id.as_str()].clone(), meta));
            }
        }
        if (changed.len() + gone.len()) * 10 > live.len() {
            tracing::info!(
                changed = changed.len(),
                removed = gone.len(),
                "saved vector index too far behind; building it"
            );
            return None;
        }
        for id in &gone {
            ix.remove(id).ok()?;
        }
        ix.upsert_many(&changed).ok()?;
        tracing::info!(
            vectors = live.len(),
            changed = changed.len(),
            removed = gone.len(),
            ms = started.elapsed().as_millis() as u64,
            "vector index loaded from its last save and brought up to date"
        );
        Some(ix)
    }

    /// Saves a freshly built graph on a background thread (1.7 GB at 1M
    /// vectors: seconds, against minutes to build), with the content hash of
    /// every vector it was built from, written last: a save without it is
    /// incomplete and ignored.
    pub(super) fn save_index_later(&self, index: SharedIndex, hashes: HashMap<String, String>) {
        let dir = self.saved_index_dir();
        let saving = self.snapshots.saving.clone();
        std::thread::spawn(move || {
            let Some(_one) = saving.try_lock() else {
                return; // another save is under way; the next build saves again
            };
            let started = Instant::now();
            let hashes_path = dir.join(HASHES_FILE);
            let result = (|| -> std::result::Result<(), String> {
                match std::fs::remove_file(&hashes_path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.to_string()),
                }
                index.read().save(&dir).map_err(|e| e.to_string())?;
                let tmp = dir.join("hashes.json.tmp");
                std::fs::write(
                    &tmp,
                    serde_json::to_vec(&hashes).map_err(|e| e.to_string())?,
                )
                .map_err(|e| e.to_string())?;
                std::fs::rename(&tmp, &hashes_path).map_err(|e| e.to_string())
            })();
            match result {
                Ok(()) => tracing::info!(
                    dir = %dir.display(),
                    ms = started.elapsed().as_millis() as u64,
                    "vector index saved"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, dir = %dir.display(), "vector index not saved")
                }
            }
        });
    }
}
