//! The chat turn's LLM re-rank, measured on a sample of test users
//! (`sommelier eval --llm-sample N`).

use crate::metrics::{CatalogFacts, Summary, summarise};
use crate::{EvalError, EvalOptions, LLM_REQUEST};
use serde::Serialize;
use sommelier_engine::Engine;
use std::collections::BTreeMap;

/// The LLM re-rank measured on a sample of test users.
#[derive(Debug, Clone, Serialize)]
pub struct LlmSample {
    /// Users sampled.
    pub users: usize,
    /// The request text the stage was given.
    pub request: String,
    /// The re-rank model.
    pub model: String,
    /// Users whose answer passed the gate and was used.
    pub used: usize,
    /// Users whose list the re-rank changed (its picks were not simply the
    /// classical first ones, in order).
    pub reordered: usize,
    /// Fallback reasons and how often they happened.
    pub fallbacks: BTreeMap<String, usize>,
    /// Mean milliseconds of the stage per user.
    pub mean_ms: f64,
    /// 95th percentile milliseconds.
    pub p95_ms: f64,
    /// The classical pipeline on the sampled users, per cutoff.
    pub classical: BTreeMap<usize, Summary>,
    /// The same lists after the LLM re-rank, per cutoff.
    pub reranked: BTreeMap<usize, Summary>,
}

/// Runs the chat turn's re-rank stage over the default pipeline's list
/// (`classical`, already scored as the `sommelier` system) of `n` test users
/// and scores both lists on them.
pub(crate) fn llm_sample(
    o: &EvalOptions<'_>,
    engine: &Engine,
    test: &BTreeMap<String, Vec<String>>,
    classical_lists: &BTreeMap<String, Vec<String>>,
    n: usize,
    facts: &CatalogFacts,
) -> Result<LlmSample, EvalError> {
    let llm = sommelier_llm::Llm::load(&o.config.llm, &o.config.data_dir)
        .map_err(|e| EvalError::Usage(format!("--llm-sample: cannot load the LLM: {e}")))?;
    if llm.large().is_off() {
        return Err(EvalError::Usage(
            "--llm-sample needs a model, but the LLM is off: run `sommelier models fetch smollm2-135m-instruct` or configure [llm.large]".into(),
        ));
    }
    let model = llm.large().model_id();
    engine.set_llm(llm);
    let step = (test.len() / n).max(1);
    let sample: Vec<&String> = test.keys().step_by(step).take(n).collect();
    let truth: BTreeMap<String, Vec<String>> = sample
        .iter()
        .map(|u| ((*u).clone(), test[*u].clone()))
        .collect();
    let (mut classical, mut reranked) = (BTreeMap::new(), BTreeMap::new());
    let mut ms = Vec::with_capacity(sample.len());
    let mut used = 0;
    let mut reordered = 0;
    let mut fallbacks: BTreeMap<String, usize> = BTreeMap::new();
    for user in &sample {
        let before = &classical_lists[*user];
        let out = engine.llm_rerank(LLM_REQUEST, before)?;
        ms.push(out.report.ms);
        if out.report.used {
            used += 1;
        } else {
            *fallbacks
                .entry(out.report.fallback.unwrap_or_else(|| "unknown".into()))
                .or_default() += 1;
        }
        if *before != out.items {
            reordered += 1;
        }
        classical.insert((*user).clone(), before.clone());
        reranked.insert((*user).clone(), out.items);
    }
    ms.sort_by(f64::total_cmp);
    let p95 = ms
        .get(((ms.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0.0);
    let per_k = |lists: &BTreeMap<String, Vec<String>>| {
        o.ks.iter()
            .map(|k| (*k, summarise(lists, &truth, *k, facts)))
            .collect()
    };
    tracing::info!(users = sample.len(), used, "LLM re-rank sample evaluated");
    Ok(LlmSample {
        users: sample.len(),
        request: LLM_REQUEST.into(),
        model,
        used,
        reordered,
        fallbacks,
        mean_ms: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
        p95_ms: p95,
        classical: per_k(&classical),
        reranked: per_k(&reranked),
    })
}
