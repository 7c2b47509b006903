//! The engine's integration tests, one binary: each module is one area.

mod away;
mod chat;
mod context;
mod embedding;
mod engine;
mod experiments;
mod exposures;
mod feedback;
mod model_sets;
mod models;
mod recommend;
mod saved_catalog;
mod saved_features;
mod similar;
mod snapshots;
mod support;
mod trend;
