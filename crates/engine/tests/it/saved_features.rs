//! The online features saved between starts: loaded and advanced along the
//! log when they agree with it, rebuilt (with a metric) when they do not,
//! and never left holding what was deleted.

use crate::support::open;
use serde_json::json;
use sommelier_engine::RecordKind;

fn events(e: &sommelier_engine::Engine, from: usize, to: usize) {
    let batch = (from..to)
        .map(|i| {
            json!({"id": format!("e{i}"), "user": format!("visitor-{:02}", i % 7), "item": format!("m{}", i % 11),
                   "kind": "click", "timestamp": 1_700_000_000_i64 + i as i64 * 60})
        })
        .collect();
    let r = e.ingest_batch(RecordKind::Events, batch, false).unwrap();
    assert_eq!(r.accepted as usize, to - from);
}

fn popular(e: &sommelier_engine::Engine) -> Vec<String> {
    e.popular(5).unwrap().into_iter().map(|s| s.item).collect()
}

#[test]
fn a_restart_loads_the_saved_features_and_follows_the_log_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    events(&e, 0, 300);
    e.warm_up().unwrap();
    assert_eq!(e.features_start().unwrap().source, "log");
    let saved = e.save_features(true).unwrap().expect("a first save");
    assert_eq!(saved.events, 300);
    assert!(e.save_features(true).unwrap().is_none(), "nothing changed");
    let before = popular(&e);
    drop(e);

    // Events written while the server was down are read from the saved
    // position on.
    let writer = open(dir.path());
    events(&writer, 300, 340);
    drop(writer);
    let e = open(dir.path());
    e.warm_up().unwrap();
    let start = e.features_start().unwrap();
    assert_eq!(
        (start.source, start.events_read),
        ("saved", 40),
        "{start:?}"
    );
    assert_eq!(e.dashboard().unwrap().feature_events_applied, Some(340));
    let rebuilt = {
        let other = tempfile::tempdir().unwrap();
        std::fs::copy(
            dir.path().join("sommelier.db"),
            other.path().join("sommelier.db"),
        )
        .unwrap();
        let r = open(other.path());
        r.warm_up().unwrap();
        assert_eq!(r.features_start().unwrap().source, "log");
        popular(&r)
    };
    assert_eq!(popular(&e), rebuilt);
    assert_ne!(before, Vec::<String>::new());
    drop(e);

    // A damaged save is not used: rebuilt from the log, counted as damage.
    let path = dir.path().join("features/online.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let e = open(dir.path());
    e.warm_up().unwrap();
    let start = e.features_start().unwrap();
    assert_eq!(start.source, "log");
    assert!(start.reason.unwrap().contains("checksum"));
    assert_eq!(
        e.dashboard().unwrap().damage.get("saved_features"),
        Some(&1)
    );
    assert!(
        e.render_metrics()
            .unwrap()
            .contains("sommelier_damage_found_total{what=\"saved_features\"} 1")
    );
}

#[test]
fn a_save_that_disagrees_with_the_log_is_rebuilt_and_a_forget_leaves_no_trace_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    events(&e, 0, 100);
    e.warm_up().unwrap();
    e.save_features(true).unwrap().unwrap();
    drop(e);
    // Events lost from the log below the saved position (a damaged journal,
    // a restored backup): the save holds more than the log.
    let c = rusqlite::Connection::open(dir.path().join("sommelier.db")).unwrap();
    c.execute("DELETE FROM events WHERE seq <= 10", []).unwrap();
    drop(c);
    let e = open(dir.path());
    e.warm_up().unwrap();
    let start = e.features_start().unwrap();
    assert_eq!(start.source, "log");
    assert!(start.reason.unwrap().contains("disagree"));
    assert_eq!(
        e.dashboard().unwrap().damage.get("features_vs_log"),
        Some(&1)
    );
    assert_eq!(e.dashboard().unwrap().feature_events_applied, Some(90));

    // Forgetting a user rewrites the save without them.
    e.save_features(true).unwrap();
    let path = dir.path().join("features/online.bin");
    let has = |needle: &[u8]| {
        std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
    };
    assert!(has(b"visitor-03"));
    e.forget_user("visitor-03", false).unwrap();
    assert!(
        !has(b"visitor-03"),
        "the saved features still name the forgotten user"
    );
    drop(e);
    let e = open(dir.path());
    e.warm_up().unwrap();
    assert_eq!(e.features_start().unwrap().source, "saved");
    assert!(e.user_features("visitor-03").unwrap().is_none());
}

#[test]
fn live_items_without_vectors_are_reported_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    let items = (0..3)
        .map(|i| json!({"id": format!("m{i}"), "title": format!("Film {i}")}))
        .collect();
    e.ingest_batch(RecordKind::Items, items, false).unwrap();
    crate::support::put_vectors(&e, [("m0", crate::support::unit(&[1.0, 0.0]))]);
    e.warm_up().unwrap();
    assert_eq!(
        e.dashboard().unwrap().damage.get("missing_vectors"),
        Some(&1)
    );
    crate::support::put_vectors(
        &e,
        [
            ("m1", crate::support::unit(&[0.0, 1.0])),
            ("m2", crate::support::unit(&[1.0, 1.0])),
        ],
    );
    drop(e);
    let e = open(dir.path());
    e.warm_up().unwrap();
    assert!(e.dashboard().unwrap().damage.is_empty());
}
