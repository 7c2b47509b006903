//! Storage for Sommelier, split by role: catalog, events, users, vectors,
//! stats, chat sessions, access (API keys, audit log) and privacy (forgetting). [`Store`] gathers the roles behind one object-safe
//! trait, which is all the engine, ingestion and the importers see.
//!
//! [`PostgresStore`] is the shared backend for several replicas (PostgreSQL
//! with pgvector).
//!
//! The embedded backend is SQLite (WAL journal, one writer, pooled readers); see
//! [`SqliteStore`]. Writes go through a [`Writer`] handed out by
//! [`SqliteStore::write`], which is one transaction: either everything the closure
//! wrote is committed, or nothing is. A committed write survives the process being
//! killed (`kill -9`); with [`Durability::Full`] it also survives power loss.

mod codec;
mod error;
mod postgres;
mod sqlite;
mod traits;

pub use error::{Result, StoreError};
pub use postgres::PostgresStore;
pub use sqlite::{Durability, SqliteStore, StoreOptions, Writer};
pub use traits::{
    AccessStore, ApiKeyRow, AuditEntry, CatalogLog, CatalogRead, CatalogWrite, ChatTurnRow,
    EventRead, EventRow, EventWrite, ExperimentStore, ExposureLog, ExposureRow, ForgetCounts,
    ItemRecord, PrivacyWrite, SessionRead, SessionWrite, StatsRead, Store, Transaction, Upsert,
    UserRead, UserWrite, VectorRead, VectorSearch, VectorWrite, counter_differences,
};
