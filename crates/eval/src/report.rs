//! Reports: the JSON of an [`EvalReport`] and a markdown summary.

use crate::EvalReport;
use crate::metrics::Summary;
use std::fmt::Write;

/// One markdown table row of a summary.
fn row(name: &str, s: &Summary) -> String {
    format!(
        "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.3} | {:.3} | {:.2} | {:.2} |",
        s.hr, s.recall, s.ndcg, s.mrr, s.map, s.coverage, s.diversity, s.novelty, s.popularity_bias
    )
}

const HEADER: &str = "| system | HR | Recall | NDCG | MRR | MAP | coverage | diversity | novelty | pop. bias |\n|---|---|---|---|---|---|---|---|---|---|";

/// Renders the report as markdown: one table per cutoff, all users then cold users.
pub fn markdown(r: &EvalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Evaluation: {} — {} ({} split)\n\n{} interactions, {} for training; {} test users ({} cold: ≤ {} training interactions); catalog {} items.\nModels `{}`; embeddings {}.\nSplit files: `{}`.\n",
        r.dataset,
        r.protocol,
        r.split,
        r.interactions,
        r.train,
        r.test_users,
        r.cold_users,
        crate::COLD_MAX,
        r.catalog,
        r.models_version.as_deref().unwrap_or("none"),
        r.embedding_model
            .as_deref()
            .map_or("none (vector sources skipped)".to_string(), |m| format!(
                "`{m}`"
            )),
        r.split_dir.display()
    );
    let ks: Vec<usize> = r
        .systems
        .first()
        .map(|s| s.at.keys().copied().collect())
        .unwrap_or_default();
    for k in ks {
        let _ = writeln!(out, "## @{k}\n\n{HEADER}");
        for s in &r.systems {
            let _ = writeln!(out, "{}", row(&s.system, &s.at[&k]));
        }
        let _ = writeln!(out, "\nCold users:\n\n{HEADER}");
        for s in &r.systems {
            let _ = writeln!(out, "{}", row(&s.system, &s.cold[&k]));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Cost\n\n| system | ms per user |\n|---|---|");
    for s in &r.systems {
        let _ = writeln!(out, "| {} | {:.2} |", s.system, s.ms_per_user);
    }
    out
}
