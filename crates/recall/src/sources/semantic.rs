//! Semantic: the request's query vector (its embedded text, or a referenced
//! item's vector) → nearest items in the vector index.

use super::{Proposal, SourceError, SourceInput, close};

pub(super) fn propose(input: &SourceInput<'_>, limit: usize) -> Result<Proposal, SourceError> {
    match input.query_vector {
        Ok(v) => Ok(Proposal::List(close(input.vectors.search(
            v,
            limit,
            input.filter,
        )?))),
        Err(why) => Ok(Proposal::Skipped(why)),
    }
}
