//! Finding the reports `sommelier eval` wrote: the newest report in a folder
//! with its plots and the peers' results (`bench/peers/run.sh` writes them
//! beside it), and reading one of its files by name. The operator dashboard
//! reads them through `GET /v1/admin/eval`.

use std::path::Path;

/// The newest report of a folder and what belongs to it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LatestReport {
    /// The newest report's file name, `None` when there is none.
    pub file: Option<String>,
    /// When it was written (Unix ms).
    pub modified_ms: Option<u64>,
    /// The report (`sommelier eval`'s JSON).
    pub report: Option<serde_json::Value>,
    /// The peers run on the same split, when present.
    pub peers: Option<serde_json::Value>,
    /// File names of its plots (SVG), to read with [`read_file`].
    pub plots: Vec<String>,
}

/// Why a report file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The name is not one of a report's files (or tries to leave the folder).
    #[error("`{0}` is not an evaluation report or plot")]
    NotAReportFile(String),
    /// No such file.
    #[error("no file `{0}`")]
    NotFound(String),
    /// The file is there but unreadable.
    #[error("cannot read `{name}`: {source}")]
    Unreadable {
        /// File name (never the folder: the caller knows it).
        name: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A report that is not valid JSON.
    #[error("`{name}` is not a valid report: {detail}")]
    Invalid {
        /// File name.
        name: String,
        /// What the parser said.
        detail: String,
    },
}

/// A report or plot file name: no folders, no hidden files.
pub fn safe_name(name: &str) -> bool {
    (name.starts_with("report-") || name.starts_with("plot-"))
        && name.len() <= 200
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The content type of a report file, or `None` for a kind not served.
pub fn content_type(name: &str) -> Option<&'static str> {
    match name.rsplit('.').next() {
        Some("svg") => Some("image/svg+xml"),
        Some("json") => Some("application/json"),
        Some("md") => Some("text/markdown; charset=utf-8"),
        _ => None,
    }
}

/// One report file of `dir` by name, with its content type.
pub fn read_file(dir: &Path, name: &str) -> Result<(&'static str, Vec<u8>), ReportError> {
    let kind = content_type(name).filter(|_| safe_name(name));
    let Some(kind) = kind else {
        return Err(ReportError::NotAReportFile(name.to_string()));
    };
    match std::fs::read(dir.join(name)) {
        Ok(bytes) => Ok((kind, bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ReportError::NotFound(name.to_string()))
        }
        Err(source) => Err(ReportError::Unreadable {
            name: name.to_string(),
            source,
        }),
    }
}

/// Reports of the like-X task (`sommelier eval --task like-x`): another
/// shape, never the dashboard's ranking report.
pub const LIKE_X_PREFIX: &str = "report-like-x-";

/// The newest ranking `report-*.json` of `dir` (peers' files and like-X
/// reports aside), its peers' results and the plots its markdown summary links.
pub fn latest(dir: &Path) -> Result<LatestReport, ReportError> {
    let mut newest: Option<(std::time::SystemTime, String)> = None;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with("report-")
                || !name.ends_with(".json")
                || name.ends_with(".peers.json")
                || name.starts_with(LIKE_X_PREFIX)
            {
                continue;
            }
            let Ok(modified) = e.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
                newest = Some((modified, name));
            }
        }
    }
    let Some((modified, file)) = newest else {
        return Ok(LatestReport {
            file: None,
            modified_ms: None,
            report: None,
            peers: None,
            plots: Vec::new(),
        });
    };
    let read_json = |name: &str| -> Result<Option<serde_json::Value>, ReportError> {
        match read_file(dir, name) {
            Ok((_, bytes)) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| ReportError::Invalid {
                        name: name.to_string(),
                        detail: e.to_string(),
                    })
            }
            Err(ReportError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    };
    let report = read_json(&file)?;
    let stem = file.trim_end_matches(".json");
    let peers = read_json(&format!("{stem}.peers.json"))?;
    // The markdown summary links exactly this report's plots.
    let plots = std::fs::read_to_string(dir.join(format!("{stem}.md")))
        .map(|md| {
            md.split("](")
                .skip(1)
                .filter_map(|rest| rest.split(')').next())
                .filter(|name| safe_name(name) && name.ends_with(".svg"))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Ok(LatestReport {
        modified_ms: modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis() as u64),
        file: Some(file),
        report,
        peers,
        plots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_report_and_plot_names_are_served() {
        assert!(safe_name(
            "plot-movielens-small-leave-last-out-test-hr-at-k.svg"
        ));
        assert!(safe_name("report-x.peers.json"));
        assert!(!safe_name("../sommelier.db"));
        assert!(!safe_name("report-..%2f.json"));
        assert!(!safe_name("sommelier.db"));
        assert!(!safe_name("plot-a/b.svg"));
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_file(dir.path(), "../sommelier.db"),
            Err(ReportError::NotAReportFile(_))
        ));
        assert!(matches!(
            read_file(dir.path(), "report-x.json"),
            Err(ReportError::NotFound(_))
        ));
    }

    #[test]
    fn the_newest_report_comes_with_its_plots_and_peers() {
        let dir = tempfile::tempdir().unwrap();
        let none = latest(dir.path()).unwrap();
        assert!(none.file.is_none() && none.report.is_none());
        std::fs::write(dir.path().join("report-a.json"), r#"{"dataset":"a"}"#).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join("report-b.json"), r#"{"dataset":"b"}"#).unwrap();
        std::fs::write(dir.path().join("report-b.peers.json"), r#"{"systems":[]}"#).unwrap();
        // A like-X report written later is not the dashboard's.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(
            dir.path().join("report-like-x-movielens-small.json"),
            r#"{"task":"like-x"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("report-b.md"),
            "# b\n\n![plot-b-ndcg.svg](plot-b-ndcg.svg)\n\n![x](../etc/passwd)\n",
        )
        .unwrap();
        let r = latest(dir.path()).unwrap();
        assert_eq!(r.file.as_deref(), Some("report-b.json"));
        assert_eq!(r.report.unwrap()["dataset"], "b");
        assert!(r.peers.is_some());
        assert_eq!(r.plots, vec!["plot-b-ndcg.svg".to_string()]);
    }
}
