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

impl Engine {
    /// Reads the catalog and its vectors and builds the indexes (seconds on
    /// a large catalog; called with no lock held on the current snapshot).
    pub(super) fn build_snapshot(&self, generation: u64) -> Result<CatalogSnapshot> {
        let started = Instant::now();
        let cfg = &self.config().vectors;
        let mut vectors: IdMap<Arc<[f32]>> = IdMap::default();
        // Content hashes come with the same scan: a saved graph is checked
        // against them, a new one is saved with them.
        let mut hashes: HashMap<String, String> = HashMap::new();
        self.store().scan_vectors(&cfg.model, &mut |id, hash, v| {
            vectors.insert(sommelier_types::IdKey::new(id), v.into());
            hashes.insert(id.to_string(), hash.to_string());
        })?;
        let mut live = Vec::new();
        let mut newest = Vec::new();
        let mut items = IdMap::default();
        let policy = &self.config().policy;
        self.store().scan_items(&mut |item| {
            // An item the content policy excludes is, for every surface, not
            // in the catalog.
            if policy.excludes(&item) {
                return;
            }
            if item.is_available() {
                newest.push((item.id.as_str().to_string(), item.created_at));
            }
            if vectors.contains_key(item.id.as_str()) {
                live.push((item.id.as_str().to_string(), ItemMeta::of(&item)));
            }
            items.insert(item.id.as_str().into(), Arc::new(item));
        })?;
        newest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        newest.truncate(NEWEST_KEPT);
        let live_ids: std::collections::HashSet<&str> =
            live.iter().map(|(id, _)| id.as_str()).collect();
        vectors.retain(|id, _| live_ids.contains(id.as_str()));
        let dim = vectors.values().next().map_or(0, |v| v.len());
        // Set when a graph was built from scratch: it is saved for the next start.
        let mut saved_hashes: Option<HashMap<String, String>> = None;
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
                    saved_hashes = Some(hashes);
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
        let mut sorted: Vec<&Arc<Item>> = items.values().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        let lexical =
            sommelier_lexical::LexicalIndex::build(sorted.iter().map(|it| lexical_doc(it)));
        let lexical = match lexical {
            Ok(ix) => {
                tracing::info!(
                    items = ix.len(),
                    ms = t.elapsed().as_millis() as u64,
                    "lexical index built"
                );
                Some(Arc::new(ix))
            }
            Err(e) => {
                tracing::warn!(error = %e, "lexical index not built; the lexical source is off");
                None
            }
        };
        let index: SharedIndex = Arc::new(RwLock::new(index));
        if let Some(hashes) = saved_hashes {
            self.save_index_later(index.clone(), hashes);
        }
        Ok(CatalogSnapshot {
            generation,
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
