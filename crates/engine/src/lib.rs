//! The engine: the lifecycle of the recommender's state behind one type,
//! [`Engine`], that the server and the CLI call. It holds no HTTP concerns.
//!
//! * **State and its lifecycle**: the store (any backend behind
//!   [`sommelier_store::Store`]), the online features (`online.rs`: built
//!   from the log on first use, advanced by [`Engine::catch_up`]), the
//!   catalog snapshot (`snapshot/`: built, patched in place, rebuilt), the
//!   fitted models (`models/`: fit, save, load, swap), the refit schedule
//!   (`refit.rs`), the LLM layer (loaded on first use).
//! * **The read path** is a [`pipeline`] of stages that the engine hands out
//!   per request (`recommend.rs`); chat (`chat/`), evaluation and the
//!   ranker's fit run through the same pipeline.
//! * **The write path** (`write.rs`): every write is committed to the store
//!   first; online features then follow the durable event log, so they never
//!   hold an event the log does not, and events written by another process
//!   (a CLI import while the server runs) are picked up by the next catch-up.

mod browse;
mod chat;
mod collaborative;
mod config;
mod dashboard;
mod embedding;
mod error;
mod experiments;
mod exposures;
mod feedback;
mod llm_layer;
pub mod memory;
mod metrics;
mod models;
mod online;
pub mod pipeline;
mod privacy;
mod recommend;
mod references;
mod refit;
mod replay;
mod saved_features;
mod similar;
mod similarity;
mod snapshot;
mod stream;
mod views;
mod write;

pub use browse::{ActiveUser, FacetCount, Facets, ItemCard, MAX_CARDS};
pub use chat::{
    Channel, ChatEvent, ChatItem, ChatRequest, ChatResponse, LlmUse, MemoryView, ToolUse,
};
pub use collaborative::GraphTrial;
pub use config::{
    AuthConfig, CollaborativeModel, Config, ConfigError, DEFAULT_CANDIDATES, ENV_PREFIX,
    FeaturesConfig, FusionConfig, GraphStorage, IngestConfig, ModelsConfig, PrivacyConfig,
    RerankConfig, SequentialModel, ServerConfig, StoreConfig, StreamSettings, VectorIndexKind,
    VectorsConfig,
};
pub use dashboard::{
    CacheStats, Dashboard, IndexStats, IngestCounts, LlmStats, ModelTokens, StageOutcome,
};
pub use embedding::{EmbedBacklog, EmbedReport};
pub use error::{EngineError, Result};
pub use experiments::{ATTRIBUTION_WINDOW_MS, ExperimentView, VariantConfig, variant_config};
pub use exposures::{ExposureCounts, FLUSH_EVERY as EXPOSURE_FLUSH_EVERY, new_request_id};
pub use feedback::{FeedbackReport, FeedbackRow};
pub use metrics::{
    Activity, ActivityWindow, CONTENT_TYPE as METRICS_CONTENT_TYPE, ChatTurns, Metrics,
    RATE_SLOT_SECS, StageLatency,
};
pub use models::{FitReport, RankerReport};
pub use pipeline::llm::DEFAULT_REQUEST as DEFAULT_LLM_REQUEST;
pub use pipeline::{
    ClockSource, ClockUsed, ContextUsed, Explain, RankBy, RecommendRequest, RecommendResponse,
    Recommendation, RequestContext, SourceReport,
};
pub use privacy::{ForgetReceipt, ModelsAfterForget};
pub use recommend::LlmReranked;
pub use refit::{Refit, RefitReason};
pub use replay::ReplayReport;
pub use saved_features::{FeaturesSaved, FeaturesStart};
pub use similar::{SimilarItem, SimilarView};
pub use snapshot::{CatalogSaved, CatalogStart};
pub use sommelier_datasets::Dataset;
pub use sommelier_experiments as experiment;
pub use sommelier_index::Filter;
pub use sommelier_ingest::{Format, RecordKind};
pub use sommelier_types::api::Filters;
pub use views::{ItemFeaturesView, ScoredItem, UserFeaturesView};

use parking_lot::{Mutex, RwLock};
use sommelier_embed::Embedder;
use sommelier_store::Store;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

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

/// The recommender's core, shared by all requests.
pub struct Engine {
    config: Config,
    store: Arc<dyn Store>,
    features: OnceLock<online::Features>,
    features_init: Mutex<()>,
    /// How the features were made at start (`None` until they were).
    features_start: Mutex<Option<FeaturesStart>>,
    snapshots: snapshot::SnapshotState,
    /// Turns query text into vectors (set by the server when the model is there).
    embedder: RwLock<Option<Arc<dyn Embedder>>>,
    models: RwLock<Option<Arc<models::Models>>>,
    models_fit: Mutex<()>,
    models_loaded: OnceLock<()>,
    /// Named fitted sets, for experiment variants (`models/named.rs`).
    named_sets: models::NamedSets,
    metrics: Metrics,
    exposure: sommelier_rank::Exposure,
    /// The exposure log's queue (`exposures/`).
    exposures: exposures::Exposures,
    /// The experiments in force (`experiments/`).
    experiments: experiments::Experiments,
    counters: Counters,
    llm: OnceLock<Arc<sommelier_llm::Llm>>,
    llm_init: Mutex<()>,
    /// Experiment variants' LLM layers (`llm_layer.rs`).
    variant_llms: llm_layer::VariantLlms,
    /// What chat derives from the whole catalog, per snapshot generation.
    chat_catalog: snapshot::GenerationCache<chat::ChatCatalog>,
    /// Browsing's facets, per snapshot generation.
    facets: snapshot::GenerationCache<Facets>,
    /// The catalog's titles, for resolving the items a request names.
    titles: snapshot::GenerationCache<references::TitleIndex>,
    /// Chat sessions not written to the store (no consent to memory).
    sessions: chat::MemorySessions,
    /// The embedding backlog job's state.
    backlog: embedding::Backlog,
    /// The event stream, once `serve` connected to it (`stream.rs`).
    stream: OnceLock<stream::StreamLink>,
}

impl Engine {
    /// Opens (creating if needed) the store the configuration names.
    pub fn open(config: Config) -> Result<Self> {
        config.validate()?;
        let store = config.open_store()?;
        Ok(Self::with_store(config, store))
    }

    /// An engine over a store opened elsewhere (another backend, tests).
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> Self {
        Self {
            store,
            features: OnceLock::new(),
            features_init: Mutex::new(()),
            features_start: Mutex::new(None),
            snapshots: Default::default(),
            embedder: RwLock::new(None),
            models: RwLock::new(None),
            models_fit: Mutex::new(()),
            models_loaded: OnceLock::new(),
            named_sets: Default::default(),
            metrics: Metrics::default(),
            exposure: Default::default(),
            exposures: Default::default(),
            experiments: Default::default(),
            counters: Counters::default(),
            llm: OnceLock::new(),
            llm_init: Mutex::new(()),
            variant_llms: Default::default(),
            chat_catalog: Default::default(),
            facets: Default::default(),
            titles: Default::default(),
            backlog: Default::default(),
            stream: OnceLock::new(),
            sessions: chat::MemorySessions::new(
                config.privacy.session_ttl_secs,
                config.privacy.max_memory_sessions,
            ),
            config,
        }
    }

    /// Builds the vector index, catalog snapshot and lexical index now rather
    /// than on the first request that needs them.
    pub fn warm_up_index(&self) -> Result<()> {
        self.snapshot().map(|_| ())
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The store, shared.
    pub(crate) fn store_arc(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Counters since start.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Latency histograms and counters since start.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}
