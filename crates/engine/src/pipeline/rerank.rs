//! Stage 5, business re-rank: boosts (launch window, exploration, margin),
//! exposure caps and MMR diversity over the filtered pool
//! (`rank::rerank`); the exposures of the picks are counted for the caps.

use super::Pipeline;
use sommelier_rank::Entry;
use sommelier_types::Timestamp;

/// MMR's λ for a request that names items ("like Heat"), unless it sets its
/// own: near-duplicates still spread out, but the closest items are not
/// traded for variety the request did not ask for.
pub const REFERENCE_MMR_LAMBDA: f64 = 0.95;

/// The best `k` of `pool` after boosts (the request's category boosts
/// among them), caps and MMR (λ: the request's, else `rerank.mmr_lambda`).
pub(super) fn rerank(
    p: &Pipeline<'_>,
    pool: Vec<Entry>,
    k: usize,
    mmr_lambda: Option<f64>,
    categories: &std::collections::BTreeMap<String, f64>,
) -> Vec<Entry> {
    let rr = &p.config.rerank;
    let lambda = mmr_lambda.unwrap_or(rr.mmr_lambda).clamp(0.0, 1.0);
    let wall = Timestamp::now();
    let exposure = p.exposure.filter(|_| rr.exposure_cap_per_hour > 0);
    let capped = exposure
        .map(|e| e.capped(rr.exposure_cap_per_hour, wall.0))
        .unwrap_or_default();
    let picked =
        sommelier_rank::rerank::rerank_with(pool, k, rr, lambda, &capped, wall, categories);
    if let Some(e) = exposure {
        e.record(picked.iter().map(|e| e.ranked.item.as_str()), wall.0);
    }
    picked
}
