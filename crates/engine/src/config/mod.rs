//! Configuration: defaults, then a TOML file, then `SOMMELIER__*` environment
//! variables, then command-line flags; validated before anything starts.
//!
//! Environment variables name a dotted key with double underscores:
//! `SOMMELIER__SERVER__ADDR=0.0.0.0:9000` sets `server.addr`. Values are read as
//! TOML when they parse as such (`8`, `true`, `[1, 2]`) and as strings otherwise.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod access;
mod ranking;
mod stream;
mod validate;

pub use access::{AuthConfig, PolicyConfig, PrivacyConfig};
pub use ranking::{ModelsConfig, SequentialModel};
pub use sommelier_rank::RerankConfig;
pub use sommelier_recall::{DEFAULT_CANDIDATES, FusionConfig};
pub use stream::StreamSettings;

/// Everything configurable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder holding the database and fetched data sets.
    pub data_dir: PathBuf,
    /// HTTP server.
    pub server: ServerConfig,
    /// Embedded store.
    pub store: StoreConfig,
    /// The event stream replicas share (`none` by default).
    pub stream: StreamSettings,
    /// Ingestion rules.
    pub ingest: IngestConfig,
    /// Online features.
    pub features: FeaturesConfig,
    /// Embeddings and the vector index.
    pub vectors: VectorsConfig,
    /// Collaborative and sequential models.
    pub models: ModelsConfig,
    /// How candidate sources are fused.
    pub fusion: FusionConfig,
    /// Business re-ranking after the ranker.
    pub rerank: RerankConfig,
    /// The LLM layer: providers, routing, deadlines, prompts, cache.
    pub llm: sommelier_llm::LlmConfig,
    /// API keys, user tokens, rate limits, origins.
    pub auth: AuthConfig,
    /// What is kept of what people say.
    pub privacy: PrivacyConfig,
    /// Items never shown.
    pub policy: PolicyConfig,
    /// Experiments declared here (`[[experiments]]`; docs/experiments.md);
    /// more may be declared over the admin API.
    pub experiments: Vec<sommelier_experiments::Experiment>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            stream: StreamSettings::default(),
            ingest: IngestConfig::default(),
            features: FeaturesConfig::default(),
            vectors: VectorsConfig::default(),
            models: ModelsConfig::default(),
            fusion: FusionConfig::default(),
            rerank: RerankConfig::default(),
            llm: sommelier_llm::LlmConfig::default(),
            auth: AuthConfig::default(),
            privacy: PrivacyConfig::default(),
            policy: PolicyConfig::default(),
            experiments: Vec::new(),
        }
    }
}

/// `[vectors]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VectorsConfig {
    /// Embedding model whose stored vectors are searched (the folder name of a
    /// local model, `openai:<model>` for a remote one).
    pub model: String,
    /// Catalogs smaller than this use exact search; larger ones an HNSW graph.
    pub exact_below: usize,
    /// HNSW search candidate list size (`ef`).
    pub ef_search: usize,
    /// How the HNSW graph stores the vectors: `auto` (default: `i8` when a
    /// recall check on the built graph passes, `f16` otherwise), `i8` (a
    /// quarter of the bytes per distance, candidates re-scored in full
    /// precision), `f16` or `f32`.
    pub quantization: GraphStorage,
    /// Where the catalog's vectors are searched: `memory` (default: an
    /// index in each process, exact or HNSW as above) or `pgvector` (an
    /// HNSW index inside PostgreSQL, filters in SQL; needs
    /// `store.backend = "postgres"`): the vectors then stay in the
    /// database instead of in every replica's memory.
    pub index: VectorIndexKind,
    /// With `index = "pgvector"`: vectors kept in memory for requests (the
    /// user's history, the ranked candidates), the most recently used.
    pub cache_vectors: usize,
    /// Load an embedding model folder that has no manifest of what `sommelier
    /// models fetch` extracted (your own weights). Off by default: such
    /// files are refused, and fetched ones are checked before use.
    pub allow_unverified_model: bool,
}

impl Default for VectorsConfig {
    fn default() -> Self {
        Self {
            model: "all-MiniLM-L6-v2".into(),
            exact_below: 5_000,
            ef_search: 64,
            quantization: GraphStorage::Auto,
            index: VectorIndexKind::Memory,
            cache_vectors: 100_000,
            allow_unverified_model: false,
        }
    }
}

/// `vectors.index`: where the catalog's vectors are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorIndexKind {
    /// In each process: exact below `exact_below`, an HNSW graph above.
    #[default]
    Memory,
    /// In PostgreSQL, by pgvector's HNSW index.
    Pgvector,
}

/// `vectors.quantization`: how the item graph stores vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphStorage {
    /// `i8` when the built graph's recall@10 against exact search, sampled
    /// on 64 of its own vectors, reaches 0.90; else rebuilt as `f16`.
    #[default]
    Auto,
    /// Always `f32`.
    F32,
    /// Always `f16`.
    F16,
    /// Always `i8`, whatever its recall.
    I8,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address, `host:port`.
    pub addr: String,
    /// Largest request body, in MiB.
    pub max_body_mib: u64,
    /// Most records in one ingest request.
    pub max_batch: usize,
    /// Seconds to let in-flight requests finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Seconds between checks for events written by other processes.
    pub tail_interval_secs: f64,
    /// Seconds between saves of the online features (when they changed), so
    /// a restart follows the log from the save instead of reading it whole;
    /// also saved at shutdown. 0: never saved, always rebuilt at start.
    pub features_save_secs: u64,
    /// Seconds between saves of the catalog snapshot (items, vectors, log
    /// position) when the catalog changed, so a restart reads the save and
    /// the items changed since instead of the whole catalog; also saved at
    /// shutdown. 0: never saved, always read from the store at start.
    pub catalog_save_secs: u64,
    /// Ask Linux for transparent huge pages for the large in-memory tables
    /// (vector graph, feature tables, models), re-checked every 30 s: fewer
    /// TLB misses on the request path at large catalogs (docs/benchmarks.md).
    pub huge_pages: bool,
    /// Log every list served (`/v1/recommend`) in the store's exposure log,
    /// under the request id the answer carries (`exposures/`).
    pub exposure_log: bool,
    /// Seconds a client has to send a request's headers (a connection that
    /// sends them slower is closed).
    pub header_timeout_secs: u64,
    /// Seconds an open connection may sit idle between requests.
    pub idle_timeout_secs: u64,
    /// Most connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            max_body_mib: 64,
            max_batch: 100_000,
            shutdown_grace_secs: 10,
            tail_interval_secs: 1.0,
            features_save_secs: 60,
            catalog_save_secs: 300,
            huge_pages: true,
            exposure_log: true,
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 1024,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite` (the embedded file under the data folder, the default) or
    /// `postgres` (a server several replicas share; see `url`).
    pub backend: String,
    /// The PostgreSQL database, `postgres://user:password@host:port/db`
    /// (`backend = "postgres"`); best given as `SOMMELIER__STORE__URL`, so
    /// the password stays out of files.
    pub url: String,
    /// SQLite: `full` (fsync every commit, survives power loss) or `normal`
    /// (survives a killed process).
    pub durability: String,
    /// SQLite: page cache per connection, MiB.
    pub cache_mib: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: "sqlite".into(),
            url: String::new(),
            durability: "full".into(),
            cache_mib: 64,
        }
    }
}

/// `[ingest]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Longest accepted input line, bytes.
    pub max_line_bytes: usize,
    /// Lowest valid rating.
    pub rating_min: f64,
    /// Highest valid rating.
    pub rating_max: f64,
    /// Records per transaction for file imports.
    pub batch_size: usize,
    /// Kind of items that name none.
    pub default_item_kind: String,
    /// Separator of list values in CSV cells.
    pub list_separator: char,
    /// Events, items and users dated more than this many seconds after the
    /// server's clock are refused (one event dated 2099 would otherwise
    /// become "now" for every decay).
    pub max_future_secs: u64,
    /// Longest text of any one field (titles, descriptions, attribute
    /// values), bytes.
    pub max_field_bytes: usize,
    /// Largest record, bytes of JSON.
    pub max_record_bytes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_line_bytes: 1 << 20,
            rating_min: 0.0,
            rating_max: 5.0,
            batch_size: 20_000,
            default_item_kind: "item".into(),
            list_separator: '|',
            max_future_secs: 300,
            max_field_bytes: 64 * 1024,
            max_record_bytes: 256 * 1024,
        }
    }
}

/// The collaborative model `sommelier fit` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CollaborativeModel {
    /// EASE while the catalog's used items fit `models.ease_max_items`, iALS beyond.
    Auto,
    /// Always EASE (the most used `ease_max_items` items).
    Ease,
    /// Always iALS.
    Als,
}

/// `[features]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Half-life of popularity, hours.
    pub popularity_half_life_hours: f64,
    /// Half-life of the short trending window, hours.
    pub trend_short_half_life_hours: f64,
    /// Half-life of the long trending window, hours.
    pub trend_long_half_life_hours: f64,
    /// Smoothing of the trend ratio, events.
    pub trend_prior_events: f64,
    /// Half-life of user category affinity, hours.
    pub affinity_half_life_hours: f64,
    /// Recent interactions kept per user.
    pub history_len: usize,
    /// Ratings at or above this fraction of `ingest.rating_max` count as positive.
    pub rating_positive_fraction: f64,
    /// The zone of "time of day" for events and requests, in minutes from UTC.
    pub utc_offset_minutes: i32,
    /// Requests without `context.hour` are ranked for the current hour.
    pub context_clock: bool,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        let d = sommelier_features::FeatureConfig::default();
        Self {
            popularity_half_life_hours: d.popularity_half_life_hours,
            trend_short_half_life_hours: d.trend_short_half_life_hours,
            trend_long_half_life_hours: d.trend_long_half_life_hours,
            trend_prior_events: d.trend_prior_events,
            affinity_half_life_hours: d.affinity_half_life_hours,
            history_len: d.history_len,
            rating_positive_fraction: d.weights.rating_positive_fraction,
            utc_offset_minutes: d.utc_offset_minutes,
            context_clock: true,
        }
    }
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A layer does not parse or names an unknown key.
    #[error("{origin}: {message}")]
    Parse {
        /// File path, environment variable or flag.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "SOMMELIER__";

fn set_dotted(
    table: &mut toml::Table,
    key: &str,
    value: toml::Value,
    origin: &str,
) -> Result<(), ConfigError> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut t = table;
    for p in &parts[..parts.len() - 1] {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry.as_table_mut().ok_or_else(|| ConfigError::Parse {
            origin: origin.into(),
            message: format!("`{p}` is not a section"),
        })?;
    }
    t.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

impl Config {
    /// Loads the layers: `file` (if any), environment variables from `env`, then
    /// `flags` as `(dotted.key, value)` pairs; then validates.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &[(&str, String)],
    ) -> Result<Self, ConfigError> {
        let mut table = toml::Table::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        env.sort();
        for (k, v) in env {
            let key = k[ENV_PREFIX.len()..]
                .to_ascii_lowercase()
                .replace("__", ".");
            set_dotted(&mut table, &key, parse_value(&v), &k)?;
        }
        for (key, v) in flags {
            set_dotted(&mut table, key, parse_value(v), &format!("flag for {key}"))?;
        }
        let origin = match file {
            Some(p) => format!("{} (with environment and flags)", p.display()),
            None => "configuration (environment and flags)".into(),
        };
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin,
                    message: e.to_string(),
                })?;
        config.validate()?;
        Ok(config)
    }

    /// Where the database lives.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("sommelier.db")
    }

    /// Where fitted models are kept: `models.dir`, or `DATA_DIR/fitted`.
    pub fn models_dir(&self) -> PathBuf {
        self.models
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("fitted"))
    }

    /// Where data sets are extracted.
    pub fn datasets_dir(&self) -> PathBuf {
        self.data_dir.join("datasets")
    }

    /// Where `sommelier eval` writes its reports by default, and where the
    /// operator dashboard reads the latest one.
    pub fn eval_dir(&self) -> PathBuf {
        self.data_dir.join("eval")
    }

    /// Opens the store `[store]` names: the embedded SQLite file under
    /// `data_dir`, or the PostgreSQL database at `store.url`.
    pub(crate) fn open_store(
        &self,
    ) -> Result<std::sync::Arc<dyn sommelier_store::Store>, sommelier_store::StoreError> {
        if self.store.backend == "postgres" {
            return Ok(sommelier_store::PostgresStore::open(&self.store.url)?.into_dyn());
        }
        Ok(sommelier_store::SqliteStore::open(self.db_path(), self.store_options())?.into_dyn())
    }

    /// Where the store is, for messages: the database file, or the
    /// PostgreSQL URL without its password.
    pub fn store_location(&self) -> String {
        if self.store.backend == "postgres" {
            without_password(&self.store.url)
        } else {
            self.db_path().display().to_string()
        }
    }

    pub(crate) fn store_options(&self) -> sommelier_store::StoreOptions {
        sommelier_store::StoreOptions {
            durability: if self.store.durability == "normal" {
                sommelier_store::Durability::Normal
            } else {
                sommelier_store::Durability::Full
            },
            cache_mib: self.store.cache_mib,
        }
    }

    /// Decoding rules from `[ingest]`.
    pub fn decode_options(&self) -> sommelier_ingest::DecodeOptions {
        sommelier_ingest::DecodeOptions {
            rating_min: self.ingest.rating_min,
            rating_max: self.ingest.rating_max,
            default_item_kind: sommelier_types::ItemKind::new(&self.ingest.default_item_kind)
                .unwrap_or_else(|_| sommelier_types::ItemKind::generic()),
            now: sommelier_types::Timestamp::now(),
            max_future_secs: Some(self.ingest.max_future_secs),
            max_field_bytes: self.ingest.max_field_bytes,
            max_record_bytes: self.ingest.max_record_bytes,
        }
    }

    /// Feature tuning from `[features]`.
    pub fn feature_config(&self) -> sommelier_features::FeatureConfig {
        let f = &self.features;
        sommelier_features::FeatureConfig {
            popularity_half_life_hours: f.popularity_half_life_hours,
            trend_short_half_life_hours: f.trend_short_half_life_hours,
            trend_long_half_life_hours: f.trend_long_half_life_hours,
            trend_prior_events: f.trend_prior_events,
            affinity_half_life_hours: f.affinity_half_life_hours,
            history_len: f.history_len,
            weights: sommelier_features::SignalWeights {
                rating_max: self.ingest.rating_max,
                rating_positive_fraction: f.rating_positive_fraction,
            },
            utc_offset_minutes: f.utc_offset_minutes,
        }
    }
}

#[cfg(test)]
mod tests;

/// A PostgreSQL connection string without its password (URL or
/// `key=value` form), for messages.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url
            .split_whitespace()
            .filter(|kv| !kv.starts_with("password="))
            .collect::<Vec<_>>()
            .join(" ");
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}
