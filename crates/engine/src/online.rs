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
}

impl Engine {
    /// Builds the online features now rather than on first use.
    pub fn warm_up(&self) -> Result<()> {
        self.features().map(|_| ())
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
        let started = Instant::now();
        let (state, seq) = OnlineFeatures::rebuild(self.config.feature_config(), self.store())?;
        tracing::info!(
            events = state.applied(),
            ms = started.elapsed().as_millis() as u64,
            "online features rebuilt from the event log"
        );
        let _ = self.features.set(Features {
            state: RwLock::new(state),
            applied_seq: Mutex::new(seq),
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

    /// What the store holds.
    pub fn stats(&self) -> Result<StoreStats> {
        Ok(self.store().stats()?)
    }

    /// What the store holds, as counted at most `max_age` ago. The counts scan
    /// the event log, so a dashboard polling every few seconds shares one scan
    /// per `max_age` instead of paying for its own.
    pub fn stats_at_most(&self, max_age: std::time::Duration) -> Result<StoreStats> {
        let mut cache = self.stats_cache.lock();
        if let Some((at, s)) = cache.as_ref()
            && at.elapsed() <= max_age
        {
            return Ok(s.clone());
        }
        let s = self.store().stats()?;
        *cache = Some((Instant::now(), s.clone()));
        Ok(s)
    }
}
