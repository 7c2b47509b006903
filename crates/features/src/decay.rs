//! Exponentially decayed sums that accept events in any order.

/// A sum of weights, each decaying with a half-life, anchored at the time of the
/// newest weight added. Out-of-order additions are decayed to that anchor, so the
/// result does not depend on the order of arrival.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Decayed {
    value: f64,
    at_ms: i64,
}

fn factor(dt_ms: i64, half_life_ms: f64) -> f64 {
    (-(dt_ms as f64) / half_life_ms).exp2()
}

impl Decayed {
    /// Adds `weight` observed at `t_ms`.
    pub fn add(&mut self, weight: f64, t_ms: i64, half_life_ms: f64) {
        if self.value == 0.0 && self.at_ms == 0 {
            self.at_ms = t_ms;
        }
        if t_ms >= self.at_ms {
            self.value = self.value * factor(t_ms - self.at_ms, half_life_ms) + weight;
            self.at_ms = t_ms;
        } else {
            self.value += weight * factor(self.at_ms - t_ms, half_life_ms);
        }
    }

    /// The stored sum and its anchor, for saving.
    pub(crate) fn parts(&self) -> (f64, i64) {
        (self.value, self.at_ms)
    }

    /// A sum saved with [`Decayed::parts`].
    pub(crate) fn from_parts(value: f64, at_ms: i64) -> Self {
        Self { value, at_ms }
    }

    /// The sum as seen at `now_ms` (no growth for times before the anchor).
    pub fn value_at(&self, now_ms: i64, half_life_ms: f64) -> f64 {
        if now_ms <= self.at_ms {
            self.value
        } else {
            self.value * factor(now_ms - self.at_ms, half_life_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: f64 = 1000.0;

    #[test]
    fn halves_after_one_half_life() {
        let mut d = Decayed::default();
        d.add(8.0, 10_000, H);
        assert!((d.value_at(11_000, H) - 4.0).abs() < 1e-9);
        assert!((d.value_at(13_000, H) - 1.0).abs() < 1e-9);
        assert_eq!(d.value_at(5_000, H), 8.0);
    }

    #[test]
    fn order_of_arrival_does_not_matter() {
        let events = [(1.0, 5_000), (2.0, 1_000), (0.5, 3_500), (4.0, 9_000)];
        let mut forward = Decayed::default();
        events.iter().for_each(|&(w, t)| forward.add(w, t, H));
        let mut backward = Decayed::default();
        events
            .iter()
            .rev()
            .for_each(|&(w, t)| backward.add(w, t, H));
        assert!((forward.value_at(10_000, H) - backward.value_at(10_000, H)).abs() < 1e-9);
        let exact: f64 = events
            .iter()
            .map(|&(w, t)| w * ((t - 10_000) as f64 / H).exp2())
            .sum();
        assert!((forward.value_at(10_000, H) - exact).abs() < 1e-9);
    }
}
