//! `sommelier bench`: synthetic data and an HTTP ingest load generator. Results
//! go to docs/benchmarks.md with the commands that produced them.

use crate::args::{BenchCommand, BenchEmbedArgs, Cli, GenEventsArgs, HttpIngestArgs};
use anyhow::Context;
use sommelier_embed::Embedder;
use sommelier_store::CatalogRead;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub(crate) fn run(cli: &Cli, c: &BenchCommand) -> anyhow::Result<ExitCode> {
    match c {
        BenchCommand::GenEvents(a) => gen_events(a),
        BenchCommand::HttpIngest(a) => http_ingest(a),
        BenchCommand::Embed(a) => embed(cli, a),
        BenchCommand::Ann(a) => super::ann::run(cli, a),
        BenchCommand::GenCatalog(a) => {
            let engine = super::open(super::config(cli, None)?)?;
            super::load::gen_catalog(&engine, a)
        }
        BenchCommand::HttpRecommend(a) => super::load::http_recommend(a),
        BenchCommand::AlsGraph(a) => {
            let engine = super::open(super::config(cli, None)?)?;
            let trials = engine.check_als_graph(a.users, &a.ef)?;
            if trials.is_empty() {
                println!("the fitted iALS model has no graph (small models are scanned)");
                return Ok(ExitCode::SUCCESS);
            }
            println!("ef\trecall\tsearch µs (1 thread)");
            for t in trials {
                println!("{}\t{:.4}\t{:.0}", t.ef, t.recall, t.search_us);
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Llm(a) => super::llmbench::llm(cli, a),
        BenchCommand::Chat(a) => super::llmbench::chat(cli, a),
    }
}

fn embed(cli: &Cli, a: &BenchEmbedArgs) -> anyhow::Result<ExitCode> {
    let cfg = super::config(cli, None)?;
    let engine = super::open(cfg.clone())?;
    let mut texts = Vec::with_capacity(a.texts);
    engine.store().scan_items(&mut |item| {
        if texts.len() < a.texts {
            texts.push(sommelier_embed::item_text(&item));
        }
    })?;
    anyhow::ensure!(
        !texts.is_empty(),
        "the store holds no items: import a data set first (sommelier datasets import movielens-small)"
    );
    if let Some(p) = &a.texts_out {
        std::fs::write(
            p,
            texts
                .iter()
                .map(|t| t.replace('\n', " ") + "\n")
                .collect::<String>(),
        )?;
    }
    let model = super::models::load(
        &super::models::model_dir(&cfg, a.model_dir.as_deref())?,
        a.batch,
    )?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    model.embed(&refs[..refs.len().min(a.batch)])?; // warm-up
    let started = Instant::now();
    let vectors = model.embed(&refs)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} texts (batch {}) in {secs:.2}s: {:.1} texts/s, {:.2} ms/text, dim {}",
        vectors.len(),
        a.batch,
        vectors.len() as f64 / secs,
        secs * 1e3 / vectors.len() as f64,
        model.dim()
    );
    Ok(ExitCode::SUCCESS)
}

/// An HTTP client for the load generators: error statuses come back as answers.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// POSTs a JSON body and reads the answer (so the connection is reused); true
/// when the server answered 2xx.
pub(crate) fn post_json(agent: &ureq::Agent, url: &str, body: &str) -> bool {
    agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .map(|mut r| {
            let _ = r.body_mut().read_to_string();
            r.status().is_success()
        })
        .unwrap_or(false)
}

/// The `p` quantile (0–1) of sorted latencies.
pub(crate) fn quantile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p) as usize)
        .copied()
        .unwrap_or_default()
}

/// splitmix64: small, fast, reproducible.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn gen_events(a: &GenEventsArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.users > 0 && a.items > 0,
        "--users and --items must be positive"
    );
    let csv = a.out.extension().is_some_and(|e| e == "csv");
    let file =
        std::fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng(a.seed);
    let start: i64 = 1_700_000_000;
    let span = 30 * 24 * 3600;
    if csv {
        writeln!(out, "id,user,item,kind,value,timestamp")?;
    }
    for i in 0..a.events {
        let user = rng.next() % a.users;
        // Skewed popularity: a few items get most events.
        let item = ((a.items as f64) * rng.unit().powf(3.0)) as u64;
        let r = rng.unit();
        let (kind, value) = match r {
            r if r < 0.55 => ("view", None),
            r if r < 0.75 => ("click", None),
            r if r < 0.80 => ("add_to_cart", None),
            r if r < 0.83 => ("purchase", None),
            r if r < 0.95 => ("rating", Some(1.0 + (rng.next() % 9) as f64 * 0.5)),
            r if r < 0.98 => ("like", None),
            _ => ("dwell", Some((rng.next() % 600) as f64)),
        };
        let ts = start + (i as i64 * span / a.events as i64);
        if csv {
            let v = value.map(|v| v.to_string()).unwrap_or_default();
            writeln!(out, "e{i},u{user},i{item},{kind},{v},{ts}")?;
        } else {
            match value {
                Some(v) => writeln!(
                    out,
                    r#"{{"id":"e{i}","user":"u{user}","item":"i{item}","kind":"{kind}","value":{v},"timestamp":{ts}}}"#
                )?,
                None => writeln!(
                    out,
                    r#"{{"id":"e{i}","user":"u{user}","item":"i{item}","kind":"{kind}","timestamp":{ts}}}"#
                )?,
            }
        }
    }
    out.flush()?;
    println!("wrote {} events to {}", a.events, a.out.display());
    Ok(ExitCode::SUCCESS)
}

fn http_ingest(a: &HttpIngestArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.batch > 0 && a.connections > 0,
        "--batch and --connections must be positive"
    );
    let file =
        std::fs::File::open(&a.file).with_context(|| format!("opening {}", a.file.display()))?;
    let mut bodies = Vec::new();
    let mut current = Vec::with_capacity(a.batch);
    let mut events = 0usize;
    for line in BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        current.push(line);
        events += 1;
        if current.len() == a.batch {
            bodies.push(format!("[{}]", current.join(",")));
            current.clear();
        }
    }
    if !current.is_empty() {
        bodies.push(format!("[{}]", current.join(",")));
    }
    let url = format!("{}/v1/events", a.url.trim_end_matches('/'));
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(bodies.len()));
    let failures = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..a.connections {
            s.spawn(|| {
                let agent = agent(Duration::from_secs(60));
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let t = Instant::now();
                    if !post_json(&agent, &url, body) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    latencies
                        .lock()
                        .expect("no panics while held")
                        .push(t.elapsed());
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let mut lat = latencies.into_inner().expect("threads joined");
    lat.sort();
    let pct = |p: f64| quantile(&lat, p);
    println!(
        "{events} events in {} requests of {} over {} connections: {secs:.2}s, {:.0} events/s; request p50 {:.1} ms, p99 {:.1} ms; {} failed requests",
        bodies.len(),
        a.batch,
        a.connections,
        events as f64 / secs,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        failures.load(Ordering::Relaxed),
    );
    Ok(if failures.load(Ordering::Relaxed) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
