//! The embedding job with the real local model: only new or changed items are
//! embedded, vectors of deleted items go.

use serde_json::json;
use sommelier_embed::{Embedder, LocalBert, LocalOptions, dot};
use sommelier_engine::{Config, Engine, RecordKind};
use sommelier_store::VectorRead;
use std::path::PathBuf;

#[test]
fn only_new_or_changed_items_are_embedded() {
    let Some(dir) = std::env::var_os("SOMMELIER_TEST_MODEL_DIR").map(PathBuf::from) else {
        eprintln!("SOMMELIER_TEST_MODEL_DIR is not set: skipping (scripts/test sets it)");
        return;
    };
    let model = LocalBert::load(&dir, LocalOptions::default()).unwrap();
    let data = tempfile::tempdir().unwrap();
    let engine = Engine::open(Config {
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    })
    .unwrap();
    let items = vec![
        json!({"id": "shoe", "title": "Trail running shoe", "categories": ["Shoes"], "description": "Grippy and waterproof."}),
        json!({"id": "jacket", "title": "Rain jacket", "categories": ["Outerwear"]}),
        json!({"id": "film", "title": "A light-hearted comedy", "categories": ["Comedy"]}),
    ];
    engine
        .ingest_batch(RecordKind::Items, items, false)
        .unwrap();
    let mut calls = Vec::new();
    let r = engine
        .embed_items(&model, &mut |done, total| calls.push((done, total)))
        .unwrap();
    assert_eq!((r.items, r.embedded, r.unchanged, r.removed), (3, 3, 0, 0));
    assert_eq!(calls.last(), Some(&(3, 3)));

    // Nothing changed: nothing embedded.
    let r = engine.embed_items(&model, &mut |_, _| {}).unwrap();
    assert_eq!((r.embedded, r.unchanged), (0, 3));

    // One title changes, one item is deleted.
    engine
        .ingest_batch(RecordKind::Items, vec![json!({"id": "jacket", "title": "Insulated winter parka", "categories": ["Outerwear"]})], false)
        .unwrap();
    engine
        .delete_item(&sommelier_types::ItemId::new("film").unwrap())
        .unwrap();
    let r = engine.embed_items(&model, &mut |_, _| {}).unwrap();
    assert_eq!((r.items, r.embedded, r.unchanged, r.removed), (2, 1, 1, 1));

    // The stored vectors are the model's vectors of the items' texts.
    let mut stored = std::collections::HashMap::new();
    engine
        .store()
        .scan_vectors(model.model_id(), &mut |id, v| {
            stored.insert(id.to_string(), v.to_vec());
        })
        .unwrap();
    assert_eq!(stored.len(), 2);
    let query = model
        .embed(&["waterproof running shoes"])
        .unwrap()
        .remove(0);
    assert!(dot(&query, &stored["shoe"]) > dot(&query, &stored["jacket"]));
}
