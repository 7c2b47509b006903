//! MovieLens importers: ml-latest-small (CSV) and ml-100k (RecBole atomic files).
//!
//! Rows are turned into the same field maps a user's file would give and go
//! through the same decoders and writers, so the data obeys every ingest rule.

use crate::error::{DatasetError, Result};
use crate::fetch::Dataset;
use serde_json::{Map, Value, json};
use sommelier_ingest::decode::{DecodeOptions, ItemOp, Record, RecordKind, decode};
use sommelier_ingest::{Fields, IngestReport, RecordError, write_records};
use sommelier_store::Store;
use sommelier_types::ItemKind;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Instant;

/// What an import wrote, per record kind.
#[derive(Debug, Default)]
pub struct MovieLensImport {
    /// Movies.
    pub items: IngestReport,
    /// Users.
    pub users: IngestReport,
    /// Ratings.
    pub events: IngestReport,
    /// Wall time.
    pub seconds: f64,
}

const CHUNK: usize = 20_000;

/// Writes records in chunks and keeps the counts.
struct Sink<'a> {
    store: &'a dyn Store,
    kind: RecordKind,
    file: String,
    opts: DecodeOptions,
    pending: Vec<std::result::Result<Record, RecordError>>,
    report: IngestReport,
    on_items: &'a mut dyn FnMut(&[ItemOp]),
}

impl<'a> Sink<'a> {
    fn new(
        store: &'a dyn Store,
        kind: RecordKind,
        file: &Path,
        on_items: &'a mut dyn FnMut(&[ItemOp]),
    ) -> Self {
        let opts = DecodeOptions {
            rating_min: 0.5,
            rating_max: 5.0,
            default_item_kind: ItemKind::new("movie").expect("valid kind"),
            ..DecodeOptions::default()
        };
        Self {
            store,
            kind,
            file: file.display().to_string(),
            opts,
            pending: Vec::with_capacity(CHUNK),
            report: IngestReport::default(),
            on_items,
        }
    }

    fn push(&mut self, line: u64, map: Map<String, Value>) -> Result<()> {
        let rec =
            decode(self.kind, Fields::new(map, true, '|'), &self.opts).map_err(|e| RecordError {
                file: Some(self.file.clone()),
                line,
                field: e.field,
                reason: e.reason,
            });
        self.pending.push(rec);
        if self.pending.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.pending);
        let (report, items) = write_records(self.store, batch, false)?;
        (self.on_items)(&items);
        self.report.merge(report);
        Ok(())
    }

    fn finish(mut self) -> Result<IngestReport> {
        self.flush()?;
        Ok(self.report)
    }
}

fn reader(path: &Path, tsv: bool) -> Result<csv::Reader<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(DatasetError::io(path))?;
    let mut b = csv::ReaderBuilder::new();
    if tsv {
        b.delimiter(b'\t').quoting(false);
    }
    Ok(b.from_reader(file))
}

/// Iterates over rows as string vectors with their line numbers.
fn rows(
    path: &Path,
    tsv: bool,
    mut f: impl FnMut(u64, &csv::StringRecord) -> Result<()>,
) -> Result<()> {
    let mut r = reader(path, tsv)?;
    let mut rec = csv::StringRecord::new();
    loop {
        match r.read_record(&mut rec) {
            Ok(false) => return Ok(()),
            Ok(true) => f(rec.position().map_or(0, |p| p.line()), &rec)?,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(DatasetError::Format {
                    path: path.to_path_buf(),
                    line,
                    reason: e.to_string(),
                });
            }
        }
    }
}

fn col<'r>(path: &Path, line: u64, rec: &'r csv::StringRecord, i: usize) -> Result<&'r str> {
    rec.get(i).ok_or_else(|| DatasetError::Format {
        path: path.to_path_buf(),
        line,
        reason: format!("expected at least {} columns", i + 1),
    })
}

/// Splits "American President, The (1995)" into ("The American President", Some(1995)).
pub fn parse_movie_title(raw: &str) -> (String, Option<i32>) {
    let mut t = raw.trim();
    let mut year = None;
    if let Some(open) = t.rfind(" (") {
        let tail = &t[open + 2..];
        if let Some(y) = tail
            .strip_suffix(')')
            .filter(|y| y.len() == 4)
            .and_then(|y| y.parse().ok())
        {
            year = Some(y);
            t = t[..open].trim_end();
        }
    }
    // Move a trailing article to the front, also before an alternative title in
    // parentheses: "City of Lost Children, The (Cité des…)".
    let (main, alt) = match t.find(" (") {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    for article in [
        "The", "A", "An", "Les", "La", "Le", "L'", "Il", "Das", "Der", "Die", "El",
    ] {
        if let Some(head) = main.strip_suffix(&format!(", {article}")) {
            let sep = if article.ends_with('\'') { "" } else { " " };
            return (format!("{article}{sep}{head}{alt}"), year);
        }
    }
    (t.to_string(), year)
}

fn movie(
    id: &str,
    title: &str,
    genres: Vec<String>,
    tags: &[String],
    attributes: Value,
) -> Map<String, Value> {
    let (title, year) = parse_movie_title(title);
    let mut m = Map::new();
    m.insert("id".into(), id.into());
    m.insert("title".into(), title.into());
    m.insert("categories".into(), genres.join("|").into());
    m.insert("tags".into(), tags.join("|").into());
    if let Some(y) = year {
        m.insert("release_date".into(), y.to_string().into());
    }
    m.insert("attributes".into(), attributes.to_string().into());
    m
}

fn rating(prefix: &str, user: &str, item: &str, value: &str, ts: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), format!("{prefix}:{user}:{item}").into());
    m.insert("user".into(), user.into());
    m.insert("item".into(), item.into());
    m.insert("kind".into(), "rating".into());
    m.insert("value".into(), value.into());
    m.insert("timestamp".into(), ts.into());
    m
}

/// Imports an extracted data set folder (see [`crate::fetch`]) into the store.
/// `on_items` sees every committed catalog change.
pub fn import(
    store: &dyn Store,
    ds: Dataset,
    dir: &Path,
    on_items: &mut dyn FnMut(&[ItemOp]),
) -> Result<MovieLensImport> {
    let started = Instant::now();
    let mut out = match ds {
        Dataset::MovieLensSmall => import_small(store, dir, on_items)?,
        Dataset::MovieLens100k => import_100k(store, dir, on_items)?,
    };
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

fn import_small(
    store: &dyn Store,
    dir: &Path,
    on_items: &mut dyn FnMut(&[ItemOp]),
) -> Result<MovieLensImport> {
    let mut links: HashMap<String, (String, String)> = HashMap::new();
    let path = dir.join("links.csv");
    rows(&path, false, |line, r| {
        let movie = col(&path, line, r, 0)?.to_string();
        links.insert(
            movie,
            (
                col(&path, line, r, 1)?.to_string(),
                col(&path, line, r, 2)?.to_string(),
            ),
        );
        Ok(())
    })?;
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    let path = dir.join("tags.csv");
    rows(&path, false, |line, r| {
        let tag = col(&path, line, r, 2)?.trim().replace('|', "/");
        let list = tags.entry(col(&path, line, r, 1)?.to_string()).or_default();
        if !tag.is_empty() && !list.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
            list.push(tag);
        }
        Ok(())
    })?;

    let path = dir.join("movies.csv");
    let mut items = Sink::new(store, RecordKind::Items, &path, on_items);
    rows(&path, false, |line, r| {
        let id = col(&path, line, r, 0)?;
        let genres = col(&path, line, r, 2)?
            .split('|')
            .filter(|g| !g.is_empty() && *g != "(no genres listed)")
            .map(String::from)
            .collect();
        let mut attrs =
            json!({ "source": "ml-latest-small", "movielens_title": col(&path, line, r, 1)? });
        if let Some((imdb, tmdb)) = links.get(id) {
            if !imdb.is_empty() {
                attrs["imdb_id"] = format!("tt{imdb}").into();
            }
            if !tmdb.is_empty() {
                attrs["tmdb_id"] = tmdb.as_str().into();
            }
        }
        let no_tags = Vec::new();
        items.push(
            line,
            movie(
                id,
                col(&path, line, r, 1)?,
                genres,
                tags.get(id).unwrap_or(&no_tags),
                attrs,
            ),
        )
    })?;
    let items = items.finish()?;

    let path = dir.join("ratings.csv");
    let mut noop = |_: &[ItemOp]| {};
    let mut events = Sink::new(store, RecordKind::Events, &path, &mut noop);
    let mut users = BTreeSet::new();
    rows(&path, false, |line, r| {
        let user = col(&path, line, r, 0)?;
        if !users.contains(user) {
            users.insert(user.to_string());
        }
        let m = rating(
            "mls",
            user,
            col(&path, line, r, 1)?,
            col(&path, line, r, 2)?,
            col(&path, line, r, 3)?,
        );
        events.push(line, m)
    })?;
    let events = events.finish()?;
    let mut noop = |_: &[ItemOp]| {};
    let mut user_sink = Sink::new(store, RecordKind::Users, &path, &mut noop);
    for (i, u) in users.iter().enumerate() {
        let mut m = Map::new();
        m.insert("id".into(), u.as_str().into());
        m.insert(
            "attributes".into(),
            json!({"source": "ml-latest-small"}).to_string().into(),
        );
        user_sink.push(i as u64 + 1, m)?;
    }
    Ok(MovieLensImport {
        items,
        users: user_sink.finish()?,
        events,
        seconds: 0.0,
    })
}

fn import_100k(
    store: &dyn Store,
    dir: &Path,
    on_items: &mut dyn FnMut(&[ItemOp]),
) -> Result<MovieLensImport> {
    let path = dir.join("ml-100k.item");
    let mut items = Sink::new(store, RecordKind::Items, &path, on_items);
    rows(&path, true, |line, r| {
        let genres = col(&path, line, r, 3)?
            .split_whitespace()
            .map(String::from)
            .collect();
        let title = col(&path, line, r, 1)?;
        let year = col(&path, line, r, 2)?.trim();
        let full = if year.is_empty() {
            title.to_string()
        } else {
            format!("{title} ({year})")
        };
        let attrs = json!({ "source": "ml-100k" });
        items.push(
            line,
            movie(col(&path, line, r, 0)?, &full, genres, &[], attrs),
        )
    })?;
    let items = items.finish()?;

    let path = dir.join("ml-100k.user");
    let mut noop = |_: &[ItemOp]| {};
    let mut users = Sink::new(store, RecordKind::Users, &path, &mut noop);
    rows(&path, true, |line, r| {
        let mut m = Map::new();
        m.insert("id".into(), col(&path, line, r, 0)?.into());
        let age: Value = col(&path, line, r, 1)?
            .parse::<u32>()
            .map_or(Value::Null, Value::from);
        let attrs = json!({
            "source": "ml-100k", "age": age, "gender": col(&path, line, r, 2)?,
            "occupation": col(&path, line, r, 3)?, "zip_code": col(&path, line, r, 4)?,
        });
        m.insert("attributes".into(), attrs.to_string().into());
        users.push(line, m)
    })?;
    let users = users.finish()?;

    let path = dir.join("ml-100k.inter");
    let mut noop = |_: &[ItemOp]| {};
    let mut events = Sink::new(store, RecordKind::Events, &path, &mut noop);
    rows(&path, true, |line, r| {
        let m = rating(
            "ml100k",
            col(&path, line, r, 0)?,
            col(&path, line, r, 1)?,
            col(&path, line, r, 2)?,
            col(&path, line, r, 3)?,
        );
        events.push(line, m)
    })?;
    Ok(MovieLensImport {
        items,
        users,
        events: events.finish()?,
        seconds: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_movie_title;

    #[test]
    fn titles_lose_their_year_and_get_their_article_back() {
        assert_eq!(
            parse_movie_title("Toy Story (1995)"),
            ("Toy Story".into(), Some(1995))
        );
        assert_eq!(
            parse_movie_title("American President, The (1995)"),
            ("The American President".into(), Some(1995))
        );
        assert_eq!(
            parse_movie_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)"),
            (
                "The City of Lost Children (Cité des enfants perdus, La)".into(),
                Some(1995)
            )
        );
        assert_eq!(parse_movie_title("Babylon 5"), ("Babylon 5".into(), None));
        assert_eq!(
            parse_movie_title("Big Bang Theory (2007-)"),
            ("Big Bang Theory (2007-)".into(), None)
        );
    }
}
