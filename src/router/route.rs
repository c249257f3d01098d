//! Routes: where an app's traffic goes. Pure data and the choice of upstream
//! for one request; the proxy does the IO.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::split::{Split, keyed_to_canary};

/// An app's route: its public listener and the upstream(s) behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The app's public address, where the router listens for it.
    pub listen: SocketAddr,
    /// The live release's direct address.
    pub upstream: SocketAddr,
    /// A canary split: this share of new visitors goes to another upstream.
    #[serde(default)]
    pub canary: Option<Canary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    pub upstream: SocketAddr,
    /// 0..=100.
    pub percent: u8,
    /// How requests are placed; at random when absent (routes written
    /// before splits had keys read the same).
    #[serde(default, skip_serializing_if = "Split::is_random")]
    pub split: Split,
}

/// What a request says about where it goes: the side its sticky cookie
/// names, and the value of the split's key (header or cookie), if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Visitor<'a> {
    pub sticky: Option<Side>,
    pub key: Option<&'a str>,
}

/// Which side of a canary split a visitor is on; kept in a cookie so a
/// visitor stays on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Stable,
    Canary,
}

pub const STICKY_COOKIE: &str = "deployflow_canary";

impl Side {
    pub fn cookie_value(self) -> &'static str {
        match self {
            Side::Stable => "stable",
            Side::Canary => "canary",
        }
    }

    fn from_cookie_value(value: &str) -> Option<Side> {
        match value {
            "stable" => Some(Side::Stable),
            "canary" => Some(Side::Canary),
            _ => None,
        }
    }
}

impl Route {
    /// Why the route cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let canary = self.canary.as_ref()?;
        if canary.percent > 100 {
            return Some(format!(
                "canary.percent is {}, it must be 0 to 100",
                canary.percent
            ));
        }
        if canary.upstream == self.upstream {
            return Some("canary.upstream is the same as upstream".into());
        }
        None
    }

    /// The upstream for one request. A keyed request goes where its key
    /// hashes to (or to the canary when the key is allowed), and nothing is
    /// remembered: the key is the memory. Any other is placed by its sticky
    /// cookie or, new, by `roll` (a number in 0..100), and the side is
    /// returned to be remembered. At 0 % only allowed keys reach the canary.
    pub fn pick(&self, visitor: Visitor<'_>, roll: u8) -> (SocketAddr, Option<Side>) {
        let Some(canary) = &self.canary else {
            return (self.upstream, None);
        };
        let to = |side: Side| match side {
            Side::Canary => canary.upstream,
            Side::Stable => self.upstream,
        };
        if let Some(key) = visitor.key.filter(|_| !canary.split.is_random()) {
            let side = if keyed_to_canary(&canary.split, canary.percent, key) {
                Side::Canary
            } else {
                Side::Stable
            };
            return (to(side), None);
        }
        if canary.percent == 0 {
            return (self.upstream, None);
        }
        let side = visitor.sticky.unwrap_or(if roll < canary.percent {
            Side::Canary
        } else {
            Side::Stable
        });
        (to(side), Some(side))
    }
}

/// The side named by the sticky cookie in a `Cookie` header value, if any.
pub fn sticky_side(cookie_header: &str) -> Option<Side> {
    cookie_header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == STICKY_COOKIE)
            .then(|| Side::from_cookie_value(value.trim()))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn sticky(side: Side) -> Visitor<'static> {
        Visitor {
            sticky: Some(side),
            key: None,
        }
    }

    fn keyed(percent: u8) -> Route {
        let mut route = route(Some(percent));
        route.canary.as_mut().unwrap().split = Split {
            by: crate::router::SplitBy::Header,
            key: "x-user".into(),
            allow: vec!["staff".into()],
        };
        route
    }

    #[test]
    fn a_keyed_request_goes_where_its_key_hashes_and_is_not_remembered() {
        let route = keyed(50);
        for i in 0..50 {
            let user = format!("user-{i}");
            let key = Visitor {
                sticky: Some(Side::Stable),
                key: Some(&user),
            };
            let (first, remember) = route.pick(key, 0);
            assert_eq!(remember, None);
            // The key decides, whatever the roll or an old cookie say.
            assert_eq!(route.pick(key, 99).0, first);
            assert_eq!(
                route
                    .pick(
                        Visitor {
                            sticky: Some(Side::Canary),
                            ..key
                        },
                        0
                    )
                    .0,
                first
            );
        }
        let staff = Visitor {
            sticky: None,
            key: Some("staff"),
        };
        assert_eq!(keyed(0).pick(staff, 99).0, addr(9002), "allowed at 0 %");
        // Without the key: at random, remembered by the cookie.
        assert_eq!(keyed(0).pick(Visitor::default(), 0), (addr(9001), None));
        assert!(keyed(50).pick(Visitor::default(), 0).1.is_some());
    }

    fn route(percent: Option<u8>) -> Route {
        Route {
            listen: addr(8080),
            upstream: addr(9001),
            canary: percent.map(|percent| Canary {
                upstream: addr(9002),
                percent,
                split: Split::default(),
            }),
        }
    }

    #[test]
    fn without_a_split_everything_goes_to_the_upstream() {
        assert_eq!(route(None).pick(Visitor::default(), 0), (addr(9001), None));
        assert_eq!(
            route(Some(0)).pick(sticky(Side::Canary), 0),
            (addr(9001), None)
        );
    }

    #[test]
    fn a_split_sends_its_percent_of_new_visitors_to_the_canary() {
        let route = route(Some(25));
        let canary = (0..100)
            .filter(|roll| route.pick(Visitor::default(), *roll).0 == addr(9002))
            .count();
        assert_eq!(canary, 25);
    }

    #[test]
    fn the_cookie_keeps_a_visitor_on_its_side() {
        let route = route(Some(1));
        assert_eq!(
            route.pick(sticky(Side::Canary), 99),
            (addr(9002), Some(Side::Canary))
        );
        assert_eq!(
            route.pick(sticky(Side::Stable), 0),
            (addr(9001), Some(Side::Stable))
        );
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(
            sticky_side("a=1; deployflow_canary=canary; b=2"),
            Some(Side::Canary)
        );
        assert_eq!(sticky_side("deployflow_canary=stable"), Some(Side::Stable));
        assert_eq!(sticky_side("deployflow_canary=other"), None);
        assert_eq!(sticky_side("x=deployflow_canary"), None);
    }

    #[test]
    fn bad_splits_are_named() {
        assert!(route(Some(101)).problem().unwrap().contains("0 to 100"));
        let mut same = route(Some(10));
        same.canary.as_mut().unwrap().upstream = addr(9001);
        assert!(same.problem().is_some());
        assert_eq!(route(Some(100)).problem(), None);
    }

    proptest! {
        #[test]
        fn every_pick_is_one_of_the_routes_upstreams(percent in 0u8..=100, roll in 0u8..100, sticky in proptest::option::of(prop_oneof![Just(Side::Stable), Just(Side::Canary)])) {
            let route = route(Some(percent));
            let (upstream, side) = route.pick(Visitor { sticky, key: None }, roll);
            prop_assert!(upstream == addr(9001) || upstream == addr(9002));
            if percent == 0 {
                prop_assert_eq!(upstream, addr(9001));
                prop_assert_eq!(side, None);
            }
        }
    }
}
