//! A GGUF model run in process by llama.cpp (`llama-cpp-2`).
//!
//! The model is loaded once and shared; each worker thread owns one context
//! (its KV cache) and takes jobs from a queue, so a turn never waits on a lock
//! held by another turn's decode. Threads per worker are configurable: on a
//! busy 2-core machine one thread per worker keeps generation steady, where
//! spinning worker threads fight the server for the cores.

mod decode;

use crate::error::{LlmError, Result};
use crate::message::{Completion, CompletionRequest, Message, ScoreRequest, Scores};
use decode::{generate, prompt_tokens, score};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use parking_lot::Mutex;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Options of the local runtime.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The GGUF file.
    pub model_path: PathBuf,
    /// Name reported on responses (default: the file stem).
    pub name: Option<String>,
    /// CPU threads per worker, for prompt and generation.
    pub threads: u32,
    /// Workers, each with its own context: turns served at once.
    pub workers: u32,
    /// Context length in tokens (prompt + answer).
    pub context: u32,
    /// Prompt tokens decoded per batch.
    pub batch: u32,
}

static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();

fn backend() -> Result<&'static LlamaBackend> {
    BACKEND
        .get_or_init(|| {
            let mut b = LlamaBackend::init().map_err(|e| e.to_string())?;
            // llama.cpp prints every tensor it loads; our own logs say what matters.
            b.void_logs();
            Ok(b)
        })
        .as_ref()
        .map_err(|e| LlmError::Runtime(format!("llama.cpp backend: {e}")))
}

pub(super) enum Event {
    Token(String),
    Done(Result<Completion>),
    Scored(Result<Scores>),
}

/// What a worker made.
enum Answer {
    Text(Completion),
    Scores(Scores),
}

/// What a worker is asked to do.
pub(super) enum Work {
    Complete(CompletionRequest),
    Score(ScoreRequest),
}

impl Work {
    fn deadline(&self) -> Instant {
        match self {
            Work::Complete(r) => r.deadline,
            Work::Score(r) => r.deadline,
        }
    }

    fn messages_and_prefix(&self) -> (&[Message], &str) {
        match self {
            Work::Complete(r) => (&r.messages, &r.prefix),
            Work::Score(r) => (&r.messages, &r.prefix),
        }
    }
}

pub(super) struct Job {
    work: Work,
    events: mpsc::Sender<Event>,
    cancelled: Arc<AtomicBool>,
}

impl Job {
    pub(super) fn late(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.work.deadline()
    }
}

/// The local llama.cpp provider.
pub struct LocalLlama {
    jobs: Mutex<mpsc::Sender<Job>>,
    name: String,
    options: LocalOptions,
}

impl std::fmt::Debug for LocalLlama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLlama")
            .field("name", &self.name)
            .finish()
    }
}

impl LocalLlama {
    /// Loads the model and starts the workers.
    pub fn load(options: LocalOptions) -> Result<Self> {
        let path = options.model_path.clone();
        let load_err = |reason: String| LlmError::Load {
            path: path.clone(),
            reason,
        };
        if !path.is_file() {
            return Err(load_err(
                "no such file (fetch it with `sommelier models fetch smollm2-135m-instruct`)"
                    .into(),
            ));
        }
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default())
            .map_err(|e| load_err(e.to_string()))?;
        let template = model
            .chat_template(None)
            .map_err(|e| load_err(format!("no chat template in the GGUF: {e}")))?;
        let model = Arc::new(model);
        let name = options.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "local".into())
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready_rx) = mpsc::channel();
        for w in 0..options.workers.max(1) {
            let model = model.clone();
            let rx = rx.clone();
            let template = template.clone();
            let options = options.clone();
            let ready = ready_tx.clone();
            std::thread::Builder::new()
                .name(format!("llm-local-{w}"))
                .spawn(move || worker(&model, &template, &options, &rx, &ready))
                .map_err(|e| load_err(format!("cannot start a worker: {e}")))?;
        }
        drop(ready_tx);
        // Every worker must have its context before we say the model is loaded.
        for _ in 0..options.workers.max(1) {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(load_err(e)),
                Err(_) => return Err(load_err("a worker stopped while starting".into())),
            }
        }
        Ok(Self {
            jobs: Mutex::new(tx),
            name,
            options,
        })
    }

    /// The model name reported on responses.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The options it runs with.
    pub fn options(&self) -> &LocalOptions {
        &self.options
    }

    /// Runs one completion; `on_token` sees each piece of text as it is made.
    /// Returns `Timeout` at the deadline (the worker stops at its next token).
    pub fn complete(
        &self,
        request: CompletionRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        match self.submit(Work::Complete(request), on_token)? {
            Event::Done(r) => r,
            _ => Err(LlmError::Runtime("a worker answered the wrong job".into())),
        }
    }

    /// Scores `request.choices` as the next token after the prompt and its
    /// prefix: one forward pass, no generation. Returns `Timeout` at the
    /// deadline.
    pub fn score(&self, request: ScoreRequest) -> Result<Scores> {
        match self.submit(Work::Score(request), &mut |_| {})? {
            Event::Scored(r) => r,
            _ => Err(LlmError::Runtime("a worker answered the wrong job".into())),
        }
    }

    /// Queues `work` and waits for its last event until its deadline.
    fn submit(&self, work: Work, on_token: &mut dyn FnMut(&str)) -> Result<Event> {
        let started = Instant::now();
        if crate::cancel::requested() {
            return Err(LlmError::Cancelled);
        }
        let deadline = work.deadline();
        let (tx, rx) = mpsc::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        self.jobs
            .lock()
            .send(Job {
                work,
                events: tx,
                cancelled: cancelled.clone(),
            })
            .map_err(|_| LlmError::Runtime("the local model's workers have stopped".into()))?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Event::Token(t)) => {
                    if crate::cancel::requested() {
                        cancelled.store(true, Ordering::Relaxed);
                        return Err(LlmError::Cancelled);
                    }
                    on_token(&t)
                }
                Ok(done) => return Ok(done),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    cancelled.store(true, Ordering::Relaxed);
                    return Err(LlmError::Timeout {
                        elapsed_ms: started.elapsed().as_millis() as u64,
                    });
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(LlmError::Runtime("a worker stopped mid-answer".into()));
                }
            }
        }
    }
}

fn worker(
    model: &LlamaModel,
    template: &LlamaChatTemplate,
    options: &LocalOptions,
    jobs: &Mutex<mpsc::Receiver<Job>>,
    ready: &mpsc::Sender<std::result::Result<(), String>>,
) {
    let threads = options.threads.max(1) as i32;
    let params = || {
        LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(options.context.max(256)))
            .with_n_batch(options.batch.max(32))
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
    };
    let backend = match backend() {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    // A few contexts per worker, each remembering the tokens whose keys and
    // values it holds: a prompt goes to the one sharing the longest prefix
    // with it, so the intent and re-rank templates, which alternate, each keep
    // their system message computed.
    let mut slots = Vec::with_capacity(PREFIX_SLOTS);
    for _ in 0..PREFIX_SLOTS {
        match model.new_context(backend, params()) {
            Ok(c) => slots.push((c, Vec::<LlamaToken>::new(), 0u64)),
            Err(e) => {
                let _ = ready.send(Err(format!("cannot create a context: {e}")));
                return;
            }
        }
    }
    let _ = ready.send(Ok(()));
    let mut clock = 0u64;
    loop {
        // The lock is held only while waiting for the next job.
        let job = match jobs.lock().recv() {
            Ok(j) => j,
            Err(_) => return, // provider dropped
        };
        let done = |r: Result<Answer>| match r {
            Ok(Answer::Text(c)) => Event::Done(Ok(c)),
            Ok(Answer::Scores(s)) => Event::Scored(Ok(s)),
            Err(e) => match &job.work {
                Work::Complete(_) => Event::Done(Err(e)),
                Work::Score(_) => Event::Scored(Err(e)),
            },
        };
        if job.late() {
            let _ = job
                .events
                .send(done(Err(LlmError::Timeout { elapsed_ms: 0 })));
            continue;
        }
        clock += 1;
        let (messages, prefix) = job.work.messages_and_prefix();
        let result = match prompt_tokens(model, template, messages, prefix) {
            Ok((prompt, tokens)) => {
                let shared =
                    |c: &[LlamaToken]| c.iter().zip(&tokens).take_while(|(a, b)| a == b).count();
                // The longest shared prefix, when it is worth keeping; else
                // the least recently used context (a prompt sharing only the
                // chat template's first tokens must not evict another
                // template's system message).
                let longest = (0..slots.len())
                    .max_by_key(|&i| (shared(&slots[i].1), std::cmp::Reverse(slots[i].2)))
                    .unwrap_or(0);
                let best = if shared(&slots[longest].1) >= MIN_REUSE {
                    longest
                } else {
                    (0..slots.len()).min_by_key(|&i| slots[i].2).unwrap_or(0)
                };
                let (ctx, cached, used) = &mut slots[best];
                *used = clock;
                match &job.work {
                    Work::Complete(req) => {
                        generate(model, ctx, &job, req, (prompt, tokens), cached).map(Answer::Text)
                    }
                    Work::Score(req) => {
                        score(model, ctx, &job, req, (prompt, tokens), cached).map(Answer::Scores)
                    }
                }
            }
            Err(e) => Err(e),
        };
        let _ = job.events.send(done(result));
    }
}

/// Contexts per worker (see `worker`).
const PREFIX_SLOTS: usize = 3;

/// Shared prompt tokens that make a context worth reusing.
const MIN_REUSE: usize = 32;

/// The GGUF file of a model folder made by `sommelier models fetch`: the one
/// `.gguf` inside, or the path itself when it is a file.
pub fn find_gguf(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    found.sort();
    found.into_iter().next()
}
