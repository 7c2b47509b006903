//! `bench embed`: throughput of the local embedding model on the catalog's
//! item texts.

use crate::{BenchError, Result};
use sommelier_embed::{Embedder, LocalBert, LocalOptions};
use sommelier_engine::Engine;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Options of `bench embed`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmbedOptions {
    /// Model folder (default: DATA_DIR/models/all-MiniLM-L6-v2, fetched if missing).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// How many item texts to embed (taken from the store; import a data set first).
    #[arg(long, default_value_t = 2048)]
    pub texts: usize,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Also write the texts, one per line, for the Python comparison script.
    #[arg(long)]
    pub texts_out: Option<PathBuf>,
}

/// Embeds the first `a.texts` item texts of the store (after one warm-up
/// batch) and reports texts/s and ms/text.
pub fn embed(engine: &Engine, a: &EmbedOptions, out: &mut dyn Write) -> Result<()> {
    let mut texts = Vec::with_capacity(a.texts);
    engine.store().scan_items(&mut |item| {
        if texts.len() < a.texts {
            texts.push(sommelier_embed::item_text(&item));
        }
    })?;
    if texts.is_empty() {
        return Err(BenchError::Missing(
            "the store holds no items: import a data set first (sommelier datasets import movielens-small)"
                .into(),
        ));
    }
    if let Some(p) = &a.texts_out {
        std::fs::write(
            p,
            texts
                .iter()
                .map(|t| t.replace('\n', " ") + "\n")
                .collect::<String>(),
        )
        .map_err(BenchError::io("writing", p))?;
    }
    let dir = match &a.model_dir {
        Some(d) => d.clone(),
        None => sommelier_datasets::fetch_model(
            sommelier_datasets::Model::AllMiniLmL6V2,
            &engine.config().data_dir.join("models"),
            None,
        )?,
    };
    let model = LocalBert::load(
        &dir,
        LocalOptions {
            batch_size: a.batch,
            ..LocalOptions::default()
        },
    )
    .map_err(|source| BenchError::EmbeddingModel {
        path: dir.clone(),
        source,
    })?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    model.embed(&refs[..refs.len().min(a.batch)])?; // warm-up
    let started = Instant::now();
    let vectors = model.embed(&refs)?;
    let secs = started.elapsed().as_secs_f64();
    say!(
        out,
        "{} texts (batch {}) in {secs:.2}s: {:.1} texts/s, {:.2} ms/text, dim {}",
        vectors.len(),
        a.batch,
        vectors.len() as f64 / secs,
        secs * 1e3 / vectors.len() as f64,
        model.dim()
    );
    Ok(())
}
