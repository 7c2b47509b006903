//! The collaborative source's fitted model: EASE as a sparse item → item
//! table, or iALS item factors. An iALS request folds the user's history into
//! a user vector and asks for the items with the largest dot product: a scan
//! of every item's factors on small models, an inner-product HNSW search on
//! large ones.

use sommelier_collab::{FactorModel, Interactions, ItemNeighbors, Weighted};
use sommelier_index::{
    HnswIndex, HnswParams, ItemMeta, Quantization, VectorIndexRead, VectorIndexWrite,
};
use std::collections::HashSet;
use std::path::Path;

/// iALS models with at least this many items are searched through an HNSW
/// graph; smaller ones are scanned (20,000 × 64 multiply-adds: ~0.2 ms).
pub(crate) const ALS_ANN_FROM: usize = 20_000;

/// Search breadths (`ef`) the fit tries on the iALS graph, narrowest first;
/// it keeps the first that finds [`ALS_MIN_RECALL`] of what the exact scan
/// finds for a sample of real users (below the number of results asked for,
/// usearch searches as wide as that number).
pub(crate) const ALS_EF_STEPS: [usize; 5] = [64, 128, 256, 512, 1024];

/// Share of the exact scan's top items the iALS graph must find for the
/// sampled users.
pub(crate) const ALS_MIN_RECALL: f64 = 0.9;

/// A wider search that finds less than this much more is not worth its
/// time: an inner-product graph can leave items no search reaches (short
/// vectors are few items' neighbours), and no breadth mends that.
const ALS_MIN_GAIN: f64 = 0.005;

/// Users whose histories check the iALS graph (an exact scan each: about
/// 20 ms per million items).
pub(crate) const ALS_CHECK_USERS: usize = 64;

/// What the graph finds at one search breadth.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct GraphTrial {
    /// Search breadth (`ef`).
    pub ef: usize,
    /// Share of the exact scan's top items the graph found.
    pub recall: f64,
    /// Mean microseconds per graph search (one thread).
    pub search_us: f64,
}

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
    /// The search breadths the fit tried on the graph (empty when loaded).
    pub(crate) check: Vec<GraphTrial>,
}

impl sommelier_recall::ItemScorer for Collaborative {
    /// The best `n` items for a history (its own items left out).
    fn score(&self, history: &[Weighted<'_>], n: usize) -> Vec<(String, f64)> {
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
}

impl Collaborative {
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

impl AlsServing {
    /// The graph's search breadth, or `None` without a graph.
    pub(crate) fn search_ef(&self) -> Option<usize> {
        self.ann.as_ref().map(|a| a.index.expansion_search())
    }

    /// Recall of the graph against the exact scan for `histories` (each
    /// asking for `n` items) at each breadth of `efs`, and how long a search
    /// took; empty without a graph. The graph is left at the last breadth.
    pub(crate) fn trials(
        &mut self,
        histories: &[Vec<Weighted<'_>>],
        n: usize,
        efs: &[usize],
    ) -> Vec<GraphTrial> {
        let probes = self.probes(histories, n);
        let Some(ann) = self.ann.as_mut() else {
            return Vec::new();
        };
        efs.iter()
            .filter_map(|&ef| ann.trial(&probes, n, ef))
            .collect()
    }

    /// Sets the graph's search breadth to the narrowest of [`ALS_EF_STEPS`]
    /// that finds [`ALS_MIN_RECALL`] for `histories`; when none does, to the
    /// last one before the recall stopped growing by [`ALS_MIN_GAIN`] a step.
    /// Returns every breadth tried.
    pub(crate) fn tune(&mut self, histories: &[Vec<Weighted<'_>>], n: usize) -> Vec<GraphTrial> {
        // The exact scans once, whatever the number of breadths tried.
        let probes = self.probes(histories, n);
        let Some(ann) = self.ann.as_mut() else {
            return Vec::new();
        };
        let mut tried: Vec<GraphTrial> = Vec::new();
        let mut keep = None;
        for ef in ALS_EF_STEPS {
            let Some(trial) = ann.trial(&probes, n, ef) else {
                break;
            };
            let stalled = tried
                .last()
                .filter(|prev| trial.recall < prev.recall + ALS_MIN_GAIN)
                .map(|prev| prev.ef);
            tried.push(trial);
            keep = Some(stalled.unwrap_or(ef));
            if trial.recall >= ALS_MIN_RECALL || stalled.is_some() {
                break;
            }
        }
        if let Some(ef) = keep {
            ann.index.set_expansion_search(ef);
        }
        tried
    }

    /// Each history's user vector, its own items and the exact scan's best
    /// `n` (histories the scan finds nothing for are left out); none without
    /// a graph to check.
    fn probes<'a>(&self, histories: &'a [Vec<Weighted<'a>>], n: usize) -> Vec<Probe<'a>> {
        if self.ann.is_none() {
            return Vec::new();
        }
        histories
            .iter()
            .filter_map(|h| {
                let x = self.model.user_vector(h)?;
                let exact: HashSet<String> = self
                    .model
                    .score_vector(&x, h, n)
                    .into_iter()
                    .map(|e| e.0)
                    .collect();
                let own = h.iter().map(|w| w.item).collect();
                (!exact.is_empty()).then_some(Probe { x, own, exact })
            })
            .collect()
    }
}

/// One sampled user for the graph check.
struct Probe<'a> {
    x: Vec<f32>,
    own: HashSet<&'a str>,
    exact: HashSet<String>,
}

/// The histories of `n` users spread evenly over `data`, each item once.
pub(crate) fn sample_histories(data: &Interactions, n: usize) -> Vec<Vec<&str>> {
    let users: Vec<&Vec<u32>> = data.sequences().iter().filter(|s| !s.is_empty()).collect();
    let step = (users.len() / n.max(1)).max(1);
    users
        .into_iter()
        .step_by(step)
        .take(n)
        .map(|s| {
            let mut items = s.clone();
            items.sort_unstable();
            items.dedup();
            items
                .into_iter()
                .map(|i| data.items()[i as usize].as_str())
                .collect()
        })
        .collect()
}

/// Histories as the collaborative source weighs them: every item once.
pub(crate) fn weighted<'a>(histories: &'a [Vec<&'a str>]) -> Vec<Vec<Weighted<'a>>> {
    histories
        .iter()
        .map(|h| {
            h.iter()
                .map(|&item| Weighted { item, weight: 1.0 })
                .collect()
        })
        .collect()
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
        Ok(Self {
            model,
            ann,
            check: Vec::new(),
        })
    }

    /// Loads a model and its graph from `dir`, searched `ef` wide (the
    /// breadth the fit chose; the default for a fit that chose none); a graph
    /// that is missing or does not match the model is rebuilt.
    pub(crate) fn load(
        model: FactorModel,
        dir: &Path,
        threads: usize,
        ef: Option<usize>,
    ) -> crate::Result<Self> {
        let mut loaded = Self::load_graph(model, dir, threads)?;
        if let (Some(ann), Some(ef)) = (loaded.ann.as_mut(), ef) {
            ann.index.set_expansion_search(ef);
        }
        Ok(loaded)
    }

    fn load_graph(model: FactorModel, dir: &Path, threads: usize) -> crate::Result<Self> {
        if model.items() < ALS_ANN_FROM {
            return Ok(Self {
                model,
                ann: None,
                check: Vec::new(),
            });
        }
        match HnswIndex::load(&dir.join(ALS_INDEX_DIR), params(threads)) {
            Ok(index) if index.len() == model.items() && index.dim() == model.factors() => {
                Ok(Self {
                    model,
                    ann: Some(FactorIndex { index }),
                    check: Vec::new(),
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

    /// Saves the graph (the model itself is saved by the caller), or removes
    /// an earlier one when this model is scanned.
    pub(crate) fn save_index(&self, dir: &Path) -> crate::Result<()> {
        match &self.ann {
            Some(a) => a
                .index
                .save(&dir.join(ALS_INDEX_DIR))
                .map_err(crate::EngineError::Index),
            None => remove_graph(dir),
        }
    }
}

/// Removes the saved iALS graph from the models folder `dir`, if any: a model
/// without one (EASE, a scanned iALS) must not load a stale graph.
pub(crate) fn remove_graph(dir: &Path) -> crate::Result<()> {
    let path = dir.join(ALS_INDEX_DIR);
    if !path.exists() {
        return Ok(());
    }
    std::fs::remove_dir_all(&path)
        .map_err(|e| crate::EngineError::Model(format!("cannot remove {}: {e}", path.display())))
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
        // cosine ones over unit vectors. The fit measures the graph against
        // the exact scan and sets the breadth it needs (`tune`).
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

    /// What the graph finds of `probes`' exact answers searched `ef` wide
    /// (the breadth is left set); `None` without probes.
    fn trial(&mut self, probes: &[Probe<'_>], n: usize, ef: usize) -> Option<GraphTrial> {
        if probes.is_empty() {
            return None;
        }
        self.index.set_expansion_search(ef);
        let started = std::time::Instant::now();
        let answers: Vec<Vec<(String, f64)>> = probes
            .iter()
            .map(|p| self.search(&p.x, n, &p.own))
            .collect();
        let search_us = started.elapsed().as_secs_f64() * 1e6 / probes.len() as f64;
        let (mut found, mut total) = (0usize, 0usize);
        for (p, got) in probes.iter().zip(&answers) {
            total += p.exact.len();
            found += got.iter().filter(|g| p.exact.contains(&g.0)).count();
        }
        Some(GraphTrial {
            ef,
            recall: found as f64 / total.max(1) as f64,
            search_us,
        })
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
    use sommelier_collab::{AlsParams, fit_als};
    use sommelier_recall::ItemScorer;

    /// 30 tastes × 800 items, each of 3,000 users choosing 12 of one taste's
    /// items: large enough for the graph. Returns the model and the items per
    /// taste.
    fn taste_model() -> (FactorModel, usize, Interactions) {
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
        (model, per, d)
    }

    #[test]
    fn the_graph_finds_what_the_scan_finds() {
        let (model, per, _) = taste_model();
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

    #[test]
    fn the_fit_keeps_the_narrowest_breadth_that_finds_enough_and_a_load_restores_it() {
        let (model, _, d) = taste_model();
        let mut serving = AlsServing::new(model, 1).unwrap();
        // Users of every taste (the catalog's own row finds nothing: it has
        // every item).
        let sample = sample_histories(&d, 40);
        assert!(sample.len() >= 30, "{}", sample.len());
        let w = weighted(&sample);
        // Ten items each: the narrowest breadth finds enough.
        let tried = serving.tune(&w, 10);
        assert_eq!(tried.len(), 1, "{tried:?}");
        assert!(tried[0].recall >= ALS_MIN_RECALL, "{tried:?}");
        assert!(tried[0].search_us > 0.0 && tried[0].recall <= 1.0);
        assert_eq!(serving.search_ef(), Some(ALS_EF_STEPS[0]));
        // Fifty each: this graph leaves a third of them where no search
        // reaches (measured: 0.63 at every breadth), so a wider search buys
        // nothing and the narrower is kept.
        let tried = serving.tune(&w, 50);
        assert!(tried.len() >= 2, "{tried:?}");
        assert!(tried.iter().all(|t| t.recall < ALS_MIN_RECALL), "{tried:?}");
        let (last, prev) = (tried[tried.len() - 1], tried[tried.len() - 2]);
        assert!(last.recall < prev.recall + ALS_MIN_GAIN, "{tried:?}");
        assert_eq!(serving.search_ef(), Some(prev.ef));
        // Measured, not assumed: the check sees the unreachable items.
        let wide = serving.trials(&w, 50, &[1024]);
        assert!(wide[0].recall < ALS_MIN_RECALL, "{wide:?}");

        // The breadth the fit chose is the one a load searches with.
        let dir = tempfile::tempdir().unwrap();
        serving.save_index(dir.path()).unwrap();
        let loaded = AlsServing::load(serving.model, dir.path(), 1, Some(512)).unwrap();
        assert_eq!(loaded.search_ef(), Some(512));
    }

    #[test]
    fn a_scanned_model_has_no_breadth_to_tune() {
        let mut d = Interactions::new();
        for u in 0..50 {
            for i in 0..5 {
                d.add(&format!("u{u}"), &format!("i{}", (u + i) % 40), i as i64);
            }
        }
        let model = fit_als(&d, &AlsParams::default()).unwrap();
        let mut serving = AlsServing::new(model, 1).unwrap();
        let h = sample_histories(&d, 10);
        assert!(serving.tune(&weighted(&h), 10).is_empty());
        assert_eq!(serving.search_ef(), None);
        // Saving a scanned model removes a graph an earlier fit left behind.
        let dir = tempfile::tempdir().unwrap();
        let graph = dir.path().join(ALS_INDEX_DIR);
        std::fs::create_dir_all(&graph).unwrap();
        std::fs::write(graph.join("graph.usearch"), b"stale").unwrap();
        serving.save_index(dir.path()).unwrap();
        assert!(!graph.exists());
        // And with nothing to remove, saving is a no-op.
        serving.save_index(dir.path()).unwrap();
    }
}
