//! Stage 1, sources: the request's query vector, the user's state, and every
//! wanted candidate source's ranked list (each source is a file of
//! `recall::sources`), each timed, with a report of what it did.

use super::sequence::UserSequence;
use super::{ContextUsed, Pipeline, RecommendRequest, SourceReport, Timings, ms};
use crate::Result;
use sommelier_features::{ContextKey, FeatureRead};
use sommelier_index::Filter;
use sommelier_recall::{
    ItemScorer, NextItems, Proposal, Source, SourceInput, SourceList, UserState,
};
use sommelier_types::Timestamp;
use std::time::Instant;

/// Every source's answer for one request, and the user state they used.
pub(super) struct Gathered<'f> {
    pub(super) lists: Vec<SourceList>,
    pub(super) reports: Vec<SourceReport>,
    /// The user's history and the items they have an event on (sorted).
    pub(super) user: UserState<'f>,
    /// The request's time of day and device, resolved against the features.
    pub(super) context: ContextKey,
    /// The user's state in the sequence model, if one serves.
    pub(super) sequence: Option<UserSequence>,
    /// When the person asks (the context's `asked_at`, else the clock).
    pub(super) asked: Timestamp,
}

impl Gathered<'_> {
    /// Whether the user has an event on `item`.
    pub(super) fn seen(&self, item: &str) -> bool {
        self.user.seen.binary_search(&item).is_ok()
    }

    /// The scales of the lists, for the ranking signals.
    pub(super) fn scales(&self, per_source: usize) -> sommelier_rank::signals::Scales {
        let away = self
            .user
            .history
            .last()
            .map(|h| (self.asked.0 - h.timestamp.0) / 1000);
        sommelier_rank::signals::Scales::of(&self.lists, per_source, self.context).away(away)
    }

    /// The context the request was ranked in, as the response reports it.
    pub(super) fn context_used(&self, hour: Option<u8>, req: &RecommendRequest) -> ContextUsed {
        ContextUsed {
            hour,
            daypart: self
                .context
                .daypart
                .map(|d| sommelier_features::context::DAYPARTS[usize::from(d)]),
            device: self
                .context
                .device
                .and(req.context.device.as_deref())
                .map(|d| d.trim().to_ascii_lowercase()),
        }
    }

    fn push(&mut self, source: Source, weight: f64, items: Vec<(String, f64)>) {
        self.reports.push(SourceReport {
            source,
            weight,
            candidates: items.len(),
            skipped: None,
        });
        self.lists.push(SourceList {
            source,
            weight,
            items,
        });
    }

    fn skip(&mut self, source: Source, why: &str) {
        self.reports.push(SourceReport {
            source,
            weight: 0.0,
            candidates: 0,
            skipped: Some(why.into()),
        });
    }
}

/// The semantic query of a request: its text embedded (before any lock is
/// taken), or why there is none. (Items a request refers to reach the
/// `similar` source, not this one.)
pub(super) fn query_vector(
    p: &Pipeline<'_>,
    req: &RecommendRequest,
    timings: &mut Timings,
) -> Result<std::result::Result<Vec<f32>, &'static str>> {
    let t = Instant::now();
    let text = req.query.as_deref().filter(|q| !q.trim().is_empty());
    let query = match (text, &p.embedder) {
        (Some(q), Some(embedder)) => Ok(embedder.embed(&[q])?.remove(0)),
        (Some(_), None) => Err("no query embedder loaded"),
        (None, _) => Err("no query"),
    };
    timings.insert("embed_query", ms(t));
    Ok(query)
}

/// Runs every wanted source.
#[allow(clippy::too_many_arguments)]
pub(super) fn gather<'f>(
    p: &Pipeline<'_>,
    f: &'f dyn FeatureRead,
    now: Timestamp,
    req: &RecommendRequest,
    hour: Option<u8>,
    query: std::result::Result<&[f32], &'static str>,
    filter: &Filter,
    timings: &mut Timings,
) -> Result<Gathered<'f>> {
    let fusion = &p.config.fusion;
    let t = Instant::now();
    let history = req
        .user_id
        .as_deref()
        .and_then(|u| f.user(u, now))
        .map(|u| u.recent)
        .unwrap_or_default();
    let mut seen = req
        .user_id
        .as_deref()
        .map(|u| f.seen(u))
        .unwrap_or_default();
    seen.sort();
    let mut out = Gathered {
        lists: Vec::new(),
        reports: Vec::new(),
        user: UserState { history, seen },
        context: f.context_key(hour, req.context.device.as_deref()),
        sequence: None,
        asked: req.context.asked_at.unwrap_or(now),
    };
    timings.insert("features", ms(t));
    let t = Instant::now();
    out.sequence = UserSequence::of(p, &out.user);
    if out.sequence.is_some() {
        timings.insert("sequence_model", ms(t));
    }
    let models = p.models.as_deref();
    let like_items = req.references();
    let interactions = crate::similarity::interactions(f, now);
    let hybrid = crate::similarity::Hybrid {
        cooccurrence: models.and_then(|m| m.similar.as_ref()),
        snapshot: &p.snapshot,
        interactions: &interactions,
        prior: models.map_or(crate::similarity::DEFAULT_PRIOR, |m| m.similar_prior()),
    };
    let input = SourceInput {
        query: req
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty()),
        query_vector: query,
        filter,
        user: &out.user,
        context: out.context,
        features: f,
        now,
        wall_now: Timestamp::now(),
        vectors: &*p.snapshot,
        lexical: p.snapshot.lexical.as_deref(),
        newest: &p.snapshot.newest,
        collaborative: models.map(|m| &m.collaborative as &dyn ItemScorer),
        sequential: models.map(|m| &m.sequential as &dyn ItemScorer),
        next_items: out.sequence.as_ref().map(|s| s as &dyn NextItems),
        like_items: &like_items,
        similarity: Some(&hybrid),
        settings: &p.settings,
        deadline: None,
    };
    // Cold start without a query leans on popularity.
    let cold_without_query = out.user.is_cold() && req.query.is_none();
    let mut answers = Vec::with_capacity(Source::ALL.len());
    for source in Source::ALL {
        let t = Instant::now();
        let wanted = req.sources.as_ref().is_none_or(|v| v.contains(&source));
        let weight = fusion.weight(source, cold_without_query);
        // A fresh list of weight 0 is not worth its scan.
        let proposal = if !wanted || (source == Source::Fresh && weight <= 0.0) {
            Proposal::Skipped("not requested")
        } else {
            source.propose(&input, fusion.limit(source))?
        };
        timings.insert(source.as_str(), ms(t));
        answers.push((source, weight, proposal));
    }
    // A request that names items and gets their neighbours is led by them
    // (`fuse::reference_weight`).
    let led_by_similar = !like_items.is_empty()
        && answers
            .iter()
            .any(|(s, _, p)| *s == Source::Similar && matches!(p, Proposal::List(_)));
    for (source, weight, proposal) in answers {
        let weight = if led_by_similar {
            super::fuse::reference_weight(source, weight)
        } else {
            weight
        };
        match proposal {
            Proposal::List(items) => out.push(source, weight, items),
            Proposal::Skipped(why) => out.skip(source, why),
        }
    }
    Ok(out)
}
