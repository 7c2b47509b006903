-- The PostgreSQL schema: the same tables as the embedded SQLite store
-- (crates/store/src/sqlite/schema.rs, v9), in PostgreSQL's types. Vectors
-- are pgvector `vector`s. Statistics are counted by queries, not kept in a
-- counters table. Keys compare byte by byte (`COLLATE "C"`), as SQLite's
-- do, whatever the database's locale: scans page by key in that order.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE items (
    id          TEXT COLLATE "C" PRIMARY KEY,
    kind        TEXT NOT NULL,
    available   BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    deleted_at  BIGINT,
    body        TEXT NOT NULL
);

CREATE TABLE users (
    id          TEXT COLLATE "C" PRIMARY KEY,
    updated_at  BIGINT NOT NULL,
    body        TEXT NOT NULL
);

-- `seq` is assigned inside the store's write lock (an advisory lock every
-- write transaction takes), so sequence order is commit order and a reader
-- that has seen `seq` n has seen every event before it.
CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    user_id     TEXT NOT NULL,
    item        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       DOUBLE PRECISION,
    ts          BIGINT NOT NULL,
    ctx         TEXT,
    device      TEXT,
    request_id  TEXT
);
CREATE INDEX events_by_request ON events (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX events_by_user ON events (user_id);

CREATE TABLE item_vectors (
    item        TEXT COLLATE "C" NOT NULL,
    model       TEXT COLLATE "C" NOT NULL,
    hash        TEXT NOT NULL,
    vector      vector NOT NULL,
    PRIMARY KEY (item, model)
);

CREATE TABLE chat_turns (
    session     TEXT NOT NULL,
    turn        BIGINT NOT NULL,
    user_id     TEXT,
    at_ms       BIGINT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (session, turn)
);
CREATE INDEX chat_turns_by_user ON chat_turns (user_id, at_ms);

CREATE TABLE user_memory (
    user_id     TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    rate        DOUBLE PRECISION,
    created_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT
);

CREATE TABLE audit_log (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- The catalog's change log, filled by triggers on items and their vectors.
CREATE TABLE catalog_changes (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item        TEXT NOT NULL
);
CREATE TABLE catalog_pruned (upto BIGINT NOT NULL, log_id TEXT NOT NULL);
INSERT INTO catalog_pruned (upto, log_id) VALUES (0, md5(random()::text || clock_timestamp()::text));
CREATE FUNCTION items_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO catalog_changes (item) VALUES (OLD.id);
    ELSE
        INSERT INTO catalog_changes (item) VALUES (NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION vectors_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO catalog_changes (item) VALUES (OLD.item);
    ELSE
        INSERT INTO catalog_changes (item) VALUES (NEW.item);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER items_logged AFTER INSERT OR UPDATE OR DELETE ON items
    FOR EACH ROW EXECUTE FUNCTION items_logged();
CREATE TRIGGER vectors_logged AFTER INSERT OR UPDATE OR DELETE ON item_vectors
    FOR EACH ROW EXECUTE FUNCTION vectors_logged();

CREATE TABLE exposures (
    request_id  TEXT COLLATE "C" PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    user_id     TEXT,
    surface     TEXT NOT NULL,
    variant     TEXT,
    body        TEXT NOT NULL
);
CREATE INDEX exposures_by_user ON exposures (user_id);

CREATE TABLE experiments (
    name        TEXT COLLATE "C" PRIMARY KEY,
    body        TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
