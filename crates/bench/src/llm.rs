//! `bench llm` (local model tokens/s by thread count, idle and with the other
//! cores busy) and `bench chat` (generated conversations over the catalog).

use crate::stats::{Rng, quantile};
use crate::{BenchError, Result};
use sommelier_engine::{Channel, ChatRequest, Config, Engine};
use sommelier_llm::provider::{LocalLlama, LocalOptions, local::find_gguf};
use sommelier_llm::{CompletionRequest, Message, Role};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Options of `bench llm`.
#[derive(Debug, Clone, clap::Args)]
pub struct LlmOptions {
    /// GGUF file or folder (default: the fetched SmolLM2).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Thread counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<u32>,
    /// Completions per setting.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Tokens generated per completion.
    #[arg(long, default_value_t = 64)]
    pub tokens: u32,
}

/// Options of `bench chat`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatOptions {
    /// Turns to run.
    #[arg(long, default_value_t = 1000)]
    pub turns: usize,
    /// Turns per session (first a request, then refinements and questions).
    #[arg(long, default_value_t = 4)]
    pub session_len: usize,
    /// Seed of the generated conversations.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Write every turn's summary here (JSONL).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What a `bench chat` run counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatReport {
    /// Turns run.
    pub turns: usize,
    /// Turns the engine answered with an error.
    pub errors: usize,
    /// Items shown over all turns.
    pub shown: usize,
    /// Items shown that are not live catalog items (documents included).
    pub outside: usize,
    /// Items shown that are not available.
    pub unavailable: usize,
    /// Turns where an LLM answer was used.
    pub llm_used: usize,
}

impl ChatReport {
    /// True when every turn was answered and every item shown was a live,
    /// available catalog item.
    pub fn passed(&self) -> bool {
        self.outside == 0 && self.unavailable == 0 && self.errors == 0
    }
}

/// Measures the local model's prompt and generation tokens/s and completion
/// latency for each thread count, once idle and once with every other core
/// busy; the model is `a.model` or SmolLM2, fetched under the data folder of
/// `config`. Writes a markdown table.
pub fn llm(config: &Config, a: &LlmOptions, out: &mut dyn Write) -> Result<()> {
    let path = match &a.model {
        Some(p) => p.clone(),
        None => sommelier_datasets::fetch_model(
            sommelier_datasets::Model::SmolLm2_135mInstruct,
            &config.data_dir.join("models"),
            None,
        )?,
    };
    let file = find_gguf(&path)
        .ok_or_else(|| BenchError::Missing(format!("no .gguf in {}", path.display())))?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    say!(
        out,
        "model {}  cores {cores}  runs {}  tokens {}",
        file.display(),
        a.runs,
        a.tokens
    );
    say!(
        out,
        "| threads | other cores | prompt tok/s | generation tok/s | completion p50 ms | p95 ms |"
    );
    say!(out, "|---|---|---|---|---|---|");
    for &threads in &a.threads {
        let model = LocalLlama::load(LocalOptions {
            model_path: file.clone(),
            name: None,
            threads,
            workers: 1,
            context: 2048,
            batch: 512,
        })?;
        for busy in [false, true] {
            // "Busy": every core but one spins, as a loaded server would.
            let stop = Arc::new(AtomicBool::new(false));
            let spinners: Vec<_> = (0..if busy {
                cores.saturating_sub(1).max(1)
            } else {
                0
            })
                .map(|_| {
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        let mut x = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            x = std::hint::black_box(
                                x.wrapping_mul(6364136223846793005).wrapping_add(1),
                            );
                        }
                    })
                })
                .collect();
            let measured = measure(&model, a);
            stop.store(true, Ordering::Relaxed);
            for s in spinners {
                let _ = s.join();
            }
            let (pt, pms, gt, gms, mut took) = measured?;
            took.sort();
            say!(
                out,
                "| {threads} | {} | {:.0} | {:.1} | {:.0} | {:.0} |",
                if busy { "busy" } else { "idle" },
                pt as f64 / (pms / 1e3),
                gt as f64 / (gms / 1e3),
                quantile(&took, 0.5).as_secs_f64() * 1e3,
                quantile(&took, 0.95).as_secs_f64() * 1e3,
            );
        }
    }
    Ok(())
}

/// Prompt tokens computed, prompt ms, tokens generated, generation ms and
/// the completion times of `a.runs` completions.
type Measured = (u64, f64, u64, f64, Vec<Duration>);

/// Runs `a.runs` completions of [`bench_prompt`].
fn measure(model: &LocalLlama, a: &LlmOptions) -> Result<Measured> {
    let (mut pt, mut pms, mut gt, mut gms) = (0u64, 0.0, 0u64, 0.0);
    let mut took = Vec::new();
    for run in 0..a.runs {
        let mut req = CompletionRequest::new(bench_prompt(run), a.tokens, Duration::from_secs(120));
        req.temperature = 0.0;
        let t = Instant::now();
        let c = model.complete(req, &mut |_| {})?;
        took.push(t.elapsed());
        pt += (c.prompt_tokens - c.cached_tokens) as u64;
        pms += c.prompt_ms;
        gt += c.completion_tokens as u64;
        gms += c.generation_ms;
    }
    Ok((pt, pms, gt, gms, took))
}

/// A prompt of the size the re-rank stage sends (~300 tokens).
fn bench_prompt(run: usize) -> Vec<Message> {
    let mut items = String::new();
    let titles = [
        "Groundhog Day (1993); Comedy, Romance; about: a weatherman relives the same day again and again",
        "Toy Story (1995); Animation, Children, Comedy; about: toys come alive when nobody is looking",
        "Paddington (2014); Comedy, Children; about: a polite bear from Peru looks for a home in London",
        "Airplane! (1980); Comedy; about: a spoof of disaster films aboard a doomed airliner",
        "Amelie (2001); Comedy, Romance; about: a shy waitress decides to change the lives of those around her",
        "Hot Fuzz (2007); Action, Comedy; about: a top London cop is sent to a quiet village with a dark secret",
    ];
    for (i, t) in titles.iter().enumerate() {
        items.push_str(&format!("{}. \"{t}\"\n", i + 1));
    }
    vec![
        // A different first line each run, so no prefix is reused: this
        // measures prompt processing, not the cache.
        Message::new(
            Role::System,
            format!(
                "Run {run}. You are a friendly, concise recommender. Pick the items that best fit the request, from the numbered list only. For each pick, one short sentence on why it fits."
            ),
        ),
        Message::new(
            Role::User,
            format!("Request: light-hearted comedies with great set pieces\nItems:\n{items}"),
        ),
    ]
}

/// Runs `a.turns` generated chat turns (sessions of `a.session_len` turns:
/// an opening request, then refinements and questions) against `engine`,
/// checks that every item shown is a live, available catalog item, and
/// writes latency percentiles, outcome shares, LLM token rates and the cache
/// hit rate. Per-turn errors and a progress line every 100 turns go to
/// `progress`. Warms the engine up first; attach the query embedder before.
pub fn chat(
    engine: &Engine,
    a: &ChatOptions,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<ChatReport> {
    engine.warm_up()?;
    engine.warm_up_index()?;
    let llm = engine.llm()?;
    say!(
        out,
        "LLM: intent {}, re-rank {}",
        llm.small().model_id(),
        llm.large().model_id()
    );
    let cat = catalog(engine)?;
    if cat.titles.is_empty() {
        return Err(BenchError::Missing(
            "the store has no items: run `sommelier demo --no-serve` first".into(),
        ));
    }
    let mut turns_out = match &a.out {
        Some(p) => Some((
            BufWriter::new(std::fs::File::create(p).map_err(BenchError::io("creating", p))?),
            p,
        )),
        None => None,
    };
    let mut rng = Rng(a.seed);
    let mut took = Vec::with_capacity(a.turns);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut report = ChatReport {
        turns: a.turns,
        errors: 0,
        shown: 0,
        outside: 0,
        unavailable: 0,
        llm_used: 0,
    };
    let mut session: Option<String> = None;
    // A session belongs to the user who started it: the user is drawn at
    // each session's first turn.
    let mut user: Option<String> = None;
    let started = Instant::now();
    for t in 0..a.turns {
        let first = t % a.session_len.max(1) == 0;
        let message = if first {
            opening(&mut rng, &cat)
        } else {
            follow_up(&mut rng, &cat)
        };
        if first {
            session = None;
            user = (!rng.next().is_multiple_of(3)).then(|| (1 + rng.next() % 671).to_string());
        }
        let t0 = Instant::now();
        let r = engine.chat(&ChatRequest {
            session_id: session.clone(),
            user_id: user.clone(),
            message: message.clone(),
            channel: Channel::Chat,
            k: Some(5),
            context: Default::default(),
            at: None,
        });
        took.push(t0.elapsed());
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                report.errors += 1;
                let _ = writeln!(progress, "turn {t}: {e}");
                continue;
            }
        };
        session = Some(r.session_id.clone());
        // Every item must be a live, available catalog item.
        for i in &r.items {
            report.shown += 1;
            match engine.item(&sommelier_types::ItemId::new(i.item.as_str())?)? {
                None => report.outside += 1,
                Some(rec) if rec.item.kind.as_str() == "document" => report.outside += 1,
                Some(rec) if !rec.item.is_available() => report.unavailable += 1,
                Some(_) => {}
            }
        }
        let outcome = match (&r.tool, &r.fallback) {
            (Some(_), None) => "tool: llm phrased".to_string(),
            (Some(_), Some(f)) => format!("tool: {f}"),
            (None, None) => "rerank: llm".to_string(),
            (None, Some(f)) => format!("rerank: {f}"),
        };
        *outcomes.entry(outcome.clone()).or_default() += 1;
        report.llm_used += r.llm.used as usize;
        if let Some((o, p)) = turns_out.as_mut() {
            writeln!(
                o,
                "{}",
                serde_json::json!({
                    "turn": t, "message": message, "outcome": outcome,
                    "ms": r.timings_ms.get("total"), "items": r.items.iter().map(|i| &i.item).collect::<Vec<_>>(),
                    "why_sources": r.items.iter().map(|i| &i.why_source).collect::<Vec<_>>(),
                })
            )
            .map_err(BenchError::io("writing", p))?;
        }
        if (t + 1) % 100 == 0 {
            let _ = writeln!(
                progress,
                "{} turns, {:.0} s",
                t + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    took.sort();
    let n = a.turns.max(1) as f64;
    say!(
        out,
        "turns {}  errors {}  wall {:.0} s",
        a.turns,
        report.errors,
        started.elapsed().as_secs_f64()
    );
    say!(
        out,
        "turn latency p50 {:.0} ms  p95 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
        quantile(&took, 0.5).as_secs_f64() * 1e3,
        quantile(&took, 0.95).as_secs_f64() * 1e3,
        quantile(&took, 0.99).as_secs_f64() * 1e3,
        took.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    say!(
        out,
        "items shown {}  outside the catalog {}  unavailable {}",
        report.shown,
        report.outside,
        report.unavailable
    );
    say!(
        out,
        "turns where an LLM answer was used {:.1}%",
        100.0 * report.llm_used as f64 / n
    );
    say!(out, "| outcome | turns | share |");
    say!(out, "|---|---|---|");
    for (o, c) in &outcomes {
        say!(out, "| {o} | {c} | {:.1}% |", 100.0 * *c as f64 / n);
    }
    for (model, t) in llm.stats().tokens() {
        say!(
            out,
            "{model}: {} calls; prompt {} computed + {} reused tokens, {:.0} tok/s; {} generated, {:.1} tok/s; {:.0} tokens per call",
            t.calls,
            t.prompt_tokens,
            t.cached_tokens,
            t.prompt_tokens as f64 / (t.prompt_ms / 1e3).max(1e-9),
            t.completion_tokens,
            t.completion_tokens as f64 / (t.generation_ms / 1e3).max(1e-9),
            t.completion_tokens as f64 / t.calls.max(1) as f64,
        );
    }
    let (hits, misses, _) = llm.cache_counts();
    say!(
        out,
        "LLM cache hit rate {:.1}% ({hits} of {})",
        100.0 * hits as f64 / (hits + misses).max(1) as f64,
        hits + misses
    );
    if let Some((mut o, p)) = turns_out {
        o.flush().map_err(BenchError::io("writing", p))?;
    }
    Ok(report)
}

/// The catalog facts `bench chat` checks answers against.
struct Catalog {
    titles: Vec<(String, String)>,
    genres: Vec<String>,
}

/// The titles of the catalog's items (documents left out) and its 15 most
/// common categories.
fn catalog(engine: &Engine) -> Result<Catalog> {
    let mut titles = Vec::new();
    let mut genres: BTreeMap<String, usize> = BTreeMap::new();
    engine.store().scan_items(&mut |item| {
        if item.kind.as_str() != "document" {
            titles.push((item.id.as_str().to_string(), item.title.clone()));
            for c in &item.categories {
                *genres.entry(c.clone()).or_default() += 1;
            }
        }
    })?;
    let mut g: Vec<(String, usize)> = genres.into_iter().collect();
    g.sort_by_key(|x| std::cmp::Reverse(x.1));
    Ok(Catalog {
        titles,
        genres: g.into_iter().take(15).map(|x| x.0).collect(),
    })
}

/// One element of `v`, at random.
fn pick<'a, T>(rng: &mut Rng, v: &'a [T]) -> &'a T {
    &v[(rng.next() % v.len() as u64) as usize]
}

/// The first message of a generated conversation.
fn opening(rng: &mut Rng, c: &Catalog) -> String {
    let moods = [
        "light-hearted",
        "dark",
        "feel-good",
        "clever",
        "intense",
        "funny",
        "thoughtful",
    ];
    let decades = ["70s", "80s", "90s", "2000s"];
    let g = pick(rng, &c.genres).to_lowercase();
    match rng.next() % 5 {
        0 => format!(
            "{} {g} films from the {}",
            pick(rng, &moods),
            pick(rng, &decades)
        ),
        1 => format!("something {} to watch tonight", pick(rng, &moods)),
        2 => format!("{g} movies like {}", pick(rng, &c.titles).1),
        3 => format!("{g} but no {}", pick(rng, &c.genres).to_lowercase()),
        _ => format!("{} {g} from {}", pick(rng, &moods), 1970 + rng.next() % 45),
    }
}

/// A later message of a generated conversation: a refinement or a question.
fn follow_up(rng: &mut Rng, c: &Catalog) -> String {
    let g = pick(rng, &c.genres).to_lowercase();
    match rng.next() % 7 {
        0 => "more like the second one".into(),
        1 => format!("no {g}"),
        2 => "something newer".into(),
        3 => "older ones".into(),
        4 => "tell me more about the first one".into(),
        5 => "is the third one available?".into(),
        _ => format!("only {g}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_messages_are_reproducible() {
        let c = Catalog {
            titles: vec![("1".into(), "Toy Story (1995)".into())],
            genres: vec!["Comedy".into(), "Drama".into()],
        };
        let run = |seed| {
            let mut rng = Rng(seed);
            (0..20)
                .map(|i| {
                    if i % 4 == 0 {
                        opening(&mut rng, &c)
                    } else {
                        follow_up(&mut rng, &c)
                    }
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert!(run(7).iter().all(|m| !m.is_empty()));
    }

    #[test]
    fn the_prompt_differs_per_run_only_in_its_first_line() {
        let (a, b) = (bench_prompt(0), bench_prompt(1));
        assert_eq!(a.len(), 2);
        assert_ne!(a[0].content, b[0].content);
        assert_eq!(a[1].content, b[1].content);
    }

    #[test]
    fn a_report_passes_only_when_nothing_went_wrong() {
        let ok = ChatReport {
            turns: 10,
            errors: 0,
            shown: 50,
            outside: 0,
            unavailable: 0,
            llm_used: 3,
        };
        assert!(ok.passed());
        assert!(
            !ChatReport {
                errors: 1,
                ..ok.clone()
            }
            .passed()
        );
        assert!(
            !ChatReport {
                outside: 1,
                ..ok.clone()
            }
            .passed()
        );
        assert!(
            !ChatReport {
                unavailable: 1,
                ..ok
            }
            .passed()
        );
    }
}
