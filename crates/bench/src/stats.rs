//! What every benchmark shares: a reproducible random source and latency
//! quantiles.

/// The `p` quantile (0–1) of sorted latencies (or other sorted values);
/// the default (zero) of none.
pub(crate) fn quantile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p) as usize)
        .copied()
        .unwrap_or_default()
}

/// splitmix64: small, fast, reproducible.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        sommelier_types::mix64(self.0)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quantiles_of_sorted_latencies() {
        let ms: Vec<Duration> = (1..=101).map(Duration::from_millis).collect();
        assert_eq!(quantile(&ms, 0.0), Duration::from_millis(1));
        assert_eq!(quantile(&ms, 0.5), Duration::from_millis(51));
        assert_eq!(quantile(&ms, 1.0), Duration::from_millis(101));
        assert_eq!(quantile::<Duration>(&[], 0.5), Duration::ZERO);
        assert_eq!(quantile(&[0.5, 1.5, 2.5], 0.5), 1.5);
    }

    #[test]
    fn rng_is_reproducible_and_unit_is_in_range() {
        let (mut a, mut b) = (Rng(42), Rng(42));
        for _ in 0..1000 {
            assert_eq!(a.next(), b.next());
            let u = a.unit();
            assert!((0.0..1.0).contains(&u));
            b.unit();
        }
    }
}
