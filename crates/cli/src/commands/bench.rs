//! `sommelier bench`: opens what each benchmark needs and runs it from
//! `sommelier_bench`, which writes its results to standard output. Results go
//! to docs/benchmarks.md with the commands that produced them.

use super::{config, open};
use crate::args::{BenchCommand, Cli};
use sommelier_bench::{ann, catalog, embed, http, llm};
use std::process::ExitCode;

pub(crate) fn run(cli: &Cli, c: &BenchCommand) -> anyhow::Result<ExitCode> {
    let out = &mut std::io::stdout();
    match c {
        BenchCommand::GenEvents(a) => catalog::gen_events(a, out)?,
        BenchCommand::GenCatalog(a) => catalog::gen_catalog(&open(config(cli, None)?)?, a, out)?,
        BenchCommand::HttpIngest(a) => return Ok(failed_if(http::http_ingest(a, out)?.failed > 0)),
        BenchCommand::HttpRecommend(a) => {
            return Ok(failed_if(http::http_recommend(a, out)?.failed > 0));
        }
        BenchCommand::Embed(a) => embed::embed(&open(config(cli, None)?)?, a, out)?,
        BenchCommand::Ann(a) => ann::ann(&config(cli, None)?, a, out)?,
        BenchCommand::AlsGraph(a) => ann::als_graph(&open(config(cli, None)?)?, a, out)?,
        BenchCommand::Llm(a) => llm::llm(&config(cli, None)?, a, out)?,
        BenchCommand::Chat(a) => {
            let engine = open(config(cli, None)?)?;
            super::serve::attach_query_embedder(&engine);
            let report = llm::chat(&engine, a, out, &mut std::io::stderr())?;
            return Ok(failed_if(!report.passed()));
        }
        BenchCommand::Ab(a) => super::experiments::bench_ab(a, out)?,
        BenchCommand::Interleave(a) => super::experiments::bench_interleave(a, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit code 1 when a run counted failures, 0 otherwise.
fn failed_if(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
