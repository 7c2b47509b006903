//! Kill the server, a fit or an import with SIGKILL at awkward moments
//! (events streaming in, a model set half written, an import between
//! chunks, the catalog save half written); every acknowledged write must be
//! there after a restart, and what was saved must be whole or not used.

use sommelier_store::{EventRead, SqliteStore, StatsRead, StoreOptions};
use sommelier_types::EventId;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    let out = Command::new(env!("CARGO_BIN_EXE_sommelier"))
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

#[test]
fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let auth = key(dir.path());
    let (mut child, url) = start(dir.path());
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let dead = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, dead, url, auth) = (acked.clone(), dead.clone(), url.clone(), auth.clone());
        std::thread::spawn(move || {
            let agent = agent();
            for batch in 0.. {
                let ids: Vec<String> = (0..250).map(|i| format!("b{batch}-{i}")).collect();
                let body: Vec<String> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        format!(
                            r#"{{"id":"{id}","user":"u{}","item":"i{}","kind":"click","timestamp":{}}}"#,
                            i % 17,
                            (batch * 7 + i) % 101,
                            1_700_000_000 + batch * 250 + i
                        )
                    })
                    .collect();
                let sent = agent
                    .post(format!("{url}/v1/events"))
                    .header("content-type", "application/json")
                    .header("authorization", &auth)
                    .send(format!("[{}]", body.join(",")));
                match sent {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().extend(ids),
                    _ => {
                        if dead.load(Ordering::SeqCst) {
                            return;
                        }
                        // Not acknowledged and not dead yet: a real error.
                        panic!("unexpected failure while the server was up: {sent:?}");
                    }
                }
            }
        })
    };
    // Let a good number of batches through (and the online features be
    // saved at least once), then kill mid-stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    let saved = dir.path().join("features/online.bin");
    while acked.lock().unwrap().len() < 20_000 || !saved.is_file() {
        assert!(
            Instant::now() < deadline,
            "too few events acknowledged, or no save"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    dead.store(true, Ordering::SeqCst);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 20_000);

    // Restart: the server recovers the database and serves what was acknowledged.
    let (mut child, url) = start(dir.path());
    let mut r = agent()
        .get(format!("{url}/v1/stats"))
        .header("authorization", &auth)
        .call()
        .unwrap();
    let stats: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let stored = stats["events"].as_u64().unwrap();
    assert!(
        stored >= acked.len() as u64,
        "{stored} stored < {} acknowledged",
        acked.len()
    );
    // The features came from their save, older than the kill, and were
    // advanced along the log to exactly the events it holds.
    let mut r = agent()
        .get(format!("{url}/v1/admin/dashboard"))
        .header("authorization", &auth)
        .call()
        .unwrap();
    let dashboard: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        dashboard["features_start"]["source"], "saved",
        "{dashboard}"
    );
    assert!(dashboard["features_start"]["events_read"].as_u64().unwrap() > 0);
    assert_eq!(dashboard["feature_events_applied"].as_u64(), Some(stored));
    assert_eq!(dashboard["damage"], serde_json::json!({}));
    let last = acked.last().unwrap();
    assert_eq!(
        agent()
            .get(format!("{url}/v1/events/{last}"))
            .header("authorization", &auth)
            .call()
            .unwrap()
            .status(),
        200
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // And every single acknowledged id is in the log.
    let store =
        SqliteStore::open(dir.path().join("sommelier.db"), StoreOptions::default()).unwrap();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| {
            store
                .event(&EventId::new(id.as_str()).unwrap())
                .unwrap()
                .is_none()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // The kept counters went down with the rows they count.
    let differences =
        sommelier_store::counter_differences(&store.stats().unwrap(), &store.recount().unwrap());
    assert!(differences.is_empty(), "{differences:?}");
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

#[test]
fn a_fit_killed_at_any_point_leaves_a_complete_set_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let made = sommelier(
        data,
        &[
            "bench",
            "gen-catalog",
            "--items",
            "1500",
            "--events",
            "60000",
            "--users",
            "1500",
            "--clusters",
            "15",
            "--dim",
            "16",
        ],
    )
    .status()
    .unwrap();
    assert!(made.success());
    let t = Instant::now();
    assert!(sommelier(data, &["fit"]).status().unwrap().success());
    let full = t.elapsed().as_millis() as u64;
    let first = serving_version(data).expect("models after a fit");
    let mut seen = vec![first.clone()];
    // Kill refits at points from the first write to the switch (the
    // checksums, fsyncs and the switch take the last moments).
    for pct in [10u64, 40, 70, 90, 96, 99] {
        let ms = full * pct / 100;
        let mut child = sommelier(data, &["fit"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        // Whatever the point, a whole set serves: the one before, or the
        // new one if the switch happened; its files match their checksums
        // (the loader checks them).
        let now =
            serving_version(data).unwrap_or_else(|| panic!("no models after a kill at {ms} ms"));
        let current = std::fs::read_to_string(data.join("fitted/CURRENT")).unwrap();
        assert_eq!(now, current.trim());
        seen.push(now);
        // At most the set in use, the one before it and one unfinished.
        let sets = std::fs::read_dir(data.join("fitted/sets")).unwrap().count();
        assert!(sets <= 3, "{sets} sets kept");
    }
    // A fit left alone switches, and cleans up what the killed ones left.
    assert!(sommelier(data, &["fit"]).status().unwrap().success());
    let last = serving_version(data).unwrap();
    assert!(!seen.contains(&last), "{last} {seen:?}");
    let sets = std::fs::read_dir(data.join("fitted/sets")).unwrap().count();
    assert!(sets <= 2, "{sets} sets kept");
    eprintln!("a full fit took {full} ms; versions served across the kills: {seen:?}, then {last}");
}

#[test]
fn an_import_killed_midway_keeps_whole_chunks_and_true_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("events.jsonl");
    let file_arg = file.to_str().unwrap();
    let made = sommelier(
        &data,
        &[
            "bench",
            "gen-events",
            "--events",
            "400000",
            "--out",
            file_arg,
        ],
    )
    .status()
    .unwrap();
    assert!(made.success());
    // Chunks of `ingest.batch_size` (20,000) records, each one transaction;
    // kill at several points.
    let mut counts = Vec::new();
    for ms in [150u64, 400, 900] {
        let mut child = sommelier(&data, &["ingest", "events", file_arg, "--no-progress"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        let store = SqliteStore::open(data.join("sommelier.db"), StoreOptions::default()).unwrap();
        let kept = store.stats().unwrap();
        let differences = sommelier_store::counter_differences(&kept, &store.recount().unwrap());
        assert!(
            differences.is_empty(),
            "after a kill at {ms} ms: {differences:?}"
        );
        // The file is imported in order and re-imports are duplicates: what
        // is stored is whole chunks of its beginning.
        assert_eq!(
            kept.events % 20_000,
            0,
            "a partial chunk after a kill at {ms} ms"
        );
        counts.push(kept.events);
    }
    // Finished, the import holds the whole file exactly once.
    let out = sommelier(&data, &["ingest", "events", file_arg, "--no-progress"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let store = SqliteStore::open(data.join("sommelier.db"), StoreOptions::default()).unwrap();
    assert_eq!(store.stats().unwrap().events, 400_000);
    eprintln!("events stored after each kill: {counts:?}");
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

#[test]
fn a_server_killed_while_saving_the_catalog_starts_from_a_whole_save() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let made = sommelier(
        &data,
        &[
            "bench",
            "gen-catalog",
            "--items",
            "30000",
            "--events",
            "2000",
            "--users",
            "50",
            "--clusters",
            "20",
        ],
    )
    .output()
    .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let auth = key(&data);
    let env = [
        ("SOMMELIER__SERVER__CATALOG_SAVE_SECS", "1"),
        ("SOMMELIER__MODELS__REFIT_INTERVAL_SECS", "0"),
    ];
    let saved = data.join("catalog/snapshot.bin");
    let partial = data.join("catalog/snapshot.tmp");
    let mut caught = 0;
    let mut added = 0;
    for round in 0..4 {
        let (mut child, url) = start_with(&data, &env);
        // The first snapshot, then a first whole save.
        catalog_ready(&url, &auth);
        let r = agent()
            .post(format!("{url}/v1/recommend"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(r#"{"k":5}"#)
            .unwrap();
        assert_eq!(r.status(), 200);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !saved.exists() {
            assert!(Instant::now() < deadline, "no catalog save");
            std::thread::sleep(Duration::from_millis(20));
        }
        // One more item makes the next save due; kill -9 as soon as its
        // temporary file appears.
        let r = agent()
            .post(format!("{url}/v1/items"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(format!(r#"[{{"id":"late-{round}","kind":"movie","title":"Late arrival {round}","categories":["Drama"]}}]"#))
            .unwrap();
        assert_eq!(r.status(), 200);
        added += 1;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !partial.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        if partial.exists() {
            caught += 1;
        }

        // The restart uses a whole save (the one before, or the finished
        // new one) and reads the late items again from the store.
        let (mut child, url) = start_with(&data, &env);
        let dashboard = catalog_ready(&url, &auth);
        let start = &dashboard["catalog_start"];
        assert_eq!(start["source"], "saved", "round {round}: {dashboard}");
        assert_eq!(start["items"].as_u64(), Some(30_000 + added), "{dashboard}");
        // Not damage: the late items have no vectors here (no embedder),
        // which the start reports as `missing_vectors`.
        assert!(
            dashboard["damage"].get("saved_catalog").is_none(),
            "{dashboard}"
        );
        let card = get_json(&url, &format!("/v1/items?ids=late-{round}"), &auth);
        assert_eq!(card.as_array().map(Vec::len), Some(1), "{card}");
        let _ = child.kill();
        child.wait().unwrap();
        if caught >= 2 {
            break;
        }
    }
    assert!(
        caught >= 1,
        "no kill landed while the save was being written"
    );
    eprintln!("kills while the save was being written: {caught}");
}

/// Items POSTed as a batch too large to embed on ingest are left to the
/// embedding backlog job; a kill -9 while it writes their vectors leaves
/// some without one. The restart reports them, resumes the job, and ends
/// with one vector per acknowledged item, the vector index holding them all.
#[test]
fn a_server_killed_while_embedding_resumes_the_backlog() {
    let Some(model) = std::env::var_os("SOMMELIER_TEST_MODEL_DIR") else {
        eprintln!("SOMMELIER_TEST_MODEL_DIR is not set: skipping (scripts/test sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    std::os::unix::fs::symlink(model, dir.path().join("models/all-MiniLM-L6-v2")).unwrap();
    let auth = key(dir.path());
    let (mut child, url) = start(dir.path());
    let post = |url: &str, from: usize, n: usize| {
        let body: Vec<String> = (from..from + n)
            .map(|i| {
                format!(
                    r#"{{"id":"it{i}","kind":"product","title":"Trail shoe {i}","description":"A {} shoe for {} weather, model {i}"}}"#,
                    ["red", "teal", "grey", "black"][i % 4],
                    ["wet", "dry", "cold"][i % 3]
                )
            })
            .collect();
        let r = agent()
            .post(format!("{url}/v1/items"))
            .header("content-type", "application/json")
            .header("authorization", &auth)
            .send(format!("[{}]", body.join(",")))
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    // Small batches are embedded before they are acknowledged; a large one
    // is acknowledged stored, and embedded by the backlog job in chunks.
    for b in 0..3 {
        post(&url, b * 200, 200);
    }
    let model = "all-MiniLM-L6-v2";
    let vectors = |url: &str| get_json(url, "/v1/stats", &auth)["vectors"][model].as_u64();
    assert_eq!(vectors(&url), Some(600));
    post(&url, 600, 5_000);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        // Killed once the job wrote a first chunk and before it is done.
        let n = vectors(&url).unwrap_or(0);
        if n > 600 && n < 5_600 {
            break;
        }
        assert!(n < 5_600, "the job finished before the kill");
        assert!(Instant::now() < deadline, "the backlog job never wrote");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (mut child, url) = start(dir.path());
    let at_start = get_json(&url, "/v1/admin/dashboard", &auth);
    assert_eq!(at_start["damage"]["missing_vectors"], 1, "{at_start}");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let d = get_json(&url, "/v1/admin/dashboard", &auth);
        if vectors(&url) == Some(5_600) && d["index"]["vectors"] == 5_600 {
            let last = &d["embed_backlog"]["last"];
            let embedded = last["embedded"].as_u64().unwrap();
            assert!(embedded > 0 && embedded < 5_000, "{last}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backlog was not resumed: {d}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get_json(&url, "/v1/stats", &auth)["items"], 5_600);
    child.kill().unwrap();
    child.wait().unwrap();
}
