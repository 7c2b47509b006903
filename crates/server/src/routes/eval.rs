//! The latest offline evaluation, for the dashboard: `GET /v1/admin/eval`
//! answers the newest report in `<data dir>/eval` (written by `sommelier eval`
//! or by the demo), its plots and the peers' results when
//! `bench/peers/run.sh` added them; `GET /v1/admin/eval/files/{name}` serves
//! one of its files.

use super::blocking;
use crate::AppState;
use crate::error::HttpError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use std::path::PathBuf;

/// What `GET /v1/admin/eval` answers.
#[derive(Debug, serde::Serialize)]
pub(crate) struct LatestEval {
    /// The folder looked in.
    dir: PathBuf,
    /// The newest report's file name, `None` when there is none.
    file: Option<String>,
    /// When it was written (Unix ms).
    modified_ms: Option<u64>,
    /// The report (`sommelier eval`'s JSON).
    report: Option<serde_json::Value>,
    /// The peers run on the same split, when present.
    peers: Option<serde_json::Value>,
    /// File names of its plots (SVG), to fetch from `/v1/admin/eval/files/`.
    plots: Vec<String>,
}

pub(crate) async fn latest(State(engine): State<AppState>) -> Result<Json<LatestEval>, HttpError> {
    let dir = engine.config().eval_dir();
    blocking(move || latest_in(dir).map(Json)).await
}

fn latest_in(dir: PathBuf) -> Result<LatestEval, HttpError> {
    let mut newest: Option<(std::time::SystemTime, String)> = None;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with("report-")
                || !name.ends_with(".json")
                || name.ends_with(".peers.json")
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
        return Ok(LatestEval {
            dir,
            file: None,
            modified_ms: None,
            report: None,
            peers: None,
            plots: Vec::new(),
        });
    };
    let read_json = |name: &str| -> Result<Option<serde_json::Value>, HttpError> {
        match std::fs::read(dir.join(name)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                HttpError::Internal(format!(
                    "{} is not a valid report: {e}",
                    dir.join(name).display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(HttpError::Internal(format!(
                "cannot read {}: {e}",
                dir.join(name).display()
            ))),
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
    Ok(LatestEval {
        dir,
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

/// A report or plot file name: no folders, no hidden files.
fn safe_name(name: &str) -> bool {
    (name.starts_with("report-") || name.starts_with("plot-"))
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub(crate) async fn file(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, HttpError> {
    let kind = match name.rsplit('.').next() {
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "",
    };
    if !safe_name(&name) || kind.is_empty() {
        return Err(HttpError::NotFound(format!(
            "`{name}` is not an evaluation report or plot"
        )));
    }
    let path = engine.config().eval_dir().join(&name);
    let body = blocking(move || {
        std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => HttpError::NotFound(format!("no file `{name}`")),
            _ => HttpError::Internal(format!("cannot read {}: {e}", path.display())),
        })
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, kind)], body))
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
    }

    #[test]
    fn the_newest_report_comes_with_its_plots_and_peers() {
        let dir = tempfile::tempdir().unwrap();
        let none = latest_in(dir.path().to_path_buf()).unwrap();
        assert!(none.file.is_none() && none.report.is_none());
        std::fs::write(dir.path().join("report-a.json"), r#"{"dataset":"a"}"#).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join("report-b.json"), r#"{"dataset":"b"}"#).unwrap();
        std::fs::write(dir.path().join("report-b.peers.json"), r#"{"systems":[]}"#).unwrap();
        std::fs::write(
            dir.path().join("report-b.md"),
            "# b\n\n![plot-b-ndcg.svg](plot-b-ndcg.svg)\n\n![x](../etc/passwd)\n",
        )
        .unwrap();
        let r = latest_in(dir.path().to_path_buf()).unwrap();
        assert_eq!(r.file.as_deref(), Some("report-b.json"));
        assert_eq!(r.report.unwrap()["dataset"], "b");
        assert!(r.peers.is_some());
        assert_eq!(r.plots, vec!["plot-b-ndcg.svg".to_string()]);
    }
}
