//! The embedding job with the real local model: only new or changed items are
//! embedded, vectors of deleted items go.

use serde_json::json;
use sommelier_embed::{Embedder, LocalBert, LocalOptions, dot};
use sommelier_engine::{Config, Engine, RecordKind};
use std::path::PathBuf;

/// The local model and an engine on a fresh folder, when the model is there.
fn setup() -> Option<(PathBuf, LocalBert, tempfile::TempDir, Engine)> {
    let Some(dir) = std::env::var_os("SOMMELIER_TEST_MODEL_DIR").map(PathBuf::from) else {
        eprintln!("SOMMELIER_TEST_MODEL_DIR is not set: skipping (scripts/test sets it)");
        return None;
    };
    let model = LocalBert::load(&dir, LocalOptions::default()).unwrap();
    let data = tempfile::tempdir().unwrap();
    let engine = Engine::open(Config {
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    })
    .unwrap();
    Some((dir, model, data, engine))
}

#[test]
fn only_new_or_changed_items_are_embedded() {
    let Some((_dir, model, _data, engine)) = setup() else {
        return;
    };
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
        .scan_vectors(model.model_id(), &mut |id, _hash, v| {
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

#[test]
fn an_item_added_through_the_api_is_embedded_and_served_at_once() {
    let Some((dir, model, _data, engine)) = setup() else {
        return;
    };
    engine
        .set_query_embedder(std::sync::Arc::new(
            LocalBert::load(&dir, LocalOptions::default()).unwrap(),
        ))
        .unwrap();
    let items = vec![
        json!({"id": "shoe", "title": "Trail running shoe", "categories": ["Shoes"], "description": "Grippy and waterproof."}),
        json!({"id": "jacket", "title": "Rain jacket", "categories": ["Outerwear"]}),
    ];
    engine
        .ingest_batch(RecordKind::Items, items, false)
        .unwrap();
    // Served from the first snapshot.
    let filter = sommelier_engine::Filter::default();
    let hits = engine
        .search_text("waterproof running shoes", 5, &filter)
        .unwrap();
    assert_eq!(hits[0].id, "shoe");

    // A new item through the API: embedded on ingest, in the snapshot when
    // the call returns — no `sommelier embed`, no wait.
    engine
        .ingest_batch(
            RecordKind::Items,
            vec![json!({"id": "boot", "title": "Waterproof hiking boot", "categories": ["Shoes"]})],
            false,
        )
        .unwrap();
    // Search and similar items are logged as served lists too.
    engine.start_exposure_log();
    let filters = sommelier_engine::Filters {
        include_unavailable: true,
        ..Default::default()
    };
    let (search_id, hits) = engine
        .search_logged("waterproof hiking boots", 5, &filters)
        .unwrap();
    assert_eq!(hits[0].id, "boot", "{hits:?}");
    let similar = engine
        .similar_view(&sommelier_types::ItemId::new("boot").unwrap(), 2, &filters)
        .unwrap()
        .expect("the new item has a vector");
    assert_eq!(similar.items[0].id, "shoe");
    assert!(engine.flush_exposures(std::time::Duration::from_secs(5)));
    for (id, surface, asked, first) in [
        (
            &search_id,
            "search",
            ("query", "waterproof hiking boots"),
            "boot",
        ),
        (&similar.request_id, "similar", ("item", "boot"), "shoe"),
    ] {
        let row = engine.store().exposure(id).unwrap().expect("logged");
        assert_eq!(row.surface, surface);
        let body: serde_json::Value = serde_json::from_str(&row.body).unwrap();
        assert_eq!(body[asked.0], asked.1, "{surface}");
        assert_eq!(body["items"][0]["item"], first, "{surface}");
        assert_eq!(body["items"][0]["position"], 1, "{surface}");
        assert_eq!(body["items"][0]["sources"], json!([surface]));
    }
    // Its stored vector is the model's vector of its text.
    let mut stored = None;
    engine
        .store()
        .scan_vectors(model.model_id(), &mut |id, _hash, v| {
            if id == "boot" {
                stored = Some(v.to_vec());
            }
        })
        .unwrap();
    assert!(stored.is_some());
    // The embedding job then finds nothing to do.
    let r = engine.embed_items(&model, &mut |_, _| {}).unwrap();
    assert_eq!((r.embedded, r.unchanged), (0, 3));

    // Both answers replay to the same lists.
    for id in [&search_id, &similar.request_id] {
        let r = engine.replay(id).unwrap();
        assert!(r.reproduced && r.changed.is_empty(), "{r:?}");
        assert_eq!(r.compared, "list");
    }

    // A deleted item leaves the answers when the call returns.
    engine
        .delete_item(&sommelier_types::ItemId::new("boot").unwrap())
        .unwrap();
    let hits = engine
        .search_text("waterproof hiking boots", 5, &filter)
        .unwrap();
    assert!(hits.iter().all(|h| h.id != "boot"), "{hits:?}");
    // The search no longer reproduces, and the replay says the catalog moved.
    let r = engine.replay(&search_id).unwrap();
    assert!(
        !r.reproduced && !r.now.contains(&"boot".to_string()),
        "{r:?}"
    );
    assert!(
        r.changed
            .iter()
            .any(|c| c.starts_with("catalog: log position")),
        "{r:?}"
    );
    // The item asked about is gone: nothing is similar to it now.
    let r = engine.replay(&similar.request_id).unwrap();
    assert!(!r.reproduced && r.now.is_empty(), "{r:?}");
}

/// Items stored without vectors (a process killed after the write, a batch
/// too large to embed on ingest) are embedded by the backlog job: once at
/// start, then after each ingest that left some behind.
#[test]
fn the_backlog_job_embeds_items_left_without_vectors() {
    let Some((_dir, model, _data, engine)) = setup() else {
        return;
    };
    // Written straight to the store, as a killed server leaves them.
    engine
        .store()
        .write(|w| {
            for i in 0..5 {
                let item: sommelier_types::Item = serde_json::from_value(json!({
                    "id": format!("k{i}"), "kind": "item", "title": format!("Kettle number {i}"),
                    "description": null, "categories": [], "tags": [], "attributes": {},
                    "price": null, "availability": {"available": true, "inventory": null},
                    "release_date": null, "created_at": 0, "updated_at": 0
                }))
                .unwrap();
                w.upsert_item(&item)?;
            }
            Ok::<_, sommelier_store::StoreError>(())
        })
        .unwrap();
    assert!(engine.embed_backlog_view().pending, "pending at start");
    // Without an embedder nothing runs, and the job stays due.
    assert!(engine.embed_backlog().unwrap().is_none());
    engine
        .set_query_embedder(std::sync::Arc::new(model))
        .unwrap();
    let r = engine.embed_backlog().unwrap().expect("a run at start");
    assert_eq!((r.items, r.embedded), (5, 5));
    assert!(!engine.embed_backlog_view().pending);
    assert!(engine.embed_backlog().unwrap().is_none(), "nothing due");
    let d = engine.dashboard().unwrap();
    assert_eq!(d.embed_backlog.last.unwrap().embedded, 5);
    // A batch over the on-ingest limit is left to the job.
    let many: Vec<serde_json::Value> = (0..1001)
        .map(|i| json!({"id": format!("m{i}"), "title": format!("Mug {i}")}))
        .collect();
    engine.ingest_batch(RecordKind::Items, many, false).unwrap();
    assert!(engine.embed_backlog_view().pending);
    let r = engine.embed_backlog().unwrap().unwrap();
    assert_eq!(r.embedded, 1001);
}
