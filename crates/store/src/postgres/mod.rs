//! The PostgreSQL backend: the same roles as the embedded SQLite store,
//! over a server several replicas share.
//!
//! - **Connections.** A pool of `tokio-postgres` clients whose connections
//!   run on the store's own small runtime; each call blocks its caller on
//!   the answer (the engine is synchronous, and a server handler may call
//!   the store from an async task: the wait is a plain block, never a
//!   runtime inside the runtime). A client whose connection broke is
//!   dropped and the next call connects anew.
//! - **Schema.** Migrations in `migrations/postgres/`, run by `refinery`
//!   at open under a session advisory lock, so replicas starting together
//!   migrate once.
//! - **Write order.** Every write transaction takes one transaction-level
//!   advisory lock first: writes are serialised as SQLite's are, so the
//!   event log's and the catalog log's sequence numbers are assigned in
//!   commit order, and a reader that has seen position n has seen every
//!   write before it (no gap a later commit could fill).
//! - **Durability.** A commit is acknowledged once PostgreSQL has it
//!   (`synchronous_commit` as the server sets it: on by default, fsynced).

mod read;
mod rest;
mod search;
mod write;

use crate::error::{Op, Result, StoreError};
use crate::{Store, Transaction};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use tokio_postgres::{Client, NoTls, Statement};

refinery::embed_migrations!("migrations/postgres");

/// The key of the advisory lock every write transaction takes.
const WRITE_LOCK: i64 = 0x736f_6d6d_656c; // "sommel"
/// The key of the session lock migrations run under.
const MIGRATE_LOCK: i64 = 0x736f_6d6d_6d67;
/// How long a connection may take unless the URL says (`connect_timeout=`).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Idle connections kept.
const POOL: usize = 16;
/// Rows per page of a scan.
pub(crate) const PAGE: i64 = 10_000;

/// A store on a PostgreSQL server (with the pgvector extension).
pub struct PostgresStore {
    location: String,
    config: tokio_postgres::Config,
    /// Drives the connections; shut down in the background on drop (a
    /// runtime may not be dropped inside another's async context).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Mutex<Vec<Conn>>,
}

/// One connection with its prepared statements.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    /// The `hnsw.ef_search` this session has set (vector searches).
    hnsw_ef: Option<usize>,
}

/// Waits for a future of the client (its connection runs on the store's
/// runtime; the client's side needs no runtime).
pub(crate) fn wait<F: Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

impl Conn {
    /// `sql` prepared on this connection (once).
    pub(crate) fn prep(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = wait(self.client.prepare(sql)).op("preparing a statement")?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Runs a prepared `sql` returning the rows.
    pub(crate) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        op: &'static str,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let st = self.prep(sql)?;
        wait(self.client.query(&st, params)).op(op)
    }

    /// Runs a prepared `sql` returning at most one row.
    pub(crate) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        op: &'static str,
    ) -> Result<Option<tokio_postgres::Row>> {
        let st = self.prep(sql)?;
        wait(self.client.query_opt(&st, params)).op(op)
    }

    /// Runs a prepared `sql`; the rows it changed.
    pub(crate) fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        op: &'static str,
    ) -> Result<u64> {
        let st = self.prep(sql)?;
        wait(self.client.execute(&st, params)).op(op)
    }

    /// Runs statements without parameters.
    pub(crate) fn batch(&mut self, sql: &str, op: &'static str) -> Result<()> {
        wait(self.client.batch_execute(sql)).op(op)
    }

    /// Runs `f` in one write transaction that holds the write lock:
    /// committed when it returns `Ok`, rolled back otherwise.
    pub(crate) fn write<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        self.batch(
            &format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
            "beginning a write",
        )?;
        match f(self) {
            Ok(v) => {
                self.batch("COMMIT", "committing")?;
                Ok(v)
            }
            Err(e) => {
                // The connection is dropped if even the rollback fails.
                let _ = self.batch("ROLLBACK", "rolling back");
                Err(e)
            }
        }
    }
}

impl PostgresStore {
    /// Connects to the database `url` names (`postgres://user:password@host:port/db`)
    /// and brings its schema up to date.
    pub fn open(url: &str) -> Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("store.url is not a PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            // A server that does not answer is an error in seconds, not
            // after the system's TCP timeout (minutes).
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let location = describe(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("postgres-io")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| StoreError::Config(format!("cannot start the PostgreSQL runtime: {e}")))?;
        let store = Self {
            location,
            config,
            runtime: Some(runtime),
            pool: Mutex::new(Vec::new()),
        };
        let mut conn = store.connect()?;
        conn.batch(
            &format!("SELECT pg_advisory_lock({MIGRATE_LOCK})"),
            "waiting for other replicas' migrations",
        )?;
        let migrated = wait(migrations::runner().run_async(&mut conn.client))
            .map_err(|e| StoreError::Migrate {
                detail: e.to_string(),
            })
            .and_then(|_| search::fill_item_filters(&mut conn));
        conn.batch(
            &format!("SELECT pg_advisory_unlock({MIGRATE_LOCK})"),
            "ending the migrations",
        )?;
        migrated?;
        store.pool.lock().push(conn);
        Ok(store)
    }

    /// A new connection.
    fn connect(&self) -> Result<Conn> {
        let config = self.config.clone();
        let runtime = self
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the store");
        let connecting = runtime.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            // The connection ends with the client (or the server); its
            // error reaches the client's next call.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = wait(connecting)
            .map_err(|e| StoreError::Config(format!("the PostgreSQL runtime failed: {e}")))?
            .map_err(|cause| StoreError::Connect {
                location: self.location.clone(),
                cause,
            })?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
            hnsw_ef: None,
        })
    }

    /// Runs `f` on a pooled connection.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let pooled = self.pool.lock().pop();
        let mut conn = match pooled {
            Some(c) if !c.client.is_closed() => c,
            _ => self.connect()?,
        };
        let out = f(&mut conn);
        if !conn.client.is_closed() {
            let mut pool = self.pool.lock();
            if pool.len() < POOL {
                pool.push(conn);
            }
        }
        out
    }

    /// Runs `f` in one write transaction (see [`Conn::write`]).
    pub(crate) fn write_locked<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        self.with(|c| c.write(f))
    }

    /// This store behind the backend-neutral [`Store`] trait.
    pub fn into_dyn(self) -> std::sync::Arc<dyn Store> {
        std::sync::Arc::new(self)
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.pool.lock().clear();
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}

/// `postgres://user@host:port/db`, without the password.
fn describe(c: &tokio_postgres::Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}

impl Store for PostgresStore {
    fn transaction(&self, f: &mut dyn FnMut(&mut dyn Transaction) -> Result<()>) -> Result<()> {
        self.write_locked(|c| f(&mut write::PgWriter { conn: c }))
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn vector_search(&self) -> Option<&dyn crate::VectorSearch> {
        Some(self)
    }
}
