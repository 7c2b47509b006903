//! Schema creation and migrations.

use crate::error::{Op, Result, StoreError};
use rusqlite::Connection;

/// Newest schema version this binary writes.
pub(crate) const VERSION: i64 = 9;

const V1: &str = "
CREATE TABLE IF NOT EXISTS items (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL,
    available   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER,
    body        TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
    id          TEXT PRIMARY KEY NOT NULL,
    updated_at  INTEGER NOT NULL,
    body        TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    user        TEXT NOT NULL,
    item        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       REAL,
    ts          INTEGER NOT NULL,
    ctx         TEXT
);
";

/// Item vectors, one per item and embedding model; `hash` identifies the model
/// and text they were computed from.
const V2: &str = "
CREATE TABLE IF NOT EXISTS item_vectors (
    item        TEXT NOT NULL,
    model       TEXT NOT NULL,
    hash        TEXT NOT NULL,
    vector      BLOB NOT NULL,
    PRIMARY KEY (item, model)
) WITHOUT ROWID;
";

/// Item vectors move to a rowid table. In the `WITHOUT ROWID` table of V2 a
/// 1.5 KB vector did not fit the b-tree's local payload and spilled to an
/// overflow page each, so a 384-d vector took ~4.6 KB on disk; in a rowid table
/// it is stored inline: 2.05 KB per vector measured (two rows per 4 KB page),
/// so a full scan reads fewer than half the pages.
const V3: &str = "
CREATE TABLE item_vectors_v3 (
    item        TEXT NOT NULL,
    model       TEXT NOT NULL,
    hash        TEXT NOT NULL,
    vector      BLOB NOT NULL,
    UNIQUE (item, model)
);
INSERT INTO item_vectors_v3 (item, model, hash, vector)
    SELECT item, model, hash, vector FROM item_vectors;
DROP TABLE item_vectors;
ALTER TABLE item_vectors_v3 RENAME TO item_vectors;
";

/// Conversations: each turn of a chat session (its request and response as
/// JSON, written when the turn is answered), and the long-term preferences of
/// users who consented to them.
const V4: &str = "
CREATE TABLE chat_turns (
    session     TEXT NOT NULL,
    turn        INTEGER NOT NULL,
    user_id     TEXT,
    at_ms       INTEGER NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (session, turn)
) WITHOUT ROWID;
CREATE INDEX chat_turns_by_user ON chat_turns (user_id, at_ms);
CREATE TABLE user_memory (
    user_id     TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Access and accountability: API keys (only a SHA-256 of each secret is
/// stored), the append-only audit log of administrative actions (triggers
/// refuse updates and deletes), and receipts of forgotten users (a keyed
/// pseudonym, never the id).
const V5: &str = "
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    rate        REAL,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
) WITHOUT ROWID;
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at_ms       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

/// Counters kept with the data they count, so that statistics are read, not
/// scanned: live, available and deleted items (and live items per kind),
/// profiles, events per kind, the bounds of event time, and vectors per model.
/// Triggers keep the item, user and vector counts and the event deletions;
/// event inserts, the hot path of ingestion, are counted by the writer and
/// added once per transaction (`write.rs`), where a trigger per row would
/// nearly double the cost of a bulk import. The migration counts what is
/// already there, once.
const V6: &str = "
CREATE TABLE counters (
    name        TEXT PRIMARY KEY NOT NULL,
    n           INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER items_counted_insert AFTER INSERT ON items BEGIN
    INSERT INTO counters (name, n) VALUES
        ('items', NEW.deleted_at IS NULL),
        ('items.available', NEW.deleted_at IS NULL AND NEW.available),
        ('items.deleted', NEW.deleted_at IS NOT NULL),
        ('items.kind.' || NEW.kind, NEW.deleted_at IS NULL)
    ON CONFLICT(name) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER items_counted_update AFTER UPDATE ON items BEGIN
    INSERT INTO counters (name, n) VALUES
        ('items', (NEW.deleted_at IS NULL) - (OLD.deleted_at IS NULL)),
        ('items.available', (NEW.deleted_at IS NULL AND NEW.available)
                            - (OLD.deleted_at IS NULL AND OLD.available)),
        ('items.deleted', (NEW.deleted_at IS NOT NULL) - (OLD.deleted_at IS NOT NULL)),
        ('items.kind.' || OLD.kind, -(OLD.deleted_at IS NULL)),
        ('items.kind.' || NEW.kind, NEW.deleted_at IS NULL)
    ON CONFLICT(name) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER items_counted_delete AFTER DELETE ON items BEGIN
    INSERT INTO counters (name, n) VALUES
        ('items', -(OLD.deleted_at IS NULL)),
        ('items.available', -(OLD.deleted_at IS NULL AND OLD.available)),
        ('items.deleted', -(OLD.deleted_at IS NOT NULL)),
        ('items.kind.' || OLD.kind, -(OLD.deleted_at IS NULL))
    ON CONFLICT(name) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER users_counted_insert AFTER INSERT ON users BEGIN
    INSERT INTO counters (name, n) VALUES ('users', 1)
    ON CONFLICT(name) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER users_counted_delete AFTER DELETE ON users BEGIN
    UPDATE counters SET n = n - 1 WHERE name = 'users';
END;
CREATE TRIGGER vectors_counted_insert AFTER INSERT ON item_vectors BEGIN
    INSERT INTO counters (name, n) VALUES ('vectors.' || NEW.model, 1)
    ON CONFLICT(name) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER vectors_counted_delete AFTER DELETE ON item_vectors BEGIN
    UPDATE counters SET n = n - 1 WHERE name = 'vectors.' || OLD.model;
END;
CREATE TRIGGER events_counted_delete AFTER DELETE ON events BEGIN
    UPDATE counters SET n = n - 1 WHERE name IN ('events', 'events.kind.' || OLD.kind);
END;
";

/// The catalog's change log: every write to an item row or one of its
/// vectors appends the item's id, so a saved copy of the catalog (the
/// engine's catalog snapshot) is brought up to date from the position it
/// was taken at, and a running server sees catalog writes made by another
/// process. `AUTOINCREMENT`: positions never go back, also after the log's
/// head was pruned ([`crate::CatalogRead::catalog_position`] reads the
/// high-water mark); `catalog_pruned` keeps the newest position pruned, so
/// a copy older than that is known to be beyond repair from the log, and a
/// random id of this log, so a copy taken from another database (a folder
/// whose database was replaced) is never taken for one of this.
const V7: &str = "
CREATE TABLE catalog_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    item        TEXT NOT NULL
);
CREATE TABLE catalog_pruned (upto INTEGER NOT NULL, log_id TEXT NOT NULL);
INSERT INTO catalog_pruned (upto, log_id) VALUES (0, lower(hex(randomblob(16))));
CREATE TRIGGER items_logged_insert AFTER INSERT ON items BEGIN
    INSERT INTO catalog_changes (item) VALUES (NEW.id);
END;
CREATE TRIGGER items_logged_update AFTER UPDATE ON items BEGIN
    INSERT INTO catalog_changes (item) VALUES (NEW.id);
END;
CREATE TRIGGER items_logged_delete AFTER DELETE ON items BEGIN
    INSERT INTO catalog_changes (item) VALUES (OLD.id);
END;
CREATE TRIGGER vectors_logged_insert AFTER INSERT ON item_vectors BEGIN
    INSERT INTO catalog_changes (item) VALUES (NEW.item);
END;
CREATE TRIGGER vectors_logged_update AFTER UPDATE ON item_vectors BEGIN
    INSERT INTO catalog_changes (item) VALUES (NEW.item);
END;
CREATE TRIGGER vectors_logged_delete AFTER DELETE ON item_vectors BEGIN
    INSERT INTO catalog_changes (item) VALUES (OLD.item);
END;
";

/// The exposure log: every list served, by request id (v8). Request ids
/// sort by time, so rows are appended at the end of one B-tree; an index by
/// user (random users: a page written per row) cost more than the rest of
/// the row, and a user's lists are found by scanning back from the newest.
const V8: &str = "
CREATE TABLE exposures (
    request_id TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    user_id TEXT,
    surface TEXT NOT NULL,
    variant TEXT,
    body TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX events_by_request ON events (json_extract(ctx, '$.request_id'))
    WHERE json_extract(ctx, '$.request_id') IS NOT NULL;
";

/// Experiments declared over the admin API, by name (v9).
const V9: &str = "
CREATE TABLE experiments (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
";

/// Fills the empty counters table from the rows (the migration, and the
/// repair of [`crate::StatsRead::reset_counters`]).
pub(crate) const COUNT_ROWS: &str = "
INSERT INTO counters (name, n)
    SELECT 'items', COUNT(*) FROM items WHERE deleted_at IS NULL
    UNION ALL SELECT 'items.available', COUNT(*) FROM items WHERE deleted_at IS NULL AND available
    UNION ALL SELECT 'items.deleted', COUNT(*) FROM items WHERE deleted_at IS NOT NULL
    UNION ALL SELECT 'items.kind.' || kind, COUNT(*) FROM items WHERE deleted_at IS NULL GROUP BY kind
    UNION ALL SELECT 'users', COUNT(*) FROM users
    UNION ALL SELECT 'vectors.' || model, COUNT(*) FROM item_vectors GROUP BY model
    UNION ALL SELECT 'events', COUNT(*) FROM events
    UNION ALL SELECT 'events.kind.' || kind, COUNT(*) FROM events GROUP BY kind;
";

/// Fills the first and last event times, absent from the counters table,
/// from the events (with [`COUNT_ROWS`], and after events were deleted).
pub(crate) const COUNT_EVENT_BOUNDS: &str = "
INSERT INTO counters (name, n)
    SELECT 'events.first_ts', MIN(ts) FROM events HAVING COUNT(*) > 0
    UNION ALL SELECT 'events.last_ts', MAX(ts) FROM events HAVING COUNT(*) > 0;
";

pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .op("reading the schema version")?;
    if found > VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: VERSION,
        });
    }
    if found < 1 {
        conn.execute_batch(&format!("BEGIN; {V1} PRAGMA user_version = 1; COMMIT;"))
            .op("creating the schema")?;
    }
    if found < 2 {
        conn.execute_batch(&format!("BEGIN; {V2} PRAGMA user_version = 2; COMMIT;"))
            .op("adding item vectors to the schema")?;
    }
    if found < 3 {
        conn.execute_batch(&format!("BEGIN; {V3} PRAGMA user_version = 3; COMMIT;"))
            .op("moving item vectors to a rowid table")?;
    }
    if found < 4 {
        conn.execute_batch(&format!("BEGIN; {V4} PRAGMA user_version = 4; COMMIT;"))
            .op("adding chat sessions and user memory")?;
    }
    if found < 5 {
        conn.execute_batch(&format!("BEGIN; {V5} PRAGMA user_version = 5; COMMIT;"))
            .op("adding API keys and the audit log")?;
    }
    if found < 6 {
        conn.execute_batch(&format!(
            "BEGIN; {V6} {COUNT_ROWS} {COUNT_EVENT_BOUNDS} PRAGMA user_version = 6; COMMIT;"
        ))
        .op("adding kept counters")?;
    }
    if found < 7 {
        conn.execute_batch(&format!("BEGIN; {V7} PRAGMA user_version = 7; COMMIT;"))
            .op("adding the catalog change log")?;
    }
    if found < 8 {
        conn.execute_batch(&format!("BEGIN; {V8} PRAGMA user_version = 8; COMMIT;"))
            .op("adding the exposure log")?;
    }
    if found < 9 {
        conn.execute_batch(&format!("BEGIN; {V9} PRAGMA user_version = 9; COMMIT;"))
            .op("adding experiment definitions")?;
    }
    Ok(())
}
