//! `sommelier experiments …` (straight on the store: a running server
//! picks a declaration up when it next loads its experiments — at once for
//! those made over its own API) and `sommelier bench ab`.

use super::{config, open};
use crate::args::{AbArgs, Cli, ExperimentsCommand, InterleaveArgs};
use sommelier_engine::experiment::analysis::Options;
use sommelier_engine::experiment::simulate::{Simulation, power};
use sommelier_engine::experiment::{Experiment, State, render};
use std::io::Write;
use std::process::ExitCode;

pub(crate) fn run(cli: &Cli, c: &ExperimentsCommand) -> anyhow::Result<ExitCode> {
    let engine = open(config(cli, None)?)?;
    match c {
        ExperimentsCommand::List => {
            for v in engine.experiments()? {
                let e = &v.definition;
                let range = e
                    .range()
                    .map(|r| format!("{}..{}", r.start, r.end))
                    .unwrap_or_default();
                let variants: Vec<String> = e
                    .variants
                    .iter()
                    .map(|x| format!("{}×{}", x.name, x.weight))
                    .collect();
                println!(
                    "{:<24} {:<8} {:<7} layer {:<12} traffic {:.2} buckets {:<11} {}",
                    e.name,
                    format!("{:?}", e.state).to_lowercase(),
                    v.origin,
                    e.layer,
                    e.traffic,
                    range,
                    variants.join(" ")
                );
            }
        }
        ExperimentsCommand::Declare { file } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let e: Experiment = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let v = engine.put_experiment(e)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        ExperimentsCommand::Start { name } => {
            engine.set_experiment_state(name, State::Running)?;
            println!("started {name}");
        }
        ExperimentsCommand::Stop { name } => {
            engine.set_experiment_state(name, State::Stopped)?;
            println!("stopped {name}");
        }
        ExperimentsCommand::Report {
            name,
            window_hours,
            alpha,
            out,
        } => {
            anyhow::ensure!(
                *window_hours > 0.0 && window_hours.is_finite(),
                "--window-hours must be above 0"
            );
            anyhow::ensure!(*alpha > 0.0 && *alpha < 0.5, "--alpha must be in (0, 0.5)");
            let o = Options {
                alpha: *alpha,
                ..Options::default()
            };
            let r = engine.experiment_report(name, (window_hours * 3_600_000.0) as i64, &o)?;
            let md = render::markdown(&r);
            print!("{md}");
            if let Some(dir) = out {
                std::fs::create_dir_all(dir)?;
                let base = dir.join(format!("report-{name}"));
                std::fs::write(base.with_extension("json"), serde_json::to_vec_pretty(&r)?)?;
                std::fs::write(base.with_extension("md"), &md)?;
                let mut written = vec![base.with_extension("json"), base.with_extension("md")];
                for metric in ["ctr", "conversion"] {
                    let p = dir.join(format!("plot-{name}-{metric}-by-look.svg"));
                    std::fs::write(&p, render::looks_svg(&r, metric))?;
                    written.push(p);
                }
                let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
                eprintln!("wrote {}", names.join(", "));
            }
            if r.srm {
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sommelier replay REQUEST_ID`: exit 0 when the list is reproduced, 3
/// when it differs (and why is printed).
pub(crate) fn replay(cli: &Cli, request_id: &str) -> anyhow::Result<ExitCode> {
    let engine = open(config(cli, None)?)?;
    let r = engine.replay(request_id)?;
    if r.compared == "candidates" {
        println!(
            "{} turn: the candidates retrieval gave the LLM stage",
            r.surface
        );
    } else {
        println!("{}: the list served", r.surface);
    }
    println!("served: {}", r.served.join(" "));
    println!("now:    {}", r.now.join(" "));
    if r.reproduced {
        println!("reproduced: the same items in the same order");
    } else {
        println!("differs");
    }
    for c in &r.changed {
        println!("changed since: {c}");
    }
    Ok(if r.reproduced {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// `sommelier bench ab`: the lift run and the A/A run, as a table and JSON.
pub(crate) fn bench_ab(a: &AbArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::ensure!(a.runs >= 2, "--runs must be at least 2");
    anyhow::ensure!((0.0..1.0).contains(&a.lost), "--lost must be in [0, 1)");
    anyhow::ensure!(
        a.base_ctr > 0.0 && a.base_ctr < 1.0 && a.visit_rate > 0.0 && a.visit_rate <= 1.0,
        "--base-ctr must be in (0, 1) and --visit-rate in (0, 1]"
    );
    let sim = Simulation {
        users: a.users,
        days: a.days,
        visit_rate: a.visit_rate,
        base_ctr: a.base_ctr,
        lift: a.lift,
        concentration: a.concentration,
        lost: a.lost,
    };
    let started = std::time::Instant::now();
    let lifted = power(&sim, a.runs, a.seed);
    let aa = power(&Simulation { lift: 0.0, ..sim }, a.runs, a.seed + 1_000_000);
    writeln!(
        out,
        "{} users, {} days, visit rate {}, base CTR {}, concentration {}, treatment users lost {}; {} seeds per run ({:.1} s)\n",
        a.users,
        a.days,
        a.visit_rate,
        a.base_ctr,
        a.concentration,
        a.lost,
        a.runs,
        started.elapsed().as_secs_f64()
    )?;
    writeln!(
        out,
        "| run | true diff | mean diff | spread | mean SE | expected power | fixed, once | fixed, read daily | sequential, daily | 95 % coverage | SRM flagged |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )?;
    for (name, p) in [
        (format!("lift {:+.0} %", 100.0 * a.lift), &lifted),
        ("A/A".to_string(), &aa),
    ] {
        writeln!(
            out,
            "| {name} | {:.5} | {:.5} | {:.5} | {:.5} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            p.true_difference,
            p.mean_difference,
            p.spread,
            p.mean_se,
            if p.true_difference == 0.0 {
                format!("({:.2} nominal)", 0.05)
            } else {
                format!("{:.3}", p.expected_power)
            },
            p.rejected_fixed,
            p.rejected_fixed_daily,
            p.rejected_sequential,
            p.coverage,
            p.srm_flagged
        )?;
    }
    writeln!(
        out,
        "\n{}",
        serde_json::to_string(&serde_json::json!({"lift": lifted, "aa": aa}))?
    )?;
    Ok(())
}

/// `sommelier bench interleave`: per number of users, each design's power
/// with the better ranker and its false positives with two equal ones.
pub(crate) fn bench_interleave(a: &InterleaveArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    use sommelier_engine::experiment::sensitivity::{Rankers, sensitivity};
    anyhow::ensure!(a.runs >= 2, "--runs must be at least 2");
    anyhow::ensure!(!a.users.is_empty(), "--users needs at least one count");
    anyhow::ensure!(
        a.noise_control >= 0.0 && a.noise_treatment >= 0.0 && a.activity_shape > 0.0,
        "--noise-control and --noise-treatment must be ≥ 0, --activity-shape > 0"
    );
    anyhow::ensure!(
        a.visit_rate > 0.0 && a.visit_rate <= 1.0,
        "--visit-rate must be in (0, 1]"
    );
    let base = Rankers {
        days: a.days,
        visit_rate: a.visit_rate,
        noise_control: a.noise_control,
        noise_treatment: a.noise_treatment,
        activity_shape: a.activity_shape,
        ..Rankers::default()
    };
    writeln!(
        out,
        "rankers' error {} and {} (logit), {} candidates, lists of {}, base CTR {}, activity shape {}, {} days, visit rate {}; {} seeds per run\n",
        a.noise_control,
        a.noise_treatment,
        base.candidates,
        base.k,
        base.base_ctr,
        a.activity_shape,
        a.days,
        a.visit_rate,
        a.runs
    )?;
    writeln!(
        out,
        "| users | lists | clicks per list A / B | true lift | split: fixed, once | split: sequential | interleaving | preference | A/A split | A/A interleaving | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )?;
    let mut rows = Vec::new();
    for (i, users) in a.users.iter().enumerate() {
        let started = std::time::Instant::now();
        let r = Rankers {
            users: *users,
            ..base
        };
        let seed = a.seed + 10_000_000 * i as u64;
        let better = sensitivity(&r, a.runs, seed);
        let equal = Rankers {
            noise_treatment: r.noise_control,
            ..r
        };
        let aa = sensitivity(&equal, a.runs, seed + 1_000_000);
        writeln!(
            out,
            "| {users} | {:.0} | {:.4} / {:.4} | {:+.1} % | {:.3} | {:.3} | {:.3} | {:+.4} | {:.3} | {:.3} | {:.1} |",
            better.lists,
            better.ctr[0],
            better.ctr[1],
            100.0 * better.lift(),
            better.split_fixed,
            better.split_sequential,
            better.interleaved,
            better.mean_preference,
            aa.split_fixed,
            aa.interleaved,
            started.elapsed().as_secs_f64()
        )?;
        rows.push(serde_json::json!({"better": better, "aa": aa}));
    }
    writeln!(out, "\n{}", serde_json::to_string(&rows)?)?;
    Ok(())
}
