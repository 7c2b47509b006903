//! Deterministic train/test splits of an interaction log.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One interaction, as read from the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// User id.
    pub user: String,
    /// Item id.
    pub item: String,
    /// Event time, milliseconds since the epoch.
    pub timestamp: i64,
    /// Event kind (wire name).
    pub kind: String,
    /// Event value (a rating), if any.
    pub value: Option<f64>,
    /// Device class of the event's context, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// How interactions with the same timestamp are ordered within a user.
///
/// MovieLens users rate many movies in the same second (on ml-100k 44 % of
/// the held-out items share their second with the user's last training
/// item). Ordering those ties by item id makes the held-out item predictable
/// from id order, so the default orders them by a seeded hash of (user, item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ties {
    /// A seeded hash of (user, item): no information about the items.
    Hash {
        /// Seed.
        seed: u64,
    },
    /// Item id order: the legacy protocol, kept for comparison with older
    /// figures. The held-out item of a tied second is the one with the
    /// largest id.
    ItemId,
}

impl Ties {
    /// The default: hashed with seed 0.
    pub const DEFAULT: Ties = Ties::Hash { seed: 0 };

    /// Parses `hash` or `item-id`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "hash" => Ok(Ties::DEFAULT),
            "item-id" | "id" => Ok(Ties::ItemId),
            other => Err(format!(
                "unknown tie order `{other}`; expected hash or item-id"
            )),
        }
    }

    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            Ties::Hash { .. } => "hash",
            Ties::ItemId => "item-id",
        }
    }

    fn order(&self, a: &Interaction, b: &Interaction) -> std::cmp::Ordering {
        a.timestamp.cmp(&b.timestamp).then_with(|| match self {
            Ties::Hash { seed } => tie_key(*seed, a)
                .cmp(&tie_key(*seed, b))
                .then_with(|| id_order(&a.item, &b.item)),
            Ties::ItemId => id_order(&a.item, &b.item),
        })
    }
}

/// How to hold out test interactions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Per user, sort by timestamp (ties in the given order) and hold out the
    /// last item.
    LeaveLastOut {
        /// Order of interactions in the same second.
        ties: Ties,
    },
    /// One global time cutoff: everything at or after the `fraction` quantile of
    /// time is test (for users who also have training history).
    Temporal {
        /// Share of interactions (by time) kept for training.
        fraction: f64,
    },
    /// Per user, a seeded random share of their items is test.
    Random {
        /// Share of each user's items held out.
        fraction: f64,
        /// Seed.
        seed: u64,
    },
}

impl Protocol {
    /// The default protocol: leave-last-out with hashed ties.
    pub const LEAVE_LAST_OUT: Protocol = Protocol::LeaveLastOut {
        ties: Ties::DEFAULT,
    };

    /// Parses `leave-last-out`, `temporal` or `random` (leave-last-out with
    /// hashed ties; see [`Protocol::with_ties`]).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "leave-last-out" | "llo" => Ok(Protocol::LEAVE_LAST_OUT),
            "temporal" => Ok(Protocol::Temporal { fraction: 0.8 }),
            "random" => Ok(Protocol::Random {
                fraction: 0.2,
                seed: 42,
            }),
            other => Err(format!(
                "unknown protocol `{other}`; expected leave-last-out, temporal or random"
            )),
        }
    }

    /// The same protocol with ties ordered by `ties` (leave-last-out only;
    /// the others do not depend on the order within a second).
    pub fn with_ties(self, ties: Ties) -> Self {
        match self {
            Protocol::LeaveLastOut { .. } => Protocol::LeaveLastOut { ties },
            other => other,
        }
    }

    /// The tie order of leave-last-out; `None` for the other protocols.
    pub fn ties(&self) -> Option<Ties> {
        match self {
            Protocol::LeaveLastOut { ties } => Some(*ties),
            _ => None,
        }
    }

    /// Whether this is leave-last-out, whatever its tie order.
    pub fn is_leave_last_out(&self) -> bool {
        self.ties().is_some()
    }

    /// Short name (the legacy id-tie leave-last-out is named apart, so its
    /// files and reports never mix with the default's).
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::LeaveLastOut {
                ties: Ties::Hash { .. },
            } => "leave-last-out",
            Protocol::LeaveLastOut { ties: Ties::ItemId } => "leave-last-out-id-ties",
            Protocol::Temporal { .. } => "temporal",
            Protocol::Random { .. } => "random",
        }
    }
}

/// A split: training interactions, and each test user's held-out items.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Training interactions in (timestamp, user, item) order.
    pub train: Vec<Interaction>,
    /// Held-out distinct items per test user (every test user has training history).
    pub test: BTreeMap<String, Vec<String>>,
}

pub use sommelier_collab::id_order;

/// Splits `all` by `protocol`. The same input gives the same split, whatever
/// its order.
pub fn split(all: &[Interaction], protocol: Protocol) -> Split {
    let mut by_user: BTreeMap<&str, Vec<&Interaction>> = BTreeMap::new();
    for x in all {
        by_user.entry(x.user.as_str()).or_default().push(x);
    }
    // The other protocols do not depend on the order within a second.
    let ties = protocol.ties().unwrap_or(Ties::DEFAULT);
    for v in by_user.values_mut() {
        v.sort_by(|a, b| ties.order(a, b));
    }
    let mut train = Vec::new();
    let mut test: BTreeMap<String, Vec<String>> = BTreeMap::new();
    match protocol {
        Protocol::LeaveLastOut { .. } => {
            for (user, v) in &by_user {
                if v.len() < 2 {
                    train.extend(v.iter().map(|x| (*x).clone()));
                    continue;
                }
                let last = v[v.len() - 1];
                // Earlier interactions with the held-out item would leak it.
                train.extend(
                    v.iter()
                        .filter(|x| x.item != last.item)
                        .map(|x| (*x).clone()),
                );
                test.insert((*user).to_string(), vec![last.item.clone()]);
            }
        }
        Protocol::Temporal { fraction } => {
            let mut times: Vec<i64> = all.iter().map(|x| x.timestamp).collect();
            times.sort_unstable();
            let cut = times
                .get(((times.len() as f64) * fraction.clamp(0.0, 1.0)) as usize)
                .copied()
                .unwrap_or(i64::MAX);
            for (user, v) in &by_user {
                let (before, after): (Vec<&Interaction>, Vec<&Interaction>) =
                    v.iter().partition(|x| x.timestamp < cut);
                let seen: std::collections::HashSet<&str> =
                    before.iter().map(|x| x.item.as_str()).collect();
                train.extend(before.iter().map(|x| (*x).clone()));
                let mut held: Vec<String> = Vec::new();
                for x in after {
                    if !seen.contains(x.item.as_str()) && !held.contains(&x.item) {
                        held.push(x.item.clone());
                    }
                }
                if !before.is_empty() && !held.is_empty() {
                    test.insert((*user).to_string(), held);
                }
            }
        }
        Protocol::Random { fraction, seed } => {
            for (user, v) in &by_user {
                let mut items: Vec<&str> = v.iter().map(|x| x.item.as_str()).collect();
                items.sort_unstable();
                items.dedup();
                let n_test = ((items.len() as f64) * fraction).floor() as usize;
                if n_test == 0 || n_test >= items.len() {
                    train.extend(v.iter().map(|x| (*x).clone()));
                    continue;
                }
                // Seeded shuffle by a hash of (seed, user, item): stable and
                // independent of the other users.
                items.sort_by_key(|i| mix(seed, user, i));
                let held: std::collections::BTreeSet<&str> =
                    items[..n_test].iter().copied().collect();
                train.extend(
                    v.iter()
                        .filter(|x| !held.contains(x.item.as_str()))
                        .map(|x| (*x).clone()),
                );
                test.insert(
                    (*user).to_string(),
                    held.into_iter().map(String::from).collect(),
                );
            }
        }
    }
    train.sort_by(|a, b| ties.order(a, b).then_with(|| a.user.cmp(&b.user)));
    Split { train, test }
}

/// Test users whose (first) held-out interaction has the same timestamp as
/// their last training interaction: where the tie order decided what was
/// held out.
pub fn tied_users(all: &[Interaction], s: &Split) -> std::collections::BTreeSet<String> {
    let mut last_train: std::collections::HashMap<&str, i64> = Default::default();
    for x in &s.train {
        let t = last_train.entry(x.user.as_str()).or_insert(i64::MIN);
        *t = (*t).max(x.timestamp);
    }
    let mut held_at: std::collections::HashMap<&str, i64> = Default::default();
    for x in all {
        if s.test.get(&x.user).is_some_and(|v| v.contains(&x.item)) {
            let t = held_at.entry(x.user.as_str()).or_insert(i64::MAX);
            *t = (*t).min(x.timestamp);
        }
    }
    held_at
        .into_iter()
        .filter(|(u, t)| last_train.get(u) == Some(t))
        .map(|(u, _)| u.to_string())
        .collect()
}

/// Turns a share of the users into new users, to measure cold start on data
/// sets where everyone has a long history (MovieLens users all have 20+
/// ratings): a deterministic `share` of users keep only their first `n`
/// interactions (n from 1 to [`crate::COLD_MAX`], by user) for training, and
/// their next item is the test item. Everyone else is split by leave-last-out.
pub fn leave_last_out_with_cold(all: &[Interaction], ties: Ties, share: f64, seed: u64) -> Split {
    let mut by_user: BTreeMap<&str, Vec<&Interaction>> = BTreeMap::new();
    for x in all {
        by_user.entry(x.user.as_str()).or_default().push(x);
    }
    let mut rest = Vec::new();
    let mut cold_train = Vec::new();
    let mut cold_test = BTreeMap::new();
    for (user, mut v) in by_user {
        let h = mix(seed, user, "");
        let picked = (h % 10_000) as f64 / 10_000.0 < share;
        if !picked || v.len() < crate::COLD_MAX + 2 {
            rest.extend(v.into_iter().cloned());
            continue;
        }
        v.sort_by(|a, b| ties.order(a, b));
        let n = 1 + (h / 10_000 % crate::COLD_MAX as u64) as usize;
        let train: Vec<&Interaction> = v[..n].to_vec();
        let next = v[n..]
            .iter()
            .find(|x| !train.iter().any(|t| t.item == x.item));
        if let Some(next) = next {
            cold_train.extend(train.into_iter().cloned());
            cold_test.insert(user.to_string(), vec![next.item.clone()]);
        }
    }
    let mut s = split(&rest, Protocol::LeaveLastOut { ties });
    s.train.extend(cold_train);
    s.train
        .sort_by(|a, b| ties.order(a, b).then_with(|| a.user.cmp(&b.user)));
    s.test.extend(cold_test);
    s
}

/// The hashed tie order's key: [`mix`] through the SplitMix64 finaliser, so
/// that ids differing only in their last characters still land anywhere.
fn tie_key(seed: u64, x: &Interaction) -> u64 {
    sommelier_types::mix64(mix(seed, &x.user, &x.item))
}

/// FNV-1a over the seed and the strings: a stable hash for the random protocol.
fn mix(seed: u64, user: &str, item: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325 ^ seed;
    for b in user.bytes().chain([0xff]).chain(item.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(user: &str, item: &str, t: i64) -> Interaction {
        Interaction {
            user: user.into(),
            item: item.into(),
            timestamp: t,
            kind: "rating".into(),
            value: Some(4.0),
            device: None,
        }
    }

    #[test]
    fn leave_last_out_breaks_timestamp_ties_by_item_id() {
        let all = vec![
            x("u", "b", 5),
            x("u", "a", 1),
            x("u", "c", 5),
            x("v", "z", 1),
        ];
        let s = split(&all, Protocol::LeaveLastOut { ties: Ties::ItemId });
        assert_eq!(s.test["u"], vec!["c".to_string()]);
        // A user with one interaction is train only.
        assert!(!s.test.contains_key("v"));
        assert_eq!(s.train.len(), 3);
        assert!(s.train.iter().all(|t| t.item != "c"));
    }

    #[test]
    fn hashed_ties_do_not_follow_item_ids() {
        // 400 users, each with ten items rated in one second: under id order
        // the held-out item is always the largest id; hashed, it is any of them.
        let all: Vec<Interaction> = (0..400)
            .flat_map(|u| (0..10).map(move |i| x(&format!("u{u}"), &format!("{}", 100 + i), 7)))
            .collect();
        let by_id = split(&all, Protocol::LeaveLastOut { ties: Ties::ItemId });
        assert!(by_id.test.values().all(|v| v[0] == "109"));
        let hashed = split(&all, Protocol::LEAVE_LAST_OUT);
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for v in hashed.test.values() {
            *counts.entry(v[0].as_str()).or_default() += 1;
        }
        assert_eq!(counts.len(), 10, "{counts:?}");
        assert!(counts.values().all(|c| (20..=60).contains(c)), "{counts:?}");
        // Every held-out item is tied with the last training item.
        assert_eq!(tied_users(&all, &hashed).len(), 400);
        // Another seed holds out other items.
        let other = split(
            &all,
            Protocol::LeaveLastOut {
                ties: Ties::Hash { seed: 9 },
            },
        );
        assert_ne!(other.test, hashed.test);
    }

    #[test]
    fn tied_users_are_those_whose_held_out_second_is_their_last_training_one() {
        let all = vec![
            x("u", "a", 1),
            x("u", "b", 5),
            x("u", "c", 5),
            x("w", "a", 1),
            x("w", "b", 2),
        ];
        let s = split(&all, Protocol::LEAVE_LAST_OUT);
        let tied = tied_users(&all, &s);
        assert!(tied.contains("u"));
        assert!(!tied.contains("w"));
    }

    #[test]
    fn splits_do_not_depend_on_input_order() {
        let mut all: Vec<Interaction> = (0..60)
            .map(|i| {
                x(
                    &format!("u{}", i % 7),
                    &format!("i{}", (i * 13) % 17),
                    (i % 11) as i64,
                )
            })
            .collect();
        for p in [
            Protocol::LEAVE_LAST_OUT,
            Protocol::LeaveLastOut { ties: Ties::ItemId },
            Protocol::Temporal { fraction: 0.8 },
            Protocol::Random {
                fraction: 0.3,
                seed: 1,
            },
        ] {
            let a = split(&all, p);
            all.reverse();
            let b = split(&all, p);
            assert_eq!(a, b, "{p:?}");
        }
    }

    #[test]
    fn temporal_holds_out_only_the_future_of_users_with_a_past() {
        let all = vec![
            x("u", "a", 1),
            x("u", "b", 2),
            x("u", "c", 9),
            x("w", "d", 9),
            x("v", "e", 1),
        ];
        let s = split(&all, Protocol::Temporal { fraction: 0.6 });
        assert_eq!(s.test.len(), 1);
        assert_eq!(s.test["u"], vec!["c".to_string()]);
        assert!(s.train.iter().all(|t| t.timestamp < 9));
    }

    #[test]
    fn simulated_new_users_keep_only_their_first_interactions() {
        let all: Vec<Interaction> = (0..40)
            .flat_map(|u| (0..10).map(move |i| x(&format!("u{u}"), &format!("i{i}"), i)))
            .collect();
        let s = leave_last_out_with_cold(&all, Ties::ItemId, 0.5, 3);
        let mut cold = 0;
        for (user, test) in &s.test {
            let train: Vec<&Interaction> = s.train.iter().filter(|t| &t.user == user).collect();
            if train.len() <= crate::COLD_MAX {
                cold += 1;
                // The test item is the one right after the kept prefix.
                assert_eq!(test[0], format!("i{}", train.len()));
            } else {
                assert_eq!(test[0], "i9");
            }
        }
        assert!(cold > 10 && cold < 30, "{cold} of 40 cold");
    }

    #[test]
    fn random_holds_out_the_requested_share() {
        let all: Vec<Interaction> = (0..10).map(|i| x("u", &format!("i{i}"), i)).collect();
        let s = split(
            &all,
            Protocol::Random {
                fraction: 0.2,
                seed: 7,
            },
        );
        assert_eq!(s.test["u"].len(), 2);
        assert_eq!(s.train.len(), 8);
    }
}
