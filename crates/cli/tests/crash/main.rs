//! Kill the server, a fit or an import with SIGKILL at awkward moments
//! (events streaming in, a model set half written, an import between
//! chunks, the catalog save half written, the embedding backlog job
//! writing, chat turns streaming in, lists being served); every acknowledged write must be
//! there after a restart, and what was saved must be whole or not used.
//! Replicas over one PostgreSQL database (`replicas.rs`), and over it and
//! a NATS JetStream stream (`stream.rs`), are killed too.

mod exposures;
mod jobs;
mod pgvector;
mod replicas;
mod server;
mod sessions;
mod stream;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start(data: &std::path::Path) -> (Child, String) {
    start_with(data, &[])
}

fn start_with(data: &std::path::Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sommelier"))
        .envs(env.iter().copied())
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--addr",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.strip_prefix("Sommelier is serving on ") {
            let url = rest.split_whitespace().next().unwrap().to_string();
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (child, url);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start listening");
}

/// An admin key made with the CLI, fast enough for a writer at full speed.
fn key(data: &std::path::Path) -> String {
    key_with(data, &[])
}

/// [`key`] with the configuration in `env`.
fn key_with(data: &std::path::Path, env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sommelier"))
        .envs(env.iter().copied())
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "keys",
            "create",
            "--name",
            "crash",
            "--scopes",
            "all",
            "--rate",
            "100000",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("Bearer {}", String::from_utf8(out.stdout).unwrap().trim())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// `sommelier` on `data` with the sequence model's fit kept short.
fn sommelier(data: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sommelier"));
    c.arg("--data-dir")
        .arg(data)
        .args(args)
        .env("SOMMELIER__MODELS__SASREC__MAX_SECONDS", "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

/// The version of the models a recommendation is answered with.
fn serving_version(data: &std::path::Path) -> Option<String> {
    let out = sommelier(data, &["recommend", "--user", "u1", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["models_version"].as_str().map(str::to_string)
}

/// GETs `path` with `auth` and parses the JSON answer.
fn get_json(url: &str, path: &str, auth: &str) -> serde_json::Value {
    let mut r = agent()
        .get(format!("{url}{path}"))
        .header("authorization", auth)
        .call()
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

/// Waits until the server's first catalog snapshot is built (at start, in
/// the background: a graph over 30,000 vectors takes a while when the other
/// tests of this binary keep both cores busy) and returns the dashboard.
fn catalog_ready(url: &str, auth: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let dashboard = get_json(url, "/v1/admin/dashboard", auth);
        if !dashboard["catalog_start"].is_null() && !dashboard["index"].is_null() {
            return dashboard;
        }
        assert!(
            Instant::now() < deadline,
            "no catalog snapshot: {dashboard}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// POSTs a JSON body and parses the JSON answer (`None` when the request
/// failed or was refused).
fn post_json(url: &str, path: &str, auth: &str, body: &str) -> Option<serde_json::Value> {
    let mut r = agent()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .header("authorization", auth)
        .send(body.to_string())
        .ok()?;
    (r.status() == 200)
        .then(|| serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap())
}
