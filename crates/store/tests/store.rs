//! Store behaviour against a real SQLite file.

use sommelier_store::{
    CatalogRead, CatalogWrite, EventRead, EventWrite, SqliteStore, StatsRead, StoreOptions, Upsert,
    UserRead, UserWrite,
};
use sommelier_types::*;

fn item(id: &str, title: &str, t: i64) -> Item {
    Item {
        id: ItemId::new(id).unwrap(),
        kind: ItemKind::new("movie").unwrap(),
        title: title.into(),
        description: None,
        categories: vec!["Comedy".into()],
        tags: vec![],
        attributes: Attributes::new(),
        price: Some(Price {
            amount: 9.5,
            currency: "EUR".into(),
        }),
        availability: Availability::default(),
        release_date: None,
        created_at: Timestamp(t),
        updated_at: Timestamp(t),
    }
}

fn event(id: &str, user: &str, item: &str, t: i64) -> Event {
    Event {
        id: EventId::new(id).unwrap(),
        user: UserId::new(user).unwrap(),
        item: ItemId::new(item).unwrap(),
        kind: EventKind::Rating,
        value: Some(4.0),
        timestamp: Timestamp(t),
        context: EventContext {
            device: Some("tv".into()),
            ..Default::default()
        },
    }
}

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("db.sqlite"), StoreOptions::default()).unwrap()
}

#[test]
fn upserts_are_idempotent_and_deletes_leave_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = item("a", "Alpha", 1000);
    assert_eq!(
        store.write(|w| w.upsert_item(&a)).unwrap(),
        Upsert::Inserted
    );
    // Same content, later timestamps: unchanged, and the first creation time stays.
    assert_eq!(
        store
            .write(|w| w.upsert_item(&item("a", "Alpha", 5000)))
            .unwrap(),
        Upsert::Unchanged
    );
    assert_eq!(
        store
            .write(|w| w.upsert_item(&item("a", "Alpha 2", 6000)))
            .unwrap(),
        Upsert::Updated
    );
    let rec = store.item(&a.id).unwrap().unwrap();
    assert_eq!(rec.item.title, "Alpha 2");
    assert_eq!(rec.item.created_at, Timestamp(1000));
    assert_eq!(rec.item.updated_at, Timestamp(6000));
    assert_eq!(rec.item.price, a.price);

    assert!(
        store
            .write(|w| w.delete_item(&a.id, Timestamp(7000)))
            .unwrap()
    );
    assert!(
        !store
            .write(|w| w.delete_item(&a.id, Timestamp(8000)))
            .unwrap()
    );
    let rec = store.item(&a.id).unwrap().unwrap();
    assert_eq!(rec.deleted_at, Some(Timestamp(7000)));
    let mut live = Vec::new();
    store.scan_items(&mut |i| live.push(i.id)).unwrap();
    assert!(live.is_empty());
    let s = store.stats().unwrap();
    assert_eq!((s.items, s.items_deleted), (0, 1));
    // An upsert brings a tombstoned item back.
    assert_eq!(store.write(|w| w.upsert_item(&a)).unwrap(), Upsert::Updated);
    assert_eq!(store.item(&a.id).unwrap().unwrap().deleted_at, None);
}

#[test]
fn events_are_deduplicated_by_id_and_scanned_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let fresh = store
        .write(|w| {
            let mut v = Vec::new();
            for e in [
                event("e1", "u", "a", 10),
                event("e2", "u", "b", 5),
                event("e1", "x", "y", 99),
            ] {
                v.push(w.append_event(&e)?);
            }
            Ok::<_, sommelier_store::StoreError>(v)
        })
        .unwrap();
    assert_eq!(fresh, [true, true, false]);
    let got = store.event(&EventId::new("e1").unwrap()).unwrap().unwrap();
    assert_eq!(got, event("e1", "u", "a", 10));
    let mut seen = Vec::new();
    let last = store
        .scan_events(0, &mut |r| seen.push((r.seq, r.item.to_string())))
        .unwrap();
    assert_eq!(seen, [(1, "a".to_string()), (2, "b".to_string())]);
    assert_eq!(last, 2);
    let mut after = 0;
    store.scan_events(1, &mut |_| after += 1).unwrap();
    assert_eq!(after, 1);
}

#[test]
fn a_failed_transaction_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    #[derive(Debug)]
    struct Stop;
    impl From<sommelier_store::StoreError> for Stop {
        fn from(_: sommelier_store::StoreError) -> Self {
            Stop
        }
    }
    let r: Result<(), Stop> = store.write(|w| {
        w.append_event(&event("e1", "u", "a", 1))?;
        Err(Stop)
    });
    assert!(r.is_err());
    assert_eq!(store.stats().unwrap().events, 0);
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        store
            .write(|w| w.append_event(&event("e1", "u", "a", 1)))
            .unwrap();
        let user = User {
            id: UserId::new("u").unwrap(),
            attributes: Attributes::new(),
            consent: Consent {
                long_term_memory: true,
                ..Consent::default()
            },
            updated_at: Timestamp(3),
        };
        store.write(|w| w.upsert_user(&user)).unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.stats().unwrap().events, 1);
    let u = store.user(&UserId::new("u").unwrap()).unwrap().unwrap();
    assert!(u.consent.long_term_memory);
    assert_eq!(u.updated_at, Timestamp(3));
}

#[test]
fn vectors_are_stored_per_model_with_their_hash() {
    use sommelier_store::{VectorRead, VectorWrite};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .write(|w| {
            w.put_vector("a", "m1", "h1", &[1.0, -0.5])?;
            w.put_vector("b", "m1", "h2", &[0.25, 0.0])?;
            w.put_vector("a", "m2", "h3", &[9.0])?;
            w.put_vector("a", "m1", "h4", &[0.0, 1.0])
        })
        .unwrap();
    let hashes = store.vector_hashes("m1").unwrap();
    assert_eq!(hashes.len(), 2);
    assert_eq!(hashes["a"], "h4");
    let mut seen = Vec::new();
    let n = store
        .scan_vectors("m1", &mut |item, _hash, v| {
            seen.push((item.to_string(), v.to_vec()))
        })
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        seen,
        [
            ("a".to_string(), vec![0.0, 1.0]),
            ("b".to_string(), vec![0.25, 0.0])
        ]
    );
    assert!(store.write(|w| w.delete_vector("a", "m1")).unwrap());
    assert!(!store.write(|w| w.delete_vector("a", "m1")).unwrap());
    assert_eq!(store.stats().unwrap().vectors["m2"], 1);
}

/// A database written by the previous release (schema 2, vectors in a
/// `WITHOUT ROWID` table) opens, its vectors survive, and the table is moved.
#[test]
fn a_version_2_database_is_migrated_with_its_vectors() {
    use sommelier_store::VectorRead;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, available INTEGER NOT NULL,
                 created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER, body TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, updated_at INTEGER NOT NULL, body TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, user TEXT NOT NULL, item TEXT NOT NULL,
                 kind TEXT NOT NULL, value REAL, ts INTEGER NOT NULL, ctx TEXT);
             CREATE TABLE item_vectors (item TEXT NOT NULL, model TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL,
                 PRIMARY KEY (item, model)) WITHOUT ROWID;
             PRAGMA user_version = 2;",
        )
        .unwrap();
        let v: Vec<u8> = [0.5f32, -1.0, 2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        c.execute(
            "INSERT INTO item_vectors VALUES ('a', 'm', 'h1', ?1)",
            rusqlite::params![v],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
    let mut seen = Vec::new();
    store
        .scan_vectors("m", &mut |id, _hash, v| {
            seen.push((id.to_string(), v.to_vec()))
        })
        .unwrap();
    assert_eq!(seen, vec![("a".to_string(), vec![0.5, -1.0, 2.0])]);
    assert_eq!(store.vector_hashes("m").unwrap()["a"], "h1");
    // Upserts still replace by (item, model).
    store
        .write(|w| sommelier_store::VectorWrite::put_vector(w, "a", "m", "h2", &[1.0, 0.0, 0.0]))
        .unwrap();
    assert_eq!(store.vector_hashes("m").unwrap()["a"], "h2");
    drop(store);
    let c = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let sql: String = c
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'item_vectors'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, 4);
    assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
}

#[test]
fn a_database_from_a_newer_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = SqliteStore::open(&path, StoreOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("99"), "{err}");
}
