//! `bench llm` (local model tokens/s by thread count, idle and with the other
//! cores busy) and `bench chat` (generated conversations over the catalog).

use super::bench::{Rng, quantile};
use crate::args::{BenchChatArgs, BenchLlmArgs, Cli};
use anyhow::Context;
use sommelier_engine::{Channel, ChatRequest, Engine};
use sommelier_llm::provider::{LocalLlama, LocalOptions, local::find_gguf};
use sommelier_llm::{CompletionRequest, Message, Role};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

pub(crate) fn llm(cli: &Cli, a: &BenchLlmArgs) -> anyhow::Result<ExitCode> {
    let cfg = super::config(cli, None)?;
    let path = match &a.model {
        Some(p) => p.clone(),
        None => sommelier_datasets::fetch_model(
            sommelier_datasets::Model::SmolLm2_135mInstruct,
            &cfg.data_dir.join("models"),
            None,
        )?,
    };
    let file = find_gguf(&path).with_context(|| format!("no .gguf in {}", path.display()))?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "model {}  cores {cores}  runs {}  tokens {}",
        file.display(),
        a.runs,
        a.tokens
    );
    println!(
        "| threads | other cores | prompt tok/s | generation tok/s | completion p50 ms | p95 ms |"
    );
    println!("|---|---|---|---|---|---|");
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
            let (mut pt, mut pms, mut gt, mut gms) = (0u64, 0.0, 0u64, 0.0);
            let mut took = Vec::new();
            for run in 0..a.runs {
                let mut req =
                    CompletionRequest::new(bench_prompt(run), a.tokens, Duration::from_secs(120));
                req.temperature = 0.0;
                let t = Instant::now();
                let c = model.complete(req, &mut |_| {})?;
                took.push(t.elapsed());
                pt += (c.prompt_tokens - c.cached_tokens) as u64;
                pms += c.prompt_ms;
                gt += c.completion_tokens as u64;
                gms += c.generation_ms;
            }
            stop.store(true, Ordering::Relaxed);
            for s in spinners {
                let _ = s.join();
            }
            took.sort();
            println!(
                "| {threads} | {} | {:.0} | {:.1} | {:.0} | {:.0} |",
                if busy { "busy" } else { "idle" },
                pt as f64 / (pms / 1e3),
                gt as f64 / (gms / 1e3),
                quantile(&took, 0.5).as_secs_f64() * 1e3,
                quantile(&took, 0.95).as_secs_f64() * 1e3,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The catalog facts `bench chat` checks answers against.
struct Catalog {
    titles: Vec<(String, String)>,
    genres: Vec<String>,
}

fn catalog(engine: &Engine) -> anyhow::Result<Catalog> {
    use sommelier_store::CatalogRead;
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

pub(crate) fn chat(cli: &Cli, a: &BenchChatArgs) -> anyhow::Result<ExitCode> {
    let engine = super::open(super::config(cli, None)?)?;
    super::serve::attach_query_embedder(&engine);
    engine.warm_up()?;
    engine.warm_up_index()?;
    let llm = engine.llm()?;
    println!(
        "LLM: intent {}, re-rank {}",
        llm.small().model_id(),
        llm.large().model_id()
    );
    let cat = catalog(&engine)?;
    anyhow::ensure!(
        !cat.titles.is_empty(),
        "the store has no items: run `sommelier demo --no-serve` first"
    );
    let mut out = match &a.out {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let mut rng = Rng(a.seed);
    let mut took = Vec::with_capacity(a.turns);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let (mut shown, mut outside, mut unavailable, mut llm_used, mut errors) = (0, 0, 0, 0, 0);
    let mut session: Option<String> = None;
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
        }
        let user = (!rng.next().is_multiple_of(3)).then(|| (1 + rng.next() % 671).to_string());
        let t0 = Instant::now();
        let r = engine.chat(&ChatRequest {
            session_id: session.clone(),
            user_id: user,
            message: message.clone(),
            channel: Channel::Chat,
            k: Some(5),
            context: Default::default(),
        });
        took.push(t0.elapsed());
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                errors += 1;
                eprintln!("turn {t}: {e}");
                continue;
            }
        };
        session = Some(r.session_id.clone());
        // Every item must be a live, available catalog item.
        for i in &r.items {
            shown += 1;
            match engine.item(&sommelier_types::ItemId::new(i.item.as_str())?)? {
                None => outside += 1,
                Some(rec) if rec.item.kind.as_str() == "document" => outside += 1,
                Some(rec) if !rec.item.is_available() => unavailable += 1,
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
        llm_used += r.llm.used as usize;
        if let Some(o) = out.as_mut() {
            writeln!(
                o,
                "{}",
                serde_json::json!({
                    "turn": t, "message": message, "outcome": outcome,
                    "ms": r.timings_ms.get("total"), "items": r.items.iter().map(|i| &i.item).collect::<Vec<_>>(),
                    "why_sources": r.items.iter().map(|i| &i.why_source).collect::<Vec<_>>(),
                })
            )?;
        }
        if (t + 1) % 100 == 0 {
            eprintln!("{} turns, {:.0} s", t + 1, started.elapsed().as_secs_f64());
        }
    }
    took.sort();
    let n = a.turns.max(1) as f64;
    println!(
        "turns {}  errors {errors}  wall {:.0} s",
        a.turns,
        started.elapsed().as_secs_f64()
    );
    println!(
        "turn latency p50 {:.0} ms  p95 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
        quantile(&took, 0.5).as_secs_f64() * 1e3,
        quantile(&took, 0.95).as_secs_f64() * 1e3,
        quantile(&took, 0.99).as_secs_f64() * 1e3,
        took.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!("items shown {shown}  outside the catalog {outside}  unavailable {unavailable}");
    println!(
        "turns where an LLM answer was used {:.1}%",
        100.0 * llm_used as f64 / n
    );
    println!("| outcome | turns | share |");
    println!("|---|---|---|");
    for (o, c) in &outcomes {
        println!("| {o} | {c} | {:.1}% |", 100.0 * *c as f64 / n);
    }
    for (model, t) in llm.stats().tokens() {
        println!(
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
    println!(
        "LLM cache hit rate {:.1}% ({hits} of {})",
        100.0 * hits as f64 / (hits + misses).max(1) as f64,
        hits + misses
    );
    Ok(if outside == 0 && unavailable == 0 && errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
