//! Load generators against a running server: `bench http-ingest` (a JSONL
//! events file posted in batches) and `bench http-recommend` (closed-loop
//! `POST /v1/recommend`).

use crate::stats::{Rng, quantile};
use crate::{BenchError, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Options of `bench http-ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpIngestOptions {
    /// Server base URL; several, comma-separated (replicas), take the
    /// connections in turn.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// JSONL events file.
    #[arg(long)]
    pub file: PathBuf,
    /// Events per request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
}

/// Options of `bench http-recommend`.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpRecommendOptions {
    /// Server base URL; several, comma-separated (replicas), take the
    /// connections in turn.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Users to draw from (`u0` .. `u{N-1}`, as `gen-catalog` names them).
    #[arg(long, default_value_t = 50_000)]
    pub users: u64,
    /// Concurrent connections (closed loop).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Items per request.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// What a load run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Requests sent.
    pub requests: usize,
    /// Requests that failed or were answered with an error status.
    pub failed: usize,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
}

/// Posts the JSONL events file `a.file` to `{url}/v1/events` in batches of
/// `a.batch` over `a.connections` connections and reports events/s and
/// request latency.
pub fn http_ingest(a: &HttpIngestOptions, out: &mut dyn Write) -> Result<LoadReport> {
    if a.batch == 0 || a.connections == 0 {
        return Err(BenchError::Options(
            "--batch and --connections must be positive".into(),
        ));
    }
    let file = std::fs::File::open(&a.file).map_err(BenchError::io("opening", &a.file))?;
    let mut bodies = Vec::new();
    let mut current = Vec::with_capacity(a.batch);
    let mut events = 0usize;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(BenchError::io("reading", &a.file))?;
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
    let urls = endpoints(&a.url, "/v1/events")?;
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(bodies.len()));
    let failures = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..a.connections {
            let (next, bodies, failures, latencies) = (&next, &bodies, &failures, &latencies);
            let url = &urls[c % urls.len()];
            s.spawn(move || {
                let agent = agent(Duration::from_secs(60));
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let t = Instant::now();
                    if !post_json(&agent, url, body) {
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
    let failed = failures.into_inner();
    say!(
        out,
        "{events} events in {} requests of {} over {} connections to {} server(s): {secs:.2}s, {:.0} events/s; request p50 {:.1} ms, p99 {:.1} ms; {} failed requests",
        bodies.len(),
        a.batch,
        a.connections,
        urls.len(),
        events as f64 / secs,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        failed,
    );
    Ok(LoadReport {
        requests: bodies.len(),
        failed,
        seconds: secs,
    })
}

/// Closed-loop load: `connections` clients each send `POST /v1/recommend` for
/// random users back to back for `seconds`, and the run reports throughput
/// and latency percentiles.
pub fn http_recommend(a: &HttpRecommendOptions, out: &mut dyn Write) -> Result<LoadReport> {
    let positive = a.connections > 0 && a.users > 0 && a.seconds > 0.0;
    if !positive {
        return Err(BenchError::Options("sizes must be positive".into()));
    }
    let urls = endpoints(&a.url, "/v1/recommend")?;
    let stop = AtomicBool::new(false);
    let failures = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::new());
    // Warm-up: the first request builds the vector index and loads models.
    let warm = agent(Duration::from_secs(600));
    for url in &urls {
        if !post_json(&warm, url, r#"{"user_id":"u1"}"#) {
            return Err(BenchError::Http {
                what: "warm-up",
                url: url.clone(),
            });
        }
    }
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..a.connections {
            let (stop, failures, latencies) = (&stop, &failures, &latencies);
            let url = &urls[c % urls.len()];
            s.spawn(move || {
                let agent = agent(Duration::from_secs(30));
                let mut rng = Rng(a.seed + c as u64);
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let user = rng.next() % a.users;
                    let body = format!(r#"{{"user_id":"u{user}","k":{}}}"#, a.k);
                    let t = Instant::now();
                    if !post_json(&agent, url, &body) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    mine.push(t.elapsed());
                }
                latencies.lock().expect("no panics while held").extend(mine);
            });
        }
        std::thread::sleep(Duration::from_secs_f64(a.seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let secs = started.elapsed().as_secs_f64();
    let mut lat = latencies.into_inner().expect("threads joined");
    lat.sort();
    let pct = |p: f64| quantile(&lat, p).as_secs_f64() * 1e3;
    let failed = failures.into_inner();
    say!(
        out,
        "{} requests over {} connections to {} server(s) in {secs:.1} s: {:.0} req/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} failed",
        lat.len(),
        a.connections,
        urls.len(),
        lat.len() as f64 / secs,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0),
        failed
    );
    Ok(LoadReport {
        requests: lat.len(),
        failed,
        seconds: secs,
    })
}

/// `path` on each of the comma-separated base URLs in `urls`.
fn endpoints(urls: &str, path: &str) -> Result<Vec<String>> {
    let all: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| format!("{}{path}", u.trim_end_matches('/')))
        .collect();
    if all.is_empty() {
        return Err(BenchError::Options("--url names no server".into()));
    }
    Ok(all)
}

/// An HTTP client for the load generators: error statuses come back as answers.
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// The API key the load generators send (`SOMMELIER_API_KEY`; a server
/// with authentication on answers 401 without one).
static API_KEY: std::sync::LazyLock<Option<String>> = std::sync::LazyLock::new(|| {
    std::env::var("SOMMELIER_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
});

/// POSTs a JSON body and reads the answer (so the connection is reused); true
/// when the server answered 2xx.
fn post_json(agent: &ureq::Agent, url: &str, body: &str) -> bool {
    let mut req = agent.post(url).header("content-type", "application/json");
    if let Some(k) = API_KEY.as_deref() {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    req.send(body)
        .map(|mut r| {
            let _ = r.body_mut().read_to_string();
            r.status().is_success()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_options_are_checked_before_anything_is_read() {
        let a = HttpIngestOptions {
            url: "http://127.0.0.1:1".into(),
            file: "/nonexistent/events.jsonl".into(),
            batch: 0,
            connections: 2,
        };
        let e = http_ingest(&a, &mut std::io::sink()).unwrap_err();
        assert_eq!(e.to_string(), "--batch and --connections must be positive");
        let a = HttpIngestOptions { batch: 10, ..a };
        let e = http_ingest(&a, &mut std::io::sink()).unwrap_err();
        assert_eq!(e.to_string(), "opening /nonexistent/events.jsonl");
    }

    #[test]
    fn several_urls_are_replicas_taken_in_turn() {
        assert_eq!(
            endpoints("http://a:1/, http://b:2", "/v1/events").unwrap(),
            ["http://a:1/v1/events", "http://b:2/v1/events"]
        );
        let e = endpoints(" , ", "/v1/events").unwrap_err();
        assert_eq!(e.to_string(), "--url names no server");
    }

    #[test]
    fn a_failed_warm_up_stops_the_recommend_run() {
        // Port 1 on loopback: nothing listens, the connection is refused.
        let a = HttpRecommendOptions {
            url: "http://127.0.0.1:1/".into(),
            users: 10,
            connections: 1,
            seconds: 0.1,
            k: 5,
            seed: 7,
        };
        let e = http_recommend(&a, &mut std::io::sink()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the warm-up request to http://127.0.0.1:1/v1/recommend failed"
        );
    }
}
