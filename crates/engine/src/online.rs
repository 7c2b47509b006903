//! The online features as the engine keeps them: built from the durable log
//! on first use, then advanced from the log position they reflect
//! ([`Engine::catch_up`]); and the reads of them the API serves.

use crate::views::{ItemFeaturesView, ScoredItem, UserFeaturesView};
use crate::{Engine, Result};
use parking_lot::{Mutex, RwLock};
use sommelier_features::{FeatureRead, OnlineFeatures};
use sommelier_types::Timestamp;
use sommelier_types::api::StoreStats;
use sommelier_types::{Event, EventId, ItemId, User, UserId};
use std::time::Instant;

/// Online features and the log position they reflect.
pub(crate) struct Features {
    pub(crate) state: RwLock<OnlineFeatures>,
    pub(crate) applied_seq: Mutex<u64>,
    /// When the features were last saved, and the position saved
    /// (`saved_features.rs`); `None`: not since start.
    pub(crate) saved: Mutex<Option<(Instant, u64)>>,
}

impl Engine {
    /// How the online features were made at start (`None` before).
    pub fn features_start(&self) -> Option<crate::FeaturesStart> {
        self.features_start.lock().clone()
    }

    /// Builds the online features and loads the experiments now rather than
    /// on first use (a request that came first would wait for them, or fail
    /// while the store is away).
    pub fn warm_up(&self) -> Result<()> {
        self.features()?;
        self.follow_experiments()?;
        self.check_vectors()
    }

    /// At start: live items without a stored vector are reported (a log line
    /// and `sommelier_damage_found_total{what="missing_vectors"}`), never
    /// served silently; the embedding backlog job embeds them when a local
    /// embedding model is loaded. Read from the kept counters: no scan.
    fn check_vectors(&self) -> Result<()> {
        let s = self.store().counters()?;
        let model = &self.config().vectors.model;
        let vectors = s.vectors.get(model).copied().unwrap_or(0);
        if s.items > 0 && vectors < s.items {
            self.metrics().damage_found("missing_vectors");
            tracing::warn!(
                live_items = s.items,
                vectors,
                model = %model,
                "live items without a vector: out of vector search until the embedding backlog job embeds them (it needs the local embedding model)"
            );
        }
        Ok(())
    }

    /// The online features, rebuilt from the store on first use.
    pub(crate) fn features(&self) -> Result<&Features> {
        if let Some(f) = self.features.get() {
            return Ok(f);
        }
        let _guard = self.features_init.lock();
        if let Some(f) = self.features.get() {
            return Ok(f);
        }
        let (state, seq, start) = self.start_features()?;
        tracing::info!(
            events = state.applied(),
            source = start.source,
            events_read = start.events_read,
            ms = start.ms,
            "online features ready"
        );
        // A state loaded as saved needs no save until it moves on.
        let saved = (start.source == "saved").then(|| (Instant::now(), seq));
        *self.features_start.lock() = Some(start);
        let _ = self.features.set(Features {
            state: RwLock::new(state),
            applied_seq: Mutex::new(seq),
            saved: Mutex::new(saved),
        });
        Ok(self.features.get().expect("set above"))
    }

    /// The features if they were built; waits for a build in progress, so that a
    /// change committed during a rebuild is not missed.
    pub(crate) fn built_features(&self) -> Option<&Features> {
        self.features.get().or_else(|| {
            let _guard = self.features_init.lock();
            self.features.get()
        })
    }

    /// Applies events committed since the last catch-up to the online features.
    /// Returns how many were applied (none while the features are not built: the
    /// build reads the whole log).
    pub fn catch_up(&self) -> Result<u64> {
        let Some(features) = self.built_features() else {
            return Ok(0);
        };
        let mut seq = features.applied_seq.lock();
        let mut f = features.state.write();
        let before = f.applied();
        *seq = self.store().scan_events(*seq, &mut |row| f.apply(row))?;
        Ok(f.applied() - before)
    }

    /// An item, live or tombstoned.
    pub fn item(&self, id: &ItemId) -> Result<Option<sommelier_store::ItemRecord>> {
        Ok(self.store().item(id)?)
    }

    /// A stored event.
    pub fn event(&self, id: &EventId) -> Result<Option<Event>> {
        Ok(self.store().event(id)?)
    }

    /// A user profile.
    pub fn user(&self, id: &UserId) -> Result<Option<User>> {
        Ok(self.store().user(id)?)
    }

    /// Runs `f` on the features with the time decays are measured against: the
    /// newest event, or now when there are none.
    fn read_features<T>(&self, f: impl FnOnce(&OnlineFeatures, Timestamp) -> T) -> Result<T> {
        let state = self.features()?.state.read();
        let now = state.clock().unwrap_or_else(Timestamp::now);
        Ok(f(&state, now))
    }

    /// Online features of an item (`None`: no events on it).
    pub fn item_features(&self, id: &str) -> Result<Option<ItemFeaturesView>> {
        self.read_features(|f, now| {
            f.item(id, now)
                .map(|x| ItemFeaturesView::new(id, &x, f.context_summary(Some(id)), now))
        })
    }

    /// Online features of a user (`None`: no events by them).
    pub fn user_features(&self, id: &str) -> Result<Option<UserFeaturesView>> {
        self.read_features(|f, now| f.user(id, now).map(|x| UserFeaturesView::new(id, x, now)))
    }

    /// The most popular items now.
    pub fn popular(&self, n: usize) -> Result<Vec<ScoredItem>> {
        self.allowed_top(n, |f, k, now| f.most_popular(k, now))
    }

    /// The most trending items now.
    pub fn trending(&self, n: usize) -> Result<Vec<ScoredItem>> {
        self.allowed_top(n, |f, k, now| f.trending(k, now))
    }

    /// The best `n` of a feature list, without items the content policy
    /// excludes (`[policy]`; the list is read longer to make up for them).
    fn allowed_top(
        &self,
        n: usize,
        list: impl Fn(&OnlineFeatures, usize, Timestamp) -> Vec<(String, f64)>,
    ) -> Result<Vec<ScoredItem>> {
        let policy = &self.config().policy;
        if policy.is_empty() {
            return self.read_features(|f, now| ScoredItem::list(list(f, n, now)));
        }
        let wide = self.read_features(|f, now| ScoredItem::list(list(f, n * 2 + 50, now)))?;
        let mut out = Vec::with_capacity(n);
        for s in wide {
            if out.len() == n {
                break;
            }
            let excluded = match ItemId::new(s.item.as_str()) {
                Ok(id) => self
                    .store()
                    .item(&id)?
                    .is_some_and(|r| policy.excludes(&r.item)),
                Err(_) => false,
            };
            if !excluded {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// What the store holds: the store's kept counters (no scan), and the
    /// distinct users and items with events from the online features (as of
    /// their last catch-up; counted in the store while they are not built).
    pub fn stats(&self) -> Result<StoreStats> {
        let mut s = self.store().counters()?;
        (s.event_users, s.event_items) = match self.built_features() {
            Some(f) => f.state.read().distinct_in_events(),
            None => self.store().distinct_in_events()?,
        };
        Ok(s)
    }

    /// Counts every row again (full scans) and compares with the kept
    /// counters: one line per difference. With `repair`, the counts of the
    /// rows replace the kept ones where they differ.
    pub fn check_counters(&self, repair: bool) -> Result<Vec<String>> {
        let rows = self.store().recount()?;
        // Distinct users and items with events are not kept: the recount's
        // scan stands for both sides instead of a second scan.
        let mut kept = self.store().counters()?;
        (kept.event_users, kept.event_items) = (rows.event_users, rows.event_items);
        let differences = sommelier_store::counter_differences(&kept, &rows);
        if !differences.is_empty() && repair {
            self.store().reset_counters()?;
        }
        Ok(differences)
    }
}
