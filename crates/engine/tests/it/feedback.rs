//! Feedback on explanations: a verdict on the reason for a pick is kept as
//! a `feedback` event naming the list, changes nothing the engine
//! recommends, and is reported by who wrote the reason.

use crate::support::{dramas_and_clicks, open};
use serde_json::json;
use sommelier_engine::{EngineError, RecommendRequest, RecordKind};
use sommelier_types::EventKind;

#[test]
fn verdicts_on_reasons_are_kept_reported_by_rationale_and_change_no_recommendation() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    dramas_and_clicks(&e, 200, 10);
    e.start_exposure_log();
    let ask = || {
        e.recommend(&RecommendRequest {
            user_id: Some("u1".into()),
            k: Some(5),
            ..Default::default()
        })
        .unwrap()
    };
    let r = ask();
    let shown: Vec<String> = r.items.iter().map(|i| i.item.clone()).collect();
    e.explanation_feedback("u1", &r.request_id, &shown[0], true)
        .unwrap();
    e.explanation_feedback("u2", &r.request_id, &shown[1], false)
        .unwrap();
    // The list did not show it; no list under the id.
    let err = e
        .explanation_feedback("u1", &r.request_id, "i-never", true)
        .unwrap_err();
    assert!(matches!(err, EngineError::Usage(_)), "{err}");
    let err = e
        .explanation_feedback("u1", "no-such-request", &shown[0], true)
        .unwrap_err();
    assert!(matches!(err, EngineError::NotFound(_)), "{err}");
    // A feedback event must name a list and say 1 or -1.
    let report = e
        .ingest_batch(
            RecordKind::Events,
            vec![
                json!({"user": "u1", "item": "i1", "kind": "feedback", "value": 1}),
                json!({"user": "u1", "item": "i1", "kind": "feedback", "value": 3, "request_id": "x"}),
            ],
            false,
        )
        .unwrap();
    assert_eq!(report.rejected, 2);
    assert!(
        report.errors[0].reason.contains("request_id"),
        "{:?}",
        report.errors
    );
    assert!(
        report.errors[1].reason.contains("1 (the reason helped)"),
        "{:?}",
        report.errors
    );

    let kept = e.store().events_of_kind(EventKind::Feedback, 0).unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(
        kept[0].context.request_id.as_deref(),
        Some(r.request_id.as_str())
    );
    assert_eq!(kept[0].context.position, Some(1));
    // Nothing it recommends changed: the judged items are not "had".
    assert_eq!(
        ask()
            .items
            .iter()
            .map(|i| i.item.clone())
            .collect::<Vec<_>>(),
        shown
    );

    let f = e.explanation_feedback_report(0).unwrap();
    assert_eq!(f.unmatched, 0);
    assert_eq!(f.rows.len(), 1, "{f:?}");
    let row = &f.rows[0];
    assert_eq!(
        (
            row.rationale.as_str(),
            row.prompt_version.as_str(),
            row.surface.as_str()
        ),
        ("signals", "–", "recommend")
    );
    assert_eq!((row.helped, row.wrong), (1, 1));
    assert!((row.helpful_share - 0.5).abs() < 1e-12);
    assert!(row.low < 0.5 && row.high > 0.5);
}
