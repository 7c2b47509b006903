//! Lexical: BM25 over titles, categories, tags and descriptions, for the
//! request's words.

use super::{Proposal, SourceError, SourceInput};

pub(super) fn propose(input: &SourceInput<'_>, limit: usize) -> Result<Proposal, SourceError> {
    match (input.query, input.lexical) {
        (Some(q), Some(ix)) => Ok(Proposal::List(ix.search(q, limit)?)),
        (Some(_), None) => Ok(Proposal::Skipped("no lexical index")),
        (None, _) => Ok(Proposal::Skipped("no query")),
    }
}
