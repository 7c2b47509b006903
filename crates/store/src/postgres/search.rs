//! Search of the stored vectors inside PostgreSQL: one pgvector HNSW index
//! per model (a partial index on the vectors cast to their dimension), and
//! the request's filters in SQL on the columns `items` keeps for them.
//!
//! - **The index** is built with `CREATE INDEX CONCURRENTLY`, so writes go
//!   on while it builds, under a session advisory lock, so replicas starting
//!   together build it once. An index a crash left unfinished (invalid) is
//!   dropped and built again.
//! - **A search** is one statement with its parameters typed, planned with
//!   their values (a generic plan would not see that a `LIMIT` of ten wants
//!   the index). `hnsw.iterative_scan = relaxed_order` keeps scanning the
//!   graph while the filters leave fewer than `k` (up to pgvector's
//!   `hnsw.max_scan_tuples`); the hits are sorted again here.

use super::{Conn, PAGE, PostgresStore, wait};
use crate::codec::item;
use crate::error::{Op, Result, StoreError};
use crate::traits::VectorSearch;
use sommelier_types::api::Filters;
use tokio_postgres::types::Type;

/// The key of the session lock an index build runs under.
const INDEX_LOCK: i64 = 0x736f_6d6d_6878; // "sommhx"

/// Memory an index build may use (session setting): pgvector builds the
/// graph in memory while it fits, several times faster than on disk.
const BUILD_MEMORY: &str = "1GB";

/// The name of `model`'s index at `dim`: readable, and unique by a hash of
/// the model's full name.
fn index_name(model: &str, dim: usize) -> String {
    let readable: String = model
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect();
    let hash = sommelier_types::fnv1a(model) as u32;
    format!("item_vectors_hnsw_{readable}_{dim}_{hash:08x}")
}

/// `s` as an SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The search statement for `model`'s vectors of dimension `dim`. The
/// model and dimension are part of the text (the partial index is only
/// used when the planner sees its predicate and expression); every value
/// of the request is a parameter.
fn search_sql(model: &str, dim: usize) -> String {
    let distance = format!("v.vector::vector({dim}) <=> $1::real[]::vector({dim})");
    format!(
        "SELECT v.item, ({distance})::float8
         FROM item_vectors v JOIN items i ON i.id = v.item
         WHERE v.model = {model} AND i.deleted_at IS NULL
           AND (NOT $3 OR i.available)
           AND (cardinality($4::text[]) = 0 OR i.kind = ANY($4))
           AND (cardinality($5::text[]) = 0 OR i.categories && $5)
           AND NOT (i.categories && $6)
           AND ($7::float8 IS NULL OR i.price >= $7) AND ($8::float8 IS NULL OR i.price <= $8)
           AND ($9::int4 IS NULL OR i.year >= $9) AND ($10::int4 IS NULL OR i.year <= $10)
         ORDER BY {distance} LIMIT $2",
        model = literal(model),
    )
}

impl Conn {
    /// Sets the connection's HNSW candidate list size (once per value).
    fn hnsw_ef(&mut self, ef: usize) -> Result<()> {
        // pgvector allows 1..=1000; compared after clamping, so searches
        // asking for more than 1,000 do not set it again every time.
        let ef = ef.clamp(1, 1000);
        if self.hnsw_ef != Some(ef) {
            self.batch(
                &format!("SET hnsw.ef_search = {ef}; SET hnsw.iterative_scan = relaxed_order"),
                "setting up a vector search",
            )?;
            self.hnsw_ef = Some(ef);
        }
        Ok(())
    }
}

impl VectorSearch for PostgresStore {
    fn vector_dim(&self, model: &str) -> Result<Option<usize>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT vector_dims(vector) FROM item_vectors WHERE model = $1 LIMIT 1",
                &[&model],
                "reading the vectors' dimension",
            )?
            .map(|r| r.get::<_, i32>(0) as usize))
        })
    }

    fn ensure_vector_index(&self, model: &str, dim: usize) -> Result<bool> {
        let name = index_name(model, dim);
        self.with(|c| {
            // Polled, not waited on in one statement: a build waits for
            // every transaction open when it starts, a waiting statement
            // among them (a deadlock), but a poll ends at once.
            while !c
                .query(
                    "SELECT pg_try_advisory_lock($1)",
                    &[&INDEX_LOCK],
                    "waiting for another replica's vector index build",
                )?
                .first()
                .is_some_and(|r| r.get::<_, bool>(0))
            {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            let built = build_index(c, &name, model, dim);
            let unlocked = c.batch(
                &format!("SELECT pg_advisory_unlock({INDEX_LOCK})"),
                "ending the vector index build",
            );
            let built = built?;
            unlocked?;
            Ok(built)
        })
    }

    fn search_vectors(
        &self,
        model: &str,
        query: &[f32],
        k: usize,
        filters: &Filters,
        ef: usize,
    ) -> Result<Vec<(String, f32)>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let sql = search_sql(model, query.len());
        let rows = self.with(|c| {
            c.hnsw_ef(ef.max(k))?;
            let available = !filters.include_unavailable;
            wait(c.client.query_typed(
                &sql,
                &[
                    (&query, Type::FLOAT4_ARRAY),
                    (&(k as i64), Type::INT8),
                    (&available, Type::BOOL),
                    (&filters.kinds, Type::TEXT_ARRAY),
                    (&filters.categories, Type::TEXT_ARRAY),
                    (&filters.exclude_categories, Type::TEXT_ARRAY),
                    (&filters.price_min, Type::FLOAT8),
                    (&filters.price_max, Type::FLOAT8),
                    (&filters.year_min, Type::INT4),
                    (&filters.year_max, Type::INT4),
                ],
            ))
            .op("searching the vectors")
        })?;
        let mut hits: Vec<(String, f32)> = rows
            .iter()
            .map(|r| (r.get(0), (1.0 - r.get::<_, f64>(1)) as f32))
            .collect();
        // The relaxed order of an iterative scan, made exact.
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(hits)
    }

    fn vectors_of(&self, model: &str, items: &[&str]) -> Result<Vec<(String, Vec<f32>)>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.with(|c| {
            Ok(c.query(
                "SELECT item, vector FROM item_vectors WHERE model = $1 AND item = ANY($2)",
                &[&model, &items],
                "reading vectors",
            )?
            .iter()
            .map(|r| (r.get(0), r.get::<_, pgvector::Vector>(1).to_vec()))
            .collect())
        })
    }
}

/// Builds the index `name` unless a valid one is there (the caller holds
/// the build lock); true when built now.
fn build_index(c: &mut Conn, name: &str, model: &str, dim: usize) -> Result<bool> {
    let valid = c.query_opt(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class r ON r.oid = i.indexrelid
         WHERE r.relname = $1",
        &[&name],
        "looking up the vector index",
    )?;
    match valid.map(|r| r.get::<_, bool>(0)) {
        Some(true) => return Ok(false),
        // A build interrupted by a crash or a cancel leaves it invalid.
        Some(false) => c.batch(
            &format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"),
            "dropping an unfinished vector index",
        )?,
        None => {}
    }
    c.batch(
        &format!("SET maintenance_work_mem = '{BUILD_MEMORY}'"),
        "setting up the vector index build",
    )?;
    // CONCURRENTLY may not run inside a transaction: a statement of its own.
    let built = c.batch(
        &format!(
            "CREATE INDEX CONCURRENTLY {name} ON item_vectors
             USING hnsw ((vector::vector({dim})) vector_cosine_ops) WHERE model = {}",
            literal(model)
        ),
        "building the vector index (are all of the model's vectors of one dimension?)",
    );
    let _ = c.batch("RESET maintenance_work_mem", "resetting a setting");
    built?;
    Ok(true)
}

/// Fills the filter columns of items written before they existed (schema
/// V2), from their bodies, a page at a time. Run at open under the
/// migration lock; a no-op once every row has them.
pub(super) fn fill_item_filters(c: &mut Conn) -> Result<u64> {
    let mut n = 0;
    loop {
        let rows = c.query(
            "SELECT id, body, created_at, updated_at FROM items
             WHERE NOT filters_ok ORDER BY id LIMIT $1",
            &[&PAGE],
            "reading items to fill their filter columns",
        )?;
        if rows.is_empty() {
            return Ok(n);
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut cats = Vec::with_capacity(rows.len());
        let mut prices = Vec::with_capacity(rows.len());
        let mut years = Vec::with_capacity(rows.len());
        for r in &rows {
            let it = item((r.get(1), r.get(2), r.get(3)))?;
            ids.push(r.get::<_, String>(0));
            // An array of arrays cannot be a parameter: categories travel
            // as one JSON array per item.
            cats.push(serde_json::to_string(&it.categories).map_err(|e| {
                StoreError::Config(format!("cannot encode an item's categories: {e}"))
            })?);
            prices.push(it.price_amount());
            years.push(it.year());
        }
        c.execute(
            "UPDATE items SET filters_ok = true, price = b.price, year = b.year,
               categories = ARRAY(SELECT jsonb_array_elements_text(b.cats::jsonb))
             FROM UNNEST($1::text[], $2::text[], $3::float8[], $4::int4[]) AS b(id, cats, price, year)
             WHERE items.id = b.id",
            &[&ids, &cats, &prices, &years],
            "filling items' filter columns",
        )?;
        n += rows.len() as u64;
    }
}
