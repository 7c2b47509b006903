//! The catalog snapshot saved between starts: loaded and brought up to date
//! with the items the catalog log names since the save, answering exactly as
//! a snapshot read from the store does; a damaged save is not used (and is
//! counted); catalog writes of another process reach a running engine.

use crate::support::{open, put_vectors};
use serde_json::json;
use sommelier_engine::{Engine, RankBy, RecommendRequest, RecordKind};
use sommelier_index::Filter;

const WORDS: [&str; 6] = ["zebra", "harbour", "lantern", "meadow", "comet", "violin"];

fn items(e: &Engine, ids: std::ops::Range<usize>, word: &str) {
    let batch = ids
        .clone()
        .map(|i| {
            json!({"id": format!("m{i}"), "kind": "movie",
                   "title": format!("{} story {i}", WORDS[i % WORDS.len()]),
                   "description": format!("a tale about a {word}"),
                   "categories": [if i % 2 == 0 { "Comedy" } else { "Drama" }],
                   "created_at": 1_700_000_000_i64 + i as i64})
        })
        .collect();
    let r = e.ingest_batch(RecordKind::Items, batch, false).unwrap();
    assert_eq!(r.accepted as usize, ids.len());
    put_vectors(
        e,
        ids.map(|i| {
            let id: &'static str = Box::leak(format!("m{i}").into_boxed_str());
            (
                id,
                vec![1.0 + i as f32, (i % 7) as f32, (i % 3) as f32, 0.5],
            )
        }),
    );
}

/// What requests see of the catalog: lexical and vector answers, the facets
/// and every item card. Lexical answers as sets (every match fits in `k`):
/// BM25 statistics count replaced documents until tantivy merges them, so
/// an index updated in place orders near ties unlike a fresh one.
fn answers(e: &Engine) -> Vec<String> {
    let mut out = Vec::new();
    for w in WORDS.iter().chain(&["accordion"]) {
        let r = e
            .recommend(&RecommendRequest {
                query: Some(w.to_string()),
                k: Some(20),
                sources: Some(vec![sommelier_recall::Source::Lexical]),
                rank_by: RankBy::Fusion,
                ..Default::default()
            })
            .unwrap();
        let mut ids: Vec<&String> = r.items.iter().map(|i| &i.item).collect();
        ids.sort();
        out.push(format!("{w}: {ids:?}"));
    }
    for q in [[1.0, 0.0, 0.0, 0.0], [0.2, 1.0, 0.5, 0.0]] {
        let hits = e.search_vector(&q, 5, &Filter::default()).unwrap();
        out.push(format!(
            "{q:?}: {:?}",
            hits.iter().map(|h| &h.id).collect::<Vec<_>>()
        ));
    }
    out.push(format!("{:?}", e.facets().unwrap()));
    let ids: Vec<String> = (0..70).map(|i| format!("m{i}")).collect();
    for card in e.item_cards(&ids).unwrap() {
        out.push(format!("{} {} {:?}", card.id, card.title, card.categories));
    }
    out
}

#[test]
fn a_restart_loads_the_saved_catalog_and_applies_what_changed_since() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    items(&e, 0..60, "ship");
    let before = answers(&e);
    assert_eq!(e.catalog_start().unwrap().source, "store");
    let saved = e.save_catalog(true).unwrap().expect("a first save");
    assert_eq!(saved.items, 60);
    assert!(e.save_catalog(true).unwrap().is_none(), "nothing changed");
    drop(e);

    // Without changes, the save answers as the store did.
    let e = open(dir.path());
    assert_eq!(answers(&e), before);
    let start = e.catalog_start().unwrap();
    assert_eq!(
        (start.source, start.changed_since_save),
        ("saved", 0),
        "{start:?}"
    );
    drop(e);

    // Written while the server was down: a changed title, a deleted item,
    // a new item with its vector, a replaced vector.
    let writer = open(dir.path());
    items(&writer, 60..61, "accordion");
    writer
        .ingest_batch(
            RecordKind::Items,
            vec![
                json!({"id": "m3", "kind": "movie", "title": "accordion night",
                        "categories": ["Drama"], "created_at": 1_700_000_003_i64}),
            ],
            false,
        )
        .unwrap();
    writer
        .delete_item(&sommelier_types::ItemId::new("m4").unwrap())
        .unwrap();
    put_vectors(&writer, [("m5", vec![0.0, 0.0, 9.0, 1.0])]);
    drop(writer);

    let e = open(dir.path());
    let loaded = answers(&e);
    let start = e.catalog_start().unwrap();
    assert_eq!(
        (start.source, start.changed_since_save),
        ("saved", 4),
        "{start:?}"
    );
    assert_ne!(loaded, before);
    assert!(
        loaded.iter().any(|l| l.starts_with("accordion: [")
            && l.contains("\"m3\"")
            && l.contains("\"m60\"")),
        "{loaded:?}"
    );
    // The same catalog read whole from the store answers the same.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("sommelier.db"),
        other.path().join("sommelier.db"),
    )
    .unwrap();
    let fresh = open(other.path());
    assert_eq!(loaded, answers(&fresh));
    assert_eq!(fresh.catalog_start().unwrap().source, "store");
    // The new save holds the changes; the log entries before it are pruned.
    let saved = e.save_catalog(true).unwrap().expect("moved past the save");
    assert_eq!(saved.items, 60);
    drop(e);

    // A damaged save is not used: read from the store, counted as damage.
    let path = dir.path().join("catalog/snapshot.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let e = open(dir.path());
    assert_eq!(answers(&e), loaded);
    let start = e.catalog_start().unwrap();
    assert_eq!(start.source, "store");
    assert!(start.reason.unwrap().contains("checksum"));
    assert_eq!(e.dashboard().unwrap().damage.get("saved_catalog"), Some(&1));
    let whole = e
        .save_catalog(true)
        .unwrap()
        .expect("the store read is saved");
    drop(e);

    // A save beside another database (the folder's database replaced) is
    // never taken for this one's, whatever its position.
    let replaced = tempfile::tempdir().unwrap();
    let other = open(replaced.path());
    items(&other, 0..3, "ship");
    drop(other);
    std::fs::create_dir_all(replaced.path().join("catalog")).unwrap();
    std::fs::copy(&path, replaced.path().join("catalog/snapshot.bin")).unwrap();
    let e = open(replaced.path());
    assert_eq!(e.item_cards(&["m10".into()]).unwrap().len(), 0);
    let start = e.catalog_start().unwrap();
    assert_eq!((start.source, start.items), ("store", 3), "{start:?}");
    assert!(start.reason.unwrap().contains("another database"));
    assert!(whole.items > 3);
}

#[test]
fn catalog_writes_of_another_process_reach_a_running_engine() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    items(&e, 0..40, "ship");
    assert!(e.item_cards(&["m40".into()]).unwrap().is_empty());
    // Another process (an import beside the server) writes to the store.
    let other = open(dir.path());
    items(&other, 40..42, "comet");
    e.follow_catalog().unwrap();
    let cards = e.item_cards(&["m40".into(), "m41".into()]).unwrap();
    assert_eq!(cards.len(), 2, "{cards:?}");
    let hits = e
        .search_vector(&[41.0, 6.0, 2.0, 0.5], 1, &Filter::default())
        .unwrap();
    assert_eq!(hits[0].id, "m41");
}
