//! Offline evaluation of the real recommendation pipeline: deterministic
//! splits ([`split`]), ranking and catalog metrics ([`metrics`]), the run
//! itself ([`evaluate`]), the reports it writes ([`report`]) and finding
//! them again ([`reports`]); the like-X task ([`like_x`]: similar items,
//! judged by another population).

pub mod like_x;
mod llm_sample;
pub mod metrics;
pub mod report;
pub mod reports;
mod run;
pub mod split;
mod systems;

pub use run::{
    COLD_MAX, EvalError, EvalOptions, EvalReport, LLM_REQUEST, LlmSample, SystemResult, evaluate,
};
