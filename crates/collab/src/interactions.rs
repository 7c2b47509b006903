//! Interactions as dense indices: what the models are fitted from.

use std::collections::HashMap;

/// One positive interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Touch {
    item: u32,
    timestamp: i64,
}

/// Per-user interaction sequences over dense item indices. Built by
/// [`Interactions::add`] in any order; [`Interactions::sequences`] sorts each
/// user's by (timestamp, item id), the order leave-last-out evaluation uses.
#[derive(Debug, Default, Clone)]
pub struct Interactions {
    items: Vec<String>,
    item_index: HashMap<String, u32>,
    users: HashMap<String, Vec<Touch>>,
    /// The sorted sequences, computed once: every model of a fit reads them.
    sequences: std::sync::OnceLock<Vec<Vec<u32>>>,
}

impl Interactions {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `user` interacted positively with `item` at `timestamp_ms`.
    pub fn add(&mut self, user: &str, item: &str, timestamp_ms: i64) {
        self.sequences.take();
        let idx = match self.item_index.get(item) {
            Some(i) => *i,
            None => {
                let i = self.items.len() as u32;
                self.items.push(item.to_owned());
                self.item_index.insert(item.to_owned(), i);
                i
            }
        };
        let t = Touch {
            item: idx,
            timestamp: timestamp_ms,
        };
        match self.users.get_mut(user) {
            Some(v) => v.push(t),
            None => {
                self.users.insert(user.to_owned(), vec![t]);
            }
        }
    }

    /// Item ids by dense index.
    pub fn items(&self) -> &[String] {
        &self.items
    }

    /// Number of users.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Number of interactions.
    pub fn len(&self) -> usize {
        self.users.values().map(Vec::len).sum()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Each user's distinct items in time order (ties by [`crate::tie_order`]); a repeated item
    /// keeps its latest position. Users are in id order, so fits are deterministic.
    /// Sorted on the first call and kept until the next [`add`](Self::add).
    pub fn sequences(&self) -> &[Vec<u32>] {
        self.sequences.get_or_init(|| self.sort_sequences())
    }

    /// User ids in id order: the order of [`sequences`](Self::sequences).
    fn users_in_order(&self) -> Vec<&String> {
        let mut users: Vec<&String> = self.users.keys().collect();
        users.sort();
        users
    }

    fn sort_sequences(&self) -> Vec<Vec<u32>> {
        self.users_in_order()
            .into_iter()
            .map(|user| {
                let mut t = self.users[user].clone();
                t.sort_by(|a, b| {
                    a.timestamp.cmp(&b.timestamp).then_with(|| {
                        crate::tie_order(
                            user,
                            &self.items[a.item as usize],
                            &self.items[b.item as usize],
                        )
                    })
                });
                // Keep the last occurrence of each item.
                let mut seen = std::collections::HashSet::new();
                let mut out: Vec<u32> = t
                    .iter()
                    .rev()
                    .filter(|x| seen.insert(x.item))
                    .map(|x| x.item)
                    .collect();
                out.reverse();
                out
            })
            .collect()
    }

    /// Holds out each user's newest `count` distinct items (by time, ties by
    /// [`crate::tie_order`]) for users with at least `min_items` distinct
    /// items, always leaving `min_items - 1` of them: the data with those
    /// items removed, and each such user's held-out items, oldest first, in
    /// user order. What the ranker learns from: which candidates were the
    /// next things a user chose.
    ///
    /// With `visit_gap_ms > 0` the held-out items are one visit's: an item
    /// followed by a pause longer than that (to the next held-out one) is
    /// kept with the history, so the items held out are the newest visit's
    /// (at most `count`). A user back after months for one item is then
    /// asked after those months, as a live request would be, not at an
    /// older choice of the visit before.
    pub fn split_last(
        &self,
        min_items: usize,
        count: usize,
        visit_gap_ms: i64,
    ) -> (Interactions, Vec<(String, Vec<String>)>) {
        let mut rest = Interactions {
            items: self.items.clone(),
            item_index: self.item_index.clone(),
            users: HashMap::with_capacity(self.users.len()),
            sequences: std::sync::OnceLock::new(),
        };
        let mut held = Vec::new();
        let keep = min_items.saturating_sub(1).max(1);
        for (user, seq) in self.users_in_order().into_iter().zip(self.sequences()) {
            let touches = &self.users[user];
            if seq.len() < min_items.max(2) || count == 0 {
                rest.users.insert(user.clone(), touches.clone());
                continue;
            }
            let mut start = seq.len() - count.min(seq.len() - keep);
            if visit_gap_ms > 0 {
                // Each item's time: its latest touch, as in the sequence.
                let mut at: HashMap<u32, i64> = HashMap::with_capacity(touches.len());
                for t in touches {
                    let e = at.entry(t.item).or_insert(t.timestamp);
                    *e = (*e).max(t.timestamp);
                }
                if let Some(j) = (start + 1..seq.len())
                    .rev()
                    .find(|&j| at[&seq[j]] - at[&seq[j - 1]] > visit_gap_ms)
                {
                    start = j;
                }
            }
            let tail = &seq[start..];
            let kept: Vec<Touch> = touches
                .iter()
                .filter(|t| !tail.contains(&t.item))
                .copied()
                .collect();
            let items = tail
                .iter()
                .map(|i| self.items[*i as usize].clone())
                .collect();
            held.push((user.clone(), items));
            rest.users.insert(user.clone(), kept);
        }
        (rest, held)
    }

    /// Each user's sequence (as [`sequences`](Self::sequences), users in id
    /// order) without its newest `drop(user)` items.
    pub fn sequences_trimmed(&self, drop: impl Fn(&str) -> usize) -> Vec<Vec<u32>> {
        self.users_in_order()
            .into_iter()
            .zip(self.sequences())
            .map(|(user, seq)| seq[..seq.len().saturating_sub(drop(user))].to_vec())
            .collect()
    }

    /// The users for whom `first` holds, and the others: two interaction
    /// sets over the same item numbering.
    pub fn split_users(&self, first: impl Fn(&str) -> bool) -> (Interactions, Interactions) {
        let empty = || Interactions {
            items: self.items.clone(),
            item_index: self.item_index.clone(),
            users: HashMap::new(),
            sequences: std::sync::OnceLock::new(),
        };
        let (mut a, mut b) = (empty(), empty());
        for (user, touches) in &self.users {
            let half = if first(user) { &mut a } else { &mut b };
            half.users.insert(user.clone(), touches.clone());
        }
        (a, b)
    }

    /// Number of users who touched each item.
    pub fn item_counts(&self, sequences: &[Vec<u32>]) -> Vec<u32> {
        let mut counts = vec![0u32; self.items.len()];
        for s in sequences {
            for &i in s {
                counts[i as usize] += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_last_holds_out_the_latest_item_with_natural_id_ties() {
        let mut d = Interactions::new();
        d.add("u", "a", 1);
        d.add("u", "200", 5);
        d.add("u", "1000", 5);
        d.add("v", "a", 1);
        let (rest, held) = d.split_last(2, 1, 0);
        assert_eq!(held, vec![("u".to_string(), vec!["1000".to_string()])]);
        assert_eq!(rest.len(), 3);
        let seqs = rest.sequences();
        assert!(
            seqs.iter()
                .all(|s| !s.iter().any(|i| rest.items()[*i as usize] == "1000"))
        );
    }

    #[test]
    fn split_last_holds_out_the_newest_items_and_leaves_enough_history() {
        let mut d = Interactions::new();
        for (i, item) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
            d.add("long", item, i as i64);
        }
        // A repeated item counts once, at its latest time.
        d.add("long", "b", 10);
        for (i, item) in ["a", "b", "c", "d"].iter().enumerate() {
            d.add("short", item, i as i64);
        }
        d.add("tiny", "a", 1);
        d.add("tiny", "b", 2);
        let (rest, held) = d.split_last(3, 3, 0);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            held,
            vec![
                ("long".to_string(), s(&["e", "f", "b"])),
                // Two of its four items stay: one to learn from, one to ask with.
                ("short".to_string(), s(&["c", "d"])),
            ]
        );
        // Every touch of a held item leaves, "b"'s earlier one included.
        assert_eq!(rest.len(), 3 + 2 + 2);
        let names = |seq: &[u32]| {
            seq.iter()
                .map(|i| rest.items()[*i as usize].clone())
                .collect::<Vec<_>>()
        };
        let seqs: Vec<Vec<String>> = rest.sequences().iter().map(|q| names(q)).collect();
        assert_eq!(
            seqs,
            vec![s(&["a", "c", "d"]), s(&["a", "b"]), s(&["a", "b"])]
        );
        // The sequence model's view: the held items after the first trimmed.
        let trimmed = d.sequences_trimmed(|u| if u == "long" { 2 } else { 0 });
        let names_d = |seq: &Vec<u32>| {
            seq.iter()
                .map(|i| d.items()[*i as usize].clone())
                .collect::<Vec<_>>()
        };
        let trimmed: Vec<Vec<String>> = trimmed.iter().map(names_d).collect();
        assert_eq!(
            trimmed,
            vec![
                s(&["a", "c", "d", "e"]),
                s(&["a", "b", "c", "d"]),
                s(&["a", "b"])
            ]
        );
    }

    #[test]
    fn split_last_holds_out_the_newest_visit_only() {
        const DAY: i64 = 86_400_000;
        let mut d = Interactions::new();
        // One visit of four items, then one item months later.
        for (i, item) in ["a", "b", "c", "d"].iter().enumerate() {
            d.add("back", item, i as i64 * 1_000);
        }
        d.add("back", "e", 90 * DAY);
        // A visit ending the log: its newest three, all within minutes.
        for (i, item) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            d.add("binge", item, 5 * DAY + i as i64 * 60_000);
        }
        // Two visits a week apart, the newest of two items.
        for (i, item) in ["a", "b", "c"].iter().enumerate() {
            d.add("weekly", item, i as i64 * 1_000);
        }
        d.add("weekly", "d", 7 * DAY);
        d.add("weekly", "e", 7 * DAY + 1_000);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (rest, held) = d.split_last(3, 3, DAY);
        assert_eq!(
            held,
            vec![
                ("back".to_string(), s(&["e"])),
                ("binge".to_string(), s(&["c", "d", "e"])),
                ("weekly".to_string(), s(&["d", "e"])),
            ]
        );
        assert_eq!(rest.len(), 4 + 2 + 3);
        // Without a gap, the newest three whatever the pauses between them.
        let (_, held) = d.split_last(3, 3, 0);
        assert_eq!(held[0].1, s(&["c", "d", "e"]));
        assert_eq!(held[2].1, s(&["c", "d", "e"]));
    }
}
