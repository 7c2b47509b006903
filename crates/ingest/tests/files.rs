//! File imports against real files: every malformed line gets a line-numbered
//! error, goes to the reject file, and nothing accepted is lost.

use sommelier_ingest::{
    DecodeOptions, FieldMap, ImportOptions, Imported, RecordKind, SourceOptions, import_file,
};
use sommelier_store::{CatalogRead, EventRead, SqliteStore, StatsRead, StoreOptions};
use sommelier_types::{EventId, ItemId};
use std::io::Write;
use std::path::{Path, PathBuf};

struct Fixture {
    dir: tempfile::TempDir,
    store: SqliteStore,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(dir.path().join("db.sqlite"), StoreOptions::default()).unwrap();
        Self { dir, store }
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    fn import(&self, kind: RecordKind, path: &Path, opts: &ImportOptions) -> Imported {
        import_file(&self.store, kind, path, opts, &mut |_| {}).unwrap()
    }
}

fn opts() -> ImportOptions {
    ImportOptions {
        decode: DecodeOptions {
            rating_min: 0.5,
            rating_max: 5.0,
            ..DecodeOptions::default()
        },
        batch_size: 3,
        ..ImportOptions::default()
    }
}

/// One good line, every kind of bad line the foundation issue names, one good line.
fn malformed_jsonl() -> Vec<u8> {
    let mut f = Vec::new();
    let mut line = |s: &[u8]| {
        f.extend_from_slice(s);
        f.push(b'\n');
    };
    line(br#"{"id":"ok-1","user":"u1","item":"a","kind":"view","timestamp":1700000000}"#); // 1
    line(br#"{"id":"bad-json","user":"u1","item":"#); // 2
    line(br#"{"id":"no-user","item":"a","kind":"view"}"#); // 3
    line(br#"{"id":"wrong-type","user":"u1","item":"a","kind":"rating","value":"five"}"#); // 4
    let mut long = br#"{"id":"huge","user":"u1","item":"a","kind":"view","pad":""#.to_vec();
    long.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    long.extend_from_slice(br#""}"#);
    line(&long); // 5
    line(b"{\"id\":\"utf8\",\"user\":\"u\xff\xfe\",\"item\":\"a\",\"kind\":\"view\"}"); // 6
    line(b""); // 7: blank lines are skipped, not records
    line(br#"{"id":"kind","user":"u1","item":"a","kind":"teleport"}"#); // 8
    line(br#"{"id":"range","user":"u1","item":"a","kind":"rating","value":7}"#); // 9
    line(br#"{"id":"ok-2","user":"u2","item":"b","kind":"rating","value":4.5,"timestamp":"2024-05-01T10:00:00Z"}"#); // 10
    f
}

#[test]
fn every_malformed_line_is_reported_with_line_and_field_and_the_rest_is_kept() {
    let fx = Fixture::new();
    let path = fx.file("events.jsonl", &malformed_jsonl());
    let out = fx.import(RecordKind::Events, &path, &opts());
    let r = &out.report;
    assert_eq!((r.accepted, r.duplicates, r.rejected), (2, 0, 7), "{r:#?}");
    let got: Vec<(u64, Option<&str>)> = r
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (2, None),
            (3, Some("user")),
            (4, Some("value")),
            (5, None),
            (6, None),
            (8, Some("kind")),
            (9, Some("value")),
        ]
    );
    let reasons: Vec<&str> = r.errors.iter().map(|e| e.reason.as_str()).collect();
    assert!(reasons[0].starts_with("invalid JSON"), "{}", reasons[0]);
    assert_eq!(reasons[1], "is required");
    assert_eq!(reasons[2], "expected a number, got a string");
    assert!(
        reasons[3].contains("the limit is 1048576"),
        "{}",
        reasons[3]
    );
    assert!(reasons[4].starts_with("invalid UTF-8"), "{}", reasons[4]);
    assert!(
        reasons[5].contains("unknown event kind `teleport`"),
        "{}",
        reasons[5]
    );
    assert!(reasons[6].contains("outside [0.5, 5]"), "{}", reasons[6]);
    assert!(
        r.errors
            .iter()
            .all(|e| e.file.as_deref() == Some(path.to_str().unwrap()))
    );
    assert!(
        r.errors[0]
            .to_string()
            .starts_with(&format!("{}:2: invalid JSON", path.display()))
    );

    // The reject file holds the same seven records, each with its reason.
    let rejects = std::fs::read_to_string(out.reject_file.as_ref().unwrap()).unwrap();
    let lines: Vec<serde_json::Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[1]["field"], "user");
    assert_eq!(lines[1]["line"], 3);
    assert!(
        lines[3]["raw"].as_str().unwrap().len() < 2048,
        "huge lines are not copied whole"
    );

    // Both good events are stored, exactly as sent.
    let e = fx
        .store
        .event(&EventId::new("ok-2").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!((e.user.as_str(), e.value), ("u2", Some(4.5)));
    assert!(
        fx.store
            .event(&EventId::new("ok-1").unwrap())
            .unwrap()
            .is_some()
    );
    assert_eq!(fx.store.stats().unwrap().events, 2);

    // Importing again: the good ones are duplicates, nothing doubles.
    let again = fx.import(RecordKind::Events, &path, &opts());
    assert_eq!(
        (
            again.report.accepted,
            again.report.duplicates,
            again.report.rejected
        ),
        (0, 2, 7)
    );
    assert_eq!(fx.store.stats().unwrap().events, 2);
}

#[test]
fn atomic_mode_writes_nothing_when_one_record_is_bad() {
    let fx = Fixture::new();
    let path = fx.file("events.jsonl", &malformed_jsonl());
    let atomic = ImportOptions {
        atomic: true,
        ..opts()
    };
    let out = fx.import(RecordKind::Events, &path, &atomic);
    assert!(out.report.rolled_back);
    assert_eq!((out.report.accepted, out.report.rejected), (0, 7));
    assert_eq!(fx.store.stats().unwrap().events, 0);

    let clean = fx.file(
        "clean.jsonl",
        b"{\"user\":\"u\",\"item\":\"a\",\"kind\":\"view\",\"timestamp\":1}\n{\"user\":\"u\",\"item\":\"b\",\"kind\":\"like\",\"timestamp\":2}\n",
    );
    let out = fx.import(RecordKind::Events, &clean, &atomic);
    assert!(!out.report.rolled_back);
    assert_eq!(out.report.accepted, 2);
    assert!(out.reject_file.is_none());
    assert_eq!(fx.store.stats().unwrap().events, 2);
}

#[test]
fn csv_rows_with_the_wrong_column_count_or_bad_bytes_are_rejected() {
    let fx = Fixture::new();
    let path = fx.file(
        "events.csv",
        b"id,user,item,kind,value,timestamp\n\
          c1,u1,a,view,,1700000000\n\
          c2,u1,a,view,1700000000\n\
          c3,u2,b,rating,4.5,1700000001,extra\n\
          c4,u\xff,b,click,,1700000002\n\
          c5,u3,c,dwell,12.5,1700000003\n",
    );
    let out = fx.import(RecordKind::Events, &path, &opts());
    let r = &out.report;
    assert_eq!((r.accepted, r.rejected), (2, 3), "{r:#?}");
    assert_eq!(r.errors[0].line, 3);
    assert_eq!(r.errors[0].reason, "has 5 columns, the header has 6");
    assert_eq!(r.errors[1].line, 4);
    assert_eq!(r.errors[1].reason, "has 7 columns, the header has 6");
    assert_eq!(
        (r.errors[2].line, r.errors[2].field.as_deref()),
        (5, Some("user"))
    );
    assert!(r.errors[2].reason.starts_with("invalid UTF-8"));
    let dwell = fx
        .store
        .event(&EventId::new("c5").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(dwell.value, Some(12.5));
}

#[test]
fn field_mapping_and_constants_read_a_movielens_style_file() {
    let fx = Fixture::new();
    let path = fx.file(
        "ratings.csv",
        b"userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n",
    );
    let o = ImportOptions {
        source: SourceOptions {
            map: FieldMap::parse(
                &[
                    "user=userId".into(),
                    "item=movieId".into(),
                    "value=rating".into(),
                ],
                &["kind=rating".into()],
            )
            .unwrap(),
            ..SourceOptions::default()
        },
        ..opts()
    };
    let out = fx.import(RecordKind::Events, &path, &o);
    assert_eq!((out.report.accepted, out.report.rejected), (2, 0));
    // Without the mapping, the unknown columns are named.
    let out = fx.import(RecordKind::Events, &path, &opts());
    assert_eq!(out.report.rejected, 2);
    assert_eq!(out.report.errors[0].field.as_deref(), Some("user"));
}

#[test]
fn item_csv_keeps_unknown_columns_as_attributes_and_deletes_by_flag() {
    let fx = Fixture::new();
    let path = fx.file(
        "items.csv",
        "id,title,categories,price,currency,colour,release_date\n\
         s1,Trail Shoe,Shoes|Outdoor,119.5,usd,green,2024-03-01\n\
         s2,Rain Jacket,Outerwear,80,EUR,blue,2023\n\
         s3,Free Sample,Misc,,,red,\n\
         s4,Broken,Misc,-3,USD,red,\n\
         s5,No Currency,Misc,10,,red,\n"
            .as_bytes(),
    );
    let out = fx.import(RecordKind::Items, &path, &opts());
    let r = &out.report;
    assert_eq!((r.accepted, r.rejected), (3, 2), "{r:#?}");
    assert_eq!(
        (r.errors[0].line, r.errors[0].field.as_deref()),
        (5, Some("price"))
    );
    assert_eq!(
        (r.errors[1].line, r.errors[1].field.as_deref()),
        (6, Some("currency"))
    );
    let s1 = fx
        .store
        .item(&ItemId::new("s1").unwrap())
        .unwrap()
        .unwrap()
        .item;
    assert_eq!(s1.categories, ["Shoes", "Outdoor"]);
    assert_eq!(s1.price.as_ref().unwrap().currency, "USD");
    assert_eq!(s1.attributes["colour"], "green");
    assert_eq!(s1.release_date.unwrap().to_string(), "2024-03-01");

    let del = fx.file(
        "delete.jsonl",
        b"{\"id\":\"s2\",\"deleted\":true}\n{\"id\":\"nope\",\"deleted\":true}\n",
    );
    let out = fx.import(RecordKind::Items, &del, &opts());
    assert_eq!((out.report.accepted, out.report.duplicates), (1, 1));
    assert!(
        fx.store
            .item(&ItemId::new("s2").unwrap())
            .unwrap()
            .unwrap()
            .deleted_at
            .is_some()
    );
}

#[test]
fn a_missing_file_or_header_is_an_error_not_a_silent_success() {
    let fx = Fixture::new();
    let err = import_file(
        &fx.store,
        RecordKind::Events,
        &fx.dir.path().join("nope.jsonl"),
        &opts(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("nope.jsonl"), "{err}");
    let empty = fx.file("empty.csv", b"");
    let err = import_file(&fx.store, RecordKind::Events, &empty, &opts(), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("bad CSV header"), "{err}");
}

/// Regression: when the reject file cannot be written the import must stop with
/// that error, not hang waiting on the reader thread.
#[test]
fn an_unwritable_reject_file_stops_the_import_cleanly() {
    let fx = Fixture::new();
    let bad: String = (0..50)
        .map(|i| format!("{{\"user\":\"u\",\"item\":\"{i}\",\"kind\":\"zap\"}}\n"))
        .collect();
    let path = fx.file("bad.jsonl", bad.as_bytes());
    let o = ImportOptions {
        batch_size: 1,
        reject_path: Some(fx.dir.path().join("no/such/dir/rejects.jsonl")),
        ..opts()
    };
    let err = import_file(&fx.store, RecordKind::Events, &path, &o, &mut |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("cannot write the reject file"),
        "{err}"
    );
}
