//! The LLM re-rank of a chat turn applied to a given classical list, for
//! offline evaluation (`sommelier eval --llm-sample N`): the same candidates,
//! prompt, gate and page order as a turn, without the conversation around it.

use super::grounded;
use crate::{Engine, Result};
use sommelier_llm::StageReport;
use sommelier_llm::grounded::{GroundedCandidate, Validated};
use std::time::{Duration, Instant};

/// A list re-ranked by the LLM.
#[derive(Debug, Clone)]
pub struct LlmReranked {
    /// Item ids: the model's valid picks first, then the classical order.
    pub items: Vec<String>,
    /// How the stage went (used, fallback reason, ms).
    pub report: StageReport,
}

/// The page order of a turn over `n` classical candidates: the model's valid
/// picks first (with their sentences), then the rest in classical order.
pub(crate) fn page_order(validated: Option<&Validated>, n: usize) -> Vec<(usize, Option<String>)> {
    let mut order: Vec<(usize, Option<String>)> = Vec::with_capacity(n);
    if let Some(v) = validated {
        for p in &v.picks {
            order.push((p.index, Some(p.why.clone())));
        }
    }
    for i in 0..n {
        if !order.iter().any(|(j, _)| *j == i) {
            order.push((i, None));
        }
    }
    order
}

impl Engine {
    /// Re-ranks `items` (a classical answer's ids, best first) for `request`
    /// as a chat turn would: the first `llm.rerank_candidates` go to the large
    /// model under the re-rank deadline, its picks pass the gate or the
    /// classical order stands.
    pub fn llm_rerank(&self, request: &str, items: &[String]) -> Result<LlmReranked> {
        let llm = self.llm()?;
        let built = self.vector_index()?;
        let cands: Vec<GroundedCandidate> = items
            .iter()
            .take(llm.config().rerank_candidates)
            .filter_map(|id| built.items.get(id.as_str()).map(|i| grounded(i)))
            .collect();
        let deadline = Instant::now() + Duration::from_millis(llm.config().rerank_deadline_ms);
        let out = llm.rerank(request, "", &cands, deadline, &mut |_| {});
        let reordered = page_order(out.validated.as_ref(), items.len())
            .into_iter()
            .filter_map(|(i, _)| items.get(i).cloned())
            .collect();
        Ok(LlmReranked {
            items: reordered,
            report: out.llm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sommelier_llm::grounded::ValidPick;

    #[test]
    fn picks_lead_and_the_rest_keep_their_order() {
        let v = Validated {
            picks: vec![
                ValidPick {
                    index: 2,
                    why: "x".into(),
                },
                ValidPick {
                    index: 0,
                    why: "y".into(),
                },
            ],
            follow_ups: vec![],
        };
        let order: Vec<usize> = page_order(Some(&v), 5)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(order, [2, 0, 1, 3, 4]);
        let plain: Vec<usize> = page_order(None, 3).into_iter().map(|(i, _)| i).collect();
        assert_eq!(plain, [0, 1, 2]);
    }
}
