//! The refit schedule: fit at start when no models are saved (and there are
//! events; with the sequence model on, an interim set without it serves
//! first), then every `models.refit_interval_secs` when at least
//! `models.refit_min_new_events` positive events arrived since the last fit.
//! With `refit_interval_secs = 0` the server fits only on request, not at
//! start either; a refit a deletion asked for runs in any case.
//! The server only keeps the clock; the decisions are here, so any host of
//! the engine refits the same way.

use crate::{Engine, FitReport, Result};
use std::time::Duration;

/// Why a scheduled fit ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefitReason {
    /// No models were saved and the log has events.
    NoSavedModels,
    /// Enough new events arrived since the last fit.
    NewEvents,
    /// Events were deleted (a user forgotten) since the last fit.
    Deletion,
}

/// A scheduled fit that ran.
#[derive(Debug, Clone)]
pub struct Refit {
    /// Why it ran.
    pub reason: RefitReason,
    /// What it fitted.
    pub report: FitReport,
}

impl RefitReason {
    /// In words, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RefitReason::NoSavedModels => "no saved models",
            RefitReason::NewEvents => "new events",
            RefitReason::Deletion => "deleted events",
        }
    }
}

impl Engine {
    /// How often the schedule checks for new events (`None`: only at start
    /// and on request).
    pub fn refit_interval(&self) -> Option<Duration> {
        match self.config().models.refit_interval_secs {
            0 => None,
            s => Some(Duration::from_secs(s)),
        }
    }

    /// At start: fits when no models are saved, the log has positive events
    /// and the schedule is on (or when a deletion asked for a refit).
    /// Returns the fit's report when one ran.
    pub fn refit_at_start(&self) -> Result<Option<Refit>> {
        if self.refit_required().is_some() {
            return Ok(Some(Refit {
                reason: RefitReason::Deletion,
                report: self.fit_models()?,
            }));
        }
        if self.refit_interval().is_none()
            || self.models_report().is_some()
            || self.events_since_fit()? == 0
        {
            return Ok(None);
        }
        // The sequence model trains for minutes: serve a set without it
        // meanwhile.
        if let Err(e) = self.fit_interim_models() {
            tracing::warn!(error = %e, "no interim models; the fallbacks serve until the fit ends");
        }
        Ok(Some(Refit {
            reason: RefitReason::NoSavedModels,
            report: self.fit_models()?,
        }))
    }

    /// On a tick of the schedule: fits when at least
    /// `models.refit_min_new_events` positive events arrived since the
    /// models in use were fitted.
    pub fn refit_if_due(&self) -> Result<Option<Refit>> {
        // A fit another process sharing the folder made counts as this
        // one's (replicas whose timers tick together fit once or twice,
        // never at the same time: see `lock_models_dir`).
        if let Err(e) = self.follow_models() {
            tracing::warn!(error = %e, "could not load the models fitted by another process");
        }
        if self.refit_required().is_some() {
            return Ok(Some(Refit {
                reason: RefitReason::Deletion,
                report: self.fit_models()?,
            }));
        }
        if self.events_since_fit()? < self.config().models.refit_min_new_events {
            return Ok(None);
        }
        Ok(Some(Refit {
            reason: RefitReason::NewEvents,
            report: self.fit_models()?,
        }))
    }
}
