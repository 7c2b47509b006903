//! The collaborative source's fitted model: EASE as a sparse item → item
//! table, or iALS item factors. An iALS request folds the user's history into
//! a user vector and asks for the items with the largest dot product: a scan
//! of every item's factors on small models, an inner-product HNSW search on
//! large ones.

use sommelier_collab::{FactorModel, ItemNeighbors, Weighted};
use sommelier_index::{
    HnswIndex, HnswParams, ItemMeta, Quantization, VectorIndexRead, VectorIndexWrite,
};
use std::collections::HashSet;
use std::path::Path;

/// iALS models with at least this many items are searched through an HNSW
/// graph; smaller ones are scanned (20,000 × 64 multiply-adds: ~0.2 ms).
pub(crate) const ALS_ANN_FROM: usize = 20_000;

/// The fitted collaborative model.
pub(crate) enum Collaborative {
    /// EASE as a sparse item → item table.
    Ease(ItemNeighbors),
    /// iALS item factors (boxed: the graph makes it several times larger
    /// than the EASE table's handle).
    Als(Box<AlsServing>),
}

/// iALS factors and, for large models, a graph over them.
pub(crate) struct AlsServing {
    pub(crate) model: FactorModel,
    ann: Option<FactorIndex>,
}

impl Collaborative {
    /// The best `n` items for a history (its own items left out).
    pub(crate) fn score(&self, history: &[Weighted<'_>], n: usize) -> Vec<(String, f64)> {
        match self {
            Collaborative::Ease(m) => m.score(history, n),
            Collaborative::Als(s) => match &s.ann {
                None => s.model.score(history, n),
                Some(ann) => {
                    let Some(x) = s.model.user_vector(history) else {
                        return Vec::new();
                    };
                    let own: HashSet<&str> = history.iter().map(|h| h.item).collect();
                    ann.search(&x, n, &own)
                }
            },
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Collaborative::Ease(_) => "ease",
            Collaborative::Als(_) => "als",
        }
    }

    pub(crate) fn file(&self) -> &'static str {
        match self {
            Collaborative::Ease(_) => "ease.bin",
            Collaborative::Als(_) => "als.bin",
        }
    }
}

/// Folder of the saved graph beside `als.bin`.
pub(crate) const ALS_INDEX_DIR: &str = "als-index";

impl AlsServing {
    /// Wraps a model; builds the graph when the model is large.
    pub(crate) fn new(model: FactorModel, threads: usize) -> crate::Result<Self> {
        let ann = if model.items() >= ALS_ANN_FROM {
            Some(FactorIndex::build(&model, threads)?)
        } else {
            None
        };
        Ok(Self { model, ann })
    }

    /// Loads a model and its graph from `dir`; a graph that is missing or
    /// does not match the model is rebuilt.
    pub(crate) fn load(model: FactorModel, dir: &Path, threads: usize) -> crate::Result<Self> {
        if model.items() < ALS_ANN_FROM {
            return Ok(Self { model, ann: None });
        }
        match HnswIndex::load(&dir.join(ALS_INDEX_DIR), params(threads)) {
            Ok(index) if index.len() == model.items() && index.dim() == model.factors() => {
                Ok(Self {
                    model,
                    ann: Some(FactorIndex { index }),
                })
            }
            other => {
                if let Err(e) = other {
                    tracing::warn!(error = %e, "iALS graph not loaded; rebuilding it");
                }
                let built = Self::new(model, threads)?;
                // Saved for the next start; serving goes on without it.
                if let Err(e) = built.save_index(dir) {
                    tracing::warn!(error = %e, "rebuilt iALS graph not saved");
                }
                Ok(built)
            }
        }
    }

    /// Saves the graph (the model itself is saved by the caller).
    pub(crate) fn save_index(&self, dir: &Path) -> crate::Result<()> {
        let path = dir.join(ALS_INDEX_DIR);
        match &self.ann {
            Some(a) => a.index.save(&path).map_err(crate::EngineError::Index),
            None if path.exists() => std::fs::remove_dir_all(&path).map_err(|e| {
                crate::EngineError::Model(format!("cannot remove {}: {e}", path.display()))
            }),
            None => Ok(()),
        }
    }
}

/// An HNSW graph over the item vectors searched by inner product directly
/// (ip-NSW: the graph's links follow the largest dot products, which is what
/// a request asks for). The reduction of MIPS to cosine by an extra dimension
/// was tried first and lost the query: most items' vectors are short, so the
/// extra coordinate dominates them and the graph's links say little about
/// the dot products (recall 0 of 20 in the test below).
struct FactorIndex {
    index: HnswIndex,
}

fn params(threads: usize) -> HnswParams {
    HnswParams {
        threads: threads.max(1),
        // A wider beam: inner-product graphs are harder to navigate than
        // cosine ones over unit vectors.
        expansion_search: 128,
        // Half precision. `i8` (with the scale fitted to the factors and
        // exact re-scoring) was measured too: no faster at 1M items
        // (collaborative stage 0.63 against 0.67 ms, within the run-to-run
        // noise), and 256 MB more for its full-precision copy.
        quantization: Quantization::F16,
        ..HnswParams::default()
    }
}

impl FactorIndex {
    fn build(m: &FactorModel, threads: usize) -> crate::Result<Self> {
        let meta = ItemMeta::default();
        let rows: Vec<(&str, &[f32], &ItemMeta)> =
            m.vectors().map(|(id, v)| (id, v, &meta)).collect();
        let mut index = HnswIndex::new(m.factors(), params(threads))?;
        index.upsert_many(&rows)?;
        Ok(Self { index })
    }

    fn search(&self, x: &[f32], n: usize, own: &HashSet<&str>) -> Vec<(String, f64)> {
        let hits = match self.index.search_excluding(x, n, own) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "iALS graph search failed");
                return Vec::new();
            }
        };
        // usearch's inner-product distance is 1 − x·y; the hit's score is x·y.
        hits.into_iter()
            .map(|h| (h.id, f64::from(h.score)))
            .filter(|(_, s)| *s > 0.0)
            .take(n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sommelier_collab::{AlsParams, Interactions, fit_als};

    #[test]
    fn the_graph_finds_what_the_scan_finds() {
        // 30 tastes × 800 items, each user choosing 12 of one taste's items:
        // large enough for the graph.
        let mut d = Interactions::new();
        let per = ALS_ANN_FROM / 30 + 100;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for u in 0..3000 {
            let taste = u % 30;
            for k in 0..12 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                // Skewed within the taste: low offsets are popular.
                let r = (rng % 1_000_000) as f64 / 1e6;
                let item = taste * per + ((r * r * per as f64) as usize).min(per - 1);
                d.add(&format!("u{u}"), &format!("i{item}"), k as i64);
            }
        }
        for i in 0..30 * per {
            d.add("catalog", &format!("i{i}"), 0);
        }
        let model = fit_als(
            &d,
            &AlsParams {
                factors: 16,
                iterations: 8,
                regularization: 0.1,
                alpha: 20.0,
                ..AlsParams::default()
            },
        )
        .unwrap();
        assert!(model.items() >= ALS_ANN_FROM, "{}", model.items());
        // One build thread, so the graph is the same every run: a graph
        // built on two depends on how the threads interleave, and once in
        // CI (other tests running beside it) such a graph stranded this
        // query in another taste's cluster (recall 0 of 20), a risk of
        // inner-product graphs over well-separated clusters that this test
        // does not measure.
        let serving = AlsServing::new(model, 1).unwrap();
        assert!(serving.ann.is_some());
        let history: Vec<String> = (0..8).map(|k| format!("i{}", 3 * per + k * 3)).collect();
        let w: Vec<Weighted<'_>> = history
            .iter()
            .map(|i| Weighted {
                item: i,
                weight: 1.0,
            })
            .collect();
        let exact = serving.model.score(&w, 20);
        let approx = Collaborative::Als(Box::new(serving)).score(&w, 20);
        let exact_ids: HashSet<&str> = exact.iter().map(|x| x.0.as_str()).collect();
        let found = approx
            .iter()
            .filter(|x| exact_ids.contains(x.0.as_str()))
            .count();
        assert!(found >= 16, "recall {found}/20: {approx:?} vs {exact:?}");
        // Scores are dot products, as the scan's.
        let (id, s) = &approx[0];
        let e = exact
            .iter()
            .find(|x| &x.0 == id)
            .expect("top hit is in the exact top 20");
        assert!(
            (s - e.1).abs() < 1e-3 * e.1.abs().max(1.0),
            "{s} vs {}",
            e.1
        );
        assert!(!approx.iter().any(|x| history.contains(&x.0)));
    }
}
