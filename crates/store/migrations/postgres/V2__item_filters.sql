-- The fields searches filter on, as columns of `items`, so that a search of
-- the vectors in PostgreSQL (pgvector's HNSW, `vectors.index = "pgvector"`)
-- filters in SQL. Written with every item; rows written before this
-- migration are filled in from their bodies by the store at open
-- (`filters_ok` false until then).
ALTER TABLE items
    ADD COLUMN categories  TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN price       DOUBLE PRECISION,
    ADD COLUMN year        INTEGER,
    ADD COLUMN filters_ok  BOOLEAN NOT NULL DEFAULT false;

-- Filling those columns is not a change of the catalog: the change log
-- records what a reader sees (the body, kind, availability, times).
CREATE OR REPLACE TRIGGER items_logged
    AFTER INSERT OR DELETE OR UPDATE OF kind, available, created_at, updated_at, deleted_at, body
    ON items FOR EACH ROW EXECUTE FUNCTION items_logged();
