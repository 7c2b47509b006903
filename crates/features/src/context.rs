//! Context features: when (part of the day) and on what (device class) people
//! choose each item, against how everybody's choices spread over the same
//! buckets. An item watched mostly in the evening on a TV gets a positive lift
//! for an evening TV request and a negative one for a morning phone request.
//!
//! Hours are local to one configured UTC offset (`features.utc_offset_minutes`)
//! for events and requests alike, so a deployment serving one region reads
//! "evening" as its evening.

/// Parts of the day, in bucket order.
pub const DAYPARTS: [&str; 4] = ["night", "morning", "afternoon", "evening"];

/// Distinct device classes counted; rarer ones beyond this are ignored, so a
/// free-text device field cannot grow the state without bound.
pub const MAX_DEVICES: usize = 64;

use crate::ContextSummary;

const HOUR_MS: i64 = 3_600_000;

/// The part of the day of an hour (0–23): night 0–5, morning 6–11,
/// afternoon 12–17, evening 18–23.
pub fn daypart_of_hour(hour: u8) -> u8 {
    hour.min(23) / 6
}

/// The local hour (0–23) of a time in milliseconds since the epoch, at
/// `utc_offset_minutes` from UTC.
pub fn local_hour(ms: i64, utc_offset_minutes: i32) -> u8 {
    let local = ms + i64::from(utc_offset_minutes) * 60_000;
    (local.div_euclid(HOUR_MS).rem_euclid(24)) as u8
}

/// A request's context, resolved once per request against the feature state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextKey {
    /// Part of the day, an index into [`DAYPARTS`].
    pub daypart: Option<u8>,
    /// The device class's dense id, when the log has seen it.
    pub device: Option<u16>,
}

/// How much more (positive) or less (negative) an item is chosen in a context
/// than the average item: the log of its smoothed share over the global share.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ContextLift {
    /// Lift for the request's part of the day.
    pub daypart: f64,
    /// Lift for the request's device class.
    pub device: f64,
}

/// Per-item counts of positive events by part of the day and device.
#[derive(Debug, Default, Clone)]
pub(crate) struct ItemContext {
    pub(crate) dayparts: [u32; 4],
    pub(crate) devices: Vec<(u16, u32)>,
}

/// Totals over all items, the reference each item is compared with.
#[derive(Debug, Default)]
pub(crate) struct ContextTotals {
    pub(crate) dayparts: [u64; 4],
    pub(crate) devices: Vec<u64>,
    pub(crate) device_names: Vec<Box<str>>,
}

/// Smoothing of an item's shares, in events: an item with few events keeps a
/// lift near 0.
const PRIOR_EVENTS: f64 = 20.0;
/// Bound on a lift (ln of a share ratio).
const MAX_LIFT: f64 = 2.0;

impl ContextTotals {
    fn device_id(&mut self, name: &str) -> Option<u16> {
        if let Some(i) = self.device_names.iter().position(|d| &**d == name) {
            return Some(i as u16);
        }
        if self.device_names.len() >= MAX_DEVICES {
            return None;
        }
        self.device_names.push(name.into());
        self.devices.push(0);
        Some((self.device_names.len() - 1) as u16)
    }

    /// The dense id of a device class the log has seen.
    pub(crate) fn find_device(&self, name: &str) -> Option<u16> {
        self.device_names
            .iter()
            .position(|d| d.eq_ignore_ascii_case(name))
            .map(|i| i as u16)
    }

    /// Counts one positive event of `item` at part of day `daypart` on `device`.
    pub(crate) fn add(&mut self, item: &mut ItemContext, daypart: u8, device: Option<&str>) {
        let d = usize::from(daypart.min(3));
        item.dayparts[d] += 1;
        self.dayparts[d] += 1;
        let Some(name) = device.map(str::trim).filter(|s| !s.is_empty()) else {
            return;
        };
        let lower = name.to_ascii_lowercase();
        let Some(id) = self.device_id(&lower) else {
            return;
        };
        self.devices[usize::from(id)] += 1;
        match item.devices.iter_mut().find(|(i, _)| *i == id) {
            Some((_, n)) => *n += 1,
            None => item.devices.push((id, 1)),
        }
    }

    /// The item's lifts in the request's context.
    pub(crate) fn lift(&self, item: &ItemContext, key: &ContextKey) -> ContextLift {
        let mut out = ContextLift::default();
        if let Some(d) = key.daypart {
            let n: u64 = item.dayparts.iter().map(|&c| u64::from(c)).sum();
            let total: u64 = self.dayparts.iter().sum();
            let d = usize::from(d.min(3));
            out.daypart = lift(
                u64::from(item.dayparts[d]),
                n,
                self.dayparts[d],
                total,
                DAYPARTS.len(),
            );
        }
        if let Some(id) = key.device {
            let n: u64 = item.devices.iter().map(|&(_, c)| u64::from(c)).sum();
            let total: u64 = self.devices.iter().sum();
            let mine = item
                .devices
                .iter()
                .find(|(i, _)| *i == id)
                .map_or(0, |&(_, c)| u64::from(c));
            out.device = lift(
                mine,
                n,
                self.devices[usize::from(id)],
                total,
                self.devices.len(),
            );
        }
        out
    }

    /// Totals per part of the day and per device class (for operators).
    pub(crate) fn summary(&self) -> ContextSummary {
        let dayparts = DAYPARTS
            .iter()
            .zip(self.dayparts)
            .map(|(n, c)| (n.to_string(), c))
            .collect();
        let devices = self
            .device_names
            .iter()
            .zip(&self.devices)
            .map(|(n, c)| (n.to_string(), *c))
            .collect();
        ContextSummary { dayparts, devices }
    }
}

impl ItemContext {
    /// The item's counts per part of the day and per device class.
    pub(crate) fn summary(&self, totals: &ContextTotals) -> ContextSummary {
        let dayparts = DAYPARTS
            .iter()
            .zip(self.dayparts)
            .map(|(n, c)| (n.to_string(), u64::from(c)))
            .collect();
        let devices = self
            .devices
            .iter()
            .map(|&(i, c)| {
                (
                    totals.device_names[usize::from(i)].to_string(),
                    u64::from(c),
                )
            })
            .collect();
        ContextSummary { dayparts, devices }
    }
}

/// ln of the item's smoothed share of a bucket over the bucket's global share;
/// 0 when the log has nothing to compare with.
fn lift(mine: u64, n: u64, bucket: u64, total: u64, buckets: usize) -> f64 {
    if total == 0 || n == 0 {
        return 0.0;
    }
    let global = (bucket as f64 + 1.0) / (total as f64 + buckets as f64);
    let share = (mine as f64 + PRIOR_EVENTS * global) / (n as f64 + PRIOR_EVENTS);
    (share / global).ln().clamp(-MAX_LIFT, MAX_LIFT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_map_to_dayparts_in_the_configured_zone() {
        assert_eq!(daypart_of_hour(0), 0);
        assert_eq!(daypart_of_hour(5), 0);
        assert_eq!(daypart_of_hour(6), 1);
        assert_eq!(daypart_of_hour(12), 2);
        assert_eq!(daypart_of_hour(23), 3);
        // 2024-01-01T22:30Z is 23:30 in UTC+1 and 14:30 in UTC-8.
        let t = 1_704_148_200_000;
        assert_eq!(local_hour(t, 0), 22);
        assert_eq!(local_hour(t, 60), 23);
        assert_eq!(local_hour(t, -8 * 60), 14);
        assert_eq!(local_hour(-1, 0), 23);
    }

    #[test]
    fn an_item_chosen_in_the_evening_on_tv_lifts_there_and_drops_elsewhere() {
        let mut totals = ContextTotals::default();
        let mut evening_tv = ItemContext::default();
        let mut morning_phone = ItemContext::default();
        for _ in 0..200 {
            totals.add(&mut evening_tv, 3, Some("TV"));
            totals.add(&mut morning_phone, 1, Some("mobile"));
        }
        let tv = totals.find_device("tv").expect("seen, case-insensitive");
        let mobile = totals.find_device("mobile").unwrap();
        let evening = ContextKey {
            daypart: Some(3),
            device: Some(tv),
        };
        let morning = ContextKey {
            daypart: Some(1),
            device: Some(mobile),
        };
        let a = totals.lift(&evening_tv, &evening);
        let b = totals.lift(&evening_tv, &morning);
        assert!(a.daypart > 0.5 && a.device > 0.5, "{a:?}");
        assert!(b.daypart < -0.5 && b.device < -0.5, "{b:?}");
        assert!(totals.lift(&morning_phone, &morning).daypart > 0.5);
        // No context, no lift; an item with no events stays at 0.
        assert_eq!(
            totals.lift(&evening_tv, &ContextKey::default()),
            ContextLift::default()
        );
        assert_eq!(
            totals.lift(&ItemContext::default(), &evening),
            ContextLift::default()
        );
    }

    #[test]
    fn few_events_give_a_small_lift_and_devices_are_bounded() {
        let mut totals = ContextTotals::default();
        let mut big = ItemContext::default();
        for _ in 0..500 {
            totals.add(&mut big, 1, Some("desktop"));
            totals.add(&mut big, 3, Some("desktop"));
        }
        let mut rare = ItemContext::default();
        totals.add(&mut rare, 3, Some("desktop"));
        let key = ContextKey {
            daypart: Some(3),
            device: None,
        };
        let l = totals.lift(&rare, &key).daypart;
        assert!(l > 0.0 && l < 0.1, "one event moves the lift a little: {l}");
        for i in 0..100 {
            totals.add(&mut rare, 0, Some(&format!("device-{i}")));
        }
        assert_eq!(totals.device_names.len(), MAX_DEVICES);
    }
}
