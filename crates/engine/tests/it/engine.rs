//! The engine's write path: features follow the durable log, also across processes.

use serde_json::json;
use sommelier_engine::{FileImport, RecordKind};

#[test]
fn features_follow_events_written_by_another_engine_on_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::support::open(dir.path());
    server.warm_up().unwrap();
    server
        .ingest_batch(
            RecordKind::Items,
            vec![json!({"id": "m1", "title": "One", "categories": ["Comedy"]})],
            false,
        )
        .unwrap();

    // A second writer, as `sommelier ingest` running beside the server would be.
    let cli = crate::support::open(dir.path());
    let file = dir.path().join("events.csv");
    std::fs::write(
        &file,
        "user,item,kind,value,timestamp\nu1,m1,rating,5,1700000000\nu1,m1,click,,1700000100\n",
    )
    .unwrap();
    let out = cli
        .import_file(RecordKind::Events, &file, &FileImport::default())
        .unwrap();
    assert_eq!(out.report.accepted, 2);

    assert!(
        server.user_features("u1").unwrap().is_none(),
        "not followed yet"
    );
    assert_eq!(server.catch_up().unwrap(), 2);
    let u = server.user_features("u1").unwrap().unwrap();
    assert_eq!(u.events, 2);
    assert_eq!(u.category_affinity[0].item, "Comedy");
    assert_eq!(
        server.item_features("m1").unwrap().unwrap().counts["click"],
        1
    );
    assert_eq!(server.catch_up().unwrap(), 0);
}

#[test]
fn features_built_late_include_everything_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let e = crate::support::open(dir.path());
    let batch = (0..10).map(|i| json!({"user": "u", "item": format!("i{}", i % 3), "kind": "view", "timestamp": 1_700_000_000 + i})).collect();
    let report = e.ingest_batch(RecordKind::Events, batch, false).unwrap();
    assert_eq!(report.accepted, 10);
    // Nothing was built while writing; the first read builds from the log.
    let top = e.popular(3).unwrap();
    assert_eq!(top.len(), 3);
    assert_eq!(top[0].item, "i0");
    assert_eq!(e.user_features("u").unwrap().unwrap().events, 10);
}
