//! The exposure log: every list the engine serves gets a request id, and
//! (once [`Engine::start_exposure_log`] runs, as the server does) a row in
//! the store's `exposures` table — who was shown what, where, in which
//! order, from which sources, ranked how, how fast — that later clicks and
//! purchases are attributed to.
//!
//! A request never waits for the log: it hands what it showed to a bounded
//! queue, and a writer thread, in the idle scheduling class while it keeps
//! up (at nice 10 when its backlog grows, or when a request finds rows
//! waiting on it after it got no CPU for [`sched::STARVED`]: `sched.rs`),
//! turns it into rows and commits them in batches (every [`FLUSH_EVERY`],
//! or [`BATCH`] rows). What was committed survives a crash;
//! rows still queued when the process dies (at most the last
//! [`FLUSH_EVERY`]) are lost, and a row that finds the queue full is
//! dropped and counted, never blocking the answer.

mod sched;

use crate::Engine;
use crate::pipeline::{RecommendRequest, RecommendResponse};
use sched::{Class, Watch, set_class};
use serde::{Deserialize, Serialize};
use sommelier_store::{ExposureRow, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Rows waiting for the writer, at most.
const QUEUE: usize = 16_384;
/// How long a row may wait for its commit while rows arrive. Short, so
/// each commit is a short burst of work: at 100 ms, a burst of about 7 ms
/// of CPU every tenth of a second showed in the requests' p99 on 2 cores.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Rows per commit, at most.
const BATCH: usize = 1_000;

/// A new request id, 28 hex digits: the time in milliseconds (12) and a
/// sequence number (4), so that one process's ids increase strictly and
/// all sort by time, then 48 random bits (12), so that processes do not
/// collide.
pub fn new_request_id() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let ms = sommelier_types::Timestamp::now().0.max(0) as u64 & 0xffff_ffff_ffff;
    let mut last = LAST.load(Ordering::Relaxed);
    let stamp = loop {
        let next = (ms << 16).max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => last = seen,
        }
    };
    let mut random = [0u8; 8];
    // The system's generator; should it fail, the stamp alone is still
    // unique within this process.
    let _ = getrandom::fill(&mut random[..6]);
    format!("{stamp:016x}{:012x}", u64::from_le_bytes(random))
}

enum Message {
    Row(Box<Pending>),
    /// Commit what is queued, then answer.
    Flush(SyncSender<()>),
}

/// The log's queue and what it did.
#[derive(Default)]
pub(crate) struct Exposures {
    queue: OnceLock<SyncSender<Message>>,
    counts: Arc<ExposureCounts>,
    watch: Arc<Watch>,
}

/// What the exposure log did since start.
#[derive(Debug, Default)]
pub struct ExposureCounts {
    /// Rows committed.
    pub logged: AtomicU64,
    /// Rows dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Rows lost to a failed commit (the store refused the batch).
    pub failed: AtomicU64,
    /// Rows queued and not yet taken by the writer.
    pub queued: AtomicU64,
}

/// A served list as the request hands it over; serialised by the writer.
struct Pending {
    request_id: String,
    at_ms: i64,
    user_id: Option<String>,
    surface: &'static str,
    /// The experiments' variants, `experiment:variant` joined by commas.
    variant: Option<String>,
    body: Body,
}

/// What a row keeps, by surface. Fields with nothing in them are left out
/// (readers take a missing field as null): every byte is serialised,
/// packed and written for every list served.
#[derive(Serialize)]
#[serde(untagged)]
enum Body {
    Recommend(Box<RecommendBody>),
    Lookup(Box<LookupBody>),
    Chat(Box<ChatBody>),
}

/// The body of a `chat` row: the turn's picks, never the words (chat text
/// is kept only in the session, with consent and redacted).
#[derive(Serialize)]
struct ChatBody {
    session_id: String,
    turn: i64,
    items: Vec<Shown>,
    /// The re-rank stage, when the turn recommended.
    llm: Option<sommelier_llm::StageReport>,
    /// A tool answered instead of a list.
    tool: Option<String>,
    latency_ms: f64,
    /// The clock the turn was answered at.
    clock: crate::pipeline::ClockUsed,
    /// What a replay needs, when the turn recommended and its user
    /// consented to memory (the retrieval request carries words derived
    /// from theirs, which are kept only with that consent).
    #[serde(skip_serializing_if = "Option::is_none")]
    replay: Option<ChatDecision>,
}

/// The classical part of a chat turn's decision, kept for its replay: the
/// retrieval request its intent became, the order asked for, and the
/// candidates the LLM stage then picked from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChatDecision {
    /// The retrieval request, with the turn's clock.
    pub(crate) request: RecommendRequest,
    /// The order the intent asked for.
    pub(crate) sort: sommelier_llm::intent::Sort,
    /// The candidates, in the order the LLM stage got them.
    pub(crate) candidates: Vec<String>,
    /// The state retrieval saw.
    #[serde(flatten)]
    pub(crate) seen: Seen,
}

/// The state an answer saw, as its row keeps it and its replay compares
/// it: the fitted set, the catalog log position, the events applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Seen {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) models_version: Option<String>,
    pub(crate) catalog_position: u64,
    pub(crate) events_applied: u64,
}

impl Seen {
    /// What a recommendation answer saw.
    pub(crate) fn of(r: &RecommendResponse) -> Self {
        Self {
            models_version: r.models_version.clone(),
            catalog_position: r.state.0,
            events_applied: r.state.1,
        }
    }
}

/// The body of a `similar` or `search` row.
#[derive(Serialize)]
struct LookupBody {
    /// The item asked about (`similar`).
    item: Option<String>,
    /// The query text (`search`).
    query: Option<String>,
    /// Items asked for, and the filters (replay).
    k: usize,
    filters: sommelier_types::api::Filters,
    items: Vec<Shown>,
    embedding_model: String,
    latency_ms: f64,
    /// The state the answer saw (replay).
    #[serde(flatten)]
    seen: Seen,
}

/// What a `similar` or `search` answer was asked (its row keeps it).
pub(crate) struct Lookup<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) item: Option<&'a str>,
    pub(crate) query: Option<&'a str>,
    pub(crate) k: usize,
    pub(crate) filters: &'a sommelier_types::api::Filters,
    pub(crate) latency_ms: f64,
}

/// One recommended item as the log keeps it.
#[derive(Serialize)]
struct Shown {
    item: String,
    /// From 1.
    position: usize,
    /// Rounded to `f32`: nine digits instead of seventeen in every row.
    score: f32,
    sources: Vec<&'static str>,
    /// In an interleaved list, the variant that placed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<String>,
    /// Who wrote its reason: `llm` or `signals` (explanation feedback is
    /// reported by it).
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<&'static str>,
}

/// The body of a `recommend` row.
#[derive(Serialize)]
struct RecommendBody {
    items: Vec<Shown>,
    ranker: String,
    embedding_model: String,
    personalized: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    latency_ms: f64,
    /// The LLM stage, when asked for: used, model, prompt version, fallback.
    #[serde(skip_serializing_if = "Option::is_none")]
    llm: Option<sommelier_llm::StageReport>,
    clock: crate::pipeline::ClockUsed,
    /// The request as asked, with the clock it was answered at (replay).
    request: RecommendRequest,
    /// The models version, catalog log position and events applied it
    /// saw (replay).
    #[serde(flatten)]
    seen: Seen,
}

impl Pending {
    fn row(self) -> ExposureRow {
        ExposureRow {
            request_id: self.request_id,
            at_ms: self.at_ms,
            user_id: self.user_id,
            surface: self.surface.to_string(),
            variant: self.variant,
            body: serde_json::to_string(&self.body).unwrap_or_default(),
        }
    }
}

/// The variants of a served list as the log keeps them:
/// `experiment:variant`, comma-joined; none when it was in no experiment.
fn labels(a: &[sommelier_experiments::Assignment]) -> Option<String> {
    (!a.is_empty()).then(|| {
        a.iter()
            .map(sommelier_experiments::Assignment::label)
            .collect::<Vec<_>>()
            .join(",")
    })
}

impl Engine {
    /// Starts the exposure log's writer (once; later calls do nothing).
    pub fn start_exposure_log(&self) {
        let (tx, rx) = sync_channel(QUEUE);
        if self.exposures.queue.set(tx).is_err() {
            return;
        }
        let store = self.store.clone();
        let counts = self.exposures.counts.clone();
        let watch = self.exposures.watch.clone();
        let spawned = std::thread::Builder::new()
            .name("exposure-log".into())
            .spawn(move || write_batches(&*store, &rx, &counts, &watch));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "exposure log not started");
        }
    }

    /// Commits every row queued so far (the server calls it at shutdown;
    /// tests, to read their own rows). False when the log is not running
    /// or did not answer within `wait`.
    pub fn flush_exposures(&self, wait: Duration) -> bool {
        let Some(queue) = self.exposures.queue.get() else {
            return false;
        };
        let (done, answered) = sync_channel(1);
        queue.send(Message::Flush(done)).is_ok() && answered.recv_timeout(wait).is_ok()
    }

    /// The row logged under `request_id`; when there is none yet, the
    /// queue is committed and it is read again (a list served a moment ago).
    pub(crate) fn logged_exposure(
        &self,
        request_id: &str,
    ) -> crate::Result<Option<sommelier_store::ExposureRow>> {
        if let Some(row) = self.store().exposure(request_id)? {
            return Ok(Some(row));
        }
        if !self.flush_exposures(Duration::from_secs(2)) {
            return Ok(None);
        }
        Ok(self.store().exposure(request_id)?)
    }

    /// What the exposure log did since start.
    pub fn exposure_counts(&self) -> &ExposureCounts {
        &self.exposures.counts
    }

    /// Queues the row of a `/v1/recommend` answer.
    pub(crate) fn log_recommendation(&self, req: &RecommendRequest, r: &RecommendResponse) {
        if self.exposures.queue.get().is_none() {
            return;
        }
        let body = RecommendBody {
            items: r
                .items
                .iter()
                .enumerate()
                .map(|(i, rec)| Shown {
                    item: rec.item.clone(),
                    position: i + 1,
                    score: rec.score as f32,
                    sources: rec.provenance.iter().map(|p| p.source.as_str()).collect(),
                    team: r.teams.get(i).cloned(),
                    why: Some(rec.rationale_source.unwrap_or("signals")),
                })
                .collect(),
            ranker: r.ranker.clone(),
            embedding_model: r.embedding_model.clone(),
            personalized: r.personalized,
            query: req.query.clone(),
            latency_ms: r.timings_ms.get("total").copied().unwrap_or(0.0),
            llm: r.llm.clone(),
            clock: r.clock,
            request: RecommendRequest {
                at: Some(r.clock.at),
                ..req.clone()
            },
            seen: Seen::of(r),
        };
        self.queue_exposure(Pending {
            request_id: r.request_id.clone(),
            at_ms: sommelier_types::Timestamp::now().0,
            user_id: req.user_id.clone(),
            surface: "recommend",
            variant: labels(&r.experiments),
            body: Body::Recommend(Box::new(body)),
        });
    }

    /// Queues the row of a `/v1/items/{id}/similar` (`item`) or
    /// `/v1/search` (`query`) answer; each shown item's source is the
    /// surface.
    pub(crate) fn log_lookup(&self, l: &Lookup<'_>, shown: &[crate::SimilarItem]) {
        if self.exposures.queue.get().is_none() {
            return;
        }
        let surface = if l.item.is_some() {
            "similar"
        } else {
            "search"
        };
        let body = LookupBody {
            item: l.item.map(str::to_string),
            query: l.query.map(str::to_string),
            k: l.k,
            filters: l.filters.clone(),
            items: shown
                .iter()
                .enumerate()
                .map(|(i, s)| Shown {
                    item: s.id.clone(),
                    position: i + 1,
                    score: s.score,
                    sources: vec![surface],
                    team: None,
                    why: None,
                })
                .collect(),
            embedding_model: self.config().vectors.model.clone(),
            latency_ms: l.latency_ms,
            seen: self.state_seen(),
        };
        self.queue_exposure(Pending {
            request_id: l.request_id.to_string(),
            at_ms: sommelier_types::Timestamp::now().0,
            user_id: None,
            surface,
            variant: None,
            body: Body::Lookup(Box::new(body)),
        });
    }

    /// Queues the row of a chat turn's picks (surface `chat`).
    pub(crate) fn log_chat(
        &self,
        req: &crate::ChatRequest,
        r: &crate::ChatResponse,
        replay: Option<ChatDecision>,
    ) {
        if self.exposures.queue.get().is_none() {
            return;
        }
        let body = ChatBody {
            session_id: r.session_id.clone(),
            turn: r.turn,
            items: r
                .items
                .iter()
                .enumerate()
                .map(|(i, it)| {
                    let why = if it.why_source == "llm" {
                        "llm"
                    } else {
                        "signals"
                    };
                    Shown {
                        item: it.item.clone(),
                        position: i + 1,
                        score: it.score as f32,
                        sources: vec![why],
                        team: None,
                        why: Some(why),
                    }
                })
                .collect(),
            llm: r.llm.rerank.clone(),
            tool: r.tool.as_ref().map(|t| t.name.clone()),
            latency_ms: r.timings_ms.get("total").copied().unwrap_or(0.0),
            clock: r.clock,
            replay,
        };
        self.queue_exposure(Pending {
            request_id: r.request_id.clone(),
            at_ms: sommelier_types::Timestamp::now().0,
            user_id: req.user_id.clone(),
            surface: "chat",
            variant: labels(&r.experiments),
            body: Body::Chat(Box::new(body)),
        });
    }

    fn queue_exposure(&self, row: Pending) {
        let Some(queue) = self.exposures.queue.get() else {
            return;
        };
        match queue.try_send(Message::Row(Box::new(row))) {
            Ok(()) => {
                let before = self.exposures.counts.queued.fetch_add(1, Ordering::Relaxed);
                self.exposures.watch.check(before);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.exposures
                    .counts
                    .dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The writer: commits the queue in batches until the engine is gone.
///
/// It polls the queue every [`FLUSH_EVERY`] instead of blocking on it. A
/// receiver blocked on a `std::sync::mpsc` channel registers in a waker
/// guarded by a mutex, which every send then takes to wake it: a request
/// thread could find that mutex held by this thread, preempted in the idle
/// class, and wait until it got a core again. A polling receiver never
/// registers, so a request's send is a lock-free push that wakes nobody.
fn write_batches(
    store: &dyn Store,
    rx: &Receiver<Message>,
    counts: &ExposureCounts,
    watch: &Watch,
) {
    let mut class = Class::Idle;
    watch.writer_started();
    set_class(None, class);
    let mut batch: Vec<ExposureRow> = Vec::with_capacity(BATCH);
    let mut waiting: Vec<SyncSender<()>> = Vec::new();
    let mut behind = false;
    loop {
        // A full batch last time: the queue is ahead, no pause.
        if !behind {
            std::thread::sleep(FLUSH_EVERY);
        }
        let mut gone = false;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => take(m, &mut batch, &mut waiting, counts),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    gone = true;
                    break;
                }
            }
        }
        watch.alive();
        if batch.is_empty() && waiting.is_empty() {
            if gone {
                return;
            }
            behind = false;
            continue;
        }
        behind = batch.len() >= BATCH;
        let n = batch.len() as u64;
        match store.append_exposures(&batch) {
            Ok(()) => {
                counts.logged.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                counts.failed.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(error = %e, rows = n, "exposure batch not logged");
            }
        }
        batch.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        watch.alive();
        if watch.take_raised() {
            // A request found rows waiting on this thread while it got no
            // CPU, and raised it; it stays raised while it catches up.
            class = Class::Behind;
        }
        // Idle while it keeps up; at nice 10 when its backlog grows, so
        // sustained saturation delays rows instead of dropping them.
        let backlog = counts.queued.load(Ordering::Relaxed) as usize;
        let wanted = match class {
            Class::Idle if backlog > QUEUE / 4 => Class::Behind,
            Class::Behind if backlog < BATCH / 4 => Class::Idle,
            c => c,
        };
        if wanted != class {
            class = wanted;
            set_class(None, class);
        }
    }
}

fn take(
    m: Message,
    batch: &mut Vec<ExposureRow>,
    waiting: &mut Vec<SyncSender<()>>,
    counts: &ExposureCounts,
) {
    match m {
        Message::Row(row) => {
            counts.queued.fetch_sub(1, Ordering::Relaxed);
            batch.push(row.row());
        }
        Message::Flush(done) => waiting.push(done),
    }
}
