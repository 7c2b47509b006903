//! The like-X report as markdown.

use super::{LikeXReport, PHRASINGS};
use std::fmt::Write;

/// Renders the report: the protocol in a sentence, one row per system.
pub fn markdown(r: &LikeXReport) -> String {
    let mut out = String::new();
    let phrasings: Vec<String> = PHRASINGS
        .iter()
        .map(|(name, text)| format!("`{name}`: \"{}\"", text.replace("{title}", "X")))
        .collect();
    let _ = writeln!(
        out,
        "# Like-X: similar items from another population — {} judged by {}\n\n\
         {} seeds (of {} shared items with enough ratings; {} of the catalog's {} items are in both data sets). \
         Truth: each seed's {} nearest neighbours among the shared items by item-kNN on {}'s ratings: {}. \
         Each system's first {} items are scored.\n\
         Chat phrasings: {}; `chat` is their mean.\n\
         Engine: {} ratings, models `{}`, embeddings {}, LLM {}.\n",
        r.dataset,
        r.reference,
        r.seeds.len(),
        r.eligible_seeds,
        r.shared_items,
        r.catalog_items,
        r.truth_size,
        r.reference,
        r.similarity,
        r.k,
        phrasings.join(", "),
        r.interactions,
        r.models_version.as_deref().unwrap_or("none"),
        r.embedding_model
            .as_deref()
            .map_or("none (similar not run)".to_string(), |m| format!("`{m}`")),
        r.llm_model
            .as_deref()
            .map_or("off (rules only)".to_string(), |m| format!(
                "`{m}` for `chat+llm`, off for `chat`"
            )),
    );
    let _ = writeln!(
        out,
        "| system | precision@{k} | seed returned | judged | seeds | empty | mean ms |\n|---|---|---|---|---|---|---|",
        k = r.k
    );
    for s in &r.systems {
        let _ = writeln!(
            out,
            "| {} | {:.3} | {:.3} | {:.3} | {} | {} | {:.1} |",
            s.system, s.precision_at_5, s.seed_returned, s.judged, s.seeds, s.empty, s.mean_ms
        );
    }
    let fallbacks: Vec<String> = r
        .systems
        .iter()
        .filter(|s| s.system.starts_with("chat+llm:"))
        .map(|s| {
            let reasons: Vec<String> = s
                .fallbacks
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let used = s.seeds - s.fallbacks.values().sum::<usize>();
            format!(
                "`{}`: used {used}, fallbacks {}",
                s.system,
                if reasons.is_empty() {
                    "none".to_string()
                } else {
                    reasons.join(", ")
                }
            )
        })
        .collect();
    if !fallbacks.is_empty() {
        let _ = writeln!(out, "\nLLM re-rank: {}.", fallbacks.join("; "));
    }
    let _ = writeln!(
        out,
        "\n`judged`: share of the picks present in both catalogs (others can only miss). \
         `item-knn` is the same cosine on {}'s own ratings over its whole catalog, \
         `item-knn:shared` over the shared items only; `random` is the expectation for {} uniform picks.",
        r.dataset, r.k
    );
    out
}
