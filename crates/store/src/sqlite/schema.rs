//! Schema creation and migrations.

use crate::error::{Op, Result, StoreError};
use rusqlite::Connection;

/// Newest schema version this binary writes.
pub(crate) const VERSION: i64 = 5;

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
    Ok(())
}
