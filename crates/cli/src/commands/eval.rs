//! `sommelier eval`.

use super::config;
use crate::args::{Cli, EvalArgs, EvalTask};
use anyhow::Context;
use sommelier_eval::like_x::{self, LikeXOptions};
use sommelier_eval::split::{Protocol, Ties};
use sommelier_eval::{EvalOptions, evaluate, report};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub(crate) fn run(cli: &Cli, a: &EvalArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(cli, None)?;
    let dataset: sommelier_engine::Dataset = a.dataset.parse().map_err(anyhow::Error::msg)?;
    let protocol = Protocol::parse(&a.protocol)
        .map_err(anyhow::Error::msg)?
        .with_ties(Ties::parse(&a.ties).map_err(anyhow::Error::msg)?);
    let embedder = if a.no_vectors {
        None
    } else {
        let dir = super::models::model_dir(&cfg, a.model_dir.as_deref())?;
        Some(super::models::load(
            &dir,
            64,
            cfg.vectors.allow_unverified_model,
        )?)
    };
    let out = a.out.clone().unwrap_or_else(|| cfg.eval_dir());
    if a.task == EvalTask::LikeX {
        let opts = LikeXOptions {
            dataset,
            seeds: a.seeds,
            out,
            config: cfg,
            embedder: embedder.map(|e| Arc::new(e) as Arc<dyn sommelier_embed::Embedder>),
            llm: a.llm,
        };
        println!("{}", like_x_and_write(&opts)?);
        return Ok(ExitCode::SUCCESS);
    }
    let opts = EvalOptions {
        dataset,
        protocol,
        validation: a.validation,
        ks: a.k.clone(),
        out: out.clone(),
        config: cfg,
        per_source: a.per_source,
        ablation: a.ablation,
        max_users: a.max_users,
        cold_share: a.cold_share,
        mmr_lambdas: a.mmr_lambda.clone(),
        embedder: embedder
            .as_ref()
            .map(|e| e as &dyn sommelier_embed::Embedder),
        llm_sample: a.llm_sample,
    };
    let md = evaluate_and_write(&opts)?;
    println!("{md}");
    Ok(ExitCode::SUCCESS)
}

/// Runs an evaluation and writes its JSON report, plots and markdown summary
/// into `opts.out`; answers the markdown.
pub(crate) fn evaluate_and_write(opts: &EvalOptions<'_>) -> anyhow::Result<String> {
    let r = evaluate(opts)?;
    let tag = format!("{}-{}-{}", r.dataset, r.protocol, r.split);
    let json = opts.out.join(format!("report-{tag}.json"));
    std::fs::write(&json, serde_json::to_vec_pretty(&r)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let plots =
        report::plots(&r, &opts.out).map_err(|e| anyhow::anyhow!("drawing the plots: {e}"))?;
    let mut md = report::markdown(&r);
    for p in &plots {
        if let Some(name) = p.file_name() {
            md.push_str(&format!(
                "![{}]({})\n\n",
                name.to_string_lossy(),
                name.to_string_lossy()
            ));
        }
    }
    let md_path = opts.out.join(format!("report-{tag}.md"));
    std::fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    md.push_str(&format!(
        "wrote {} and {}\n",
        json.display(),
        md_path.display()
    ));
    Ok(md)
}

/// Runs the like-X task and writes its JSON report and markdown summary
/// (`report-like-x-<data set>.json` / `.md`) into `opts.out`; answers the
/// markdown.
fn like_x_and_write(opts: &LikeXOptions) -> anyhow::Result<String> {
    let r = like_x::evaluate(opts)?;
    let stem = format!("{}{}", sommelier_eval::reports::LIKE_X_PREFIX, r.dataset);
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    let json = opts.out.join(format!("{stem}.json"));
    write(&json, &serde_json::to_vec_pretty(&r)?)?;
    let mut md = like_x::markdown(&r);
    let md_path = opts.out.join(format!("{stem}.md"));
    write(&md_path, md.as_bytes())?;
    md.push_str(&format!(
        "\nwrote {} and {}\n",
        json.display(),
        md_path.display()
    ));
    Ok(md)
}
