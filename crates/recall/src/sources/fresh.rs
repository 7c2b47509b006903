//! Fresh: items created within the launch window that few people have seen,
//! newest first (exploration of new items).

use super::{Proposal, SourceInput};

const DAY_MS: f64 = 86_400_000.0;

pub(super) fn propose(input: &SourceInput<'_>, limit: usize) -> Proposal {
    let window_ms = input.settings.launch_window_days * DAY_MS;
    let max_events = input.settings.explore_max_events;
    let fresh: Vec<(String, f64)> = input
        .newest
        .iter()
        .map(|(id, created)| (id, (input.wall_now.0 - created.0) as f64))
        .take_while(|(_, age)| *age < window_ms)
        .filter(|(id, _)| {
            input
                .features
                .item(id, input.now)
                .map_or(0, |x| x.counts.iter().sum::<u64>())
                <= max_events
        })
        .take(limit)
        .map(|(id, age)| (id.clone(), 1.0 - age.max(0.0) / window_ms))
        .collect();
    Proposal::List(fresh)
}
