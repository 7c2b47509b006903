//! The web UI: static files compiled into the binary (`crates/server/ui/`),
//! plain ES modules and CSS with no build step. `GET /` is the page; the
//! scripts and styles are under `/ui/`. The page talks to the same JSON API
//! as every other client.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (file name, content type, body).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../ui/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../ui/style.css"),
    ),
    ("app.js", JS, include_str!("../ui/app.js")),
    ("api.js", JS, include_str!("../ui/api.js")),
    ("dom.js", JS, include_str!("../ui/dom.js")),
    ("browse.js", JS, include_str!("../ui/browse.js")),
    ("chat.js", JS, include_str!("../ui/chat.js")),
    ("dashboard.js", JS, include_str!("../ui/dashboard.js")),
    ("charts.js", JS, include_str!("../ui/charts.js")),
    ("experiments.js", JS, include_str!("../ui/experiments.js")),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../ui/favicon.svg"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                // Small files, compiled in: revalidate so an upgrade shows at once.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no UI file `{name}`"),
        )
            .into_response(),
    }
}

/// `GET /`.
pub(crate) async fn index() -> Response {
    asset("index.html")
}

/// `GET /ui/{file}`.
pub(crate) async fn file(Path(name): Path<String>) -> Response {
    asset(&name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_script_the_page_imports_is_served() {
        for (name, _, body) in super::ASSETS {
            for line in body.lines() {
                let Some(rest) = line.trim().strip_prefix("import ") else {
                    continue;
                };
                let Some(target) = rest.split('"').nth(1) else {
                    continue;
                };
                let file = target.trim_start_matches("./");
                assert!(
                    super::ASSETS.iter().any(|(n, _, _)| *n == file),
                    "{name} imports {target}, which is not served"
                );
            }
        }
    }
}
