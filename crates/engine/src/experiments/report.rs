//! An experiment's report: its lists from the exposure log, and the
//! clicks, purchases and ratings attributed to them by user and item
//! within a window, handed to the analysis (split) or credited to the
//! teams (interleaving).

use crate::{Engine, Result};
use sommelier_experiments::analysis::{Observation, Observed, Options};
use sommelier_experiments::{Experiment, Report};
use sommelier_types::EventKind;
use std::collections::HashMap;

/// A (user, item) pair.
type UserItem = (String, String);

/// (user, item) → the time and tag of each list that showed the item to
/// the user: what events are attributed by.
type ShownBy<T> = HashMap<UserItem, Vec<(i64, T)>>;

impl Engine {
    /// The report of experiment `name`: its lists from the exposure log
    /// (from its start), and the clicks, purchases and ratings of their
    /// items by the same users within `window_ms` after a list showed them.
    pub fn experiment_report(&self, name: &str, window_ms: i64, o: &Options) -> Result<Report> {
        let e = self.experiment(name)?.definition;
        if e.mode == sommelier_experiments::Mode::Interleave {
            let mut r = sommelier_experiments::analyse(&e, &[], o);
            // Every unit saw both: no split to compare or check.
            r.variants.clear();
            r.comparisons.clear();
            r.interleaving = Some(self.interleaving_report(&e, window_ms, o.alpha)?);
            return Ok(r);
        }
        let mut observations = Vec::new();
        // (user, item) → the times and variants of the lists that showed it.
        let mut shown: ShownBy<String> = HashMap::new();
        self.experiment_lists(&e, &mut |user, variant, at_ms, body| {
            let llm = body.get("llm").filter(|l| l.is_object());
            observations.push(Observation {
                unit: user.clone(),
                variant: variant.to_string(),
                at_ms,
                kind: Observed::Exposure {
                    latency_ms: body["latency_ms"].as_f64().unwrap_or(0.0),
                    llm_fell_back: llm.map(|l| !l["used"].as_bool().unwrap_or(false)),
                },
            });
            for id in shown_items(body) {
                shown
                    .entry((user.clone(), id.to_string()))
                    .or_default()
                    .push((at_ms, variant.to_string()));
            }
        })?;
        self.attribute_events(
            &shown,
            window_ms,
            &[EventKind::Click, EventKind::Purchase, EventKind::Rating],
            &mut |row, variant| {
                observations.push(Observation {
                    unit: row.user.to_string(),
                    variant: variant.clone(),
                    at_ms: row.timestamp.0,
                    kind: match row.kind {
                        EventKind::Click => Observed::Click,
                        EventKind::Purchase => Observed::Conversion,
                        _ => Observed::Rating(row.value.unwrap_or(0.0)),
                    },
                });
            },
        )?;
        Ok(sommelier_experiments::analyse(&e, &observations, o))
    }

    /// An interleaving experiment's lists from the exposure log, each
    /// credited with the clicks on its items by the same user within the
    /// window (the latest list that showed the item takes the click).
    fn interleaving_report(
        &self,
        e: &Experiment,
        window_ms: i64,
        alpha: f64,
    ) -> Result<sommelier_experiments::interleave::InterleavingReport> {
        use sommelier_experiments::interleave::{Interleaved, analyse_interleaving};
        let teams = [e.variants[0].name.as_str(), e.variants[1].name.as_str()];
        let mut lists: Vec<Interleaved> = Vec::new();
        // (user, item) → (time, (list, team)) of each list that showed it.
        let mut shown: ShownBy<(usize, usize)> = HashMap::new();
        self.experiment_lists(e, &mut |user, variant, at_ms, body| {
            if variant != sommelier_experiments::define::INTERLEAVED {
                return;
            }
            let list = lists.len();
            for item in body["items"].as_array().into_iter().flatten() {
                let team = item["team"]
                    .as_str()
                    .and_then(|t| teams.iter().position(|x| *x == t));
                if let (Some(id), Some(team)) = (item["item"].as_str(), team) {
                    shown
                        .entry((user.clone(), id.to_string()))
                        .or_default()
                        .push((at_ms, (list, team)));
                }
            }
            lists.push(Interleaved {
                unit: user,
                clicks: [0, 0],
            });
        })?;
        self.attribute_events(&shown, window_ms, &[EventKind::Click], &mut |_,
                                                                            (
            list,
            team,
        )| {
            lists[*list].clicks[*team] += 1;
        })?;
        Ok(analyse_interleaving(
            [teams[0].to_string(), teams[1].to_string()],
            &lists,
            alpha,
        ))
    }

    /// Visits the lists of experiment `e` in the exposure log, from its
    /// start: the user each was served to, its variant (the label after
    /// `name:`), its time and its body. Lists to visitors are left out.
    fn experiment_lists(
        &self,
        e: &Experiment,
        visit: &mut dyn FnMut(String, &str, i64, &serde_json::Value),
    ) -> Result<()> {
        let prefix = format!("{}:", e.name);
        self.store()
            .scan_exposures(e.started_ms.unwrap_or(0), &mut |row| {
                let Some(variant) = row
                    .variant
                    .as_deref()
                    .and_then(|v| v.split(',').find_map(|l| l.strip_prefix(prefix.as_str())))
                else {
                    return;
                };
                let Some(user) = row.user_id.clone() else {
                    return;
                };
                let body: serde_json::Value = serde_json::from_str(&row.body).unwrap_or_default();
                visit(user, variant, row.at_ms, &body);
            })?;
        Ok(())
    }

    /// Visits every event of one of `kinds` whose user was shown its item
    /// by a list of `shown` within `window_ms` before it, with the tag of
    /// the latest such list (the one that takes the event).
    fn attribute_events<T>(
        &self,
        shown: &ShownBy<T>,
        window_ms: i64,
        kinds: &[EventKind],
        visit: &mut dyn FnMut(&sommelier_store::EventRow<'_>, &T),
    ) -> Result<()> {
        let mut key = (String::new(), String::new());
        self.store().scan_events(0, &mut |row| {
            if !kinds.contains(&row.kind) {
                return;
            }
            key.0.clear();
            key.0.push_str(row.user);
            key.1.clear();
            key.1.push_str(row.item);
            let at = row.timestamp.0;
            if let Some((_, tag)) = shown.get(&key).and_then(|lists| {
                lists
                    .iter()
                    .filter(|(t, _)| *t <= at && at - *t <= window_ms)
                    .max_by_key(|(t, _)| *t)
            }) {
                visit(&row, tag);
            }
        })?;
        Ok(())
    }
}

/// The item ids a logged list showed, in order.
pub(crate) fn shown_items(body: &serde_json::Value) -> impl Iterator<Item = &str> {
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["item"].as_str())
}
