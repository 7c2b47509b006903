//! `sommelier ingest`.

use super::{config, open};
use crate::args::{Cli, FormatArg, IngestArgs, KindArg};
use sommelier_engine::{FileImport, Format, RecordKind};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit code when some records were rejected (the rest were imported).
pub(crate) const EXIT_REJECTED: u8 = 3;

pub(crate) fn run(cli: &Cli, a: &IngestArgs) -> anyhow::Result<ExitCode> {
    let engine = open(config(cli, None)?)?;
    let kind = match a.kind {
        KindArg::Items => RecordKind::Items,
        KindArg::Events => RecordKind::Events,
        KindArg::Users => RecordKind::Users,
    };
    let delimiter = match a.delimiter {
        None => None,
        Some(c) if c.is_ascii() => Some(c as u8),
        Some(c) => anyhow::bail!("--delimiter must be one ASCII character, got `{c}`"),
    };
    let how = FileImport {
        format: a.format.map(|f| match f {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Csv => Format::Csv,
        }),
        delimiter,
        map: a.map.clone(),
        set: a.set.clone(),
        atomic: a.atomic,
        rejects: a.rejects.clone(),
        progress: !a.no_progress && std::io::stderr().is_terminal(),
    };
    let imported = engine.import_file(kind, &a.file, &how)?;
    let r = &imported.report;
    let total = r.accepted + r.duplicates + r.rejected;
    if a.json {
        let out = serde_json::json!({
            "report": r,
            "reject_file": imported.reject_file,
            "seconds": imported.seconds,
            "records_per_second": total as f64 / imported.seconds.max(1e-9),
            "peak_rss_mib": crate::peak_rss_mib(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {} accepted, {} duplicate, {} rejected{} in {:.2}s ({:.0} records/s, peak RSS {:.0} MiB)",
            a.file.display(),
            r.accepted,
            r.duplicates,
            r.rejected,
            if r.rolled_back {
                " — atomic import rolled back, nothing written"
            } else {
                ""
            },
            imported.seconds,
            total as f64 / imported.seconds.max(1e-9),
            crate::peak_rss_mib().unwrap_or(0.0),
        );
        for e in &r.errors {
            println!("  rejected {e}");
        }
        if r.rejected > r.errors.len() as u64 {
            println!("  … and {} more", r.rejected - r.errors.len() as u64);
        }
        if let Some(p) = &imported.reject_file {
            println!("rejected records with their reasons: {}", p.display());
        }
    }
    Ok(if r.rejected > 0 {
        ExitCode::from(EXIT_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}
