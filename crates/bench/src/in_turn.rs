//! Servers that took the load in turn (`bench http-recommend --alternate`):
//! each one's latency percentiles, and each one's p99 over the first
//! server's, with a bootstrap interval.
//!
//! The run's clock is cut into windows, and `n` consecutive windows make a
//! cycle in which every server has one turn: in the order the servers were
//! given in even cycles, in the reverse order in odd ones (for two:
//! 1 2 2 1 1 2 …), so that no server always takes over from the same one
//! or always goes first. A spell of a noisy machine (a stall, a neighbour's burst)
//! lasts seconds, so it falls on one or two windows of whichever servers
//! had them, not on one server's whole run as it does when runs follow one
//! another; and the interval resamples whole cycles, so a spell moves it
//! as much as it moved the measurement.

use crate::stats::{Rng, quantile};
use std::time::Duration;

/// What one server measured over its windows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServerLatency {
    pub(crate) requests: usize,
    pub(crate) p50: Duration,
    pub(crate) p90: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
    /// Its p99 against the first server's (none for the first).
    pub(crate) ratio: Option<P99Ratio>,
}

/// A server's p99 over the first server's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct P99Ratio {
    /// Over every request of the complete cycles.
    pub(crate) pooled: f64,
    /// A 90 % percentile-bootstrap interval of `pooled` (cycles resampled).
    pub(crate) low: f64,
    pub(crate) high: f64,
    /// The median over cycles of the ratio within each cycle (one stall
    /// in one window does not move it).
    pub(crate) median_per_cycle: f64,
}

/// The complete cycles' latencies, per server.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InTurn {
    pub(crate) cycles: usize,
    pub(crate) servers: Vec<ServerLatency>,
}

/// Bootstrap draws of the interval.
const DRAWS: usize = 1000;

/// The server (0-based) whose turn window `window` is, of `servers`.
pub(crate) fn server_of(window: usize, servers: usize) -> usize {
    let servers = servers.max(1);
    let (cycle, turn) = (window / servers, window % servers);
    if cycle % 2 == 1 {
        servers - 1 - turn
    } else {
        turn
    }
}

/// Sorts `samples` (window index, latency) into the cycles of `servers`
/// servers and measures them. The first cycle is left out: the load
/// generator's threads start and its connections open in it, and the
/// first server's turn always holds that. So is the cycle that holds the
/// last window, and any after it: the run stopped in it, so some of its
/// servers had a shorter turn or none.
pub(crate) fn in_turn(samples: &[(usize, Duration)], servers: usize) -> InTurn {
    let servers = servers.max(1);
    let last = samples.iter().map(|s| s.0).max().unwrap_or(0);
    let cycles = (last / servers).saturating_sub(1);
    // by_cycle[c][s]: the latencies of server s in cycle c + 1.
    let mut by_cycle = vec![vec![Vec::new(); servers]; cycles];
    for &(window, latency) in samples {
        let cycle = (window / servers).wrapping_sub(1);
        if let Some(cycle) = by_cycle.get_mut(cycle) {
            cycle[server_of(window, servers)].push(latency);
        }
    }
    let pooled: Vec<Vec<Duration>> = (0..servers)
        .map(|s| {
            let mut all: Vec<Duration> = by_cycle.iter().flat_map(|c| c[s].clone()).collect();
            all.sort();
            all
        })
        .collect();
    let p99_of = |cycles: &mut dyn Iterator<Item = usize>, s: usize| {
        let mut all: Vec<Duration> = cycles.flat_map(|c| by_cycle[c][s].clone()).collect();
        p99_unsorted(&mut all)
    };
    let per_cycle: Vec<Vec<f64>> = (0..cycles)
        .map(|c| {
            (0..servers)
                .map(|s| p99_of(&mut [c].into_iter(), s))
                .collect()
        })
        .collect();
    // The same resampled cycles for every server, each server's p99 over
    // each draw computed once.
    let mut rng = Rng(0x5eed);
    let draws: Vec<Vec<usize>> = (0..DRAWS)
        .map(|_| {
            (0..cycles)
                .map(|_| (rng.next() % cycles.max(1) as u64) as usize)
                .collect()
        })
        .collect();
    let boot: Vec<Vec<f64>> = (0..servers)
        .map(|s| {
            draws
                .iter()
                .map(|d| p99_of(&mut d.iter().copied(), s))
                .collect()
        })
        .collect();
    let servers = (0..servers)
        .map(|s| {
            let lat = &pooled[s];
            let ratio = (s > 0 && cycles > 0).then(|| {
                let mut ratios: Vec<f64> =
                    boot[s].iter().zip(&boot[0]).map(|(x, y)| x / y).collect();
                ratios.sort_by(f64::total_cmp);
                let mut within: Vec<f64> = per_cycle.iter().map(|c| c[s] / c[0]).collect();
                within.sort_by(f64::total_cmp);
                P99Ratio {
                    pooled: quantile(lat, 0.99).as_secs_f64()
                        / quantile(&pooled[0], 0.99).as_secs_f64(),
                    low: quantile(&ratios, 0.05),
                    high: quantile(&ratios, 0.95),
                    median_per_cycle: quantile(&within, 0.5),
                }
            });
            ServerLatency {
                requests: lat.len(),
                p50: quantile(lat, 0.5),
                p90: quantile(lat, 0.9),
                p99: quantile(lat, 0.99),
                max: quantile(lat, 1.0),
                ratio,
            }
        })
        .collect();
    InTurn { cycles, servers }
}

/// The p99 of unsorted latencies, in seconds (the same rank as
/// [`quantile`]).
fn p99_unsorted(lat: &mut [Duration]) -> f64 {
    if lat.is_empty() {
        return 0.0;
    }
    let rank = ((lat.len() as f64 - 1.0) * 0.99) as usize;
    lat.select_nth_unstable(rank).1.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_servers_take_turns_in_alternating_order() {
        let order: Vec<usize> = (0..8).map(|w| server_of(w, 2)).collect();
        assert_eq!(order, [0, 1, 1, 0, 0, 1, 1, 0]);
        let order: Vec<usize> = (0..6).map(|w| server_of(w, 3)).collect();
        assert_eq!(order, [0, 1, 2, 2, 1, 0]);
    }

    /// `cycles` full cycles of two servers, 200 requests a window, with
    /// latencies spread over 1..=200 ms times the server's factor.
    fn samples(cycles: usize, factors: [f64; 2]) -> Vec<(usize, Duration)> {
        let mut out = Vec::new();
        for window in 0..2 * cycles {
            for i in 1..=200u64 {
                let ms = i as f64 * factors[server_of(window, 2)];
                out.push((window, Duration::from_secs_f64(ms / 1e3)));
            }
        }
        out
    }

    #[test]
    fn a_server_half_again_as_slow_measures_1_5_with_an_interval_around_it() {
        let mut s = samples(21, [1.0, 1.5]);
        // The run stopped in cycle 21: its one window is left out, as is
        // the first cycle, where a stall of the start is.
        s.push((42, Duration::from_secs(9)));
        s.push((0, Duration::from_secs(9)));
        let r = in_turn(&s, 2);
        assert_eq!(r.cycles, 20);
        assert_eq!(r.servers[0].requests, 4000);
        assert_eq!(r.servers[0].max, Duration::from_millis(200));
        assert!(r.servers[0].ratio.is_none());
        let ratio = r.servers[1].ratio.unwrap();
        assert!((ratio.pooled - 1.5).abs() < 1e-9, "{ratio:?}");
        assert!((ratio.median_per_cycle - 1.5).abs() < 1e-9, "{ratio:?}");
        // Every cycle measures the same: so does every draw.
        assert!((ratio.low - 1.5).abs() < 1e-9, "{ratio:?}");
        assert!((ratio.high - 1.5).abs() < 1e-9, "{ratio:?}");
    }

    #[test]
    fn a_stall_in_one_window_widens_the_interval_but_not_the_median() {
        let mut s = samples(20, [1.0, 1.0]);
        // Server 2's window of cycle 3 (window 6: cycle 3 takes them in
        // reverse) stalls: 100 more requests take 5 s, over 1 % of all of
        // its requests.
        s.extend((0..100).map(|_| (6, Duration::from_secs(5))));
        let r = in_turn(&s, 2);
        let ratio = r.servers[1].ratio.unwrap();
        assert_eq!(ratio.median_per_cycle, 1.0, "{ratio:?}");
        // 5 s over the first server's p99 of 198 ms.
        assert!((ratio.pooled - 5.0 / 0.198).abs() < 1e-9, "{ratio:?}");
        // Draws without cycle 3 measure 1.
        assert_eq!(ratio.low, 1.0, "{ratio:?}");
        assert!(ratio.high >= ratio.pooled, "{ratio:?}");
    }

    #[test]
    fn fewer_windows_than_two_cycles_measure_nothing() {
        let r = in_turn(
            &[(0, Duration::from_millis(1)), (3, Duration::from_millis(1))],
            2,
        );
        assert_eq!(r.cycles, 0);
        assert_eq!(r.servers[1].requests, 0);
        assert!(r.servers[1].ratio.is_none());
    }
}
