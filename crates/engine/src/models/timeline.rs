//! The log's events held back and applied in time order, so that each of
//! the ranker's examples is ranked with the features as they were when it
//! was asked: the popularity, trends and fresh items of that moment, not
//! of the log's end (`models.ranker_point_in_time`).

use sommelier_features::{Interner, OnlineFeatures};
use sommelier_store::EventRow;
use sommelier_types::{EventKind, Timestamp};

/// One held-back event, its names interned.
struct Row {
    at: i64,
    seq: u64,
    user: u32,
    item: u32,
    /// `u32::MAX`: no device.
    device: u32,
    kind: EventKind,
    value: Option<f64>,
}

/// Events waiting to be applied, oldest first once [`Timeline::sorted`].
#[derive(Default)]
pub(super) struct Timeline {
    names: Interner,
    rows: Vec<Row>,
    next: usize,
}

impl Timeline {
    /// Holds `row` back until [`Timeline::apply_until`] reaches its time.
    pub(super) fn push(&mut self, row: &EventRow<'_>) {
        let user = self.names.intern(row.user);
        let item = self.names.intern(row.item);
        let device = row.device.map_or(u32::MAX, |d| self.names.intern(d));
        self.rows.push(Row {
            at: row.timestamp.0,
            seq: row.seq,
            user,
            item,
            device,
            kind: row.kind,
            value: row.value,
        });
    }

    /// Orders the held-back events by time, then by their place in the log.
    pub(super) fn sorted(mut self) -> Self {
        self.rows.sort_by_key(|r| (r.at, r.seq));
        self
    }

    /// Applies every held-back event up to and including `at_ms` (a
    /// user's own events of the second they ask in come before their
    /// choice); returns how many were applied.
    pub(super) fn apply_until(&mut self, features: &mut OnlineFeatures, at_ms: i64) -> usize {
        let start = self.next;
        while let Some(r) = self.rows.get(self.next).filter(|r| r.at <= at_ms) {
            features.apply(EventRow {
                seq: r.seq,
                user: self.names.name(r.user),
                item: self.names.name(r.item),
                kind: r.kind,
                value: r.value,
                timestamp: Timestamp(r.at),
                device: (r.device != u32::MAX).then(|| self.names.name(r.device)),
            });
            self.next += 1;
        }
        self.next - start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sommelier_features::{FeatureConfig, FeatureRead};

    fn row<'a>(seq: u64, user: &'a str, item: &'a str, at: i64) -> EventRow<'a> {
        EventRow {
            seq,
            user,
            item,
            kind: EventKind::Purchase,
            value: None,
            timestamp: Timestamp(at),
            device: Some("tv"),
        }
    }

    #[test]
    fn events_reach_the_features_in_time_order_and_no_later_than_asked() {
        let mut t = Timeline::default();
        // Logged out of time order: the newest first.
        t.push(&row(1, "u1", "late", 5_000));
        t.push(&row(2, "u2", "early", 1_000));
        t.push(&row(3, "u3", "early", 2_000));
        let mut t = t.sorted();
        let mut f = OnlineFeatures::new(FeatureConfig::default());
        assert_eq!(t.apply_until(&mut f, 999), 0);
        assert_eq!(t.apply_until(&mut f, 2_000), 2);
        assert_eq!(f.clock(), Some(Timestamp(2_000)));
        assert!(f.item("late", Timestamp(2_000)).is_none());
        let early = f.item("early", Timestamp(2_000)).unwrap();
        assert_eq!(early.counts[EventKind::Purchase.index()], 2);
        assert_eq!(t.apply_until(&mut f, i64::MAX), 1);
        assert_eq!(f.clock(), Some(Timestamp(5_000)));
        assert_eq!(t.apply_until(&mut f, i64::MAX), 0);
    }
}
