//! Command dispatch: validates raw arguments into a configuration, then calls
//! the engine.

mod bench;
mod datasets;
mod eval;
mod experiments;
mod ingest;
mod keys;
mod models;
mod serve;

use crate::args::{Cli, Command};
use sommelier_engine::{Config, Engine};
use std::process::ExitCode;

/// Builds the configuration from file, environment and flags.
pub(crate) fn config(cli: &Cli, addr: Option<&str>) -> anyhow::Result<Config> {
    let mut flags: Vec<(&str, String)> = Vec::new();
    if let Some(d) = &cli.data_dir {
        flags.push(("data_dir", d.display().to_string()));
    }
    if let Some(a) = addr {
        flags.push(("server.addr", a.to_string()));
    }
    Ok(Config::load(
        cli.config.as_deref(),
        std::env::vars(),
        &flags,
    )?)
}

pub(crate) fn open(config: Config) -> anyhow::Result<Engine> {
    let at = config.store_location();
    Engine::open(config).map_err(|e| {
        // A PostgreSQL error names the server already.
        if e.to_string().contains(&at) {
            anyhow::Error::from(e)
        } else {
            anyhow::Error::from(e).context(format!("opening the store at {at}"))
        }
    })
}

/// Runs the command; the exit code says whether records were rejected.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Demo(a) => serve::demo(&cli, a),
        Command::Serve(a) => serve::serve(&cli, a),
        Command::Ingest(a) => ingest::run(&cli, a),
        Command::Recommend(a) => serve::recommend(&cli, a),
        Command::Chat(a) => serve::chat(&cli, a),
        Command::Stats(a) => stats(&cli, a),
        Command::Fit(a) => {
            let engine = open(config(&cli, None)?)?;
            let r = match &a.as_name {
                Some(name) => engine.fit_models_as(name)?,
                None => engine.fit_models()?,
            };
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                let collaborative = if r.collaborative == "als" {
                    let graph = r
                        .als_search_ef
                        .and_then(|ef| r.als_graph_check.iter().find(|t| t.ef == ef))
                        .map(|t| {
                            format!(
                                " (graph searched {} wide: {:.3} of the exact scan's items)",
                                t.ef, t.recall
                            )
                        })
                        .unwrap_or_default();
                    format!(
                        "iALS {} items × {} factors{graph}",
                        r.als_items, r.als_factors
                    )
                } else {
                    format!("EASE {} items / {} pairs", r.ease_items, r.ease_pairs)
                };
                println!(
                    "fitted {} on {} interactions from {} users in {:.1} s: {collaborative}, sequential {} pairs",
                    r.version, r.interactions, r.users, r.seconds, r.sequential_pairs
                );
                if let Some(name) = &a.as_name {
                    println!(
                        "saved as the named set {name:?}; the engine's own set is unchanged. An experiment variant serves it with the override `models = \"{name}\"`"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval(a) => eval::run(&cli, a),
        Command::Datasets(c) => datasets::run(&cli, c),
        Command::Embed(a) => models::embed_items(&cli, a),
        Command::Models(c) => models::run(&cli, c),
        Command::Bench(c) => bench::run(&cli, c),
        Command::Keys(c) => keys::run(&cli, c),
        Command::Experiments(c) => experiments::run(&cli, c),
        Command::Replay { request_id } => experiments::replay(&cli, request_id),
    }
}

/// `sommelier stats [--check [--repair]]`.
fn stats(cli: &Cli, a: &crate::args::StatsCheckArgs) -> anyhow::Result<ExitCode> {
    let engine = open(config(cli, None)?)?;
    let stats = engine.stats()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print_stats(&stats);
    }
    if !a.check {
        return Ok(ExitCode::SUCCESS);
    }
    let started = std::time::Instant::now();
    let differences = engine.check_counters(a.repair)?;
    eprintln!(
        "counted the rows in {:.2} s: {}",
        started.elapsed().as_secs_f64(),
        if differences.is_empty() {
            "the kept counters agree".to_string()
        } else {
            format!("{} kept counters differ", differences.len())
        }
    );
    for d in &differences {
        eprintln!("  {d}");
    }
    if differences.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if a.repair {
        eprintln!("repaired: the kept counters now hold the counts of the rows");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("run `sommelier stats --check --repair` to keep the counts of the rows");
    Ok(ExitCode::from(1))
}

pub(crate) fn print_stats(s: &sommelier_types::api::StoreStats) {
    println!(
        "items      {} live ({} available), {} deleted",
        s.items, s.items_available, s.items_deleted
    );
    for (k, n) in &s.items_by_kind {
        println!("  {k:<10} {n}");
    }
    println!("users      {} profiles", s.users);
    println!(
        "events     {} from {} users on {} items",
        s.events, s.event_users, s.event_items
    );
    for (k, n) in &s.events_by_kind {
        println!("  {k:<10} {n}");
    }
    if let (Some(a), Some(b)) = (&s.first_event, &s.last_event) {
        println!("span       {a} .. {b}");
    }
    for (model, n) in &s.vectors {
        println!("vectors    {n} ({model})");
    }
    println!(
        "disk       {:.1} MiB",
        s.disk_bytes as f64 / (1024.0 * 1024.0)
    );
}
