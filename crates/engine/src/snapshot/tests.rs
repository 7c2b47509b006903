//! The snapshot: previous snapshots answer during rebuilds, small changes are
//! patched in, the graph is saved and loaded.

use crate::{Config, Engine, RecordKind};
use serde_json::json;
use std::sync::Arc;

#[test]
fn readers_answer_from_the_previous_snapshot_while_one_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    })
    .unwrap();
    engine
        .ingest_batch(
            RecordKind::Items,
            vec![json!({"id": "a", "title": "A"})],
            false,
        )
        .unwrap();
    let first = engine.snapshot().unwrap();
    assert!(
        Arc::ptr_eq(&first, &engine.snapshot().unwrap()),
        "fresh: reused"
    );

    // A catalog change while a rebuild is under way elsewhere: this reader
    // does not wait, it gets the previous snapshot.
    let rebuilding = engine.snapshots.building.lock();
    engine.snapshots.invalidate();
    let during = engine.snapshot().unwrap();
    assert!(Arc::ptr_eq(&first, &during));
    drop(rebuilding);

    // A write refreshes the snapshot before it returns: the writer reads
    // its own item.
    engine
        .ingest_batch(
            RecordKind::Items,
            vec![json!({"id": "b", "title": "B"})],
            false,
        )
        .unwrap();
    let after = engine.snapshot().unwrap();
    assert!(!Arc::ptr_eq(&first, &after));
    assert!(after.items.contains_key("b") && after.items.contains_key("a"));
}

/// Waits for the background save of the graph (its hashes file is written last).
fn saved(dir: &std::path::Path) -> std::time::SystemTime {
    let hashes = dir.join("index/all-MiniLM-L6-v2/hashes.bin");
    for _ in 0..200 {
        if let Ok(m) = std::fs::metadata(&hashes) {
            return m.modified().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the graph was not saved");
}

/// A configuration on `dir` whose catalogs of `exact_below` items or more
/// get an HNSW graph.
fn config_in(dir: &std::path::Path, exact_below: usize) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.vectors.exact_below = exact_below;
    config
}

#[test]
fn the_graph_is_saved_and_the_next_start_loads_it_with_the_changes_applied() {
    use sommelier_index::Filter;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), 10);
    let engine = Engine::open(config.clone()).unwrap();
    put(&engine, &(0..60).collect::<Vec<_>>());
    assert_eq!(engine.snapshot().unwrap().backend, "hnsw");
    let first_save = saved(dir.path());
    drop(engine);

    // While the server is down: a new item, a deletion, an item made
    // unavailable (its filter fields change, its vector does not).
    let engine = Engine::open(config.clone()).unwrap();
    put(&engine, &[60]);
    assert!(
        engine
            .delete_item(&sommelier_types::ItemId::new("i5").unwrap())
            .unwrap()
    );
    engine
        .ingest_batch(
            RecordKind::Items,
            vec![json!({"id": "i7", "title": "Item number7", "available": false})],
            false,
        )
        .unwrap();
    drop(engine);

    let engine = Engine::open(config.clone()).unwrap();
    let b = engine.snapshot().unwrap();
    assert_eq!(b.indexed(), 60);
    let open = Filter::default();
    let available = Filter {
        available_only: true,
        ..Filter::default()
    };
    assert_eq!(
        engine.search_vector(&unit(60), 1, &open).unwrap()[0].id,
        "i60"
    );
    let all = engine.search_vector(&unit(5), 60, &open).unwrap();
    assert!(all.iter().all(|h| h.id != "i5"), "deleted");
    assert!(all.iter().any(|h| h.id == "i7"));
    let avail = engine.search_vector(&unit(7), 60, &available).unwrap();
    assert!(avail.iter().all(|h| h.id != "i7"), "unavailable now");
    // Loaded, not rebuilt: a rebuild would have saved again.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(saved(dir.path()), first_save);
    drop(engine);

    // A change of more than a tenth of the catalog: built again and saved.
    let engine = Engine::open(config.clone()).unwrap();
    let model = engine.config().vectors.model.clone();
    engine
        .store()
        .write(|w| {
            for i in 10..30 {
                w.put_vector(&format!("i{i}"), &model, "h2", &unit(i + 1))?;
            }
            Ok::<_, sommelier_store::StoreError>(())
        })
        .unwrap();
    drop(engine);
    let engine = Engine::open(config).unwrap();
    assert_eq!(engine.snapshot().unwrap().indexed(), 60);
    let mut second = saved(dir.path());
    for _ in 0..100 {
        if second != first_save {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        second = saved(dir.path());
    }
    assert_ne!(second, first_save, "rebuilt and saved again");
}

fn unit(i: usize) -> Vec<f32> {
    let mut v = [0.05f32; 8];
    v[i % 8] = 1.0;
    v[(i / 8) % 8] += 0.5;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

/// Writes items with vectors through the public write path.
fn put(engine: &Engine, ids: &[usize]) {
    let model = engine.config().vectors.model.clone();
    engine
        .store()
        .write(|w| {
            for &i in ids {
                w.put_vector(&format!("i{i}"), &model, "h", &unit(i))?;
            }
            Ok::<_, sommelier_store::StoreError>(())
        })
        .unwrap();
    let items = ids
        .iter()
        .map(|i| json!({"id": format!("i{i}"), "title": format!("Item number{i}")}))
        .collect();
    engine
        .ingest_batch(RecordKind::Items, items, false)
        .unwrap();
}

#[test]
fn a_small_change_is_applied_in_place_and_a_large_one_rebuilds() {
    // Exact search and the HNSW graph alike.
    for exact_below in [5_000, 10] {
        small_and_large_changes(exact_below);
    }
}

fn small_and_large_changes(exact_below: usize) {
    use sommelier_index::Filter;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config_in(dir.path(), exact_below)).unwrap();
    put(&engine, &(0..40).collect::<Vec<_>>());
    let first = engine.snapshot().unwrap();
    assert_eq!(first.indexed(), 40);
    assert_eq!(
        first.backend,
        if exact_below > 40 { "exact" } else { "hnsw" }
    );

    // One new item: the same index object, updated; the new item is found
    // by vector and by its words, and the old snapshot is left as it was.
    put(&engine, &[40]);
    let patched = engine.snapshot().unwrap();
    assert!(!Arc::ptr_eq(&first, &patched));
    assert!(
        Arc::ptr_eq(&first.index, &patched.index),
        "patched in place"
    );
    assert_eq!(patched.indexed(), 41);
    let hits = engine
        .search_vector(&unit(40), 1, &Filter::default())
        .unwrap();
    assert_eq!(hits[0].id, "i40");
    let lexical = patched.lexical.as_ref().unwrap();
    assert_eq!(lexical.search("number40", 5).unwrap()[0].0, "i40");
    assert!(patched.items.contains_key("i40") && !first.items.contains_key("i40"));
    assert!(patched.newest.iter().any(|(id, _)| id == "i40"));

    // A deletion leaves every part of the snapshot.
    let id = sommelier_types::ItemId::new("i3").unwrap();
    assert!(engine.delete_item(&id).unwrap());
    let after = engine.snapshot().unwrap();
    assert!(Arc::ptr_eq(&first.index, &after.index));
    assert_eq!(after.indexed(), 40);
    assert!(!after.items.contains_key("i3") && !after.hashes.contains_key("i3"));
    assert!(after.vector("i3").is_none());
    assert!(
        after
            .lexical
            .as_ref()
            .unwrap()
            .search("number3", 5)
            .unwrap()
            .is_empty()
    );
    let near = engine
        .search_vector(&unit(3), 40, &Filter::default())
        .unwrap();
    assert!(near.iter().all(|h| h.id != "i3"));

    // A change of more than a tenth of the catalog rebuilds everything.
    put(&engine, &(100..110).collect::<Vec<_>>());
    let rebuilt = engine.snapshot().unwrap();
    assert!(!Arc::ptr_eq(&first.index, &rebuilt.index), "rebuilt");
    assert_eq!(rebuilt.indexed(), 50);
}

/// Writes `vectors` as items `v0`, `v1`, … through the public write path.
fn put_vectors(engine: &Engine, vectors: &[Vec<f32>]) {
    let model = engine.config().vectors.model.clone();
    engine
        .store()
        .write(|w| {
            for (i, v) in vectors.iter().enumerate() {
                w.put_vector(&format!("v{i}"), &model, "h", v)?;
            }
            Ok::<_, sommelier_store::StoreError>(())
        })
        .unwrap();
    let items = (0..vectors.len())
        .map(|i| json!({"id": format!("v{i}"), "title": format!("Item {i}")}))
        .collect();
    engine
        .ingest_batch(RecordKind::Items, items, false)
        .unwrap();
}

/// Unit vectors around `centres` random centres, `noise` apart (xorshift).
fn clustered(n: usize, dim: usize, centres: usize, noise: f32) -> Vec<Vec<f32>> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut unit = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..centres)
        .map(|_| (0..dim).map(|_| unit()).collect())
        .collect();
    (0..n)
        .map(|i| {
            let v: Vec<f32> = centres[i % centres.len()]
                .iter()
                .map(|c| c + noise * unit())
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// `vectors.quantization = auto`: the graph stays `i8` where its recall
/// check passes, and is built in `f16` where the vectors are packed closer
/// than the `i8` step; the dashboard says which, and the next start loads
/// the saved graph with the storage it was built with.
#[test]
fn auto_storage_keeps_i8_only_where_it_finds_the_neighbours() {
    for (noise, want) in [(0.6, "i8"), (0.08, "f16")] {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path(), 10);
        let engine = Engine::open(config.clone()).unwrap();
        put_vectors(&engine, &clustered(2_000, 64, 5, noise));
        engine.snapshot().unwrap();
        let index = engine.dashboard().unwrap().index.unwrap();
        assert_eq!(
            (index.backend, index.storage),
            ("hnsw", Some(want)),
            "noise {noise}"
        );
        saved(dir.path());
        drop(engine);
        let engine = Engine::open(config).unwrap();
        engine.snapshot().unwrap();
        assert_eq!(
            engine.dashboard().unwrap().index.unwrap().storage,
            Some(want)
        );
    }
}

#[test]
fn a_graph_saved_in_the_older_layout_is_loaded_and_saved_again_and_a_damaged_one_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), 10);
    let engine = Engine::open(config.clone()).unwrap();
    put(&engine, &(0..60).collect::<Vec<_>>());
    assert_eq!(engine.snapshot().unwrap().backend, "hnsw");
    saved(dir.path());
    drop(engine);

    // The hashes as the older JSON file.
    let graph = dir.path().join("index/all-MiniLM-L6-v2");
    let bytes = std::fs::read(graph.join("hashes.bin")).unwrap();
    let mut r = sommelier_types::codec::Reader::open(&bytes, b"SOMMHASH", 1).unwrap();
    let mut json = std::collections::HashMap::new();
    for _ in 0..r.len(16).unwrap() {
        let id = r.str().unwrap().to_string();
        json.insert(id, r.str().unwrap().to_string());
    }
    assert_eq!(json.len(), 60);
    std::fs::write(
        graph.join("hashes.json"),
        serde_json::to_vec(&json).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(graph.join("hashes.bin")).unwrap();
    let engine = Engine::open(config.clone()).unwrap();
    let s = engine.snapshot().unwrap();
    assert_eq!((s.backend, s.indexed()), ("hnsw", 60));
    // Loaded (nothing counted as damage), then saved in the binary layout.
    saved(dir.path());
    assert!(!graph.join("hashes.json").exists());
    assert!(engine.metrics().damage().is_empty());
    drop(engine);

    // A damaged hashes file: counted, and the graph built and saved again.
    let path = graph.join("hashes.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let engine = Engine::open(config.clone()).unwrap();
    assert_eq!(engine.snapshot().unwrap().indexed(), 60);
    assert_eq!(engine.metrics().damage().get("saved_graph"), Some(&1));
    let saved_again = |before: &[u8]| {
        for _ in 0..200 {
            if std::fs::read(&path).is_ok_and(|now| now != before) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the graph was not saved again");
    };
    saved_again(&bytes);
    drop(engine);

    // A damaged graph file: found by its checksum, counted, built again
    // (and saved: the graph file written anew, the hashes file last).
    let file = graph.join("graph.usearch");
    let mut damaged = std::fs::read(&file).unwrap();
    let at = damaged.len() / 3;
    damaged[at] ^= 0x01;
    std::fs::write(&file, &damaged).unwrap();
    let engine = Engine::open(config).unwrap();
    assert_eq!(engine.snapshot().unwrap().indexed(), 60);
    assert_eq!(engine.metrics().damage().get("saved_graph"), Some(&1));
    for _ in 0..200 {
        if path.exists() && std::fs::read(&file).is_ok_and(|now| now != damaged) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the rebuilt graph was not saved");
}
