//! A full build of the catalog snapshot: the store's vectors and live items
//! read once, the vector index (exact, or an HNSW graph loaded from a save or
//! built and checked), the BM25 index, the newest items.

use super::{AnyIndex, CatalogSnapshot, IdMap, NEWEST_KEPT, SharedIndex, index_err};
use crate::{Engine, GraphStorage, Result};
use parking_lot::RwLock;
use sommelier_index::{
    ExactIndex, HnswIndex, HnswParams, ItemMeta, Quantization, VectorIndexWrite,
};
use sommelier_types::Item;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// `vectors.quantization = auto` keeps an `i8` graph whose recall@10 against
/// exact search, sampled on its own vectors, reaches this, and builds `f16`
/// otherwise (docs/benchmarks.md). With the scale fitted to the catalog the
/// check reads 0.98 on MiniLM vectors and 0.94 on the hardest synthetic set
/// (1M vectors packed in tight clusters), where the `i8` graph still finds
/// more than `f16` (recall@10 0.975 against 0.954 at ef=64); below 0.9 (the
/// tests' packed vectors: 0.78) `f16` finds more.
const I8_MIN_RECALL: f64 = 0.90;

/// Vectors the recall check queries with (an exact scan of the catalog each:
/// about 3 s per million vectors on 2 threads).
const RECALL_SAMPLES: usize = 64;

/// What a snapshot is assembled from: the live items and their vectors with
/// content hashes, read from the store or from the saved catalog.
pub(super) struct Parts {
    pub(super) generation: u64,
    /// The catalog log position the items and vectors reflect.
    pub(super) position: u64,
    pub(super) items: IdMap<Arc<Item>>,
    pub(super) vectors: IdMap<Arc<[f32]>>,
    pub(super) hashes: IdMap<Arc<str>>,
    /// The BM25 index as saved with them; `None`: indexed from the items.
    pub(super) lexical: Option<sommelier_lexical::SavedIndex>,
}

impl Engine {
    /// Reads the catalog and its vectors from the store and builds the
    /// indexes (seconds on a large catalog; called with no lock held on the
    /// current snapshot).
    pub(super) fn build_snapshot(&self, generation: u64) -> Result<CatalogSnapshot> {
        let started = Instant::now();
        // The log position first: a change committed during the scans lies
        // after it, and the next patch reads it again.
        let position = self.store().catalog_position()?;
        let mut vectors: IdMap<Arc<[f32]>> = IdMap::default();
        // Content hashes come with the same scan: a saved graph is checked
        // against them, a new one is saved with them.
        let mut hashes: IdMap<Arc<str>> = IdMap::default();
        self.store()
            .scan_vectors(&self.config().vectors.model, &mut |id, hash, v| {
                vectors.insert(sommelier_types::IdKey::new(id), v.into());
                hashes.insert(sommelier_types::IdKey::new(id), hash.into());
            })?;
        let mut items = IdMap::default();
        let policy = &self.config().policy;
        self.store().scan_items(&mut |item| {
            // An item the content policy excludes is, for every surface, not
            // in the catalog.
            if !policy.excludes(&item) {
                items.insert(item.id.as_str().into(), Arc::new(item));
            }
        })?;
        tracing::info!(
            items = items.len(),
            vectors = vectors.len(),
            ms = started.elapsed().as_millis() as u64,
            "catalog read from the store"
        );
        self.assemble_snapshot(Parts {
            generation,
            position,
            items,
            vectors,
            hashes,
            lexical: None,
        })
    }

    /// The snapshot of `parts`: the newest items, the vector index (exact,
    /// or an HNSW graph loaded from its save and brought up to date, or
    /// built and checked) and the BM25 index.
    pub(super) fn assemble_snapshot(&self, parts: Parts) -> Result<CatalogSnapshot> {
        let Parts {
            generation,
            position,
            items,
            mut vectors,
            mut hashes,
            lexical: saved_lexical,
        } = parts;
        let cfg = &self.config().vectors;
        vectors.retain(|id, _| items.contains_key(id.as_str()));
        hashes.retain(|id, _| vectors.contains_key(id.as_str()));
        // In id order, as the store scans them: the graph is built in the
        // same order whichever way the parts were read.
        let mut sorted: Vec<&Arc<Item>> = items.values().collect();
        sorted.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let mut newest: Vec<(String, sommelier_types::Timestamp)> = sorted
            .iter()
            .filter(|it| it.is_available())
            .map(|it| (it.id.as_str().to_string(), it.created_at))
            .collect();
        newest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        newest.truncate(NEWEST_KEPT);
        let live: Vec<(String, ItemMeta)> = sorted
            .iter()
            .filter(|it| vectors.contains_key(it.id.as_str()))
            .map(|it| (it.id.as_str().to_string(), ItemMeta::of(it)))
            .collect();
        let started = Instant::now();
        let dim = vectors.values().next().map_or(0, |v| v.len());
        // Set when a graph was built from scratch: it is saved for the next start.
        let mut save_graph = false;
        let backend = if live.len() < cfg.exact_below {
            "exact"
        } else {
            "hnsw"
        };
        let mut storage = None;
        let index: Box<dyn AnyIndex> = if backend == "exact" {
            let mut ix = ExactIndex::new(dim);
            for (id, meta) in &live {
                ix.upsert_shared(id, vectors[id.as_str()].clone(), meta)
                    .map_err(index_err)?;
            }
            Box::new(ix)
        } else {
            let params = HnswParams {
                expansion_search: cfg.ef_search,
                quantization: match cfg.quantization {
                    GraphStorage::Auto | GraphStorage::I8 => Quantization::I8,
                    GraphStorage::F16 => Quantization::F16,
                    GraphStorage::F32 => Quantization::F32,
                },
                ..HnswParams::default()
            };
            match self.load_saved_index(dim, &live, &vectors, &hashes, params) {
                Some(ix) => {
                    storage = Some(ix.quantization().name());
                    Box::new(ix)
                }
                None => {
                    // Shared: an `i8` graph keeps these very vectors for
                    // re-scoring instead of a copy.
                    let batch: Vec<(&str, Arc<[f32]>, &ItemMeta)> = live
                        .iter()
                        .map(|(id, m)| (id.as_str(), vectors[id.as_str()].clone(), m))
                        .collect();
                    let mut ix = HnswIndex::new(dim, params).map_err(index_err)?;
                    ix.upsert_many(&batch).map_err(index_err)?;
                    let checking = Instant::now();
                    if cfg.quantization == GraphStorage::Auto
                        && let Some(recall) =
                            ix.sampled_recall(RECALL_SAMPLES, 10).map_err(index_err)?
                    {
                        let check_ms = checking.elapsed().as_millis() as u64;
                        if recall < I8_MIN_RECALL {
                            tracing::warn!(
                                recall,
                                check_ms,
                                "i8 graph storage loses neighbours on these vectors; building the graph in f16"
                            );
                            ix = HnswIndex::new(
                                dim,
                                HnswParams {
                                    quantization: Quantization::F16,
                                    ..params
                                },
                            )
                            .map_err(index_err)?;
                            ix.upsert_many(&batch).map_err(index_err)?;
                        } else {
                            tracing::info!(recall, check_ms, "i8 graph storage kept");
                        }
                    }
                    save_graph = true;
                    storage = Some(ix.quantization().name());
                    Box::new(ix)
                }
            }
        };
        tracing::info!(
            vectors = live.len(),
            model = %cfg.model,
            ms = started.elapsed().as_millis() as u64,
            "vector index built"
        );
        let t = Instant::now();
        let lexical = match saved_lexical.map(sommelier_lexical::LexicalIndex::load) {
            Some(Ok(ix)) => Ok(ix),
            loaded => {
                if let Some(Err(e)) = loaded {
                    tracing::warn!(error = %e, "saved lexical index not loaded; indexing the catalog");
                }
                sommelier_lexical::LexicalIndex::build(sorted.iter().map(|it| lexical_doc(it)))
            }
        };
        let lexical = match lexical {
            Ok(ix) => {
                tracing::info!(
                    items = ix.len(),
                    ms = t.elapsed().as_millis() as u64,
                    "lexical index ready"
                );
                Some(Arc::new(ix))
            }
            Err(e) => {
                tracing::warn!(error = %e, "lexical index not built; the lexical source is off");
                None
            }
        };
        drop(sorted);
        let index: SharedIndex = Arc::new(RwLock::new(index));
        if save_graph {
            self.save_index_later(index.clone(), graph_hashes(&hashes));
        }
        Ok(CatalogSnapshot {
            generation,
            position,
            hashes,
            index,
            backend,
            storage,
            vectors,
            newest,
            items,
            lexical,
        })
    }
}

/// The content hashes a saved graph is written with, by item id.
pub(super) fn graph_hashes(hashes: &IdMap<Arc<str>>) -> HashMap<String, String> {
    hashes
        .iter()
        .map(|(id, h)| (id.as_str().to_string(), h.to_string()))
        .collect()
}

/// What BM25 reads of an item: its title, and as body its categories, tags
/// and description.
pub(super) fn lexical_doc(it: &Item) -> sommelier_lexical::Doc<'_> {
    let mut body: Vec<&str> = it.categories.iter().map(String::as_str).collect();
    body.extend(it.tags.iter().map(String::as_str));
    body.extend(it.description.as_deref());
    sommelier_lexical::Doc {
        id: it.id.as_str(),
        title: &it.title,
        body,
    }
}
