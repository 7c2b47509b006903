//! The benchmark harness behind `sommelier bench`: synthetic data, load
//! generators and measurements whose results go to docs/benchmarks.md with
//! the commands that produced them.
//!
//! One module per family of benchmarks, each with its options (clap
//! [`Args`](clap::Args), so the CLI wraps them as they are) and the functions
//! that run them:
//!
//! * [`catalog`]: synthetic data: an events file (`gen-events`) and a
//!   catalog written straight into the store (`gen-catalog`);
//! * [`http`]: load generators against a running server (`http-ingest`,
//!   `http-recommend`);
//! * [`embed`]: throughput of the local embedding model (`embed`);
//! * [`ann`]: HNSW recall against exact search (`ann`) and the fitted iALS
//!   graph against its exact scan (`als-graph`);
//! * [`llm`]: local LLM tokens/s (`llm`) and generated chat conversations
//!   over the catalog (`chat`).
//!
//! Results are written line by line to the `out` writer a function is given
//! (the CLI passes standard output), as they are measured; what decides an
//! exit code comes back in the returned report.

macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err($crate::BenchError::Output)?
    };
}

pub mod ann;
pub mod catalog;
pub mod embed;
mod error;
pub mod http;
mod in_turn;
pub mod llm;
mod stats;

pub use error::{BenchError, Result};

use sommelier_engine::{Config, Engine};

/// Opens the engine over the store `config` names (for the benchmarks that
/// need the store only for some options).
fn open(config: &Config) -> Result<Engine> {
    Engine::open(config.clone()).map_err(|source| BenchError::Open {
        path: config.store_location().into(),
        source,
    })
}
