//! A report as people read it: a markdown table and SVG plots (the
//! always-valid p-value of each comparison at each look against the
//! fixed-horizon one, and each variant's click-through with its interval).

use crate::analysis::Report;
use std::fmt::Write;

/// The report as markdown: variants, comparisons, sample ratio check.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Experiment `{}`\n", r.experiment);
    if let Some(i) = &r.interleaving {
        let _ = writeln!(
            out,
            "Interleaved (team draft): {} lists, {} with clicks, by {} users.\n\n| | {} wins | {} wins | ties | preference for {} | {:.0} % interval | p |\n|---|---|---|---|---|---|---|\n| lists | {} | {} | {} | {:+.3} | [{:+.3}, {:+.3}] | {:.4} |",
            i.lists,
            i.lists_with_clicks,
            i.units,
            i.variants[0],
            i.variants[1],
            i.variants[1],
            100.0 * (1.0 - r.alpha),
            i.wins[0],
            i.wins[1],
            i.ties,
            i.preference,
            i.low,
            i.high,
            i.p
        );
        return out;
    }
    let _ = writeln!(
        out,
        "| variant | units | share (expected) | lists | CTR | conversion | mean rating | return | p50 / p99 ms | LLM fallback |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for v in &r.variants {
        let _ = writeln!(
            out,
            "| {}{} | {} | {:.3} ({:.3}) | {} | {:.4} ± {:.4} | {:.4} ± {:.4} | {:.2} | {:.3} | {:.1} / {:.1} | {} |",
            v.variant,
            if v.variant == r.control {
                " (control)"
            } else {
                ""
            },
            v.units,
            v.share,
            v.expected_share,
            v.exposures,
            v.ctr.value,
            1.96 * v.ctr.se,
            v.conversion.value,
            1.96 * v.conversion.se,
            v.mean_rating.value,
            v.return_rate.value,
            v.latency_p50_ms,
            v.latency_p99_ms,
            v.llm_fallback_rate
                .map(|x| format!("{:.1} %", 100.0 * x))
                .unwrap_or_else(|| "–".into()),
        );
    }
    let _ = writeln!(
        out,
        "\n| variant | metric | difference | {:.0} % interval | relative | p (fixed, read once) | p (sequential, any look) | |\n|---|---|---|---|---|---|---|---|",
        100.0 * (1.0 - r.alpha)
    );
    for c in &r.comparisons {
        let _ = writeln!(
            out,
            "| {} | {} | {:+.4} | [{:+.4}, {:+.4}] | {:+.1} % | {:.4} | {:.4} | {} |",
            c.variant,
            c.metric,
            c.difference,
            c.low,
            c.high,
            100.0 * c.relative,
            c.p_fixed,
            c.p_sequential,
            if c.significant { "**significant**" } else { "" }
        );
    }
    let _ = writeln!(
        out,
        "\nSample ratio: p = {:.4}{} over {} look(s).",
        r.srm_p,
        if r.srm {
            " — **MISMATCH**: units did not split as the weights say; find out why before reading any difference"
        } else {
            " (no mismatch)"
        },
        r.looks
    );
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The p-values of one comparison metric (`ctr` by default) at each look,
/// on a log scale: the sequential one (its running minimum is the answer)
/// against the fixed-horizon one read every day, with the `alpha` line.
pub fn looks_svg(r: &Report, metric: &str) -> String {
    let (w, h, left, bottom, top, right) = (760.0, 420.0, 64.0, 48.0, 40.0, 20.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let looks = r.looks.max(2) as f64;
    let floor = 1e-4f64;
    let x = |i: usize| left + plot_w * i as f64 / (looks - 1.0);
    let y = |p: f64| top + plot_h * (p.max(floor).log10() / floor.log10());
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{} — p-value of {} by look</text>\n",
        w / 2.0,
        escape(&r.experiment),
        escape(metric)
    );
    let x_end = w - right;
    for p in [1.0, 0.1, 0.01, 0.001, 0.0001] {
        let (yp, label_x, label_y) = (y(p), left - 6.0, y(p) + 4.0);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{x_end}\" y1=\"{yp}\" y2=\"{yp}\" stroke=\"#ddd\"/><text x=\"{label_x}\" y=\"{label_y}\" text-anchor=\"end\">{p}</text>"
        );
    }
    let (ya, alpha, ya_label) = (y(r.alpha), r.alpha, y(r.alpha) - 4.0);
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" x2=\"{x_end}\" y1=\"{ya}\" y2=\"{ya}\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/><text x=\"{x_end}\" y=\"{ya_label}\" fill=\"#d62728\" text-anchor=\"end\">alpha {alpha}</text>"
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">look (day)</text>",
        left + plot_w / 2.0,
        h - 10.0
    );
    let palette = [
        "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    ];
    let mut legend_y = top + 14.0;
    for (i, c) in r
        .comparisons
        .iter()
        .filter(|c| c.metric == metric)
        .enumerate()
    {
        let color = palette[i % palette.len()];
        for (series, dash, label) in [
            (&c.looks, "", "sequential"),
            (
                &c.looks_fixed,
                " stroke-dasharray=\"3 3\"",
                "fixed, read daily",
            ),
        ] {
            let pts: Vec<String> = series
                .iter()
                .enumerate()
                .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(*p)))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                pts.join(" ")
            );
            let _ = writeln!(
                s,
                "<line x1=\"{0}\" x2=\"{1}\" y1=\"{legend_y}\" y2=\"{legend_y}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{2}\" y=\"{3}\">{4} vs {5}: {label}</text>",
                w - right - 250.0,
                w - right - 226.0,
                w - right - 220.0,
                legend_y + 4.0,
                escape(&c.variant),
                escape(&r.control)
            );
            legend_y += 16.0;
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use crate::simulate::{Simulation, experiment, observations};

    #[test]
    fn a_report_renders_with_every_variant_and_a_line_per_comparison() {
        let e = experiment();
        let sim = Simulation {
            users: 400,
            days: 5,
            ..Simulation::default()
        };
        let r = crate::analyse(&e, &observations(&sim, &e, 3), &Default::default());
        let md = super::markdown(&r);
        assert!(
            md.contains("| control (control) |") && md.contains("| treatment |"),
            "{md}"
        );
        assert!(md.contains("| treatment | ctr |"), "{md}");
        let svg = super::looks_svg(&r, "ctr");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
    }
}
