//! The SQLite backend: the suite's [`Backend`], and what only a SQLite file
//! has (schema migrations, refusing a newer release's file).

use crate::Backend;
use sommelier_store::{SqliteStore, StatsRead, StoreOptions, VectorRead};
use std::sync::Arc;

/// One SQLite file in the folder.
pub struct Sqlite;

impl Backend for Sqlite {
    fn open(&self, dir: &std::path::Path) -> Arc<dyn sommelier_store::Store> {
        SqliteStore::open(dir.join("db.sqlite"), StoreOptions::default())
            .unwrap()
            .into_dyn()
    }
}

/// A database written by the previous release (schema 2, vectors in a
/// `WITHOUT ROWID` table) opens, its vectors survive, and the table is moved.
#[test]
fn a_version_2_database_is_migrated_with_its_vectors() {
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
    // The migration to kept counters counted what was there.
    assert_eq!(store.counters().unwrap().vectors["m"], 1);
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
    assert_eq!(version, 9);
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

/// The audit log cannot be rewritten, even by someone with the file: the
/// schema's triggers refuse updates and deletes.
#[test]
fn the_audit_log_is_append_only() {
    use sommelier_store::{AccessStore, AuditEntry};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
    let entry = AuditEntry {
        seq: 0,
        at_ms: 1,
        actor: "cli".into(),
        action: "keys.create".into(),
        target: "key:abc".into(),
        outcome: "ok".into(),
    };
    assert_eq!(store.append_audit(&entry).unwrap(), 1);
    assert_eq!(store.append_audit(&entry).unwrap(), 2);
    let c = rusqlite::Connection::open(&path).unwrap();
    let upd = c
        .execute("UPDATE audit_log SET outcome = 'forged'", [])
        .unwrap_err();
    assert!(upd.to_string().contains("append-only"), "{upd}");
    let del = c.execute("DELETE FROM audit_log", []).unwrap_err();
    assert!(del.to_string().contains("append-only"), "{del}");
    assert_eq!(store.audit_log(0, 10).unwrap().len(), 2);
    assert_eq!(store.audit_log(1, 10).unwrap()[0].seq, 2);
}

/// Older releases kept the exposure log in the store's own file: opening
/// moves its rows into the log's file beside it and leaves none behind; a
/// row already in both (a move cut short) is kept once. Forgetting a user
/// deletes their rows from the log's file.
#[test]
fn exposures_kept_in_the_store_file_move_to_their_own_file() {
    use sommelier_store::{ExposureLog, PrivacyWrite};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    drop(SqliteStore::open(&path, StoreOptions::default()).unwrap());
    let insert = |c: &rusqlite::Connection, id: &str, user: &str| {
        c.execute(
            "INSERT INTO exposures (request_id, at_ms, user_id, surface, variant, body)
             VALUES (?1, 1, ?2, 'recommend', NULL, '{}')",
            [id, user],
        )
        .unwrap();
    };
    let store_file = rusqlite::Connection::open(&path).unwrap();
    insert(&store_file, "r1", "u1");
    insert(&store_file, "r2", "u2");
    let log_file = rusqlite::Connection::open(dir.path().join("db.exposures.db")).unwrap();
    insert(&log_file, "r1", "u1");
    drop(log_file);

    let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
    assert!(store.exposure("r1").unwrap().is_some());
    assert!(store.exposure("r2").unwrap().is_some());
    assert_eq!(store.exposures_of("u1", 10).unwrap().len(), 1);
    let left: i64 = store_file
        .query_row("SELECT COUNT(*) FROM exposures", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "the store's file keeps no exposures");

    assert_eq!(store.forget_user("u2").unwrap().exposures, 1);
    assert!(store.exposure("r2").unwrap().is_none());
    drop(store);
    // Reopened, nothing moves back.
    let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
    assert!(store.exposure("r2").unwrap().is_none());
    assert!(store.exposure("r1").unwrap().is_some());
}

/// A row's body is stored packed and read back as the JSON it was; the
/// file holds a blob a fraction of the text's size. Bodies an earlier
/// version stored deflated or as text read back as they were; a damaged
/// one is an error.
#[test]
fn exposure_bodies_are_stored_packed_and_read_back_whole() {
    use sommelier_store::{ExposureLog, ExposureRow};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
    // The shape of a `recommend` row: the same keys for every item shown.
    let items: Vec<String> = (1..=10)
        .map(|i| {
            format!(
                r#"{{"item":"movie-{}","position":{i},"score":0.{:07},"sources":["collab","sequence","popular"],"why":"signals"}}"#,
                i * 7919,
                i * 104_729
            )
        })
        .collect();
    let body = format!(
        r#"{{"items":[{}],"ranker":"linear-v3","embedding_model":"minilm","personalized":true,"latency_ms":1.25}}"#,
        items.join(",")
    );
    let rows: Vec<ExposureRow> = ["r1", "r2"]
        .iter()
        .map(|id| ExposureRow {
            request_id: id.to_string(),
            at_ms: 5,
            user_id: Some("u1".into()),
            surface: "recommend".into(),
            variant: Some("exp:b".into()),
            body: body.clone(),
        })
        .collect();
    store.append_exposures(&rows).unwrap();
    assert_eq!(store.exposure("r1").unwrap().as_ref(), Some(&rows[0]));
    assert_eq!(store.exposures_of("u1", 10).unwrap().len(), 2);
    let mut scanned = Vec::new();
    store.scan_exposures(0, &mut |r| scanned.push(r)).unwrap();
    assert_eq!(scanned, rows);

    let file = rusqlite::Connection::open(dir.path().join("db.exposures.db")).unwrap();
    let (kind, stored): (String, usize) = file
        .query_row(
            "SELECT typeof(body), length(body) FROM exposures WHERE request_id = 'r1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(kind, "blob");
    assert!(
        stored * 2 < body.len(),
        "{stored} bytes stored for {} of JSON",
        body.len()
    );

    // Rows as earlier versions stored them: a raw DEFLATE blob, and text.
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut deflate, body.as_bytes()).unwrap();
    let deflated = deflate.finish().unwrap();
    file.execute(
        "INSERT INTO exposures (request_id, at_ms, user_id, surface, variant, body)
         VALUES ('r0', 1, 'u1', 'recommend', NULL, ?1), ('q0', 1, 'u1', 'recommend', NULL, ?2)",
        rusqlite::params![deflated, body],
    )
    .unwrap();
    assert_eq!(store.exposure("r0").unwrap().unwrap().body, body);
    assert_eq!(store.exposure("q0").unwrap().unwrap().body, body);

    // A body that does not inflate or unpack — cut short, damaged, or
    // claiming more than any body — is an error naming the row's kind, not
    // a panic, an empty body or a huge allocation.
    for damaged in [
        "x'00ff00ff'",
        "x'ff0a00'",
        "x'ff10000000ffffffff'",
        "x'ffffffff7f00'",
    ] {
        file.execute(
            &format!("UPDATE exposures SET body = {damaged} WHERE request_id = 'r2'"),
            [],
        )
        .unwrap();
        let err = store.exposure("r2").unwrap_err().to_string();
        assert!(err.contains("reading an exposure"), "{damaged}: {err}");
    }
}

/// A log written by version 1 (a `WITHOUT ROWID` table) is moved into the
/// version 2 table when the store opens, every row kept and readable; a
/// file from a newer version is refused, not rewritten.
#[test]
fn a_version_1_exposure_log_is_upgraded_in_place() {
    use sommelier_store::{ExposureLog, ExposureRow, PrivacyWrite};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let log_path = dir.path().join("db.exposures.db");
    let old = rusqlite::Connection::open(&log_path).unwrap();
    old.execute_batch(
        "CREATE TABLE exposures (
            request_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, user_id TEXT,
            surface TEXT NOT NULL, variant TEXT, body TEXT NOT NULL
         ) WITHOUT ROWID;
         PRAGMA user_version = 1;
         INSERT INTO exposures VALUES ('r2', 2, 'u1', 'recommend', 'e:b', '{\"items\":[2]}');
         INSERT INTO exposures VALUES ('r1', 1, 'u2', 'similar', NULL, '{\"items\":[1]}');",
    )
    .unwrap();
    drop(old);

    let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
    let r2 = store.exposure("r2").unwrap().unwrap();
    assert_eq!(
        (
            r2.at_ms,
            r2.user_id.as_deref(),
            r2.variant.as_deref(),
            r2.body.as_str()
        ),
        (2, Some("u1"), Some("e:b"), "{\"items\":[2]}")
    );
    let row = |id: &str| ExposureRow {
        request_id: id.into(),
        at_ms: 3,
        user_id: Some("u1".into()),
        surface: "recommend".into(),
        variant: None,
        body: "{}".into(),
    };
    // A request id logged again is kept once.
    store.append_exposures(&[row("r3"), row("r2")]).unwrap();
    let mut ids = Vec::new();
    store
        .scan_exposures(0, &mut |r| ids.push(r.request_id))
        .unwrap();
    assert_eq!(ids, ["r1", "r2", "r3"]);
    assert_eq!(
        store.exposure("r2").unwrap().unwrap().body,
        "{\"items\":[2]}"
    );
    drop(store);

    let file = rusqlite::Connection::open(&log_path).unwrap();
    let (sql, version): (String, i64) = file
        .query_row(
            "SELECT sql, (SELECT user_version FROM pragma_user_version) FROM sqlite_master WHERE name = 'exposures'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
    assert_eq!(version, 2);
    // Opened again, nothing moves.
    let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(store.exposures_of("u1", 10).unwrap().len(), 2);
    assert_eq!(store.forget_user("u2").unwrap().exposures, 1);
    drop(store);
    let rowid = |file: &rusqlite::Connection| -> i64 {
        file.query_row(
            "SELECT rowid FROM exposures WHERE request_id = 'r3'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let before = rowid(&file);
    // An older build opening the file sets its version back to 1 and
    // writes into the version 2 table; the next open does not copy the
    // rows again (a copy would renumber them past the deleted one).
    file.pragma_update(None, "user_version", 1).unwrap();
    let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(store.exposures_of("u1", 10).unwrap().len(), 2);
    drop(store);
    assert_eq!(rowid(&file), before, "the rows were copied again");
    let version: i64 = file
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);

    file.pragma_update(None, "user_version", 3).unwrap();
    drop(file);
    let err = SqliteStore::open(&path, StoreOptions::default())
        .err()
        .expect("a newer log is refused")
        .to_string();
    assert!(err.contains("version 3"), "{err}");
}
