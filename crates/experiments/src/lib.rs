//! Online experiments.
//!
//! - [`define`]: what an experiment is (variants as configuration
//!   overrides, a traffic share, a layer, a unit) and the checks a
//!   definition passes before it serves.
//! - [`assign`]: which variant a user or session gets: a hash of
//!   (layer, unit) picks the experiment of a layer (layers are mutually
//!   exclusive), a hash of (experiment, unit) the variant. No state, so the
//!   same on every restart and every replica.
//! - [`analysis`]: per-variant metrics from per-unit totals, differences
//!   with delta-method intervals, an always-valid sequential test (mSPRT)
//!   evaluated at each day's close, and the sample ratio mismatch check.
//! - [`interleave`]: team-draft interleaving of two rankers in one list,
//!   and its analysis (each clicked list a vote for the team of its clicks).
//! - [`simulate`]: synthetic traffic with a known effect, to show the
//!   analysis finds it at the power it should and keeps its false
//!   positives at their nominal rate.
//! - [`sensitivity`]: the same traffic compared by a split and by
//!   interleaving, to show how many fewer users interleaving needs.
//!
//! No I/O: the engine stores definitions and exposures and hands the
//! analysis its totals.

pub mod analysis;
pub mod assign;
pub mod define;
pub mod interleave;
pub mod render;
pub mod sensitivity;
pub mod simulate;
pub mod stats;

pub use analysis::{
    Comparison, Metric, Observation, Observed, Options, Report, UnitTotals, VariantMetrics, analyse,
};
pub use assign::{Assignment, assign};
pub use define::{DefineError, Experiment, Mode, State, Surface, Unit, Variant, check_all};
