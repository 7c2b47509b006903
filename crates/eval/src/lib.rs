//! Offline evaluation of the real recommendation pipeline: deterministic
//! splits ([`split`]), ranking and catalog metrics ([`metrics`]), the run
//! itself ([`evaluate`]), and reports ([`report`]).

pub mod metrics;
pub mod report;
mod run;
pub mod split;

pub use run::{
    COLD_MAX, EvalError, EvalOptions, EvalReport, LLM_REQUEST, LlmSample, SystemResult, evaluate,
};
