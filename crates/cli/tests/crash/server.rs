//! The server killed while events stream in and while it saves the catalog.

use crate::{agent, catalog_ready, get_json, key, sommelier, start, start_with};
use sommelier_store::{EventRead, SqliteStore, StatsRead, StoreOptions};
use sommelier_types::EventId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

#[test]
fn a_server_killed_while_saving_the_catalog_starts_from_a_whole_save() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate_catalog(&data);
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

/// A kill -9 while the vector graph is being saved after its first build
/// leaves no half save in use: the restart builds the graph again (nothing
/// counted as damage: a save without its hashes file is unfinished), saves
/// it whole, and the start after that loads it without building.
#[test]
fn a_server_killed_while_saving_the_graph_builds_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate_catalog(&data);
    let auth = key(&data);
    // The catalog is read from the store at every start: only the graph is saved.
    let env = [
        ("SOMMELIER__SERVER__CATALOG_SAVE_SECS", "0"),
        ("SOMMELIER__MODELS__REFIT_INTERVAL_SECS", "0"),
    ];
    let graph = data.join("index/all-MiniLM-L6-v2");
    let hashes = graph.join("hashes.bin");
    let (mut child, _) = start_with(&data, &env);
    let deadline = Instant::now() + Duration::from_secs(300);
    while !graph.join("graph.usearch.tmp").exists() && !hashes.exists() {
        assert!(Instant::now() < deadline, "the graph was never saved");
        std::thread::sleep(Duration::from_micros(200));
    }
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
    let caught = !hashes.exists();

    let (mut child, url) = start_with(&data, &env);
    let dashboard = catalog_ready(&url, &auth);
    assert_eq!(dashboard["index"]["vectors"], 30_000, "{dashboard}");
    assert!(
        dashboard["damage"].get("saved_graph").is_none(),
        "{dashboard}"
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while !hashes.exists() {
        assert!(Instant::now() < deadline, "the rebuilt graph was not saved");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let whole = std::fs::metadata(&hashes).unwrap().modified().unwrap();
    let _ = child.kill();
    child.wait().unwrap();

    // Loaded, not built: a build would save it again.
    let (mut child, url) = start_with(&data, &env);
    let dashboard = catalog_ready(&url, &auth);
    assert_eq!(dashboard["index"]["vectors"], 30_000, "{dashboard}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::metadata(&hashes).unwrap().modified().unwrap(),
        whole
    );
    let _ = child.kill();
    child.wait().unwrap();
    eprintln!("killed while the graph was being written: {caught}");
}

/// A synthetic catalog of 30,000 items with vectors in `data`: enough that
/// the snapshot gets an HNSW graph and its saves take a moment to write.
fn generate_catalog(data: &std::path::Path) {
    let made = sommelier(
        data,
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
}
