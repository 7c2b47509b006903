//! The HNSW graph saved between starts: written in the background after a
//! full build, with the content hash of every vector; loaded at the next start
//! and brought up to date with what changed meanwhile.

use super::{IdMap, SharedIndex};
use crate::{Engine, GraphStorage};
use sommelier_index::{HnswIndex, ItemMeta, MetaRef, VectorIndexRead, VectorIndexWrite};
use sommelier_types::Item;
use sommelier_types::codec::{Reader, Writer};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Content hashes of the vectors a saved graph was built from (binary, with
/// a checksum), and the JSON file older saves wrote instead.
const HASHES_FILE: &str = "hashes.bin";
const LEGACY_HASHES_FILE: &str = "hashes.json";
const HASHES_MAGIC: &[u8; 8] = b"SOMMHASH";
const HASHES_FORMAT: u32 = 1;

/// The hashes file of a graph built from `hashes`.
fn encode_hashes(hashes: &IdMap<Arc<str>>) -> Vec<u8> {
    let mut w = Writer::image(HASHES_MAGIC, HASHES_FORMAT, 32 + hashes.len() * 48);
    w.len(hashes.len());
    for (id, h) in hashes {
        w.str(id.as_str());
        w.str(h);
    }
    w.seal()
}

/// A saved graph read from its folder, not yet checked against a snapshot.
pub(super) struct OpenedGraph {
    index: HnswIndex,
    hashes: SavedHashes,
}

/// A saved graph's hashes file as read: the binary one, or an older JSON one.
enum SavedHashes {
    Binary(Vec<u8>),
    Json(HashMap<String, String>),
}

impl SavedHashes {
    fn read(dir: &std::path::Path) -> Option<Self> {
        match std::fs::read(dir.join(HASHES_FILE)) {
            Ok(bytes) => Some(Self::Binary(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = std::fs::read(dir.join(LEGACY_HASHES_FILE)).ok()?;
                serde_json::from_slice(&bytes).ok().map(Self::Json)
            }
            Err(_) => None,
        }
    }

    /// Hash by item id, borrowed; `None` when the file is damaged.
    fn by_id(&self) -> Option<foldhash::HashMap<&str, &str>> {
        match self {
            Self::Json(map) => Some(
                map.iter()
                    .map(|(id, h)| (id.as_str(), h.as_str()))
                    .collect(),
            ),
            Self::Binary(image) => {
                let mut r = Reader::open(image, HASHES_MAGIC, HASHES_FORMAT).ok()?;
                let n = r.len(16).ok()?;
                let mut map = foldhash::HashMap::with_capacity_and_hasher(n, Default::default());
                for _ in 0..n {
                    map.insert(r.str().ok()?, r.str().ok()?);
                }
                (r.left() == 0).then_some(map)
            }
        }
    }
}

impl Engine {
    /// Where the HNSW graph of `vectors.model` is saved between starts.
    fn saved_index_dir(&self) -> std::path::PathBuf {
        self.config()
            .data_dir
            .join("index")
            .join(&self.config().vectors.model)
    }

    /// The graph an earlier build saved and its hashes file, read from
    /// their folder (not yet checked against a snapshot); `None` when there
    /// is none or it cannot be loaded (logged, and counted when damaged).
    /// For an `i8` graph's full-precision copy, `share` offers the
    /// snapshot's own vector by id: kept where equal, one copy in memory.
    pub(super) fn open_saved_graph(
        &self,
        share: &dyn Fn(&str) -> Option<Arc<[f32]>>,
    ) -> Option<OpenedGraph> {
        let dir = self.saved_index_dir();
        let hashes = SavedHashes::read(&dir)?;
        // With `auto` storage the saved graph is `i8` or `f16`, as its
        // recall check decided when it was built.
        let as_saved = self.config().vectors.quantization == GraphStorage::Auto;
        match HnswIndex::load_with(&dir, self.hnsw_params(), !as_saved, share) {
            Ok(index) => Some(OpenedGraph { index, hashes }),
            Err(e) => {
                if matches!(e, sommelier_index::IndexError::Corrupt { .. }) {
                    self.metrics().damage_found("saved_graph");
                }
                tracing::warn!(error = %e, dir = %dir.display(), "saved vector index not loaded; building it");
                None
            }
        }
    }

    /// The graph an earlier build saved (`opened` when it was read already),
    /// brought up to date with the snapshot's items (`all`, in any order;
    /// those `hashes` holds have a vector): vectors whose content hash changed
    /// or that are new are inserted (in id order; from `vectors`, or read
    /// from the store when those were not read), those of items no longer
    /// live removed, every item's filter fields refreshed; with `true` when it was
    /// saved in the older JSON layout (and is worth saving again). `None`
    /// (and a full build) when nothing usable is saved or more than a tenth
    /// of the catalog differs.
    pub(super) fn load_saved_index(
        &self,
        dim: usize,
        all: &[&Item],
        vectors: Option<&IdMap<Arc<[f32]>>>,
        hashes: &IdMap<Arc<str>>,
        opened: Option<OpenedGraph>,
    ) -> Option<(HnswIndex, bool)> {
        let started = Instant::now();
        let OpenedGraph {
            index: mut ix,
            hashes: file,
        } = match opened {
            Some(o) => o,
            None => self.open_saved_graph(&|id| vectors.and_then(|v| v.get(id).cloned()))?,
        };
        if ix.dim() != dim {
            return None;
        }
        let Some(saved) = file.by_id() else {
            self.metrics().damage_found("saved_graph");
            tracing::warn!(
                dir = %self.saved_index_dir().display(),
                "the saved graph's hashes file is damaged; building the graph"
            );
            return None;
        };
        // What differs, on two threads (reading only): the vector (its
        // content hash), or just the filter fields; and how many live items
        // (those with a vector) the graph holds.
        let differs = |part: &[&Item]| -> (Vec<(usize, bool)>, usize, usize) {
            let (mut live, mut held) = (0, 0);
            let found = part
                .iter()
                .enumerate()
                .filter_map(|(i, it)| {
                    let id = it.id.as_str();
                    let now = hashes.get(id)?;
                    live += 1;
                    let meta = ix.meta(id);
                    held += usize::from(meta.is_some());
                    let same = saved.get(id).is_some_and(|h| **now == **h);
                    let meta = meta.is_some_and(|m| m.as_ref() == MetaRef::of(it));
                    (!(same && meta)).then_some((i, same))
                })
                .collect();
            (found, live, held)
        };
        let half = all.len() / 2;
        let ((a, live_a, held_a), (b, live_b, held_b)) = std::thread::scope(|s| {
            let b = s.spawn(|| differs(&all[half..]));
            (
                differs(&all[..half]),
                b.join().expect("comparing does not panic"),
            )
        });
        let live = live_a + live_b;
        // The graph holds an item no longer live only when it holds more
        // than the live items it was found to hold: only then is it searched.
        let gone: Vec<String> = if ix.len() > held_a + held_b {
            ix.ids()
                .filter(|id| !hashes.contains_key(*id))
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        let mut changed: Vec<&Item> = Vec::new();
        let found = a
            .into_iter()
            .chain(b.into_iter().map(|(i, same)| (i + half, same)));
        for (i, same_vector) in found {
            let it = all[i];
            // Only the filter fields changed: they are set in place.
            if !(same_vector && ix.set_meta(it.id.as_str(), MetaRef::of(it))) {
                changed.push(it);
            }
        }
        if (changed.len() + gone.len()) * 10 > live {
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
        changed.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let read;
        let vectors = match vectors {
            Some(v) => v,
            None => {
                read = self.vectors_of(&mut changed).ok()?;
                &read
            }
        };
        let metas: Vec<ItemMeta> = changed.iter().map(|it| ItemMeta::of(it)).collect();
        ix.upsert_many(&super::build::graph_batch(&changed, &metas, vectors))
            .ok()?;
        tracing::info!(
            vectors = live,
            changed = changed.len(),
            removed = gone.len(),
            ms = started.elapsed().as_millis() as u64,
            "vector index loaded from its last save and brought up to date"
        );
        Some((ix, matches!(file, SavedHashes::Json(_))))
    }

    /// The store's vectors of `items`, one lookup each (the few a saved
    /// graph lacks); an item whose vector is gone meanwhile is dropped from
    /// `items` (the catalog log names it, and the patch after the start
    /// applies it).
    fn vectors_of(&self, items: &mut Vec<&Item>) -> crate::Result<IdMap<Arc<[f32]>>> {
        let model = &self.config().vectors.model;
        let mut read: IdMap<Arc<[f32]>> = IdMap::default();
        for it in items.iter() {
            if let Some((_, v)) = self.store().vector(it.id.as_str(), model)? {
                read.insert(sommelier_types::IdKey::new(it.id.as_str()), v.into());
            }
        }
        items.retain(|it| read.contains_key(it.id.as_str()));
        Ok(read)
    }

    /// Saves a freshly built graph on a background thread (1.7 GB at 1M
    /// vectors: seconds, against minutes to build), with the content hash of
    /// every vector it was built from, written last: a save without it is
    /// incomplete and ignored.
    pub(super) fn save_index_later(&self, index: SharedIndex, hashes: IdMap<Arc<str>>) {
        let dir = self.saved_index_dir();
        let saving = self.snapshots.saving.clone();
        std::thread::spawn(move || {
            let Some(_one) = saving.try_lock() else {
                return; // another save is under way; the next build saves again
            };
            let started = Instant::now();
            let hashes_path = dir.join(HASHES_FILE);
            let result = (|| -> std::result::Result<(), String> {
                // No hashes file (nor an older one) while the graph is
                // being replaced.
                for old in [hashes_path.clone(), dir.join(LEGACY_HASHES_FILE)] {
                    match std::fs::remove_file(&old) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
                index.read().save(&dir).map_err(|e| e.to_string())?;
                let tmp = dir.join("hashes.bin.tmp");
                std::fs::write(&tmp, encode_hashes(&hashes)).map_err(|e| e.to_string())?;
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
