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

/// The time the graph's background save last finished (its hashes file is
/// written last), waiting for a first one.
fn graph_saved(path: &std::path::Path) -> std::time::SystemTime {
    for _ in 0..400 {
        if let Ok(m) = std::fs::metadata(path) {
            return m.modified().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("the graph was not saved at {}", path.display());
}

/// With an HNSW graph, a start reads the saved catalog and the saved graph
/// side by side (the graph is the one copy of the vectors: the catalog's
/// save holds none), brings both up to date with what changed while down
/// (the changed vectors read from the store), and answers as a store read
/// with a new graph does. Without the saved graph, the saved catalog's
/// items are kept and the vectors read from the store to build it.
#[test]
fn a_saved_catalog_and_its_saved_graph_load_side_by_side() {
    use sommelier_engine::GraphStorage;
    for (storage, name) in [(GraphStorage::I8, "i8"), (GraphStorage::F16, "f16")] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::support::config(dir.path());
        config.vectors.exact_below = 10;
        config.vectors.quantization = storage;
        let model = config.vectors.model.clone();
        let hashes = dir.path().join("index").join(&model).join("hashes.bin");
        let e = Engine::open(config.clone()).unwrap();
        items(&e, 0..60, "ship");
        e.warm_up_index().unwrap();
        let built = graph_saved(&hashes);
        e.save_catalog(true).unwrap().expect("a first save");
        drop(e);

        // While down: m5's vector replaced (with its content hash), m4 deleted.
        let w = Engine::open(config.clone()).unwrap();
        let norm = (81.0f32 + 1.0).sqrt();
        w.store()
            .write(|w| w.put_vector("m5", &model, "h-new", &[0.0, 0.0, 9.0 / norm, 1.0 / norm]))
            .unwrap();
        w.delete_item(&sommelier_types::ItemId::new("m4").unwrap())
            .unwrap();
        drop(w);

        let e = Engine::open(config.clone()).unwrap();
        let loaded = answers(&e);
        let vectors = |e: &Engine| {
            e.search_vector(&[0.0, 0.0, 9.0, 1.0], 1, &Filter::default())
                .unwrap()
        };
        let start = e.catalog_start().unwrap();
        assert_eq!(
            (start.source, start.changed_since_save),
            ("saved", 2),
            "{name}: {start:?}"
        );
        let index = e.dashboard().unwrap().index.unwrap();
        assert_eq!((index.backend, index.storage), ("hnsw", Some(name)));
        assert_eq!(index.vectors, 59);
        assert_eq!(vectors(&e)[0].id, "m5", "{name}");
        // Brought up to date in place, not built again (which saves again).
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(graph_saved(&hashes), built, "{name}");

        let other = tempfile::tempdir().unwrap();
        std::fs::copy(
            dir.path().join("sommelier.db"),
            other.path().join("sommelier.db"),
        )
        .unwrap();
        config.data_dir = other.path().to_path_buf();
        let fresh = Engine::open(config.clone()).unwrap();
        // Every answer but the vector queries' (two graphs, one brought up
        // to date and one built anew, order this data's near ties apart:
        // within f16's precision, scores of 0.9998 and 0.9999 are equal).
        let exact = |lines: Vec<String>| -> Vec<String> {
            lines.into_iter().filter(|l| !l.starts_with('[')).collect()
        };
        assert_eq!(exact(loaded.clone()), exact(answers(&fresh)), "{name}");
        let all = e
            .search_vector(&[1.0, 0.5, 0.5, 0.5], 60, &Filter::default())
            .unwrap();
        assert_eq!(all.len(), 59, "{name}");
        assert!(all.iter().all(|h| h.id != "m4"), "{name}: deleted");
        assert_eq!(fresh.catalog_start().unwrap().source, "store");
        drop(fresh);

        // The saved graph gone: the saved catalog still serves the items,
        // the vectors come from the store, and the graph is built again.
        e.save_catalog(true).unwrap().expect("moved past the save");
        drop(e);
        std::fs::remove_dir_all(dir.path().join("index")).unwrap();
        config.data_dir = dir.path().to_path_buf();
        let e = Engine::open(config).unwrap();
        assert_eq!(exact(answers(&e)), exact(loaded), "{name}");
        let start = e.catalog_start().unwrap();
        assert_eq!((start.source, start.changed_since_save), ("saved", 0));
        assert_eq!(e.dashboard().unwrap().index.unwrap().vectors, 59);
        assert_eq!(vectors(&e)[0].id, "m5", "{name}: built from the store");
        graph_saved(&hashes);
    }
}
