//! The like-X task: "movies like X", judged by another population.
//!
//! The truth for a seed movie X is its 20 nearest neighbours by item-kNN
//! ([`ItemKnn`]: cosine of the rating vectors) computed on ml-100k's ratings,
//! a population the engine never saw, among the movies both catalogs hold
//! (matched by title and year: [`match_titles`]). The engine under test holds
//! all of ml-latest-small (catalog, vectors, every rating, fitted models) and
//! is asked through its public API: a chat turn `movies like X` and
//! `something like X` (rules only, and with the LLM when asked), and the
//! similar-items view. The same item-kNN on ml-latest-small's own ratings is
//! the peer. Each answer's first [`K`] items are scored by precision against
//! the truth, and by how often X itself is among them.

mod knn;
mod report;
mod titles;

pub use knn::ItemKnn;
pub use report::markdown;
pub use titles::{TitledItem, match_titles, normalise_title, title_keys};

use crate::run::{EvalError, full_engine, interactions, io, train_engine};
use serde::Serialize;
use sommelier_datasets::Dataset;
use sommelier_embed::Embedder;
use sommelier_engine::{Channel, ChatRequest, Config, Engine, Filters, RequestContext};
use sommelier_types::{ItemId, fnv1a};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Items each system answers with, and the cutoff of the precision.
pub const K: usize = 5;
/// Neighbours of a seed in the truth.
pub const TRUTH_SIZE: usize = 20;
/// A seed has at least this many raters in the reference population…
pub const MIN_REFERENCE_RATERS: usize = 50;
/// …and at least this many in the catalog's.
pub const MIN_CATALOG_RATERS: usize = 20;
/// The chat messages, by system name suffix; `{title}` is the seed's title.
pub const PHRASINGS: [(&str, &str); 2] = [
    ("movies-like", "movies like {title}"),
    ("something-like", "something like {title}"),
];

/// The local hour every chat turn is asked at: without one the clock's is
/// used, and the context features would make runs differ by the time of day.
pub const HOUR: u8 = 20;

/// The catalog the engine serves.
const CATALOG: Dataset = Dataset::MovieLensSmall;
/// The population the truth comes from.
const REFERENCE: Dataset = Dataset::MovieLens100k;

/// What to run.
pub struct LikeXOptions {
    /// The catalog data set (only `movielens-small`; ml-100k is the reference).
    pub dataset: Dataset,
    /// Seeds to sample.
    pub seeds: usize,
    /// Work and output folder.
    pub out: PathBuf,
    /// Base configuration; its `data_dir` supplies fetched data sets and the
    /// LLM's files, its `[llm]` the model of the LLM run.
    pub config: Config,
    /// Embedder for the item vectors and query text (`None`: the similar
    /// view is not run and chat has no vector sources).
    pub embedder: Option<Arc<dyn Embedder>>,
    /// Also run the chat turns with the LLM of `config.llm`.
    pub llm: bool,
}

/// One system's scores.
#[derive(Debug, Clone, Serialize)]
pub struct LikeXSystem {
    /// System name (`chat:movies-like`, `similar`, `item-knn`, …).
    pub system: String,
    /// Mean share of the first [`K`] items that are among the seed's truth.
    pub precision_at_5: f64,
    /// Share of answers holding the seed itself among their first [`K`].
    pub seed_returned: f64,
    /// Mean share of the first [`K`] items the truth can judge (present in
    /// both catalogs); the rest can only count as misses.
    pub judged: f64,
    /// Seeds scored.
    pub seeds: usize,
    /// Answers without any item.
    pub empty: usize,
    /// Mean milliseconds per answer (0 for the expected random picks).
    pub mean_ms: f64,
    /// Chat turns whose LLM re-rank was not used, by reason (`off`,
    /// `timeout`, `gate:…`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fallbacks: BTreeMap<String, usize>,
}

/// A seed and its truth.
#[derive(Debug, Clone, Serialize)]
pub struct Seed {
    /// Catalog item id.
    pub id: String,
    /// Title as asked.
    pub title: String,
    /// The reference population's nearest neighbours, best first.
    pub truth: Vec<String>,
    /// Each system's first [`K`] items for this seed.
    pub picks: BTreeMap<String, Vec<String>>,
}

/// A like-X report.
#[derive(Debug, Clone, Serialize)]
pub struct LikeXReport {
    /// `like-x`.
    pub task: String,
    /// The catalog data set.
    pub dataset: String,
    /// The data set whose ratings give the truth.
    pub reference: String,
    /// How neighbours are computed.
    pub similarity: String,
    /// Items scored per answer.
    pub k: usize,
    /// Neighbours per seed in the truth.
    pub truth_size: usize,
    /// Catalog items matched to a reference item.
    pub shared_items: usize,
    /// Items of the catalog.
    pub catalog_items: usize,
    /// Shared items rated often enough to be seeds.
    pub eligible_seeds: usize,
    /// Ratings the engine under test holds.
    pub interactions: usize,
    /// Version of the fitted models.
    pub models_version: Option<String>,
    /// Embedding model, when vectors were used.
    pub embedding_model: Option<String>,
    /// The LLM of the `chat+llm` systems, when they ran.
    pub llm_model: Option<String>,
    /// Results per system.
    pub systems: Vec<LikeXSystem>,
    /// The seeds and their truth.
    pub seeds: Vec<Seed>,
}

/// The title a person would type: no year, no alternative titles.
fn asked_title(title: &str) -> &str {
    title.split(" (").next().unwrap_or(title).trim()
}

/// The items of an engine's catalog with their titles and years.
fn titled(engine: &Engine) -> Result<Vec<TitledItem>, EvalError> {
    let mut items = Vec::new();
    engine.store().scan_items(&mut |it| {
        items.push(TitledItem {
            id: it.id.as_str().to_string(),
            year: it.year(),
            title: it.title,
        })
    })?;
    Ok(items)
}

/// Positive events as `(user, item, value)`, items renamed by `rename`
/// (dropped when it answers `None`); events without a value count as 1.
fn ratings(
    engine: &Engine,
    rename: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String, f64)>, EvalError> {
    let mut out = Vec::new();
    engine.store().scan_events(0, &mut |row| {
        if row.kind.is_positive()
            && let Some(item) = rename(row.item)
        {
            out.push((row.user.to_string(), item, row.value.unwrap_or(1.0)));
        }
    })?;
    Ok(out)
}

/// Tallies one system's answers.
#[derive(Default)]
struct Tally {
    precision: f64,
    seed: usize,
    judged: f64,
    n: usize,
    empty: usize,
    ms: f64,
    /// The first [`K`] items of each answer, in the order of the seeds.
    picks: Vec<Vec<String>>,
    fallbacks: BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, seed: &Seed, picks: &[String], shared: &HashSet<String>, ms: f64) {
        let picks = &picks[..picks.len().min(K)];
        let hits = picks.iter().filter(|p| seed.truth.contains(p)).count();
        self.precision += hits as f64 / K as f64;
        self.judged += picks.iter().filter(|p| shared.contains(*p)).count() as f64 / K as f64;
        self.seed += usize::from(picks.contains(&seed.id));
        self.empty += usize::from(picks.is_empty());
        self.n += 1;
        self.ms += ms;
        self.picks.push(picks.to_vec());
    }

    fn result(&self, system: &str) -> LikeXSystem {
        let n = self.n.max(1) as f64;
        LikeXSystem {
            system: system.to_string(),
            precision_at_5: self.precision / n,
            seed_returned: self.seed as f64 / n,
            judged: self.judged / n,
            seeds: self.n,
            empty: self.empty,
            mean_ms: self.ms / n,
            fallbacks: self.fallbacks.clone(),
        }
    }
}

/// The systems' rows and their answers.
#[derive(Default)]
struct Runs {
    rows: Vec<LikeXSystem>,
    picks: Vec<(String, Vec<Vec<String>>)>,
}

impl Runs {
    fn push(&mut self, system: &str, tally: Tally) {
        self.rows.push(tally.result(system));
        self.picks.push((system.to_string(), tally.picks));
    }
}

/// The mean of the phrasings' rows, as one row named `system`.
fn mean_row(system: &str, rows: &[LikeXSystem]) -> LikeXSystem {
    let n = rows.len().max(1) as f64;
    let mean = |f: fn(&LikeXSystem) -> f64| rows.iter().map(f).sum::<f64>() / n;
    LikeXSystem {
        system: system.to_string(),
        precision_at_5: mean(|r| r.precision_at_5),
        seed_returned: mean(|r| r.seed_returned),
        judged: mean(|r| r.judged),
        seeds: rows.first().map_or(0, |r| r.seeds),
        empty: rows.iter().map(|r| r.empty).sum(),
        mean_ms: mean(|r| r.mean_ms),
        fallbacks: rows.iter().flat_map(|r| &r.fallbacks).fold(
            BTreeMap::new(),
            |mut all, (reason, n)| {
                *all.entry(reason.clone()).or_default() += n;
                all
            },
        ),
    }
}

/// Asks `engine` every phrasing for every seed: one row per phrasing, then
/// their mean named `name`.
fn chat_rows(
    engine: &Engine,
    name: &str,
    seeds: &[Seed],
    shared: &HashSet<String>,
    runs: &mut Runs,
) -> Result<(), EvalError> {
    let first = runs.rows.len();
    for (suffix, template) in PHRASINGS {
        let mut tally = Tally::default();
        for seed in seeds {
            let message = template.replace("{title}", &seed.title);
            let t = Instant::now();
            let r = engine.chat(&ChatRequest {
                session_id: None,
                user_id: None,
                message,
                channel: Channel::Chat,
                k: Some(K),
                context: RequestContext {
                    hour: Some(HOUR),
                    ..Default::default()
                },
                at: None,
            })?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if let Some(reason) = r.fallback {
                *tally.fallbacks.entry(reason).or_default() += 1;
            }
            let picks: Vec<String> = r.items.into_iter().map(|i| i.item).collect();
            tally.add(seed, &picks, shared, ms);
        }
        runs.push(&format!("{name}:{suffix}"), tally);
    }
    let mean = mean_row(name, &runs.rows[first..]);
    runs.rows.push(mean);
    Ok(())
}

/// Runs the like-X task.
pub fn evaluate(o: &LikeXOptions) -> Result<LikeXReport, EvalError> {
    if o.dataset != CATALOG {
        return Err(EvalError::Usage(format!(
            "the like-x task runs on {} (the catalog), with {} as the reference population",
            CATALOG.name(),
            REFERENCE.name()
        )));
    }
    if o.seeds == 0 {
        return Err(EvalError::Usage("--seeds must be ≥ 1".into()));
    }
    let started = Instant::now();
    std::fs::create_dir_all(&o.out).map_err(io(&o.out))?;
    let embedder = o.embedder.as_deref();
    let catalog = full_engine(&o.config, &o.out, CATALOG, embedder)?;
    let reference = full_engine(&o.config, &o.out, REFERENCE, None)?;
    let catalog_items = titled(&catalog)?;
    let matched = match_titles(&titled(&reference)?, &catalog_items);
    let shared: HashSet<String> = matched.values().cloned().collect();
    tracing::info!(shared = shared.len(), "catalogs matched by title and year");

    let reference_ratings = ratings(&reference, &|i| matched.get(i).cloned())?;
    let truth_knn = ItemKnn::new(
        reference_ratings
            .iter()
            .map(|(u, i, r)| (u.as_str(), i.as_str(), *r)),
    );
    let catalog_ratings = ratings(&catalog, &|i| Some(i.to_string()))?;
    let peer_knn = ItemKnn::new(
        catalog_ratings
            .iter()
            .map(|(u, i, r)| (u.as_str(), i.as_str(), *r)),
    );

    let titles: BTreeMap<&str, &str> = catalog_items
        .iter()
        .map(|it| (it.id.as_str(), it.title.as_str()))
        .collect();
    let mut eligible: Vec<(u64, &str)> = catalog_items
        .iter()
        .filter(|it| shared.contains(&it.id))
        .filter(|it| truth_knn.raters(&it.id) >= MIN_REFERENCE_RATERS)
        .filter(|it| peer_knn.raters(&it.id) >= MIN_CATALOG_RATERS)
        .map(|it| {
            let key = format!(
                "like-x:{}:{}",
                normalise_title(&it.title),
                it.year.unwrap_or(0)
            );
            (fnv1a(&key), it.id.as_str())
        })
        .collect();
    eligible.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let eligible_seeds = eligible.len();
    let in_shared = |i: &str| shared.contains(i);
    let mut seeds: Vec<Seed> = eligible
        .iter()
        .take(o.seeds)
        .map(|(_, id)| Seed {
            id: id.to_string(),
            title: asked_title(titles[id]).to_string(),
            truth: truth_knn
                .neighbours(id, TRUTH_SIZE, &in_shared)
                .into_iter()
                .map(|(i, _)| i)
                .collect(),
            picks: BTreeMap::new(),
        })
        .collect();
    tracing::info!(eligible_seeds, seeds = seeds.len(), "seeds sampled");

    // The engine under test: built as the ranking evaluation builds its
    // engine, on every rating (the truth comes from another population).
    let mut all = interactions(&catalog)?;
    all.sort_by(|a, b| (a.timestamp, &a.user, &a.item).cmp(&(b.timestamp, &b.user, &b.item)));
    let dir = o.out.join(format!("engine-{}-like-x", CATALOG.name()));
    let mut rules_only = o.config.clone();
    rules_only.llm.enabled = false;
    let engine = train_engine(&rules_only, embedder, &catalog, &all, &dir)?;
    if let Some(e) = &o.embedder {
        engine.set_query_embedder(e.clone())?;
    }
    let models_version = engine.models_report().map(|r| r.version);

    let mut runs = Runs::default();
    chat_rows(&engine, "chat", &seeds, &shared, &mut runs)?;
    if o.embedder.is_some() {
        let mut tally = Tally::default();
        // Unavailable items too, as the other rows' searches.
        let everything = Filters {
            include_unavailable: true,
            ..Filters::default()
        };
        for seed in &seeds {
            let id = ItemId::new(seed.id.as_str())
                .map_err(|e| EvalError::Usage(format!("item id `{}`: {e}", seed.id)))?;
            let t = Instant::now();
            let view = engine.similar_view(&id, K, &everything)?;
            let picks: Vec<String> = view
                .map(|v| v.items.into_iter().map(|i| i.id).collect())
                .unwrap_or_default();
            tally.add(seed, &picks, &shared, t.elapsed().as_secs_f64() * 1e3);
        }
        runs.push("similar", tally);
    }
    drop(engine);
    let mut llm_model = None;
    if o.llm {
        let llm = sommelier_llm::Llm::load(&o.config.llm, &o.config.data_dir)
            .map_err(|e| EvalError::Usage(format!("--llm: cannot load the LLM: {e}")))?;
        if llm.large().is_off() {
            return Err(EvalError::Usage(
                "--llm needs a model, but the LLM is off: run `sommelier models fetch smollm2-135m-instruct` or configure [llm]".into(),
            ));
        }
        llm_model = Some(llm.large().model_id());
        let mut cfg = o.config.clone();
        cfg.data_dir = dir.clone();
        cfg.store.durability = "normal".into();
        let engine = Engine::open(cfg)?;
        engine.set_llm(llm);
        if let Some(e) = &o.embedder {
            engine.set_query_embedder(e.clone())?;
        }
        chat_rows(&engine, "chat+llm", &seeds, &shared, &mut runs)?;
    }

    for (name, allowed) in [
        ("item-knn", &(|_: &str| true) as &dyn Fn(&str) -> bool),
        ("item-knn:shared", &in_shared),
    ] {
        let mut tally = Tally::default();
        for seed in &seeds {
            let t = Instant::now();
            let picks: Vec<String> = peer_knn
                .neighbours(&seed.id, K, allowed)
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            tally.add(seed, &picks, &shared, t.elapsed().as_secs_f64() * 1e3);
        }
        runs.push(name, tally);
    }
    // K distinct items drawn uniformly from the whole catalog, in expectation.
    let n = catalog_items.len().max(1) as f64;
    let mean_truth =
        seeds.iter().map(|s| s.truth.len()).sum::<usize>() as f64 / seeds.len().max(1) as f64;
    let mut systems = runs.rows;
    systems.push(LikeXSystem {
        system: "random".into(),
        precision_at_5: mean_truth / n,
        seed_returned: K as f64 / n,
        judged: shared.len() as f64 / n,
        seeds: seeds.len(),
        empty: 0,
        mean_ms: 0.0,
        fallbacks: BTreeMap::new(),
    });
    for (system, per_seed) in runs.picks {
        for (seed, picks) in seeds.iter_mut().zip(per_seed) {
            seed.picks.insert(system.clone(), picks);
        }
    }
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "like-x done");
    Ok(LikeXReport {
        task: "like-x".into(),
        dataset: CATALOG.name().into(),
        reference: REFERENCE.name().into(),
        similarity: "cosine of the items' rating vectors over users, raw ratings, not mean-centred"
            .into(),
        k: K,
        truth_size: TRUTH_SIZE,
        shared_items: shared.len(),
        catalog_items: catalog_items.len(),
        eligible_seeds,
        interactions: all.len(),
        models_version,
        embedding_model: o.embedder.as_ref().map(|e| e.model_id().to_string()),
        llm_model,
        systems,
        seeds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asked_title_drops_alternative_titles() {
        assert_eq!(
            asked_title("Twelve Monkeys (a.k.a. 12 Monkeys)"),
            "Twelve Monkeys"
        );
        assert_eq!(
            asked_title("The American President"),
            "The American President"
        );
    }

    #[test]
    fn precision_counts_the_first_k_picks_against_the_truth() {
        let seed = Seed {
            id: "x".into(),
            title: "X".into(),
            truth: vec!["a".into(), "b".into(), "c".into()],
            picks: BTreeMap::new(),
        };
        let shared: HashSet<String> = ["a", "b", "c", "d", "x"].map(String::from).into();
        let mut t = Tally::default();
        // Two hits, the seed, one unjudged; the sixth pick is beyond K.
        let picks = ["a", "x", "b", "zz", "d", "c"].map(String::from);
        t.add(&seed, &picks, &shared, 2.0);
        t.add(&seed, &[], &shared, 4.0);
        let r = t.result("s");
        assert!((r.precision_at_5 - 0.2).abs() < 1e-12, "{r:?}");
        assert!((r.seed_returned - 0.5).abs() < 1e-12);
        assert!((r.judged - 0.4).abs() < 1e-12);
        assert_eq!((r.seeds, r.empty), (2, 1));
        assert!((r.mean_ms - 3.0).abs() < 1e-12);
    }
}
