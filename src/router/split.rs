//! How a canary's traffic is shared between blue and green: at random
//! (each new visitor placed, then kept by a cookie), or by a key the app
//! sets (a header or a cookie), hashed so one user always lands on one
//! side and the share of users on green follows the weight. Values on the
//! allow list always go to green: staff and test accounts see it first.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `rollout.split.by`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitBy {
    /// A new visitor is placed at random and kept on its side by a cookie.
    #[default]
    Random,
    /// The value of the request header `key`.
    Header,
    /// The value of the cookie `key`.
    Cookie,
}

/// `rollout.split`, as the config gives it and the route keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    #[serde(default)]
    pub by: SplitBy,
    /// The header's or the cookie's name.
    #[serde(default)]
    pub key: String,
    /// Values of the key always sent to green.
    #[serde(default)]
    pub allow: Vec<String>,
}

impl Split {
    /// A plain random split.
    pub fn is_random(&self) -> bool {
        self.by == SplitBy::Random
    }
}

/// Where a keyed value falls in 0..100. SHA-256, so the assignment is the
/// same on every router, across restarts and upgrades: raising the weight
/// from 10 to 50 keeps the first 10 % of users on green and adds others.
pub fn bucket(value: &str) -> u8 {
    let digest = Sha256::digest(value.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % 100) as u8
}

/// The value `name` has in a `Cookie` header, if any.
pub fn cookie_value<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key.trim() == name).then(|| value.trim())
    })
}

/// Whether a request keyed `value` goes to green at `percent`.
pub fn keyed_to_canary(split: &Split, percent: u8, value: &str) -> bool {
    split.allow.iter().any(|allowed| allowed == value) || bucket(value) < percent
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keyed() -> Split {
        Split {
            by: SplitBy::Header,
            key: "x-user".into(),
            allow: vec!["staff-1".into()],
        }
    }

    #[test]
    fn an_allowed_value_is_on_green_at_any_weight() {
        assert!(keyed_to_canary(&keyed(), 0, "staff-1"));
        assert!(!keyed_to_canary(&keyed(), 0, "user-1"));
        assert!(keyed_to_canary(&keyed(), 100, "user-1"));
    }

    #[test]
    fn the_share_of_distinct_keys_on_green_follows_the_weight() {
        for percent in [1u8, 10, 50, 90] {
            let on_green = (0..10_000)
                .filter(|i| keyed_to_canary(&Split::default(), percent, &format!("user-{i}")))
                .count();
            let share = on_green as f64 / 100.0;
            assert!(
                (share - f64::from(percent)).abs() < 2.0,
                "{share} % of users on green at weight {percent}"
            );
        }
    }

    #[test]
    fn a_cookie_is_found_by_its_name_among_others() {
        assert_eq!(cookie_value("a=1; user=ana; b=2", "user"), Some("ana"));
        assert_eq!(cookie_value("username=ana", "user"), None);
        assert_eq!(cookie_value("", "user"), None);
    }

    proptest! {
        /// A user on green stays there as the weight rises.
        #[test]
        fn raising_the_weight_never_moves_a_user_back_to_blue(value in ".{0,40}", low in 0u8..=100, high in 0u8..=100) {
            let (low, high) = (low.min(high), low.max(high));
            let split = Split::default();
            if keyed_to_canary(&split, low, &value) {
                prop_assert!(keyed_to_canary(&split, high, &value));
            }
        }

        #[test]
        fn the_same_key_always_lands_on_the_same_side(value in ".{0,40}", percent in 0u8..=100) {
            let split = keyed();
            prop_assert_eq!(keyed_to_canary(&split, percent, &value), keyed_to_canary(&split, percent, &value));
            prop_assert!(bucket(&value) < 100);
        }
    }
}
