//! The in-memory feature state.

mod interner;

use crate::context::{
    ContextKey, ContextLift, ContextTotals, ItemContext, daypart_of_hour, local_hour,
};
use crate::{
    CandidateFeatures, ContextSummary, Decayed, FeatureRead, HistoryEntry, ItemFeatures,
    SignalWeights, UserFeatures,
};
use sommelier_store::{CatalogRead, EventRead, EventRow};
use sommelier_types::{EventKind, Timestamp};
use std::collections::{HashMap, VecDeque};

pub use interner::Interner;

const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: f64 = 24.0 * HOUR_MS;

/// Tuning of the online features.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureConfig {
    /// Half-life of item popularity, in hours.
    pub popularity_half_life_hours: f64,
    /// Half-life of the short trending window, in hours.
    pub trend_short_half_life_hours: f64,
    /// Half-life of the long trending window, in hours.
    pub trend_long_half_life_hours: f64,
    /// Smoothing of the trend ratio, in events in the long window.
    pub trend_prior_events: f64,
    /// Half-life of user category affinity, in hours.
    pub affinity_half_life_hours: f64,
    /// Recent interactions kept per user.
    pub history_len: usize,
    /// Signal strength per event kind.
    pub weights: SignalWeights,
    /// The zone of "time of day" for events and requests, minutes from UTC.
    pub utc_offset_minutes: i32,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            popularity_half_life_hours: 14.0 * 24.0,
            trend_short_half_life_hours: 24.0,
            trend_long_half_life_hours: 30.0 * 24.0,
            trend_prior_events: 3.0,
            affinity_half_life_hours: 90.0 * 24.0,
            history_len: 50,
            weights: SignalWeights::default(),
            utc_offset_minutes: 0,
        }
    }
}

impl FeatureConfig {
    /// Checks that every number is usable; the message names the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            (
                "popularity_half_life_hours",
                self.popularity_half_life_hours,
            ),
            (
                "trend_short_half_life_hours",
                self.trend_short_half_life_hours,
            ),
            (
                "trend_long_half_life_hours",
                self.trend_long_half_life_hours,
            ),
            ("affinity_half_life_hours", self.affinity_half_life_hours),
            ("rating_max", self.weights.rating_max),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!(
                    "features.{name} must be a positive number, got {v}"
                ));
            }
        }
        if self.trend_short_half_life_hours >= self.trend_long_half_life_hours {
            return Err("features.trend_short_half_life_hours must be shorter than trend_long_half_life_hours".into());
        }
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err(format!(
                "features.utc_offset_minutes must be within ±840 (±14 h), got {}",
                self.utc_offset_minutes
            ));
        }
        if self.history_len == 0 {
            return Err("features.history_len must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Debug, Default, Clone)]
struct ItemState {
    popularity: Decayed,
    short: Decayed,
    long: Decayed,
    counts: [u64; EventKind::ALL.len()],
    last_event: Option<i64>,
    categories: Vec<u32>,
    context: ItemContext,
}

#[derive(Debug, Default, Clone)]
struct UserState {
    recent: VecDeque<(u32, EventKind, Option<f64>, i64)>,
    affinity: HashMap<u32, Decayed>,
    events: u64,
    /// Every item the user interacted with (for "already consumed" filters).
    seen: std::collections::HashSet<u32>,
}

/// A user's category affinities decayed to one instant, for matching many
/// items: sorted by category, so a match is a binary search, not a hash
/// lookup and an `exp` per category of every candidate.
struct Affinity {
    values: Vec<(u32, f64)>,
    /// The largest |affinity|: matches are divided by it.
    strongest: f64,
}

/// All online features, updated by [`OnlineFeatures::apply`].
#[derive(Debug)]
pub struct OnlineFeatures {
    config: FeatureConfig,
    items: Interner,
    item_state: Vec<ItemState>,
    users: Interner,
    user_state: Vec<UserState>,
    categories: Interner,
    context: ContextTotals,
    clock: Option<i64>,
    applied: u64,
    /// Items with at least one event.
    items_with_events: u64,
    /// The last popular and trending lists, valid while no event was applied:
    /// every request asks for them, and a full scan per request would cost
    /// milliseconds on a large catalog.
    tops: parking_lot::Mutex<TopCache>,
}

/// A cached top list and what it was computed for: (events applied, time, n).
type CachedTop = Option<((u64, i64, usize), Vec<(String, f64)>)>;

/// Cached top lists.
#[derive(Debug, Default)]
struct TopCache {
    popular: CachedTop,
    trending: CachedTop,
    /// The popular list of the last context asked for (most requests of an
    /// hour share one).
    popular_context: CachedContextTop,
}

/// A cached popular list in a context: (events applied, time, n, context).
type CachedContextTop = Option<((u64, i64, usize, ContextKey), Vec<(String, f64)>)>;

/// How far the context's popular list looks down the overall ranking.
const CONTEXT_DEPTH: usize = 3;

impl OnlineFeatures {
    /// Empty state.
    pub fn new(config: FeatureConfig) -> Self {
        Self {
            config,
            items: Interner::default(),
            item_state: Vec::new(),
            users: Interner::default(),
            user_state: Vec::new(),
            categories: Interner::default(),
            context: ContextTotals::default(),
            clock: None,
            applied: 0,
            items_with_events: 0,
            tops: parking_lot::Mutex::default(),
        }
    }

    /// Builds the state from a store: the catalog's categories first, then every
    /// event in log order. Returns the state and the last event seq applied.
    pub fn rebuild(
        config: FeatureConfig,
        store: &(impl CatalogRead + EventRead + ?Sized),
    ) -> sommelier_store::Result<(Self, u64)> {
        let mut f = Self::new(config);
        store.scan_items(&mut |item| f.set_item_categories(item.id.as_str(), &item.categories))?;
        let last = store.scan_events(0, &mut |row| f.apply(row))?;
        Ok((f, last))
    }

    /// Records which categories an item belongs to, for user affinity.
    pub fn set_item_categories(&mut self, item: &str, categories: &[String]) {
        let cats: Vec<u32> = categories
            .iter()
            .map(|c| self.categories.intern(c))
            .collect();
        let i = self.item_index(item);
        self.item_state[i as usize].categories = cats;
    }

    fn item_index(&mut self, item: &str) -> u32 {
        let i = self.items.intern(item);
        if i as usize == self.item_state.len() {
            self.item_state.push(ItemState::default());
        }
        i
    }

    /// The `n` users with the most events, most first (ties by id), with
    /// their event counts: the people a demo or an operator would look at.
    pub fn most_active_users(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(&str, u64)> = self
            .user_state
            .iter()
            .enumerate()
            .map(|(i, u)| (self.users.name(i as u32), u.events))
            .collect();
        let by = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        if all.len() > n {
            all.select_nth_unstable_by(n, by);
            all.truncate(n);
        }
        all.sort_unstable_by(by);
        all.into_iter().map(|(u, c)| (u.to_string(), c)).collect()
    }

    /// Number of events applied since construction.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Distinct users and distinct items among the events applied.
    pub fn distinct_in_events(&self) -> (u64, u64) {
        (self.user_state.len() as u64, self.items_with_events)
    }

    /// Applies one stored event.
    pub fn apply(&mut self, e: EventRow<'_>) {
        let c = &self.config;
        let t = e.timestamp.0;
        let pop_w = c.weights.popularity(e.kind, e.value);
        let aff_w = c.weights.affinity(e.kind, e.value);
        let (pop_h, short_h, long_h, aff_h) = (
            c.popularity_half_life_hours * HOUR_MS,
            c.trend_short_half_life_hours * HOUR_MS,
            c.trend_long_half_life_hours * HOUR_MS,
            c.affinity_half_life_hours * HOUR_MS,
        );
        let history_len = c.history_len;
        let daypart = daypart_of_hour(local_hour(t, c.utc_offset_minutes));

        let ii = self.item_index(e.item);
        let item = &mut self.item_state[ii as usize];
        if item.last_event.is_none() {
            self.items_with_events += 1;
        }
        item.counts[e.kind.index()] += 1;
        if e.kind == EventKind::Feedback {
            // A verdict on a reason, not on the item: counted, nothing more
            // (the user has not had the item because they judged its reason).
            self.clock = Some(self.clock.map_or(t, |c| c.max(t)));
            self.applied += 1;
            return;
        }
        item.last_event = Some(item.last_event.map_or(t, |l| l.max(t)));
        if pop_w > 0.0 {
            item.popularity.add(pop_w, t, pop_h);
            item.short.add(1.0, t, short_h);
            item.long.add(1.0, t, long_h);
            self.context.add(&mut item.context, daypart, e.device);
        }

        let ui = self.users.intern(e.user);
        if ui as usize == self.user_state.len() {
            self.user_state.push(UserState::default());
        }
        let user = &mut self.user_state[ui as usize];
        user.events += 1;
        user.seen.insert(ii);
        // Keep the history sorted by time even when events arrive late.
        let pos = user
            .recent
            .iter()
            .rposition(|r| r.3 <= t)
            .map_or(0, |p| p + 1);
        // A full history drops its oldest first, so it never needs room
        // for one more than it keeps; an event older than all of a full
        // history is not kept.
        if user.recent.len() >= history_len {
            if pos == 0 {
                // Older than every kept event: nothing to insert.
            } else {
                user.recent.pop_front();
                user.recent.insert(pos - 1, (ii, e.kind, e.value, t));
            }
        } else {
            user.recent.insert(pos, (ii, e.kind, e.value, t));
        }
        if aff_w != 0.0 {
            for &cat in &item.categories {
                user.affinity.entry(cat).or_default().add(aff_w, t, aff_h);
            }
        }
        self.clock = Some(self.clock.map_or(t, |c| c.max(t)));
        self.applied += 1;
    }

    /// A user's category affinities (interned category, value) decayed to `now`.
    fn decayed_affinities(&self, state: &UserState, now: i64) -> Vec<(u32, f64)> {
        let h = self.config.affinity_half_life_hours * HOUR_MS;
        state
            .affinity
            .iter()
            .map(|(&c, d)| (c, d.value_at(now, h)))
            .collect()
    }

    /// The user's decayed affinities and the strongest of them, once per
    /// request; `None` when they have no affinity to match.
    fn affinity(&self, user: &str, now: i64) -> Option<Affinity> {
        let state = &self.user_state[self.users.get(user)? as usize];
        let mut values = self.decayed_affinities(state, now);
        values.sort_unstable_by_key(|v| v.0);
        let strongest = values.iter().map(|v| v.1.abs()).fold(0.0, f64::max);
        (strongest > 0.0).then_some(Affinity { values, strongest })
    }

    /// [`FeatureRead::category_match`] of interned item `item`.
    fn category_match_of(&self, a: &Affinity, item: u32) -> f64 {
        let cats = &self.item_state[item as usize].categories;
        if cats.is_empty() {
            return 0.0;
        }
        let sum: f64 = cats
            .iter()
            .filter_map(|c| {
                let at = a.values.binary_search_by_key(c, |v| v.0).ok()?;
                Some(a.values[at].1)
            })
            .sum();
        sum / cats.len() as f64 / a.strongest
    }

    fn item_features(&self, state: &ItemState, now: i64) -> ItemFeatures {
        let c = &self.config;
        let short_h = c.trend_short_half_life_hours * HOUR_MS;
        let long_h = c.trend_long_half_life_hours * HOUR_MS;
        let short = state.short.value_at(now, short_h);
        let long = state.long.value_at(now, long_h);
        // Rates per day in each window; the prior keeps rare items from spiking.
        let short_rate = short / (short_h / DAY_MS);
        let long_rate = (long + c.trend_prior_events) / (long_h / DAY_MS);
        ItemFeatures {
            popularity: state
                .popularity
                .value_at(now, c.popularity_half_life_hours * HOUR_MS),
            trend: short_rate / long_rate,
            recent_activity: short,
            counts: state.counts,
            last_event: state.last_event.map(Timestamp),
        }
    }

    fn top_by(
        &self,
        n: usize,
        score: impl Fn(&ItemFeatures) -> f64,
        now: i64,
    ) -> Vec<(String, f64)> {
        let mut scored: Vec<(u32, f64)> = self
            .item_state
            .iter()
            .enumerate()
            .filter(|(_, s)| s.last_event.is_some())
            .map(|(i, s)| (i as u32, score(&self.item_features(s, now))))
            .filter(|(_, s)| *s > 0.0)
            .collect();
        let n = n.min(scored.len());
        if n == 0 {
            return Vec::new();
        }
        let by_score = |a: &(u32, f64), b: &(u32, f64)| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.items.name(a.0).cmp(self.items.name(b.0)))
        };
        scored.select_nth_unstable_by(n - 1, by_score);
        scored.truncate(n);
        scored.sort_by(by_score);
        scored
            .into_iter()
            .map(|(i, s)| (self.items.name(i).to_string(), s))
            .collect()
    }
}

impl FeatureRead for OnlineFeatures {
    fn item(&self, item: &str, now: Timestamp) -> Option<ItemFeatures> {
        let state = &self.item_state[self.items.get(item)? as usize];
        state.last_event?;
        Some(self.item_features(state, now.0))
    }

    fn user(&self, user: &str, now: Timestamp) -> Option<UserFeatures> {
        let state = &self.user_state[self.users.get(user)? as usize];
        let mut category_affinity: Vec<(String, f64)> = self
            .decayed_affinities(state, now.0)
            .into_iter()
            .map(|(c, v)| (self.categories.name(c).to_string(), v))
            .collect();
        category_affinity.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Some(UserFeatures {
            recent: state
                .recent
                .iter()
                .map(|&(i, kind, value, t)| HistoryEntry {
                    item: self.items.name(i).to_string(),
                    kind,
                    value,
                    timestamp: Timestamp(t),
                })
                .collect(),
            category_affinity,
            events: state.events,
        })
    }

    fn most_popular(&self, n: usize, now: Timestamp) -> Vec<(String, f64)> {
        let key = (self.applied, now.0, n);
        if let Some((k, list)) = &self.tops.lock().popular
            && *k == key
        {
            return list.clone();
        }
        let list = self.top_by(n, |f| f.popularity, now.0);
        self.tops.lock().popular = Some((key, list.clone()));
        list
    }

    fn popular_in_context(&self, n: usize, now: Timestamp, key: ContextKey) -> Vec<(String, f64)> {
        if key == ContextKey::default() {
            return self.most_popular(n, now);
        }
        let cache_key = (self.applied, now.0, n, key);
        if let Some((k, list)) = &self.tops.lock().popular_context
            && *k == cache_key
        {
            return list.clone();
        }
        let mut top = self.most_popular(CONTEXT_DEPTH * n, now);
        for (item, score) in &mut top {
            let l = self.context_lift(item, &key);
            *score *= (l.daypart + l.device).exp();
        }
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(n);
        self.tops.lock().popular_context = Some((cache_key, top.clone()));
        top
    }

    fn trending(&self, n: usize, now: Timestamp) -> Vec<(String, f64)> {
        let key = (self.applied, now.0, n);
        if let Some((k, list)) = &self.tops.lock().trending
            && *k == key
        {
            return list.clone();
        }
        let list = self.top_by(n, |f| f.trend * f.recent_activity.ln_1p(), now.0);
        self.tops.lock().trending = Some((key, list.clone()));
        list
    }

    fn clock(&self) -> Option<Timestamp> {
        self.clock.map(Timestamp)
    }

    fn category_match(&self, user: &str, item: &str, now: Timestamp) -> f64 {
        let (Some(a), Some(i)) = (self.affinity(user, now.0), self.items.get(item)) else {
            return 0.0;
        };
        self.category_match_of(&a, i)
    }

    fn context_key(&self, hour: Option<u8>, device: Option<&str>) -> ContextKey {
        ContextKey {
            daypart: hour.map(daypart_of_hour),
            device: device.and_then(|d| self.context.find_device(d.trim())),
        }
    }

    fn context_lift(&self, item: &str, key: &ContextKey) -> ContextLift {
        if key.daypart.is_none() && key.device.is_none() {
            return ContextLift::default();
        }
        self.items
            .get(item)
            .map(|i| self.context.lift(&self.item_state[i as usize].context, key))
            .unwrap_or_default()
    }

    fn candidates(
        &self,
        user: Option<&str>,
        items: &[&str],
        now: Timestamp,
        key: &ContextKey,
    ) -> Vec<CandidateFeatures> {
        let affinity = user.and_then(|u| self.affinity(u, now.0));
        // At 1M items every row below is a cache miss. Resolved and touched in
        // short loops first, many misses are in flight at once; the long loop
        // that computes the features then reads from cache.
        let rows: Vec<Option<u32>> = items.iter().map(|item| self.items.get(item)).collect();
        let touched = rows.iter().flatten().fold(0u64, |acc, &i| {
            let state = &self.item_state[i as usize];
            acc ^ state.counts[0]
                ^ state.counts[state.counts.len() - 1]
                ^ state.last_event.unwrap_or(0) as u64
                ^ u64::from(state.categories.first().copied().unwrap_or(0))
        });
        std::hint::black_box(touched);
        rows.into_iter()
            .map(|row| {
                let Some(i) = row else {
                    return CandidateFeatures::default();
                };
                let state = &self.item_state[i as usize];
                CandidateFeatures {
                    item: state
                        .last_event
                        .is_some()
                        .then(|| self.item_features(state, now.0)),
                    category_match: affinity
                        .as_ref()
                        .map_or(0.0, |a| self.category_match_of(a, i)),
                    // No part of the day and no device: `lift` gives zeros.
                    context: self.context.lift(&state.context, key),
                }
            })
            .collect()
    }

    fn context_summary(&self, item: Option<&str>) -> Option<ContextSummary> {
        Some(match item {
            None => self.context.summary(),
            Some(id) => self.item_state[self.items.get(id)? as usize]
                .context
                .summary(&self.context),
        })
    }

    fn seen<'a>(&'a self, user: &str) -> Vec<&'a str> {
        self.users
            .get(user)
            .map(|u| {
                self.user_state[u as usize]
                    .seen
                    .iter()
                    .map(|&i| self.items.name(i))
                    .collect()
            })
            .unwrap_or_default()
    }
}

mod saved;
pub use saved::SavedError;

#[cfg(test)]
mod tests;
