//! Reports: the JSON of an [`EvalReport`] and a markdown summary.

use crate::EvalReport;
use crate::metrics::Summary;
use crate::run::SystemResult;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One markdown table row of a summary.
fn row(name: &str, s: &Summary) -> String {
    format!(
        "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.3} | {:.3} | {:.2} | {:.2} |",
        s.hr, s.recall, s.ndcg, s.mrr, s.map, s.coverage, s.diversity, s.novelty, s.popularity_bias
    )
}

const HEADER: &str = "| system | HR | Recall | NDCG | MRR | MAP | coverage | diversity | novelty | pop. bias |\n|---|---|---|---|---|---|---|---|---|---|";

/// Renders the report as markdown: one table per cutoff, all users, then
/// the cold users and the untied users when there are any.
pub fn markdown(r: &EvalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Evaluation: {} — {} ({} split)\n\n{} interactions, {} for training; {} test users ({} cold: ≤ {} training interactions; {} whose held-out item shares its second with their last training item{}); catalog {} items.\nModels `{}`; embeddings {}.\nSplit files: `{}`.\n",
        r.dataset,
        r.protocol,
        r.split,
        r.interactions,
        r.train,
        r.test_users,
        r.cold_users,
        crate::COLD_MAX,
        r.tied_users,
        match r.ties.as_deref() {
            Some(t) if t == crate::split::Ties::ItemId.name() => {
                ", ties ordered by item id: the legacy protocol"
            }
            Some(_) => ", ties ordered by a seeded hash",
            None => "",
        },
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
        // A group with no users, or the same users as the whole, gets no
        // table (a table of zeros read as a result).
        let mut group = |title: String, pick: fn(&SystemResult) -> &BTreeMap<usize, Summary>| {
            let _ = writeln!(out, "\n{title}:\n\n{HEADER}");
            for s in &r.systems {
                let _ = writeln!(out, "{}", row(&s.system, &pick(s)[&k]));
            }
        };
        if r.cold_users > 0 {
            group(format!("Cold users ({})", r.cold_users), |s| &s.cold);
        }
        if r.tied_users > 0 {
            let untied = r.test_users - r.tied_users;
            group(
                format!(
                    "Untied users ({untied} whose held-out item is not in their last training second)"
                ),
                |s| &s.untied,
            );
        }
        out.push('\n');
    }
    if let Some(l) = &r.llm {
        let fallbacks: Vec<String> = l
            .fallbacks
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            out,
            "## LLM re-rank on a sample\n\n{} users (every {}th test user by id), asked \"{}\" with `{}`: the answer passed the gate for {} ({:.0}%) and changed the order for {}; fallbacks: {}. Stage time: mean {:.0} ms, p95 {:.0} ms.\n",
            l.users,
            (r.test_users / l.users.max(1)).max(1),
            l.request,
            l.model,
            l.used,
            100.0 * l.used as f64 / l.users.max(1) as f64,
            l.reordered,
            if fallbacks.is_empty() {
                "none".to_string()
            } else {
                fallbacks.join(", ")
            },
            l.mean_ms,
            l.p95_ms
        );
        for (k, c) in &l.classical {
            let _ = writeln!(out, "@{k}\n\n{HEADER}");
            let _ = writeln!(out, "{}", row("classical (sample)", c));
            let _ = writeln!(out, "{}\n", row("classical + LLM re-rank", &l.reranked[k]));
        }
    }
    let _ = writeln!(out, "## Cost\n\n| system | ms per user |\n|---|---|");
    for s in &r.systems {
        let _ = writeln!(out, "| {} | {:.2} |", s.system, s.ms_per_user);
    }
    out
}

/// Draws the report's plots as SVG files in `dir`: NDCG and HR against the
/// cutoff for every system, and (when MMR λ values were run) the
/// diversity/accuracy trade-off. Returns the files written.
pub fn plots(r: &EvalReport, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, String> {
    use plotters::prelude::*;
    let tag = format!("{}-{}-{}", r.dataset, r.protocol, r.split);
    let mut written = Vec::new();
    let palette = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x94, 0x67, 0xbd),
        RGBColor(0x8c, 0x56, 0x4b),
        RGBColor(0xe3, 0x77, 0xc2),
        RGBColor(0x7f, 0x7f, 0x7f),
        RGBColor(0xbc, 0xbd, 0x22),
        RGBColor(0x17, 0xbe, 0xcf),
    ];
    let err = |e: &dyn std::fmt::Display| e.to_string();
    // Metric against K, one line per system (MMR variants left out).
    let systems: Vec<&crate::SystemResult> = r
        .systems
        .iter()
        .filter(|s| !s.system.contains("mmr="))
        .collect();
    for (metric, pick) in [
        ("ndcg", (|s: &Summary| s.ndcg) as fn(&Summary) -> f64),
        ("hr", |s: &Summary| s.hr),
    ] {
        let path = dir.join(format!("plot-{tag}-{metric}-at-k.svg"));
        let ks: Vec<usize> = systems
            .first()
            .map(|s| s.at.keys().copied().collect())
            .unwrap_or_default();
        if ks.len() < 2 {
            continue;
        }
        let top = systems
            .iter()
            .flat_map(|s| s.at.values().map(pick))
            .fold(0.0f64, f64::max)
            .max(1e-6)
            * 1.1;
        let root = SVGBackend::new(&path, (760, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{} @K — {} ({})",
                    metric.to_uppercase(),
                    r.dataset,
                    r.protocol
                ),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..(*ks.last().unwrap_or(&20) as f64 + 1.0), 0f64..top)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("K")
            .y_desc(metric.to_uppercase())
            .draw()
            .map_err(|e| err(&e))?;
        for (i, s) in systems.iter().enumerate() {
            let color = palette[i % palette.len()];
            let pts: Vec<(f64, f64)> = s.at.iter().map(|(k, v)| (*k as f64, pick(v))).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(s.system.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
        drop(chart);
        drop(root);
        written.push(path);
    }
    // Diversity against NDCG@10 over λ.
    let k = 10;
    let trade: Vec<(String, f64, f64)> = r
        .systems
        .iter()
        .filter(|s| s.system == "sommelier" || s.system.contains("mmr="))
        .filter_map(|s| {
            s.at.get(&k)
                .map(|m| (s.system.replace("sommelier:", ""), m.diversity, m.ndcg))
        })
        .collect();
    if trade.len() >= 2 {
        let path = dir.join(format!("plot-{tag}-mmr-tradeoff.svg"));
        let (dlo, dhi) = trade
            .iter()
            .fold((1.0f64, 0.0f64), |(a, b), t| (a.min(t.1), b.max(t.1)));
        let nhi = trade.iter().map(|t| t.2).fold(0.0f64, f64::max) * 1.05;
        let nlo = trade.iter().map(|t| t.2).fold(f64::INFINITY, f64::min) * 0.9;
        let root = SVGBackend::new(&path, (760, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Diversity vs NDCG@{k} over MMR λ — {}", r.dataset),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d((dlo - 0.01)..(dhi + 0.01), nlo..nhi.max(nlo + 1e-6))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("intra-list diversity@10")
            .y_desc(format!("NDCG@{k}"))
            .draw()
            .map_err(|e| err(&e))?;
        let color = palette[0];
        let mut pts: Vec<(f64, f64)> = trade.iter().map(|t| (t.1, t.2)).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| err(&e))?;
        for (name, d, n) in &trade {
            chart
                .draw_series(std::iter::once(Circle::new((*d, *n), 4, color.filled())))
                .map_err(|e| err(&e))?;
            let label = if name == "sommelier" {
                "default".to_string()
            } else {
                name.clone()
            };
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (*d, *n * 1.02),
                    ("sans-serif", 13),
                )))
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
        drop(chart);
        drop(root);
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn summary(ndcg: f64) -> BTreeMap<usize, Summary> {
        BTreeMap::from([(
            10,
            Summary {
                ndcg,
                ..Summary::default()
            },
        )])
    }

    fn report(cold_users: usize, tied_users: usize) -> EvalReport {
        let system = |name: &str, base: f64| SystemResult {
            system: name.into(),
            at: summary(base),
            cold: summary(base + 0.1),
            untied: summary(base + 0.2),
            ms_per_user: 1.0,
        };
        EvalReport {
            dataset: "d".into(),
            protocol: "leave-last-out".into(),
            ties: Some("hash".into()),
            tied_users,
            split: "test".into(),
            interactions: 100,
            train: 90,
            test_users: 10,
            cold_users,
            catalog: 50,
            split_dir: PathBuf::from("s"),
            lists_dir: PathBuf::from("l"),
            models_version: None,
            embedding_model: None,
            systems: vec![system("a", 0.1), system("b", 0.5)],
            llm: None,
        }
    }

    #[test]
    fn each_group_of_users_gets_its_own_table_from_its_own_figures() {
        let md = markdown(&report(3, 4));
        let cold = md.find("Cold users (3):").expect(&md);
        let untied = md.find("Untied users (6 whose held-out item").expect(&md);
        assert!(cold < untied, "{md}");
        let row = |name: &str, ndcg: f64| format!("| {name} | 0.0000 | 0.0000 | {ndcg:.4} |");
        for (name, base) in [("a", 0.1), ("b", 0.5)] {
            let all = md.find(&row(name, base)).expect(&md);
            let c = md.find(&row(name, base + 0.1)).expect(&md);
            let u = md.find(&row(name, base + 0.2)).expect(&md);
            assert!(all < cold && cold < c && c < untied && untied < u, "{md}");
        }
    }

    #[test]
    fn a_group_with_no_users_gets_no_table() {
        let md = markdown(&report(0, 0));
        assert!(!md.contains("Cold users"), "{md}");
        assert!(!md.contains("Untied users"), "{md}");
        assert!(md.contains("| a | 0.0000 | 0.0000 | 0.1000 |"), "{md}");
    }
}
