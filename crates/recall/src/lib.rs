//! Candidate retrieval: the sources a request draws candidates from (a closed
//! set, one file each under `sources/`), and their fusion into one list that
//! remembers where each candidate came from.
//!
//! Each source returns its own ranked list ([`SourceList`]); [`fuse_rrf`]
//! combines them with weighted reciprocal-rank fusion, which needs no score
//! calibration between sources: a candidate scores `Σ weight / (k + rank)` over
//! the lists it appears in. Every [`Candidate`] keeps its provenance (source,
//! rank, the source's own score) for the ranking features and the "why".

mod config;
mod fusion;
mod sources;

pub use config::{DEFAULT_CANDIDATES, FusionConfig};
pub use fusion::{Candidate, Provenance, SourceList, fuse_rrf};
pub use sources::{
    ItemScorer, ItemSimilarity, MIN_SIMILARITY, NextItems, Proposal, SourceError, SourceInput,
    SourceSettings, UserState, VectorReads,
};

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a candidate came from.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Query or intent text → ANN over item embeddings.
    Semantic,
    /// The user's taste vector → ANN.
    UserProfile,
    /// Item-item collaborative model (EASE, factor models).
    Collaborative,
    /// What tends to follow the user's last items.
    Sequential,
    /// Decayed popularity.
    Popular,
    /// Rising items.
    Trending,
    /// BM25 over titles, tags and descriptions.
    Lexical,
    /// New items, for exploration.
    Fresh,
    /// Items similar to the ones the request refers to ("like Heat"):
    /// co-occurrence blended with content vectors.
    Similar,
}

impl Source {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Semantic => "semantic",
            Source::UserProfile => "user_profile",
            Source::Collaborative => "collaborative",
            Source::Sequential => "sequential",
            Source::Popular => "popular",
            Source::Trending => "trending",
            Source::Lexical => "lexical",
            Source::Fresh => "fresh",
            Source::Similar => "similar",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
