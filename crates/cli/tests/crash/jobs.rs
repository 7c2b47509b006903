//! A fit and an import killed midway.

use crate::{serving_version, sommelier};
use sommelier_store::{SqliteStore, StatsRead, StoreOptions};
use std::time::{Duration, Instant};

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
