//! Similar items from stored vectors: nearest first, the item itself, deleted
//! items and filtered-out items never returned.

use serde_json::json;
use sommelier_engine::{Config, Engine, Filter, RecordKind};
use sommelier_types::ItemId;

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

#[test]
fn nearest_items_come_first_and_filters_apply() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    })
    .unwrap();
    let items = vec![
        json!({"id": "a", "title": "Alpha", "kind": "movie", "categories": ["Comedy"]}),
        json!({"id": "b", "title": "Beta", "kind": "movie", "categories": ["Comedy"]}),
        json!({"id": "c", "title": "Gamma", "kind": "movie", "categories": ["Horror"]}),
        json!({"id": "d", "title": "Delta", "kind": "movie", "categories": ["Comedy"], "available": false}),
        json!({"id": "e", "title": "Epsilon", "kind": "movie", "categories": ["Comedy"]}),
    ];
    engine
        .ingest_batch(RecordKind::Items, items, false)
        .unwrap();
    let model = &engine.config().vectors.model;
    engine
        .store()
        .write(|w| {
            w.put_vector("a", model, "h", &unit(&[1.0, 0.0, 0.0]))?;
            w.put_vector("b", model, "h", &unit(&[0.9, 0.1, 0.0]))?;
            w.put_vector("c", model, "h", &unit(&[0.95, 0.05, 0.0]))?;
            w.put_vector("d", model, "h", &unit(&[1.0, 0.01, 0.0]))?;
            w.put_vector("e", model, "h", &unit(&[0.0, 1.0, 0.0]))
        })
        .unwrap();
    let a = ItemId::new("a").unwrap();
    let available = Filter {
        available_only: true,
        ..Filter::default()
    };
    let ids = |hits: Vec<sommelier_index::Hit>| hits.into_iter().map(|h| h.id).collect::<Vec<_>>();

    let (all, alpha) = engine
        .similar_items(&a, 10, &Filter::default())
        .unwrap()
        .unwrap();
    assert_eq!(alpha, 0.0, "no fit yet: content alone");
    assert_eq!(
        ids(all),
        ["d", "c", "b", "e"],
        "nearest first, never the item itself"
    );
    assert_eq!(
        ids(engine.similar_items(&a, 2, &available).unwrap().unwrap().0),
        ["c", "b"]
    );
    let comedy = Filter {
        categories: vec!["Comedy".into()],
        ..available.clone()
    };
    assert_eq!(
        ids(engine.similar_items(&a, 10, &comedy).unwrap().unwrap().0),
        ["b", "e"]
    );

    // Deleting an item takes it out of the answers.
    engine.delete_item(&ItemId::new("c").unwrap()).unwrap();
    assert_eq!(
        ids(engine.similar_items(&a, 2, &available).unwrap().unwrap().0),
        ["b", "e"]
    );
    assert!(
        engine
            .similar_items(&ItemId::new("nope").unwrap(), 3, &available)
            .unwrap()
            .is_none()
    );

    let view = engine
        .similar_view(&a, 1, &sommelier_engine::Filters::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        (view.items[0].id.as_str(), view.items[0].title.as_str()),
        ("b", "Beta")
    );
}
