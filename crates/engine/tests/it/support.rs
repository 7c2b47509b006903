//! Set-up shared by the engine tests: engines over a temporary folder, the
//! committed ml-latest-small, and stored vectors.

use serde_json::json;
use sommelier_engine::{Channel, ChatRequest, ChatResponse, Config, Engine, RecordKind};
use sommelier_llm::LlmConfig;
use sommelier_store::StoreError;
use std::path::Path;

/// The default configuration over `dir`.
pub fn config(dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    }
}

/// An empty engine over `dir` with the default configuration.
pub fn open(dir: &Path) -> Engine {
    Engine::open(config(dir)).unwrap()
}

/// `config` with a sequence model small enough to fit in seconds on
/// ml-latest-small (one epoch of a narrow network, and at most two more
/// after the ranker: still the real model,
/// source and signal, not its quality).
pub fn quick_sequence_model(mut config: Config) -> Config {
    config.models.sasrec.hidden = 8;
    config.models.sasrec.max_epochs = 1;
    config.models.sasrec.more_epochs = config.models.sasrec.more_epochs.min(2);
    config.models.sasrec.val_users = 200;
    config
}

/// An engine with `config` (its sequence model made quick) holding the
/// committed ml-latest-small (catalog, users and ratings; no vectors, no
/// fitted models).
pub fn with_ml_latest_small(config: Config) -> Engine {
    let e = Engine::open(quick_sequence_model(config)).unwrap();
    let fixture = crate_dir().join("../../fixtures/ml-latest-small");
    sommelier_datasets::import(
        e.store(),
        sommelier_engine::Dataset::MovieLensSmall,
        &fixture,
        &mut |_| {},
    )
    .unwrap();
    e
}

/// Thirty dramas (`i0`–`i29`) and `events` clicks a second apart by `users`
/// users: click `n` is by `u{n % users}` on `i{7n % 30}`.
pub fn dramas_and_clicks(e: &Engine, events: usize, users: usize) {
    let items = (0..30)
        .map(|i| json!({"id": format!("i{i}"), "kind": "movie", "title": format!("Film {i}"), "categories": ["Drama"]}))
        .collect();
    e.ingest_batch(RecordKind::Items, items, false).unwrap();
    let events = (0..events)
        .map(|i| json!({"id": format!("e{i}"), "user": format!("u{}", i % users), "item": format!("i{}", (i * 7) % 30), "kind": "click", "timestamp": 1_700_000_000 + i}))
        .collect();
    e.ingest_batch(RecordKind::Events, events, false).unwrap();
}

/// Where the synthetic logs of the time tests start: 2024-01-01T00:00:00Z,
/// in seconds.
pub const START: i64 = 1_704_067_200;
/// A day, in seconds.
pub const DAY: i64 = 86_400;

/// A small deterministic generator (xorshift), so a synthetic log is the
/// same each run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `v` scaled to unit length.
pub fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

/// Stores `vectors` (scaled to unit length) under the engine's embedding
/// model, in one transaction.
pub fn put_vectors<'a>(e: &Engine, vectors: impl IntoIterator<Item = (&'a str, Vec<f32>)>) {
    let model = e.config().vectors.model.clone();
    e.store()
        .write(|w| {
            for (id, v) in vectors {
                w.put_vector(id, &model, "h", &unit(&v))?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

/// Vectors for `ids` that say nothing about the kind of item: each leans
/// on one of 8 axes, in turn.
pub fn plain_vectors(ids: &[String]) -> Vec<(&str, Vec<f32>)> {
    ids.iter()
        .enumerate()
        .map(|(n, id)| {
            let mut v = vec![0.1f32; 8];
            v[n % 8] = 1.0;
            (id.as_str(), v)
        })
        .collect()
}

/// An engine over `dir` for a synthetic log of shows: the context clock
/// off, a ranker from 10 users, `tune` applied; `ids` ingested as shows
/// with [`plain_vectors`].
pub fn shows_engine(dir: &Path, ids: &[String], tune: impl FnOnce(&mut Config)) -> Engine {
    let mut config = self::config(dir);
    config.features.context_clock = false;
    config.models.ranker_min_users = 10;
    tune(&mut config);
    let e = Engine::open(config).unwrap();
    let items: Vec<_> = ids
        .iter()
        .map(|id| json!({"id": id, "title": format!("Title {id}"), "categories": ["Show"]}))
        .collect();
    e.ingest_batch(RecordKind::Items, items, false).unwrap();
    put_vectors(&e, plain_vectors(ids));
    e
}

/// Ingests `events` and fits the models; the ranker must have been fitted.
pub fn fit_with_ranker(e: &Engine, events: Vec<serde_json::Value>) {
    e.ingest_batch(RecordKind::Events, events, false).unwrap();
    let report = e.fit_models().unwrap();
    assert!(
        report.ranker.as_ref().is_some_and(|r| r.skipped.is_none()),
        "{:?}",
        report.ranker
    );
}

/// ml-latest-small with a policy document, two users (one who lets the
/// assistant remember, one who does not) and fitted models, under `llm`.
pub fn chat_engine(llm: LlmConfig) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let e = with_ml_latest_small(Config {
        data_dir: dir.path().to_path_buf(),
        llm,
        ..Config::default()
    });
    e.ingest_batch(
        RecordKind::Items,
        vec![json!({
            "id": "policy-returns", "kind": "document", "title": "Returns and refunds policy",
            "description": "You can return any purchase within 30 days for a full refund. Digital rentals cannot be refunded once started."
        })],
        false,
    )
    .unwrap();
    e.ingest_batch(
        RecordKind::Users,
        vec![
            json!({"id": "remember-me", "consent": {"long_term_memory": true}}),
            json!({"id": "forget-me", "consent": {"long_term_memory": false}}),
        ],
        false,
    )
    .unwrap();
    e.fit_models().unwrap();
    (dir, e)
}

pub fn say(e: &Engine, session: Option<&str>, user: Option<&str>, message: &str) -> ChatResponse {
    e.chat(&ChatRequest {
        session_id: session.map(str::to_string),
        user_id: user.map(str::to_string),
        message: message.into(),
        channel: Channel::Chat,
        k: Some(5),
        context: Default::default(),
        at: None,
    })
    .unwrap()
}

/// The engine crate's folder, as cargo gives it when it runs the tests (a
/// path built in at compile time may name another checkout sharing the
/// target folder).
pub fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .expect("cargo test sets CARGO_MANIFEST_DIR")
        .into()
}

/// `k` recommendations for `user`, asked as a plain request.
pub fn recommend_for(e: &Engine, user: &str, k: usize) -> sommelier_engine::RecommendResponse {
    e.recommend(&sommelier_engine::RecommendRequest {
        user_id: Some(user.into()),
        k: Some(k),
        ..Default::default()
    })
    .unwrap()
}
