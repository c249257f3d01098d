//! Candidate against baseline in the same window, pure (Kayenta's rule):
//! quantiles of a side's latencies, a one-sided two-proportion z-test for
//! "green errs more than blue" and a one-sided Mann-Whitney U test for
//! "green is slower than blue", each giving the p-value of the difference
//! being chance. Normal approximations, with the ties correction for U;
//! `statrs` gives the normal distribution.

use statrs::distribution::{ContinuousCDF, Normal};

/// The `q` quantile (0 to 1) of `sorted` (nearest rank), `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// P(Z >= z) for a standard normal Z.
fn upper_tail(z: f64) -> f64 {
    match Normal::new(0.0, 1.0) {
        Ok(normal) => 1.0 - normal.cdf(z),
        // Unreachable with these parameters; "no evidence" is the safe side.
        Err(_) => 1.0,
    }
}

/// The p-value that green's error rate (`errors` of `requests`) is higher
/// than blue's by chance alone. 1 when either side has no requests or
/// nothing differs.
pub fn errors_p_value(green: (u64, u64), blue: (u64, u64)) -> f64 {
    let ((ge, gn), (be, bn)) = (green, blue);
    if gn == 0 || bn == 0 {
        return 1.0;
    }
    let (g, b) = (ge as f64 / gn as f64, be as f64 / bn as f64);
    let pooled = (ge + be) as f64 / (gn + bn) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / gn as f64 + 1.0 / bn as f64)).sqrt();
    if se == 0.0 {
        // Both sides all errors or all successes: no difference to test.
        return 1.0;
    }
    upper_tail((g - b) / se)
}

/// The p-value that green's latencies are stochastically larger than
/// blue's by chance alone (Mann-Whitney U, normal approximation with the
/// ties correction). 1 when either side is empty.
pub fn slower_p_value(green: &[f64], blue: &[f64]) -> f64 {
    // Both samples in order, equal values one group: (green's, blue's).
    let mut all: Vec<(f64, bool)> = green
        .iter()
        .map(|v| (*v, true))
        .chain(blue.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut groups: Vec<(u64, u64)> = Vec::new();
    let mut previous: Option<f64> = None;
    for (value, is_green) in all {
        if previous != Some(value) {
            groups.push((0, 0));
            previous = Some(value);
        }
        if let Some(group) = groups.last_mut() {
            if is_green {
                group.0 += 1;
            } else {
                group.1 += 1;
            }
        }
    }
    slower_p_value_grouped(&groups)
}

/// The same test over two histograms with the same buckets, `(green's
/// count, blue's count)` per bucket in ascending order: each bucket's
/// values are ties (the router's latencies, counted, not kept).
pub fn slower_p_value_grouped(groups: &[(u64, u64)]) -> f64 {
    let n1: u64 = groups.iter().map(|g| g.0).sum();
    let n2: u64 = groups.iter().map(|g| g.1).sum();
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    // Ranks over both samples, a group given its average rank.
    let (mut below, mut green_ranks, mut ties) = (0.0, 0.0, 0.0);
    for &(g, b) in groups {
        let tied = (g + b) as f64;
        if tied == 0.0 {
            continue;
        }
        let rank = below + (tied + 1.0) / 2.0;
        green_ranks += rank * g as f64;
        ties += tied * tied * tied - tied;
        below += tied;
    }
    let (n1, n2) = (n1 as f64, n2 as f64);
    let n = n1 + n2;
    let u = green_ranks - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)).max(1.0));
    if variance <= 0.0 {
        return 1.0;
    }
    // Continuity correction toward the mean.
    upper_tail((u - mean - 0.5) / variance.sqrt())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_clearly_slower_side_is_significant_and_the_same_one_is_not() {
        let blue: Vec<f64> = (0..200).map(|i| 10.0 + f64::from(i % 7)).collect();
        let slow: Vec<f64> = blue.iter().map(|v| v * 5.0).collect();
        assert!(slower_p_value(&slow, &blue) < 0.001);
        assert!(slower_p_value(&blue, &slow) > 0.999, "faster is not slower");
        let same = slower_p_value(&blue, &blue);
        assert!((0.3..=0.7).contains(&same), "{same}");
    }

    #[test]
    fn more_errors_on_green_are_significant_only_with_enough_requests() {
        assert!(errors_p_value((30, 100), (1, 100)) < 0.001);
        assert!(
            errors_p_value((1, 3), (0, 3)) > 0.05,
            "3 requests prove nothing"
        );
        assert_eq!(errors_p_value((0, 100), (0, 100)), 1.0);
        assert_eq!(errors_p_value((0, 0), (5, 100)), 1.0);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&sorted, 0.5), Some(2.0));
        assert_eq!(quantile(&sorted, 0.99), Some(4.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    proptest! {
        /// Every p-value is a probability, whatever the samples.
        #[test]
        fn p_values_are_probabilities(
            green in proptest::collection::vec(0.0f64..1e4, 0..60),
            blue in proptest::collection::vec(0.0f64..1e4, 0..60),
            ge in 0u64..50, gn in 0u64..50, be in 0u64..50, bn in 0u64..50,
        ) {
            let p = slower_p_value(&green, &blue);
            prop_assert!((0.0..=1.0).contains(&p), "{}", p);
            let q = errors_p_value((ge.min(gn), gn), (be.min(bn), bn));
            prop_assert!((0.0..=1.0).contains(&q), "{}", q);
        }

        /// Counted in buckets, samples give the p-value they give one by one.
        #[test]
        fn histograms_test_as_their_samples_do(
            green in proptest::collection::vec(0u64..8, 0..60),
            blue in proptest::collection::vec(0u64..8, 0..60),
        ) {
            let mut groups = vec![(0, 0); 8];
            for v in &green { groups[*v as usize].0 += 1; }
            for v in &blue { groups[*v as usize].1 += 1; }
            let as_f64 = |v: &Vec<u64>| v.iter().map(|x| *x as f64).collect::<Vec<_>>();
            let one_by_one = slower_p_value(&as_f64(&green), &as_f64(&blue));
            prop_assert!((slower_p_value_grouped(&groups) - one_by_one).abs() < 1e-12);
        }

        /// Making green slower never makes it look less slower.
        #[test]
        fn slowing_green_down_only_lowers_the_p_value(
            blue in proptest::collection::vec(1.0f64..100.0, 5..40),
            green in proptest::collection::vec(1.0f64..100.0, 5..40),
        ) {
            let slower: Vec<f64> = green.iter().map(|v| v * 3.0).collect();
            prop_assert!(slower_p_value(&slower, &blue) <= slower_p_value(&green, &blue) + 1e-12);
        }
    }
}
