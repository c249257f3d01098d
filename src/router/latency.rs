//! The router's latency histogram: log-linear buckets, 90 to a decade from
//! 10 µs to 100 s, so no bucket is wider than 10 % of its values (the
//! resolution a p99 ratio guard of 1.2 needs), plus one under 10 µs and
//! one over 100 s. Counting is one atomic add at an index found with a
//! few integer comparisons and one division, so the hot path stays as
//! cheap as the 12 fixed buckets it replaces (`benches/router.sh`: a few
//! nanoseconds more a request).
//! `/metrics` keeps its coarse buckets, each an edge of these.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Decades covered, from 10 µs (10^4 ns) to 100 s (10^11 ns).
const DECADES: usize = 7;
/// Buckets to a decade: [1.0, 1.1), [1.1, 1.2) ... [9.9, 10.0) of it.
const STEPS: usize = 90;
const FIRST_NS: u64 = 10_000;
/// Every bucket: under 10 µs, the decades', and over 100 s (+Inf).
pub const BUCKETS: usize = 1 + DECADES * STEPS + 1;

/// The coarse buckets `/metrics` shows (ms), each an edge of the fine ones.
pub const EXPOSITION_BOUNDS_MS: [f64; 12] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 10000.0,
];

/// The bucket `latency` is counted in. Each decade's divisor is a
/// constant, so no division instruction runs (`benches/router.sh`).
pub fn index(latency: Duration) -> usize {
    let ns = latency
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(latency.subsec_nanos()));
    // `ns / tenth` is 10 to 99 within the decade that `tenth` is a tenth of.
    let at = |decade: usize, tenth: u64| 1 + decade * STEPS + (ns / tenth) as usize - 10;
    match ns {
        0..FIRST_NS => 0,
        FIRST_NS..100_000 => at(0, 1_000),
        100_000..1_000_000 => at(1, 10_000),
        1_000_000..10_000_000 => at(2, 100_000),
        10_000_000..100_000_000 => at(3, 1_000_000),
        100_000_000..1_000_000_000 => at(4, 10_000_000),
        1_000_000_000..10_000_000_000 => at(5, 100_000_000),
        10_000_000_000..100_000_000_000 => at(6, 1_000_000_000),
        _ => BUCKETS - 1,
    }
}

/// The finite buckets' upper bounds in ms (the last bucket, +Inf, has none).
pub fn bounds_ms() -> Vec<f64> {
    let mut bounds = Vec::with_capacity(BUCKETS - 1);
    bounds.push(FIRST_NS as f64 / 1e6);
    let mut decade_start = FIRST_NS;
    for _ in 0..DECADES {
        let step = decade_start / 10;
        bounds.extend((11..=100).map(|tenths| (step * tenths) as f64 / 1e6));
        decade_start *= 10;
    }
    bounds
}

/// Counts per bucket, added to from every request's task.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    pub fn record(&self, latency: Duration) {
        self.counts[index(latency)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

/// The upper bound of the bucket holding quantile `q` (0 to 1) of
/// `counts` over `bounds` (one fewer: the last count is +Inf, which
/// reports the largest finite bound). None when nothing was counted.
pub fn quantile(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let largest = bounds.last().copied().unwrap_or(0.0);
    let mut seen = 0;
    for (i, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(bounds.get(i).copied().unwrap_or(largest));
        }
    }
    Some(largest)
}

/// `counts` over `bounds` gathered into `coarse` bounds (each one of
/// `bounds`), the last entry for +Inf: what `/metrics` shows.
pub fn coarsen(bounds: &[f64], counts: &[u64], coarse: &[f64]) -> Vec<u64> {
    let mut gathered = vec![0; coarse.len() + 1];
    for (i, count) in counts.iter().enumerate() {
        let slot = match bounds.get(i) {
            // Relative slack for the float edges (2.5 ms is 2_500_000 ns / 1e6).
            Some(bound) => coarse
                .iter()
                .position(|c| *bound <= c * (1.0 + 1e-9))
                .unwrap_or(coarse.len()),
            None => coarse.len(),
        };
        gathered[slot] += count;
    }
    gathered
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_edges_are_where_the_bounds_say() {
        let bounds = bounds_ms();
        assert_eq!(bounds.len(), BUCKETS - 1);
        assert_eq!(index(Duration::from_nanos(9_999)), 0);
        assert_eq!(index(Duration::from_micros(10)), 1);
        assert_eq!(index(Duration::from_micros(11)), 2);
        assert_eq!(index(Duration::from_secs(100)), BUCKETS - 1);
        assert_eq!(index(Duration::MAX), BUCKETS - 1);
        for coarse in EXPOSITION_BOUNDS_MS {
            assert!(bounds.contains(&coarse), "{coarse} ms is an edge");
        }
    }

    #[test]
    fn coarse_buckets_gather_the_fine_ones_exactly() {
        let histogram = Histogram::default();
        for us in [500, 1_000, 1_010, 2_500, 2_600, 9_999_000, 20_000_000] {
            histogram.record(Duration::from_micros(us));
        }
        let coarse = coarsen(&bounds_ms(), &histogram.counts(), &EXPOSITION_BOUNDS_MS);
        // A fine bucket holds the values under its bound: 1 ms itself is in
        // [1.0, 1.1), so counted with 2.5, and 2.5 ms with 5.
        assert_eq!(coarse.iter().sum::<u64>(), 7);
        assert_eq!(coarse[0], 1, "{coarse:?}");
        assert_eq!(coarse[1], 2, "{coarse:?}");
        assert_eq!(coarse[2], 2, "{coarse:?}");
        assert_eq!(coarse[11], 1, "{coarse:?}");
        assert_eq!(coarse[12], 1, "over 10 s is +Inf");
    }

    proptest! {
        /// A latency's bucket holds it, and is at most 10 % wide.
        #[test]
        fn a_latency_is_at_most_ten_percent_under_its_bound(ns in 10_000u64..100_000_000_000) {
            let bounds = bounds_ms();
            let i = index(Duration::from_nanos(ns));
            let ms = ns as f64 / 1e6;
            prop_assert!(ms < bounds[i] * (1.0 + 1e-12), "{} under {}", ms, bounds[i]);
            prop_assert!(bounds[i] <= ms * 1.1 + 1e-9, "{} within 10 % of {}", bounds[i], ms);
            prop_assert!(i == 0 || bounds[i - 1] <= ms * (1.0 + 1e-12));
        }

        /// The quantiles follow the order of the latencies.
        #[test]
        fn quantiles_are_ordered(latencies in proptest::collection::vec(10u64..10_000_000, 1..200)) {
            let histogram = Histogram::default();
            for us in &latencies {
                histogram.record(Duration::from_micros(*us));
            }
            let (bounds, counts) = (bounds_ms(), histogram.counts());
            let q = |q| quantile(&bounds, &counts, q).unwrap_or(0.0);
            prop_assert!(q(0.5) <= q(0.9) && q(0.9) <= q(0.99));
            let max = *latencies.iter().max().unwrap_or(&0) as f64 / 1000.0;
            prop_assert!(q(0.99) <= max * 1.1 + 1e-9);
        }
    }
}
