//! The first recommendation pipeline: sources, fusion, hard filters.

use serde_json::json;
use sommelier_engine::{Config, Engine, Filters, RecommendRequest, RecordKind};

fn engine(dir: &tempfile::TempDir) -> Engine {
    let e = crate::support::open(dir.path());
    let items = vec![
        json!({"id": "a", "title": "A", "categories": ["Comedy"]}),
        json!({"id": "b", "title": "B", "categories": ["Horror"]}),
        json!({"id": "c", "title": "C", "categories": ["Comedy"]}),
        json!({"id": "d", "title": "D", "categories": ["Horror"]}),
        json!({"id": "e", "title": "E", "categories": ["Drama"]}),
        json!({"id": "f", "title": "F", "categories": ["Comedy"], "available": false}),
    ];
    e.ingest_batch(RecordKind::Items, items, false).unwrap();
    crate::support::put_vectors(
        &e,
        [
            ("a", vec![1.0, 0.0, 0.0]),
            ("b", vec![0.0, 1.0, 0.0]),
            ("c", vec![0.9, 0.1, 0.0]),
            ("d", vec![0.1, 0.9, 0.0]),
            ("e", vec![0.0, 0.0, 1.0]),
            ("f", vec![0.95, 0.0, 0.05]),
        ],
    );
    let events = vec![
        json!({"user": "u1", "item": "a", "kind": "rating", "value": 5, "timestamp": 100}),
        json!({"user": "u1", "item": "b", "kind": "dislike", "timestamp": 101}),
        json!({"user": "u2", "item": "e", "kind": "purchase", "timestamp": 102}),
        json!({"user": "u3", "item": "e", "kind": "click", "timestamp": 103}),
        json!({"user": "u3", "item": "d", "kind": "click", "timestamp": 104}),
    ];
    e.ingest_batch(RecordKind::Events, events, false).unwrap();
    e
}

fn ids(r: &sommelier_engine::RecommendResponse) -> Vec<&str> {
    r.items.iter().map(|i| i.item.as_str()).collect()
}

#[test]
fn a_known_user_gets_items_like_what_they_liked_never_what_they_had() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let req = RecommendRequest {
        user_id: Some("u1".into()),
        k: Some(3),
        ..RecommendRequest::default()
    };
    let r = e.recommend(&req).unwrap();
    let got = ids(&r);
    assert_eq!(got[0], "c", "closest to the liked item: {got:?}");
    assert!(
        !got.contains(&"a") && !got.contains(&"b"),
        "consumed items are filtered: {got:?}"
    );
    assert!(
        !got.contains(&"f"),
        "unavailable items are filtered: {got:?}"
    );
    assert!(
        r.items[0]
            .provenance
            .iter()
            .any(|p| p.source.as_str() == "user_profile")
    );
    assert!(r.timings_ms.contains_key("total"));
    assert_eq!(r.ranker, "fusion");

    let with_seen = RecommendRequest {
        include_consumed: true,
        k: Some(6),
        ..req.clone()
    };
    assert!(ids(&e.recommend(&with_seen).unwrap()).contains(&"a"));

    let comedy = RecommendRequest {
        filters: Filters {
            categories: vec!["Comedy".into()],
            ..Filters::default()
        },
        k: Some(5),
        ..req
    };
    assert_eq!(
        ids(&e.recommend(&comedy).unwrap()),
        ["c"],
        "only available, unconsumed comedies"
    );
}

#[test]
fn a_cold_user_gets_popular_items() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir);
    let r = e
        .recommend(&RecommendRequest {
            user_id: Some("new".into()),
            k: Some(2),
            ..RecommendRequest::default()
        })
        .unwrap();
    assert_eq!(
        ids(&r)[0],
        "e",
        "the most engaged item first: {:?}",
        ids(&r)
    );
    let profile = r
        .sources
        .iter()
        .find(|s| s.source.as_str() == "user_profile")
        .unwrap();
    assert_eq!(profile.skipped.as_deref(), Some("no history"));
    let semantic = r
        .sources
        .iter()
        .find(|s| s.source.as_str() == "semantic")
        .unwrap();
    assert_eq!(semantic.skipped.as_deref(), Some("no query"));
}

#[test]
fn a_query_finds_items_by_their_words_without_an_embedding_model() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    })
    .unwrap();
    let items = vec![
        json!({"id": "s1", "title": "Trail Runner GTX", "categories": ["Shoes"], "description": "Waterproof trail running shoe for wet weather"}),
        json!({"id": "s2", "title": "Road Racer", "categories": ["Shoes"], "description": "Light road shoe"}),
        json!({"id": "j1", "title": "Rain Shell", "categories": ["Jackets"], "tags": ["waterproof"]}),
        json!({"id": "h1", "title": "Haunted House", "categories": ["Movies"]}),
    ];
    e.ingest_batch(RecordKind::Items, items, false).unwrap();
    let r = e
        .recommend(&RecommendRequest {
            query: Some("waterproof trail shoes for wet weather".into()),
            k: Some(3),
            ..RecommendRequest::default()
        })
        .unwrap();
    let lexical = r
        .sources
        .iter()
        .find(|s| s.source.as_str() == "lexical")
        .unwrap();
    assert!(
        lexical.skipped.is_none() && lexical.candidates >= 2,
        "{lexical:?}"
    );
    let semantic = r
        .sources
        .iter()
        .find(|s| s.source.as_str() == "semantic")
        .unwrap();
    assert_eq!(
        semantic.skipped.as_deref(),
        Some("no query embedder loaded")
    );
    assert_eq!(ids(&r)[0], "s1", "{:?}", ids(&r));
    assert!(!ids(&r).contains(&"h1"));
    assert_eq!(r.items[0].provenance[0].source.as_str(), "lexical");
}
