//! Searching the vectors inside PostgreSQL (pgvector's HNSW): the answers
//! against an exact scan, every filter in SQL, deleted items, the index
//! built once by replicas starting together and built again after a crash
//! left it unfinished, and the filter columns of items written before they
//! existed.

use crate::postgres::Postgres;
use sommelier_store::{PostgresStore, Store, StoreError, VectorSearch};
use sommelier_types::api::Filters;
use sommelier_types::{Availability, Item, ItemId, ItemKind, Price, Timestamp};
use std::sync::Arc;

const MODEL: &str = "test-model's";
const DIM: usize = 16;

/// Item `i`: kind, categories, price, year and availability vary with `i`,
/// so every filter splits the catalog.
fn item(i: usize) -> Item {
    Item {
        id: ItemId::new(format!("i{i:04}")).unwrap(),
        kind: ItemKind::new(if i.is_multiple_of(4) { "book" } else { "movie" }).unwrap(),
        title: format!("Item {i}"),
        description: None,
        categories: vec![format!("c{}", i % 5), format!("d{}", i % 3)],
        tags: vec![],
        attributes: Default::default(),
        price: (!i.is_multiple_of(7)).then(|| Price {
            amount: (i % 50) as f64,
            currency: "EUR".into(),
        }),
        availability: Availability {
            available: !i.is_multiple_of(10),
            ..Availability::default()
        },
        release_date: (!i.is_multiple_of(9))
            .then(|| chrono::NaiveDate::from_ymd_opt(1960 + (i % 60) as i32, 1, 1).unwrap()),
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    }
}

/// A unit vector from a counter (a fixed generator: the same on every run).
fn vector(seed: usize) -> Vec<f32> {
    let mut z = (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) + 1;
    let mut v: Vec<f32> = (0..DIM)
        .map(|_| {
            z = sommelier_types::mix64(z);
            (z >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    sommelier_types::normalize(&mut v);
    v
}

/// A store with `n` items and their vectors.
fn catalog(url: &str, n: usize) -> Arc<dyn Store> {
    let store = PostgresStore::open(url).unwrap().into_dyn();
    store
        .write(|w| {
            for i in 0..n {
                let it = item(i);
                w.upsert_item(&it)?;
                w.put_vector(it.id.as_str(), MODEL, "h", &vector(i))?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    store
}

/// Whether item `i` passes `f` (the rules the in-process index applies).
fn passes(i: usize, f: &Filters) -> bool {
    let it = item(i);
    let (price, year) = (it.price_amount(), it.year());
    (f.kinds.is_empty() || f.kinds.iter().any(|k| k == it.kind.as_str()))
        && (f.categories.is_empty() || it.categories.iter().any(|c| f.categories.contains(c)))
        && !it
            .categories
            .iter()
            .any(|c| f.exclude_categories.contains(c))
        && (f.include_unavailable || it.is_available())
        && f.price_min.is_none_or(|lo| price.is_some_and(|p| p >= lo))
        && f.price_max.is_none_or(|hi| price.is_some_and(|p| p <= hi))
        && f.year_min.is_none_or(|lo| year.is_some_and(|y| y >= lo))
        && f.year_max.is_none_or(|hi| year.is_some_and(|y| y <= hi))
}

/// The exact `k` nearest of the first `n` items passing `f`.
fn exact(query: &[f32], n: usize, k: usize, f: &Filters) -> Vec<String> {
    let mut all: Vec<(f32, String)> = (0..n)
        .filter(|&i| passes(i, f))
        .map(|i| {
            (
                sommelier_types::dot(query, &vector(i)),
                item(i).id.to_string(),
            )
        })
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|(_, id)| id).collect()
}

/// With the index built, searches with every kind of filter return only
/// items that pass, closest first, and find the exact answer's items (the
/// catalog is small enough that the graph search is exact here); a deleted
/// item is never returned.
#[test]
fn searches_in_postgres_agree_with_an_exact_scan_under_every_filter() {
    let Some(pg) = Postgres::from_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database(dir.path());
    let n = 600;
    let store = catalog(&url, n);
    let search = store.vector_search().expect("PostgreSQL searches vectors");
    assert_eq!(search.vector_dim(MODEL).unwrap(), Some(DIM));
    assert_eq!(search.vector_dim("other").unwrap(), None);
    assert!(search.ensure_vector_index(MODEL, DIM).unwrap(), "built now");
    assert!(
        !search.ensure_vector_index(MODEL, DIM).unwrap(),
        "already there"
    );
    let filters = [
        Filters::default(),
        Filters {
            kinds: vec!["book".into()],
            ..Filters::default()
        },
        Filters {
            categories: vec!["c1".into(), "c2".into()],
            exclude_categories: vec!["d0".into()],
            ..Filters::default()
        },
        Filters {
            price_min: Some(10.0),
            price_max: Some(20.0),
            ..Filters::default()
        },
        Filters {
            year_min: Some(1990),
            year_max: Some(2000),
            include_unavailable: true,
            ..Filters::default()
        },
    ];
    for (q, f) in filters.iter().enumerate() {
        let query = vector(10_000 + q);
        let hits = search.search_vectors(MODEL, &query, 10, f, 200).unwrap();
        let want = exact(&query, n, 10, f);
        let got: Vec<String> = hits.iter().map(|h| h.0.clone()).collect();
        assert_eq!(got, want, "filter {f:?}");
        for w in hits.windows(2) {
            assert!(w[0].1 >= w[1].1, "closest first");
        }
        let expected = sommelier_types::dot(&query, &vector(got[0][1..].parse().unwrap()));
        assert!((hits[0].1 - expected).abs() < 1e-4, "scores are cosines");
    }
    // Deleting the nearest item takes it out of the answers.
    let query = vector(10_000);
    let first = exact(&query, n, 1, &Filters::default()).remove(0);
    store
        .write(|w| w.delete_item(&ItemId::new(&first).unwrap(), Timestamp(2)))
        .unwrap();
    let hits = search
        .search_vectors(MODEL, &query, 10, &Filters::default(), 200)
        .unwrap();
    assert!(hits.iter().all(|h| h.0 != first), "a deleted item is gone");
    assert_eq!(hits.len(), 10);
    // Vectors are read back by id, several in one call.
    let got = search
        .vectors_of(MODEL, &["i0001", "i0002", "nope"])
        .unwrap();
    assert_eq!(got.len(), 2);
    for (id, v) in got {
        assert_eq!(v, vector(id[1..].parse().unwrap()));
    }
}

/// The search uses the HNSW index (not a scan of every vector), and a
/// filter that leaves few items still fills the answer: the index is
/// scanned further while the filters leave fewer than `k`.
#[test]
fn the_search_uses_the_index_and_a_narrow_filter_still_fills_the_answer() {
    let Some(pg) = Postgres::from_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database(dir.path());
    let n = 3_000;
    let store = catalog(&url, n);
    let search = store.vector_search().unwrap();
    search.ensure_vector_index(MODEL, DIM).unwrap();
    let name = Postgres::name(dir.path());
    let scans = || {
        pg.admin_on(
            &name,
            "SELECT coalesce(sum(idx_scan), 0)::text FROM pg_stat_user_indexes
             WHERE indexrelname LIKE 'item_vectors_hnsw_%'",
        )
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0)
    };
    let before = scans();
    search
        .search_vectors(MODEL, &vector(1), 10, &Filters::default(), 40)
        .unwrap();
    // Backends report their statistics within a second or so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while scans() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the search did not use the HNSW index"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // About 1 in 60 items passes both (c3 and d1 and a book), ~50 items.
    let narrow = Filters {
        kinds: vec!["book".into()],
        categories: vec!["c3".into()],
        exclude_categories: vec!["d0".into(), "d2".into()],
        ..Filters::default()
    };
    let query = vector(20_000);
    let hits = search
        .search_vectors(MODEL, &query, 10, &narrow, 40)
        .unwrap();
    assert_eq!(hits.len(), 10, "iterative scans fill a narrow filter");
    let want = exact(&query, n, 10, &narrow);
    let found = hits.iter().filter(|h| want.contains(&h.0)).count();
    assert!(found >= 8, "recall@10 {found}/10 under a narrow filter");
    for h in &hits {
        assert!(passes(h.0[1..].parse().unwrap(), &narrow), "{}", h.0);
    }
}

/// Replicas starting together build the index once; an index a crash left
/// unfinished (invalid) is built again.
#[test]
fn replicas_build_the_index_once_and_an_unfinished_one_again() {
    let Some(pg) = Postgres::from_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database(dir.path());
    drop(catalog(&url, 300));
    let built: Vec<bool> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let store = PostgresStore::open(&url).unwrap();
                store.ensure_vector_index(MODEL, DIM).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(built.iter().filter(|b| **b).count(), 1, "{built:?}");
    let name = Postgres::name(dir.path());
    // What an interrupted CREATE INDEX CONCURRENTLY leaves.
    pg.admin_on(
        &name,
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid IN
           (SELECT oid FROM pg_class WHERE relname LIKE 'item_vectors_hnsw_%')",
    );
    let store = PostgresStore::open(&url).unwrap();
    assert!(store.ensure_vector_index(MODEL, DIM).unwrap(), "rebuilt");
    let valid = pg.admin_on(
        &name,
        "SELECT bool_and(indisvalid)::text FROM pg_index WHERE indexrelid IN
           (SELECT oid FROM pg_class WHERE relname LIKE 'item_vectors_hnsw_%')",
    );
    assert_eq!(valid.as_deref(), Some("true"));
    let hits = store
        .search_vectors(MODEL, &vector(1), 5, &Filters::default(), 40)
        .unwrap();
    assert_eq!(hits[0].0, "i0001");
}

/// Items written before the filter columns existed get them from their
/// bodies when the store opens, without a change in the catalog log.
#[test]
fn items_written_before_the_filter_columns_get_them_at_open() {
    let Some(pg) = Postgres::from_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database(dir.path());
    let store = catalog(&url, 200);
    let position = store.catalog_position().unwrap();
    drop(store);
    let name = Postgres::name(dir.path());
    pg.admin_on(
        &name,
        "UPDATE items SET categories = '{}', price = NULL, year = NULL, filters_ok = false",
    );
    let store = PostgresStore::open(&url).unwrap().into_dyn();
    assert_eq!(
        store.catalog_position().unwrap(),
        position,
        "no catalog change"
    );
    let f = Filters {
        categories: vec!["c2".into()],
        price_min: Some(5.0),
        year_max: Some(1990),
        ..Filters::default()
    };
    let query = vector(7);
    let hits = store
        .vector_search()
        .unwrap()
        .search_vectors(MODEL, &query, 10, &f, 200)
        .unwrap();
    let got: Vec<String> = hits.into_iter().map(|h| h.0).collect();
    assert_eq!(got, exact(&query, 200, 10, &f));
}
