//! Who a loopback listener answers: the one guard the control plane's API
//! and dashboard and the router's admin API share against DNS rebinding.
//!
//! A page on another site can make a browser on this machine send requests
//! to a loopback port: with a name that first resolved to the page's own
//! server and now resolves to 127.0.0.1, the browser thinks it is still
//! talking to that site, so its same-origin rules let the page read the
//! answers and send any request. Such a request always carries the page's
//! name in `Host` (and in `Origin`), never a loopback name: a listener that
//! answers only to its own names cannot be reached that way, whatever
//! handler a request is for. So the check runs before every handler.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A name given with `--allowed-host`: a DNS name or an IP address, no
/// port (any port is allowed, as for the loopback names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a host name: give a DNS name (letters, digits, `-`, `.`) or an IP address, without a port"
)]
pub struct BadHostName(pub String);

impl std::str::FromStr for HostName {
    type Err = BadHostName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadHostName(text.to_string());
        let name = normalize(text.trim());
        if name.parse::<IpAddr>().is_ok() {
            return Ok(HostName(name));
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(HostName(name))
    }
}

impl HostName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The names a listener answers to: `localhost`, any loopback address, the
/// address it listens on (even `0.0.0.0`: no page can rebind a name to
/// that), the address a connection arrived at, and the names it was given.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    listen: Option<IpAddr>,
    names: Arc<[HostName]>,
}

/// The address a connection was accepted on, put in each request's
/// extensions by the server loop: on a wildcard listener (`0.0.0.0`) it is
/// the machine's address the client used, which is one of its own names.
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub SocketAddr);

/// Why a request is refused before any handler sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 421: the request names a host this listener is not.
    #[error(
        "this server does not answer to the host {0:?} (allowed: localhost, loopback addresses, its own address, and names given with --allowed-host)"
    )]
    Misdirected(String),
    /// 400: no host, or more than one (RFC 9112 §3.2).
    #[error("{0}")]
    BadHost(&'static str),
    /// 403: a change sent from a page of another site.
    #[error("a change from the origin {0:?} is refused: it is not a host this server answers to")]
    ForeignOrigin(String),
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Misdirected(_) => StatusCode::MISDIRECTED_REQUEST,
            Refusal::BadHost(_) => StatusCode::BAD_REQUEST,
            Refusal::ForeignOrigin(_) => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.to_string(), "code": 1 });
        (self.status(), axum::Json(body)).into_response()
    }
}

impl AllowedHosts {
    /// Loopback names only: the router's admin API.
    pub fn loopback() -> Self {
        AllowedHosts {
            listen: None,
            names: Arc::from(Vec::new()),
        }
    }

    /// A listener on `listen` that also answers to `names`.
    pub fn new(listen: SocketAddr, names: Vec<HostName>) -> Self {
        AllowedHosts {
            listen: Some(listen.ip()),
            names: Arc::from(names),
        }
    }

    /// Whether `authority` (`name`, `name:port`, `[v6]:port`) is one of
    /// this listener's names; `local` is the address the request came in on.
    pub fn allows(&self, authority: &str, local: Option<IpAddr>) -> bool {
        let Some(name) = host_of(authority) else {
            return false;
        };
        if name == "localhost" || self.names.iter().any(|n| n.0 == name) {
            return true;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => {
                ip.is_loopback()
                    || Some(ip) == self.listen
                    || local.is_some_and(|l| !l.is_unspecified() && l == ip)
            }
            Err(_) => false,
        }
    }

    /// The check every request goes through: its host must be one of ours
    /// (421 otherwise), and a change must not come from another site's
    /// page (403).
    pub fn check(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        local: Option<IpAddr>,
    ) -> Result<(), Refusal> {
        let host = request_host(uri, headers)?
            .ok_or(Refusal::BadHost("the request names no host (Host header)"))?;
        if !self.allows(&host, local) {
            return Err(Refusal::Misdirected(host));
        }
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            for origin in headers.get_all(header::ORIGIN) {
                let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
                // This very origin, its port included: a page on another
                // port of this machine (an app under review behind the
                // router, say) is another site, whatever cookies think.
                let same = origin.split_once("://").is_some_and(|(scheme, rest)| {
                    let authority = rest.split('/').next().unwrap_or("");
                    self.allows(authority, local) && same_authority(scheme, authority, &host)
                });
                if !same {
                    return Err(Refusal::ForeignOrigin(origin));
                }
            }
        }
        Ok(())
    }
}

/// Whether an origin's `authority` (under `scheme`) names the request's
/// `host`: the same name and the same port, a missing one being the
/// scheme's default.
fn same_authority(scheme: &str, authority: &str, host: &str) -> bool {
    let default = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let split = |authority: &str| {
        let (name, port) = split_authority(authority)?;
        let port = port.map_or(Some(default), |p| p.parse::<u16>().ok())?;
        Some((name, port))
    };
    matches!((split(authority), split(host)), (Some(a), Some(b)) if a == b)
}

/// What is wrong with a request's `Host` (RFC 9112 §3.2): more than one,
/// or none on an HTTP/1.1 request without an absolute target. Cheap: the
/// router asks it of every request.
pub fn host_problem(version: Version, uri: &Uri, headers: &HeaderMap) -> Option<&'static str> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Some("the request has more than one Host header");
    }
    (first.is_none() && version == Version::HTTP_11 && uri.authority().is_none())
        .then_some("an HTTP/1.1 request must have a Host header")
}

/// The host a request names: its target's authority (an absolute-form
/// target, or HTTP/2's `:authority`), which must agree with a `Host`
/// header when both are there; more than one `Host` is refused.
pub fn request_host(uri: &Uri, headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    if let Some(problem) = host_problem(Version::HTTP_10, uri, headers) {
        return Err(Refusal::BadHost(problem));
    }
    let host = headers.get(header::HOST);
    let host = match host {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| Refusal::BadHost("the Host header is not text"))?
                .to_string(),
        ),
        None => None,
    };
    match (uri.authority().map(|a| a.as_str().to_string()), host) {
        (Some(target), Some(host)) if !target.eq_ignore_ascii_case(&host) => {
            // An attacker's name in either place is as bad: report it.
            Err(Refusal::Misdirected(target))
        }
        (Some(target), _) => Ok(Some(target)),
        (None, host) => Ok(host),
    }
}

/// The lowercased name of `authority`, without its port or an IPv6
/// address's brackets; `None` when it is not an authority at all.
fn host_of(authority: &str) -> Option<String> {
    split_authority(authority).map(|(name, _)| name)
}

/// `authority`'s lowercased name and its port, if it gives one.
fn split_authority(authority: &str) -> Option<(String, Option<&str>)> {
    let authority = authority.trim();
    if authority.is_empty() || authority.contains(['@', '/', ' ']) {
        return None;
    }
    let (name, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(port) if is_port(port) => (inside, Some(port)),
            None if after.is_empty() => (inside, None),
            _ => return None,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((name, port)) if is_port(port) => (name, Some(port)),
            Some(_) => return None,
            None => (authority, None),
        }
    };
    Some((normalize(name), port))
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Lowercase, without a final dot (`localhost.` is `localhost`) or an
/// IPv6 address's brackets.
fn normalize(name: &str) -> String {
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// The middleware: refuses before any handler, whatever the route.
pub async fn guard(State(hosts): State<AllowedHosts>, request: Request, next: Next) -> Response {
    let local = request
        .extensions()
        .get::<LocalAddr>()
        .map(|LocalAddr(addr)| addr.ip());
    match hosts.check(request.method(), request.uri(), request.headers(), local) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn served(listen: &str, names: &[&str]) -> AllowedHosts {
        AllowedHosts::new(
            listen.parse().unwrap(),
            names.iter().map(|n| n.parse().unwrap()).collect(),
        )
    }

    #[test]
    fn loopback_names_the_listen_address_and_given_names_pass_on_any_port() {
        let hosts = served("127.0.0.1:7070", &["deploy.internal"]);
        for host in [
            "127.0.0.1:7070",
            "127.0.0.1",
            "localhost:9",
            "LOCALHOST.",
            "[::1]:7070",
            "[::1]",
            "127.8.9.1",
            "deploy.internal:443",
            "Deploy.Internal",
        ] {
            assert!(hosts.allows(host, None), "{host}");
        }
        for host in [
            "evil.example:7070",
            "evil.example",
            "10.0.0.1:7070",
            "",
            "localhost.evil.example",
            "evil.localhost",
            "deploy.internal.evil.example",
            "user@localhost",
            "localhost:port",
            "[::1",
            "0.0.0.0:7070",
        ] {
            assert!(!hosts.allows(host, None), "{host}");
        }
        // `--server http://0.0.0.0:7070` names the listen address itself.
        let wildcard = served("0.0.0.0:7070", &[]);
        assert!(wildcard.allows("0.0.0.0:7070", None));
        assert!(wildcard.allows("10.1.2.3:7070", Some("10.1.2.3".parse().unwrap())));
        assert!(!wildcard.allows("10.1.2.4:7070", Some("10.1.2.3".parse().unwrap())));
        assert!(served("10.1.2.3:7070", &[]).allows("10.1.2.3", None));
    }

    #[test]
    fn a_foreign_host_is_misdirected_and_a_foreign_origin_forbidden_for_changes() {
        let hosts = served("127.0.0.1:7070", &[]);
        let uri: Uri = "/api/deployments".parse().unwrap();
        let rebound = headers(&[
            ("host", "evil.example:7070"),
            ("origin", "http://evil.example:7070"),
        ]);
        for method in [Method::GET, Method::POST] {
            let refused = hosts.check(&method, &uri, &rebound, None).unwrap_err();
            assert_eq!(refused.status(), StatusCode::MISDIRECTED_REQUEST);
        }
        let cross_site = headers(&[
            ("host", "127.0.0.1:7070"),
            ("origin", "http://evil.example"),
        ]);
        assert_eq!(
            hosts.check(&Method::POST, &uri, &cross_site, None),
            Err(Refusal::ForeignOrigin("http://evil.example".into()))
        );
        assert_eq!(hosts.check(&Method::GET, &uri, &cross_site, None), Ok(()));
        let opaque = headers(&[("host", "127.0.0.1:7070"), ("origin", "null")]);
        assert!(hosts.check(&Method::DELETE, &uri, &opaque, None).is_err());
        let same = headers(&[
            ("host", "localhost:7070"),
            ("origin", "http://localhost:7070"),
        ]);
        assert_eq!(hosts.check(&Method::POST, &uri, &same, None), Ok(()));
        // Another port of this machine is another site.
        let other_port = headers(&[
            ("host", "127.0.0.1:7070"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(hosts.check(&Method::POST, &uri, &other_port, None).is_err());
        let other_name = headers(&[
            ("host", "127.0.0.1:7070"),
            ("origin", "http://localhost:7070"),
        ]);
        assert!(hosts.check(&Method::POST, &uri, &other_name, None).is_err());
        let default_port = headers(&[
            ("host", "deploy.internal"),
            ("origin", "https://deploy.internal"),
        ]);
        let named = served("127.0.0.1:7070", &["deploy.internal"]);
        assert_eq!(
            named.check(&Method::POST, &uri, &default_port, None),
            Ok(())
        );
        let v6 = headers(&[("host", "[::1]:7070"), ("origin", "http://[::1]:7070")]);
        assert_eq!(hosts.check(&Method::POST, &uri, &v6, None), Ok(()));
        let bare = headers(&[("host", "127.0.0.1:7070")]);
        assert_eq!(hosts.check(&Method::POST, &uri, &bare, None), Ok(()));
    }

    #[test]
    fn no_host_two_hosts_or_a_target_naming_another_are_refused() {
        let hosts = AllowedHosts::loopback();
        let uri: Uri = "/".parse().unwrap();
        let none = hosts.check(&Method::GET, &uri, &HeaderMap::new(), None);
        assert!(matches!(none, Err(Refusal::BadHost(_))));
        let two = headers(&[("host", "127.0.0.1"), ("host", "127.0.0.1")]);
        assert!(matches!(
            hosts.check(&Method::GET, &uri, &two, None),
            Err(Refusal::BadHost(_))
        ));
        let absolute: Uri = "http://evil.example/".parse().unwrap();
        let local = headers(&[("host", "127.0.0.1")]);
        assert!(matches!(
            hosts.check(&Method::GET, &absolute, &local, None),
            Err(Refusal::Misdirected(_))
        ));
        let h2: Uri = "http://localhost:7070/".parse().unwrap();
        assert_eq!(
            hosts.check(&Method::GET, &h2, &HeaderMap::new(), None),
            Ok(())
        );
    }

    #[test]
    fn allowed_host_names_are_checked() {
        for good in [
            "deploy.internal",
            "10.0.0.5",
            "::1",
            "[fe80::1]",
            "A-B.example.",
        ] {
            assert!(good.parse::<HostName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "evil.example:80",
            "-x.example",
            "a..b",
            "with space",
            "a/b",
            "*",
        ] {
            assert!(bad.parse::<HostName>().is_err(), "{bad}");
        }
    }
}
