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
    let (n1, n2) = (green.len(), blue.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    // Ranks over both samples, ties given their average rank.
    let mut all: Vec<(f64, bool)> = green
        .iter()
        .map(|v| (*v, true))
        .chain(blue.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let (mut green_ranks, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let tied = (j - i + 1) as f64;
        ties += tied * tied * tied - tied;
        green_ranks += rank * all[i..=j].iter().filter(|(_, g)| *g).count() as f64;
        i = j + 1;
    }
    let (n1, n2, n) = (n1 as f64, n2 as f64, n as f64);
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
