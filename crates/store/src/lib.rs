//! Storage for Sommelier, split by role: catalog, events, users, stats.
//!
//! The embedded backend is SQLite (WAL journal, one writer, pooled readers); see
//! [`SqliteStore`]. Writes go through a [`Writer`] handed out by
//! [`SqliteStore::write`], which is one transaction: either everything the closure
//! wrote is committed, or nothing is. A committed write survives the process being
//! killed (`kill -9`); with [`Durability::Full`] it also survives power loss.

mod error;
mod sqlite;
mod traits;

pub use error::{Result, StoreError};
pub use sqlite::{ChatTurnRow, Durability, SqliteStore, StoreOptions, Writer};
pub use traits::{
    CatalogRead, CatalogWrite, EventRead, EventRow, EventWrite, ItemRecord, StatsRead, Upsert,
    UserRead, UserWrite, VectorRead, VectorWrite,
};
