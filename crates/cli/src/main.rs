//! `sommelier`: the command-line shell over the engine. Arguments are parsed
//! (clap), turned into a validated configuration, and each command makes one or
//! a few engine calls.

mod args;
mod commands;

use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;

/// mimalloc rather than the C library's allocator: glibc frees a block into
/// the arena it came from under that arena's lock, so the exposure log's
/// writer, which runs in the idle scheduling class, could be preempted
/// holding a lock a request thread needs, and stall it until a core fell
/// idle (docs/benchmarks.md, "What the exposure log costs"). mimalloc's
/// heaps are per thread, and a block freed by another thread goes back
/// through an atomic list, with no lock to hold.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let serving = matches!(
        cli.command,
        args::Command::Serve(_) | args::Command::Demo(_)
    );
    init_logging(cli.log.as_deref(), if serving { "info" } else { "warn" });
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(level: Option<&str>, default: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::try_new(l),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(default)),
    }
    .unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Peak resident memory of this process, from /proc (Linux), in MiB.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Starts a Tokio runtime for the commands that serve or call HTTP.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
