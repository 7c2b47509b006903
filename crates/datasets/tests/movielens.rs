//! The MovieLens importers against the real files.

use sommelier_datasets::{Dataset, import};
use sommelier_store::{CatalogRead, EventRead, SqliteStore, StatsRead, StoreOptions, UserRead};
use sommelier_types::{EventId, EventKind, ItemId, UserId};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ml-latest-small")
}

fn store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("db.sqlite"), StoreOptions::default()).unwrap()
}

#[test]
fn ml_latest_small_imports_with_the_published_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let mut seen_items = 0;
    let out = import(&store, Dataset::MovieLensSmall, &fixture(), &mut |ops| {
        seen_items += ops.len()
    })
    .unwrap();
    assert_eq!((out.items.accepted, out.items.rejected), (9_125, 0));
    assert_eq!((out.users.accepted, out.users.rejected), (671, 0));
    assert_eq!((out.events.accepted, out.events.rejected), (100_004, 0));
    assert_eq!(seen_items, 9_125);
    let s = store.stats().unwrap();
    assert_eq!(
        (s.items, s.users, s.events, s.event_users),
        (9_125, 671, 100_004, 671)
    );
    assert_eq!(s.events_by_kind["rating"], 100_004);

    let toy = store
        .item(&ItemId::new("1").unwrap())
        .unwrap()
        .unwrap()
        .item;
    assert_eq!(toy.title, "Toy Story");
    assert_eq!(toy.kind.as_str(), "movie");
    assert_eq!(toy.release_date.unwrap().to_string(), "1995-01-01");
    assert_eq!(
        toy.categories,
        ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    );
    assert_eq!(toy.attributes["imdb_id"], "tt0114709");
    assert_eq!(toy.attributes["tmdb_id"], "862");
    assert!(toy.tags.iter().any(|t| t == "Pixar"), "{:?}", toy.tags);
    let president = store
        .item(&ItemId::new("11").unwrap())
        .unwrap()
        .unwrap()
        .item;
    assert_eq!(president.title, "The American President");

    // First line of ratings.csv: 1,31,2.5,1260759144
    let e = store
        .event(&EventId::new("mls:1:31").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.kind, e.value, e.timestamp.secs()),
        (EventKind::Rating, Some(2.5), 1_260_759_144)
    );
    assert!(store.user(&UserId::new("671").unwrap()).unwrap().is_some());

    // A second import changes nothing.
    let again = import(&store, Dataset::MovieLensSmall, &fixture(), &mut |_| {}).unwrap();
    assert_eq!((again.items.accepted, again.items.duplicates), (0, 9_125));
    assert_eq!(
        (again.events.accepted, again.events.duplicates),
        (0, 100_004)
    );
    assert_eq!(store.stats().unwrap().events, 100_004);
}

/// ml-100k may not be committed, so this runs where it was fetched:
/// `scripts/test` fetches it and sets `SOMMELIER_TEST_ML100K`.
#[test]
fn ml_100k_imports_with_the_published_counts() {
    let Some(dir) = std::env::var_os("SOMMELIER_TEST_ML100K") else {
        eprintln!("SOMMELIER_TEST_ML100K is not set: skipping (scripts/test sets it)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = store(&tmp);
    let out = import(&store, Dataset::MovieLens100k, Path::new(&dir), &mut |_| {}).unwrap();
    assert_eq!((out.items.accepted, out.items.rejected), (1_682, 0));
    assert_eq!((out.users.accepted, out.users.rejected), (943, 0));
    assert_eq!((out.events.accepted, out.events.rejected), (100_000, 0));
    let toy = store
        .item(&ItemId::new("1").unwrap())
        .unwrap()
        .unwrap()
        .item;
    assert_eq!(toy.title, "Toy Story");
    assert_eq!(toy.categories, ["Animation", "Children's", "Comedy"]);
    let u = store.user(&UserId::new("1").unwrap()).unwrap().unwrap();
    assert_eq!(u.attributes["occupation"], "technician");
    assert_eq!(u.attributes["age"], 24);
}
