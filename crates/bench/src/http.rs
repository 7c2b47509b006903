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
    /// Open loop instead: requests a second in all, sent on a fixed
    /// schedule whether or not earlier ones were answered (each connection
    /// takes its share), and each latency counted from the time the request
    /// was due, so a server that falls behind shows it in the percentiles
    /// instead of slowing the load down. Give enough `--connections` for
    /// the requests in flight.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds to run.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Items per request.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// With two or more servers in `--url`: instead of sharing the
    /// connections, they take all the load in turn, this many seconds each
    /// (by when each request was due; in the order given, then in reverse,
    /// and so on: 1 2 2 1 1 2 …), so that a spell of a noisy machine
    /// falls on all of them alike. Each server's latencies are reported
    /// apart, with its p99 over the first server's and a 90 % bootstrap
    /// interval of that ratio (cycles of turns resampled).
    #[arg(long, value_name = "SECONDS")]
    pub alternate: Option<f64>,
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
    if !positive || a.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return Err(BenchError::Options("sizes must be positive".into()));
    }
    let urls = endpoints(&a.url, "/v1/recommend")?;
    if let Some(w) = a.alternate
        && (w.is_nan() || w <= 0.0 || urls.len() < 2)
    {
        return Err(BenchError::Options(
            "--alternate takes a positive number of seconds and two or more servers in --url"
                .into(),
        ));
    }
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
    // Open loop: each connection's requests are due every `period`, the
    // connections staggered over it.
    let period = a
        .rate
        .map(|r| Duration::from_secs_f64(a.connections as f64 / r));
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..a.connections {
            let (stop, failures, latencies) = (&stop, &failures, &latencies);
            let urls = &urls;
            s.spawn(move || {
                let agent = agent(Duration::from_secs(30));
                let mut rng = Rng(a.seed + c as u64);
                let mut mine = Vec::new();
                let mut sent = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let user = rng.next() % a.users;
                    let body = format!(r#"{{"user_id":"u{user}","k":{}}}"#, a.k);
                    let due = match period {
                        Some(p) => {
                            let due =
                                started + p.mul_f64(c as f64 / a.connections as f64) + p * sent;
                            sent += 1;
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                            due
                        }
                        None => Instant::now(),
                    };
                    // The window of the run's clock the request was due
                    // in and whose turn it is (alternating), or the
                    // connection's own server.
                    let (window, server) = match a.alternate {
                        Some(w) => {
                            let k = (due.duration_since(started).as_secs_f64() / w) as usize;
                            (k, crate::in_turn::server_of(k, urls.len()))
                        }
                        None => (c, c % urls.len()),
                    };
                    if !post_json(&agent, &urls[server], &body) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    mine.push((window, due.elapsed()));
                }
                latencies.lock().expect("no panics while held").extend(mine);
            });
        }
        std::thread::sleep(Duration::from_secs_f64(a.seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let secs = started.elapsed().as_secs_f64();
    let samples = latencies.into_inner().expect("threads joined");
    let failed = failures.into_inner();
    if let Some(w) = a.alternate {
        report_in_turn(a, &urls, w, &samples, out)?;
    }
    let mut lat: Vec<Duration> = samples.into_iter().map(|s| s.1).collect();
    lat.sort();
    let pct = |p: f64| quantile(&lat, p).as_secs_f64() * 1e3;
    let offered = a
        .rate
        .map(|r| format!(" (open loop, {r:.0} req/s offered)"))
        .unwrap_or_default();
    say!(
        out,
        "{} requests over {} connections{offered} to {} server(s) in {secs:.1} s: {:.0} req/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} failed",
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

/// Each server's line of an alternating run (`--alternate`), before the
/// run's own line.
fn report_in_turn(
    a: &HttpRecommendOptions,
    urls: &[String],
    window: f64,
    samples: &[(usize, Duration)],
    out: &mut dyn Write,
) -> Result<()> {
    let r = crate::in_turn::in_turn(samples, urls.len());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let load = a
        .rate
        .map(|r| format!("{r:.0} req/s offered"))
        .unwrap_or_else(|| "closed loop".into());
    say!(
        out,
        "{} servers in turn, {window} s each ({load}, {} connections): {} complete cycles after the first",
        urls.len(),
        a.connections,
        r.cycles
    );
    for (i, (s, url)) in r.servers.iter().zip(urls).enumerate() {
        let ratio = s
            .ratio
            .map(|q| {
                format!(
                    "; p99 / server 1's: {:.3} (90 % interval {:.3}-{:.3}), median per cycle {:.3}",
                    q.pooled, q.low, q.high, q.median_per_cycle
                )
            })
            .unwrap_or_default();
        say!(
            out,
            "server {} {url}: {} requests, latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms{ratio}",
            i + 1,
            s.requests,
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max),
        );
    }
    Ok(())
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
    use std::sync::Arc;

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

    /// A short run of one connection against `url`.
    fn options(url: &str) -> HttpRecommendOptions {
        HttpRecommendOptions {
            url: url.into(),
            users: 10,
            connections: 1,
            rate: None,
            seconds: 0.1,
            k: 5,
            seed: 7,
            alternate: None,
        }
    }

    #[test]
    fn a_failed_warm_up_stops_the_recommend_run() {
        // Port 1 on loopback: nothing listens, the connection is refused.
        let a = options("http://127.0.0.1:1/");
        let e = http_recommend(&a, &mut std::io::sink()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the warm-up request to http://127.0.0.1:1/v1/recommend failed"
        );
    }

    /// A loopback HTTP/1.1 server that answers every request at once with
    /// `{}`, keeping connections alive; its base URL, and when it answered
    /// each request.
    fn instant_server() -> (String, Arc<Mutex<Vec<Instant>>>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut conn = conn;
                    loop {
                        let mut length = 0usize;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length];
                        if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                            return;
                        }
                        log.lock().unwrap().push(Instant::now());
                        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                        if conn.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    #[test]
    fn an_open_loop_sends_on_its_schedule_not_as_fast_as_answers_come() {
        let (url, _) = instant_server();
        let run = |rate: Option<f64>| {
            let a = HttpRecommendOptions {
                connections: 4,
                rate,
                seconds: 1.0,
                ..options(&url)
            };
            http_recommend(&a, &mut std::io::sink()).unwrap()
        };
        // 200 a second for a second: about 200 requests, whatever the
        // server could take (a closed loop sends many more).
        let open = run(Some(200.0));
        assert_eq!(open.failed, 0);
        assert!(
            (180..=205).contains(&open.requests),
            "{} requests",
            open.requests
        );
        let closed = run(None);
        assert!(closed.requests > 2 * open.requests, "{closed:?}");
    }

    #[test]
    fn alternating_servers_take_the_whole_load_in_turn() {
        let (first, first_seen) = instant_server();
        let (second, second_seen) = instant_server();
        let a = HttpRecommendOptions {
            connections: 4,
            rate: Some(400.0),
            seconds: 1.3,
            alternate: Some(0.25),
            ..options(&format!("{first},{second}"))
        };
        let mut out = Vec::new();
        let r = http_recommend(&a, &mut out).unwrap();
        assert_eq!(r.failed, 0);
        let out = String::from_utf8(out).unwrap();
        // Windows 0-4 of 0.25 s, the run stopping in window 5: cycles 0
        // and 1 are complete, cycle 2 (windows 4 and 5) is not, and cycle
        // 0 is where the run starts.
        assert!(out.contains("2 servers in turn, 0.25 s each (400 req/s offered, 4 connections): 1 complete cycles after the first"), "{out}");
        assert!(
            out.contains(&format!("server 2 {second}/v1/recommend: ")),
            "{out}"
        );
        assert!(out.contains("p99 / server 1's: "), "{out}");
        // Each server answered about half of the requests, and (after the
        // warm-up request each server gets first) in bursts of about a
        // quarter of a second: few answers follow the other server's.
        let (a1, a2) = (
            first_seen.lock().unwrap().clone(),
            second_seen.lock().unwrap().clone(),
        );
        assert!(
            a1.len() > 200 && a2.len() > 200,
            "{} and {}",
            a1.len(),
            a2.len()
        );
        let mut all: Vec<(Instant, u8)> = a1
            .iter()
            .map(|&t| (t, 1))
            .chain(a2.iter().map(|&t| (t, 2)))
            .collect();
        all.sort();
        let switches = all.windows(2).filter(|w| w[0].1 != w[1].1).count();
        assert!(switches < 40, "{switches} switches between servers");
    }

    #[test]
    fn alternating_needs_two_servers() {
        let (url, _) = instant_server();
        let a = HttpRecommendOptions {
            alternate: Some(1.0),
            ..options(&url)
        };
        let e = http_recommend(&a, &mut std::io::sink()).unwrap_err();
        assert!(e.to_string().starts_with("--alternate takes"), "{e}");
    }
}
