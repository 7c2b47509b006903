//! Runs an evaluation: loads a data set once, splits it, builds an engine on the
//! training part (catalog, vectors, events, fitted models), asks the real
//! `/v1/recommend` pipeline for every test user, and scores the lists.

use crate::metrics::{CatalogFacts, Summary, summarise};
use crate::split::{Interaction, Protocol, Split, split};
use serde::Serialize;
use sommelier_datasets::Dataset;
use sommelier_embed::Embedder;
use sommelier_engine::{Config, Engine, RecommendRequest, RecordKind, RequestContext};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Users with at most this many training interactions count as cold.
pub const COLD_MAX: usize = 5;

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] sommelier_engine::EngineError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sommelier_store::StoreError),
    /// The data set could not be fetched or imported.
    #[error(transparent)]
    Dataset(#[from] sommelier_datasets::DatasetError),
    /// Files under the work folder.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Options that cannot work.
    #[error("{0}")]
    Usage(String),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to evaluate.
pub struct EvalOptions<'a> {
    /// The data set.
    pub dataset: Dataset,
    /// Split protocol.
    pub protocol: Protocol,
    /// Evaluate on the validation split (the training part split again) — for
    /// tuning, so that the test users are never looked at.
    pub validation: bool,
    /// Cutoffs.
    pub ks: Vec<usize>,
    /// Work and output folder.
    pub out: PathBuf,
    /// Base configuration (fusion weights, model settings); its `data_dir`
    /// supplies fetched data sets.
    pub config: Config,
    /// Also evaluate each candidate source alone.
    pub per_source: bool,
    /// Also evaluate the full pipeline without each candidate source in
    /// turn (removed at request time; the fitted ranker is the same), so the
    /// report says what each source adds.
    pub ablation: bool,
    /// Evaluate at most this many test users (the first by id), for smoke runs.
    pub max_users: Option<usize>,
    /// Turn this share of users into simulated new users (leave-last-out only).
    pub cold_share: Option<f64>,
    /// Also run the full pipeline at these MMR λ values (diversity trade-off).
    pub mmr_lambdas: Vec<f64>,
    /// Embedder for the vector sources (`None`: they are skipped).
    pub embedder: Option<&'a dyn Embedder>,
    /// Also run the chat turn's LLM re-rank on this many test users (spread
    /// evenly over the test users by id) and score both lists on them.
    pub llm_sample: Option<usize>,
}

/// What the re-rank stage is asked on every sampled user: the evaluation has
/// no words from the person, so this stands for "what should I have next?".
pub const LLM_REQUEST: &str = sommelier_engine::DEFAULT_LLM_REQUEST;

pub use crate::llm_sample::LlmSample;

/// Scores of one system.
#[derive(Debug, Clone, Serialize)]
pub struct SystemResult {
    /// `sommelier` or `sommelier:<source>`.
    pub system: String,
    /// Summary per cutoff (all test users).
    pub at: BTreeMap<usize, Summary>,
    /// Summary per cutoff over cold users (≤ 5 training interactions).
    pub cold: BTreeMap<usize, Summary>,
    /// Summary per cutoff over the test users whose held-out item is not
    /// tied in time with their last training item (where the order of
    /// same-second interactions cannot matter).
    pub untied: BTreeMap<usize, Summary>,
    /// Mean milliseconds per request.
    pub ms_per_user: f64,
}

/// A full evaluation report.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Data set name.
    pub dataset: String,
    /// Protocol name.
    pub protocol: String,
    /// Order of same-second interactions (`hash` or the legacy `item-id`;
    /// leave-last-out only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ties: Option<String>,
    /// Test users whose held-out item shares its timestamp with their last
    /// training item (listed in the split folder's `tied.csv`).
    pub tied_users: usize,
    /// `test` or `validation`.
    pub split: String,
    /// Interactions in the data set.
    pub interactions: usize,
    /// Training interactions.
    pub train: usize,
    /// Test users evaluated.
    pub test_users: usize,
    /// Of which cold.
    pub cold_users: usize,
    /// Items in the catalog.
    pub catalog: usize,
    /// Where the split files are (for the peers).
    pub split_dir: PathBuf,
    /// Each system's ranked lists, one `<system>.csv` per system
    /// (`user_id,rank,item_id`), for per-user comparisons with the peers
    /// (`bench/peers/paired.py`).
    pub lists_dir: PathBuf,
    /// Version of the fitted models.
    pub models_version: Option<String>,
    /// Embedding model, when the vector sources ran.
    pub embedding_model: Option<String>,
    /// Results per system.
    pub systems: Vec<SystemResult>,
    /// The LLM re-rank on a sample, when asked for (`--llm-sample`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmSample>,
}

/// Opens (or creates) the engine holding the whole of `dataset` under
/// `out/full-<name>` (fetched into the data sets folder of `config`), its
/// items embedded when an embedder is given.
pub(crate) fn full_engine(
    config: &Config,
    out: &Path,
    dataset: Dataset,
    embedder: Option<&dyn Embedder>,
) -> Result<Engine, EvalError> {
    let mut cfg = config.clone();
    cfg.data_dir = out.join(format!("full-{}", dataset.name()));
    cfg.store.durability = "normal".into();
    let engine = Engine::open(cfg)?;
    if engine.stats()?.events == 0 {
        let dir = sommelier_datasets::fetch(dataset, &config.datasets_dir(), None)?;
        sommelier_datasets::import(engine.store(), dataset, &dir, &mut |_| {})?;
    }
    if let Some(e) = embedder {
        // Cached by content hash: only the first run pays.
        engine.embed_items(e, &mut |_, _| {})?;
    }
    Ok(engine)
}

/// The context each test user's request is ranked in: the local hour and
/// device of their held-out choice (the earliest, where several are held
/// out), and its time as when they ask, as if they had asked just before
/// making it (the time since their last event is one of the ranker's
/// features; popularity still decays to the clock of the training log).
/// Reproducible, unlike the clock's hour a live request gets.
fn test_contexts(
    all: &[Interaction],
    test: &BTreeMap<String, Vec<String>>,
    utc_offset_minutes: i32,
) -> HashMap<String, RequestContext> {
    let mut first: HashMap<&str, &Interaction> = HashMap::new();
    for x in all {
        let held = test
            .get(&x.user)
            .is_some_and(|items| items.contains(&x.item));
        if !held {
            continue;
        }
        first
            .entry(x.user.as_str())
            .and_modify(|f| {
                if x.timestamp < f.timestamp {
                    *f = x;
                }
            })
            .or_insert(x);
    }
    first
        .into_iter()
        .map(|(u, x)| {
            let context = RequestContext {
                device: x.device.clone(),
                hour: Some(sommelier_features::context::local_hour(
                    x.timestamp,
                    utc_offset_minutes,
                )),
                asked_at: Some(sommelier_types::Timestamp(x.timestamp)),
            };
            (u.to_string(), context)
        })
        .collect()
}

pub(crate) fn interactions(engine: &Engine) -> Result<Vec<Interaction>, EvalError> {
    let mut all = Vec::new();
    engine.store().scan_events(0, &mut |row| {
        if row.kind.is_positive() {
            all.push(Interaction {
                user: row.user.to_string(),
                item: row.item.to_string(),
                timestamp: row.timestamp.0,
                kind: row.kind.as_str().to_string(),
                value: row.value,
                device: row.device.map(str::to_string),
            });
        }
    })?;
    Ok(all)
}

/// Writes `train.csv`, `test.csv`, `items.csv` and `tied.csv` (the test users
/// whose held-out item is tied in time with their last training item) for
/// the peers.
fn write_split(
    dir: &Path,
    s: &Split,
    items: &[String],
    categories: &HashMap<String, Vec<String>>,
    tied: &std::collections::BTreeSet<String>,
) -> Result<(), EvalError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let write = |name: &str, body: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>| {
        write_file(&dir.join(name), body)
    };
    write("train.csv", &mut |f| {
        writeln!(f, "user_id,item_id,timestamp")?;
        for x in &s.train {
            writeln!(f, "{},{},{}", x.user, x.item, x.timestamp / 1000)?;
        }
        Ok(())
    })?;
    write("test.csv", &mut |f| {
        writeln!(f, "user_id,item_id")?;
        for (u, items) in &s.test {
            for i in items {
                writeln!(f, "{u},{i}")?;
            }
        }
        Ok(())
    })?;
    write("tied.csv", &mut |f| {
        writeln!(f, "user_id")?;
        for u in tied {
            writeln!(f, "{u}")?;
        }
        Ok(())
    })?;
    write("items.csv", &mut |f| {
        writeln!(f, "item_id,categories")?;
        for i in items {
            let c = categories.get(i).map(|c| c.join("|")).unwrap_or_default();
            writeln!(f, "{i},\"{}\"", c.replace('"', "'"))?;
        }
        Ok(())
    })
}

/// Creates `p` and writes `body` to it, buffered; an error names the file.
fn write_file(
    p: &Path,
    body: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), EvalError> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(p).map_err(io(p))?);
    body(&mut f).and_then(|_| f.flush()).map_err(io(p))
}

/// Writes one system's lists to `dir/<system>.csv` (`:` in the name
/// becomes `_`), ranks from 1.
fn write_lists(
    dir: &Path,
    system: &str,
    lists: &BTreeMap<String, Vec<String>>,
) -> Result<(), EvalError> {
    let p = dir.join(format!("{}.csv", system.replace(':', "_")));
    write_file(&p, &mut |f| {
        writeln!(f, "user_id,rank,item_id")?;
        for (user, items) in lists {
            for (n, item) in items.iter().enumerate() {
                writeln!(f, "{user},{},{item}", n + 1)?;
            }
        }
        Ok(())
    })
}

/// Builds, in `dir`, the engine that knows only the `train` interactions: the
/// catalog and stored vectors of `full`, the events, fitted models.
pub(crate) fn train_engine(
    config: &Config,
    embedder: Option<&dyn Embedder>,
    full: &Engine,
    train: &[Interaction],
    dir: &Path,
) -> Result<Engine, EvalError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    let mut cfg = config.clone();
    cfg.data_dir = dir.to_path_buf();
    cfg.store.durability = "normal".into();
    let engine = Engine::open(cfg)?;
    let mut items = Vec::new();
    full.store().scan_items(&mut |it| items.push(it))?;
    engine.store().write(|w| {
        for it in &items {
            w.upsert_item(it)?;
        }
        Ok::<_, sommelier_store::StoreError>(())
    })?;
    let model = embedder.map(|e| e.model_id().to_string());
    if let Some(model) = &model {
        let mut vectors = Vec::new();
        full.store().scan_vectors(model, &mut |id, hash, v| {
            vectors.push((id.to_string(), hash.to_string(), v.to_vec()))
        })?;
        engine.store().write(|w| {
            for (id, hash, v) in &vectors {
                w.put_vector(id, model, hash, v)?;
            }
            Ok::<_, sommelier_store::StoreError>(())
        })?;
    }
    let batch = engine.config().server.max_batch.min(50_000);
    for chunk in train.chunks(batch) {
        let values = chunk
            .iter()
            .map(|x| {
                serde_json::json!({
                    "user": x.user,
                    "item": x.item,
                    "kind": x.kind,
                    "value": x.value,
                    "timestamp": x.timestamp as f64 / 1000.0,
                })
            })
            .collect();
        let r = engine.ingest_batch(RecordKind::Events, values, true)?;
        if r.rejected > 0 {
            return Err(EvalError::Usage(format!(
                "training events were rejected: {:?}",
                r.errors
            )));
        }
    }
    engine.fit_models()?;
    Ok(engine)
}

/// Runs the evaluation.
pub fn evaluate(o: &EvalOptions<'_>) -> Result<EvalReport, EvalError> {
    if o.ks.is_empty() || o.ks.contains(&0) {
        return Err(EvalError::Usage("cutoffs must be ≥ 1".into()));
    }
    let started = Instant::now();
    let full = full_engine(&o.config, &o.out, o.dataset, o.embedder)?;
    let all = interactions(&full)?;
    let mut catalog = Vec::new();
    let mut categories = HashMap::new();
    full.store().scan_items(&mut |it| {
        catalog.push(it.id.as_str().to_string());
        categories.insert(it.id.as_str().to_string(), it.categories.clone());
    })?;
    let cut = |data: &[Interaction]| match o.cold_share {
        Some(share) => {
            let ties = o.protocol.ties().unwrap_or(crate::split::Ties::DEFAULT);
            crate::split::leave_last_out_with_cold(data, ties, share, 7)
        }
        None => split(data, o.protocol),
    };
    if o.cold_share.is_some() && !o.protocol.is_leave_last_out() {
        return Err(EvalError::Usage(
            "simulated cold users need the leave-last-out protocol".into(),
        ));
    }
    let mut s = cut(&all);
    let split_name = match (o.validation, o.cold_share.is_some()) {
        (true, false) => "validation",
        (false, false) => "test",
        (true, true) => "validation-cold",
        (false, true) => "test-cold",
    };
    // What the tie check compares with: the interactions this split was cut from.
    let tied = if o.validation {
        let train = std::mem::take(&mut s.train);
        s = cut(&train);
        crate::split::tied_users(&train, &s)
    } else {
        crate::split::tied_users(&all, &s)
    };
    let tag = format!("{}-{}-{}", o.dataset.name(), o.protocol.name(), split_name);
    let split_dir = o.out.join(format!("split-{tag}"));
    write_split(&split_dir, &s, &catalog, &categories, &tied)?;
    tracing::info!(
        train = s.train.len(),
        test_users = s.test.len(),
        "split written to {}",
        split_dir.display()
    );

    let engine_dir = o.out.join(format!("engine-{tag}"));
    let engine = train_engine(&o.config, o.embedder, &full, &s.train, &engine_dir)?;
    let mut train_count: HashMap<&str, usize> = HashMap::new();
    let mut popularity: HashMap<String, HashSet<&str>> = HashMap::new();
    for x in &s.train {
        *train_count.entry(x.user.as_str()).or_default() += 1;
        popularity
            .entry(x.item.clone())
            .or_default()
            .insert(x.user.as_str());
    }
    let facts = CatalogFacts {
        catalog_size: catalog.len(),
        categories,
        popularity: popularity
            .into_iter()
            .map(|(k, v)| (k, v.len() as u64))
            .collect(),
        train_users: train_count.len() as u64,
    };
    let mut test = s.test.clone();
    if let Some(n) = o.max_users {
        test = test.into_iter().take(n).collect();
    }
    let cold_test: BTreeMap<String, Vec<String>> = test
        .iter()
        .filter(|(u, _)| train_count.get(u.as_str()).copied().unwrap_or(0) <= COLD_MAX)
        .map(|(u, v)| (u.clone(), v.clone()))
        .collect();
    let untied_test: BTreeMap<String, Vec<String>> = test
        .iter()
        .filter(|(u, _)| !tied.contains(u.as_str()))
        .map(|(u, v)| (u.clone(), v.clone()))
        .collect();

    let systems = crate::systems::systems(o);
    let contexts = test_contexts(&all, &s.test, o.config.features.utc_offset_minutes);
    let kmax = *o.ks.iter().max().expect("checked non-empty");
    let mut results = Vec::new();
    let mut models_version = None;
    // The default pipeline's lists (the first system), for the LLM sample.
    let mut main_lists = BTreeMap::new();
    let lists_dir = o.out.join(format!("lists-{tag}"));
    std::fs::create_dir_all(&lists_dir).map_err(io(&lists_dir))?;
    for crate::systems::System {
        name,
        sources,
        rank_by,
        mmr_lambda,
    } in systems
    {
        let t = Instant::now();
        let mut lists = BTreeMap::new();
        for user in test.keys() {
            let r = engine.recommend(&RecommendRequest {
                user_id: Some(user.clone()),
                k: Some(kmax),
                // An empty list stands for all sources.
                sources: sources.clone().filter(|s| !s.is_empty()),
                rank_by,
                mmr_lambda,
                context: contexts.get(user).cloned().unwrap_or_default(),
                ..Default::default()
            })?;
            models_version = r.models_version.clone();
            lists.insert(
                user.clone(),
                r.items.into_iter().map(|i| i.item).collect::<Vec<_>>(),
            );
        }
        let ms_per_user = t.elapsed().as_secs_f64() * 1e3 / test.len().max(1) as f64;
        let at =
            o.ks.iter()
                .map(|k| (*k, summarise(&lists, &test, *k, &facts)))
                .collect();
        let cold =
            o.ks.iter()
                .map(|k| (*k, summarise(&lists, &cold_test, *k, &facts)))
                .collect();
        let untied =
            o.ks.iter()
                .map(|k| (*k, summarise(&lists, &untied_test, *k, &facts)))
                .collect();
        tracing::info!(system = %name, ms_per_user, "evaluated");
        write_lists(&lists_dir, &name, &lists)?;
        if results.is_empty() {
            main_lists = lists;
        }
        results.push(SystemResult {
            system: name,
            at,
            cold,
            untied,
            ms_per_user,
        });
    }
    let llm = match o.llm_sample {
        Some(n) if n > 0 => Some(crate::llm_sample::llm_sample(
            o,
            &engine,
            &test,
            &main_lists,
            n,
            &facts,
        )?),
        _ => None,
    };
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "evaluation done");
    Ok(EvalReport {
        dataset: o.dataset.name().to_string(),
        protocol: o.protocol.name().to_string(),
        ties: o.protocol.ties().map(|t| t.name().to_string()),
        tied_users: test.keys().filter(|u| tied.contains(u.as_str())).count(),
        split: split_name.to_string(),
        interactions: all.len(),
        train: s.train.len(),
        test_users: test.len(),
        cold_users: cold_test.len(),
        catalog: catalog.len(),
        split_dir,
        lists_dir,
        models_version,
        embedding_model: o.embedder.map(|e| e.model_id().to_string()),
        systems: results,
        llm,
    })
}
