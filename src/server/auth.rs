//! Who may use the control plane. On loopback, anyone on the machine (as
//! with any local tool) unless a token is set; on any other address a token
//! is required (`DEPLOYFLOW_TOKEN`), and every endpoint but the health
//! check asks for it: `Authorization: Bearer TOKEN`, or the dashboard's
//! session cookie. The browser never holds the token itself: its cookie is
//! a keyed hash of it (HMAC-SHA256 under a key kept in the data directory),
//! which the server checks and can revoke (a new key, or a new token,
//! ends every session). Comparisons take the same time whatever the guess,
//! so timing tells an attacker nothing.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use serde_json::json;
use subtle::ConstantTimeEq;

/// The environment variable holding the API token.
pub const TOKEN_ENV: &str = "DEPLOYFLOW_TOKEN";
/// The cookie the dashboard's sign-in sets: a session value, not the token.
pub const COOKIE: &str = "deployflow_session";
/// Shorter tokens are refused: they could be guessed.
const MIN_TOKEN_LEN: usize = 16;
/// Where the sessions' key is kept, in the data directory (owner-only).
const SESSION_KEY_FILE: &str = "session.key";
/// Sign-in attempts a client address may make: a burst, then one every
/// few seconds.
const LOGIN_BURST: u32 = 5;
const LOGIN_EVERY: Duration = Duration::from_secs(6);
/// Client addresses kept before those with nothing recent are dropped.
const LOGIN_CLIENTS_KEPT: usize = 4096;

/// Paths answered without a token: a load balancer's health probe, and the
/// dashboard's sign-in page and the files it needs.
const OPEN_PATHS: [&str; 5] = [
    "/health",
    "/api/health",
    "/login",
    "/assets/dashboard.css",
    "/assets/dashboard.js",
];

type LoginLimiter = governor::DefaultKeyedRateLimiter<IpAddr>;

#[derive(Clone, Default)]
pub struct Auth {
    secured: Option<Arc<Secured>>,
}

struct Secured {
    token: Box<[u8]>,
    /// The session cookie's value now: HMAC(key, token), hex.
    session: RwLock<String>,
    /// Where a new key is written when the sessions are revoked.
    key_file: Option<PathBuf>,
    logins: LoginLimiter,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "the control plane binds to {0}, beyond this machine: set {TOKEN_ENV} to a token of at least {MIN_TOKEN_LEN} characters first"
    )]
    TokenNeeded(SocketAddr),
    #[error("{TOKEN_ENV} is shorter than {MIN_TOKEN_LEN} characters")]
    WeakToken,
    #[error("{TOKEN_ENV} {0}")]
    BadToken(&'static str),
    #[error("the sessions' key {path}: {reason}")]
    SessionKey { path: String, reason: String },
}

/// What is wrong with `token` as a token, if anything: it must be
/// printable ASCII without spaces or `;`, so it can never break out of a
/// header or a cookie.
pub fn token_problem(token: &str) -> Option<&'static str> {
    token
        .bytes()
        .any(|b| !b.is_ascii_graphic() || b == b';' || b == b',')
        .then_some("may hold only printable ASCII, without spaces, `,` or `;`")
}

impl Auth {
    /// The policy for serving on `listen` with `token` (from the
    /// environment): a token is needed off loopback, and used wherever set.
    /// Sessions start with a fresh key; `keep_sessions_in` keeps it.
    pub fn for_listen(listen: SocketAddr, token: Option<String>) -> Result<Auth, AuthError> {
        let token = token.filter(|t| !t.is_empty());
        match token {
            Some(t) if t.len() < MIN_TOKEN_LEN => Err(AuthError::WeakToken),
            Some(t) if token_problem(&t).is_some() => {
                Err(AuthError::BadToken(token_problem(&t).unwrap_or_default()))
            }
            Some(t) => {
                let key = fresh_key().map_err(|reason| AuthError::SessionKey {
                    path: "(memory)".into(),
                    reason,
                })?;
                Ok(Auth::secured(t.into_bytes().into(), &key, None))
            }
            None if listen.ip().is_loopback() => Ok(Auth::default()),
            None => Err(AuthError::TokenNeeded(listen)),
        }
    }

    /// Sessions signed with the key kept in `data_dir` (made when there is
    /// none), so they outlive a restart of the control plane.
    pub fn keep_sessions_in(self, data_dir: &Path) -> Result<Auth, AuthError> {
        let Some(secured) = &self.secured else {
            return Ok(self);
        };
        let path = data_dir.join(SESSION_KEY_FILE);
        let failed = |reason: String| AuthError::SessionKey {
            path: path.display().to_string(),
            reason,
        };
        let key = match std::fs::read(&path) {
            Ok(key) if key.len() == 32 => key,
            Ok(_) | Err(_) => {
                let key = fresh_key().map_err(failed)?;
                write_key(&path, &key).map_err(|e| failed(e.to_string()))?;
                key
            }
        };
        Ok(Auth::secured(secured.token.clone(), &key, Some(path)))
    }

    fn secured(token: Box<[u8]>, key: &[u8], key_file: Option<PathBuf>) -> Auth {
        let quota = governor::Quota::with_period(LOGIN_EVERY)
            .unwrap_or_else(|| governor::Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(LOGIN_BURST).unwrap_or(NonZeroU32::MIN));
        Auth {
            secured: Some(Arc::new(Secured {
                session: RwLock::new(session_value(key, &token)),
                token,
                key_file,
                logins: governor::RateLimiter::keyed(quota),
            })),
        }
    }

    pub fn required(&self) -> bool {
        self.secured.is_some()
    }

    /// Whether `token` is this control plane's token (always, when none is
    /// set).
    pub fn accepts_token(&self, token: &str) -> bool {
        match &self.secured {
            None => true,
            Some(secured) => bool::from(secured.token.as_ref().ct_eq(token.as_bytes())),
        }
    }

    /// The session cookie's value, for a browser that gave the token.
    pub fn session(&self) -> Option<String> {
        let secured = self.secured.as_ref()?;
        secured.session.read().ok().map(|s| s.clone())
    }

    /// Ends every session: a new key, so no cookie issued before passes.
    pub fn revoke_sessions(&self) -> Result<(), AuthError> {
        let Some(secured) = &self.secured else {
            return Ok(());
        };
        let failed = |reason: String| AuthError::SessionKey {
            path: secured
                .key_file
                .as_ref()
                .map_or("(memory)".into(), |p| p.display().to_string()),
            reason,
        };
        let key = fresh_key().map_err(failed)?;
        if let Some(path) = &secured.key_file {
            write_key(path, &key).map_err(|e| failed(e.to_string()))?;
        }
        if let Ok(mut session) = secured.session.write() {
            *session = session_value(&key, &secured.token);
        }
        Ok(())
    }

    /// Whether `client` may try to sign in now; else how long to wait.
    pub fn login_allowed(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(secured) = &self.secured else {
            return Ok(());
        };
        // Addresses that stopped trying are forgotten, so many addresses
        // cannot grow the table without end.
        if secured.logins.len() > LOGIN_CLIENTS_KEPT {
            secured.logins.retain_recent();
        }
        secured.logins.check_key(&client).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }

    /// Whether the request carries the token or a live session.
    fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(secured) = &self.secured else {
            return true;
        };
        if let Some(bearer) = bearer(headers) {
            return bool::from(secured.token.as_ref().ct_eq(bearer));
        }
        let Some(presented) = cookie(headers) else {
            return false;
        };
        secured
            .session
            .read()
            .is_ok_and(|session| bool::from(session.as_bytes().ct_eq(presented)))
    }
}

/// HMAC-SHA256 of the token under `key`, in hex: what the cookie holds.
fn session_value(key: &[u8], token: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(b"deployflow session v1\0");
    mac.update(token);
    hex::encode(mac.finalize().into_bytes())
}

fn fresh_key() -> Result<Vec<u8>, String> {
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness for a key: {e}"))?;
    Ok(key)
}

/// Written whole (temp file and rename), owner-only.
fn write_key(path: &Path, key: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("key.tmp");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(key)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// The middleware: a request without the token gets 401 and goes no
/// further.
pub async fn check(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    if !auth.required() || OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    if auth.accepts(request.headers()) {
        return next.run(request).await;
    }
    // A person at a dashboard page is sent to sign in; a program gets 401.
    let path = request.uri().path();
    if request.method() == axum::http::Method::GET
        && !path.starts_with("/api/")
        && path != "/metrics"
    {
        return axum::response::Redirect::to("/login").into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(json!({
            "error": format!("this control plane needs its token: send `Authorization: Bearer ...` ({TOKEN_ENV} on the command line)"),
            "code": 1,
        })),
    )
        .into_response()
}

/// The bearer token a request carries.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
}

/// The session cookie a request carries.
fn cookie(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .find_map(|pair| {
            pair.trim_ascii()
                .strip_prefix(COOKIE.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"="))
        })
}

/// Whether the request reached the server over TLS, as a proxy in front
/// of it says (`X-Forwarded-Proto: https`, `Forwarded: proto=https`):
/// then the cookie is `Secure`.
pub fn came_over_tls(headers: &HeaderMap) -> bool {
    let says = |name: &str, https: &dyn Fn(&str) -> bool| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| https(&v.to_ascii_lowercase()))
    };
    says("x-forwarded-proto", &|v| {
        v.split(',').any(|p| p.trim() == "https")
    }) || says("forwarded", &|v| {
        v.split([';', ',']).any(|p| p.trim() == "proto=https")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-token";

    #[test]
    fn off_loopback_a_token_is_required_and_a_weak_or_unsafe_one_refused() {
        let any: SocketAddr = "0.0.0.0:7070".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:7070".parse().unwrap();
        assert_eq!(
            Auth::for_listen(any, None).err(),
            Some(AuthError::TokenNeeded(any))
        );
        assert_eq!(
            Auth::for_listen(any, Some("short".into())).err(),
            Some(AuthError::WeakToken)
        );
        for unsafe_token in [
            "0123456789abcdef;x",
            "0123456789 abcdef",
            "0123456789abcdef\r\nX: y",
            "0123456789abcdéf",
        ] {
            assert!(
                matches!(
                    Auth::for_listen(any, Some(unsafe_token.into())),
                    Err(AuthError::BadToken(_))
                ),
                "{unsafe_token:?}"
            );
        }
        assert!(
            Auth::for_listen(any, Some(TOKEN.into()))
                .unwrap()
                .required()
        );
        assert!(!Auth::for_listen(local, None).unwrap().required());
        assert!(
            !Auth::for_listen(local, Some(String::new()))
                .unwrap()
                .required()
        );
        assert!(
            Auth::for_listen(local, Some(TOKEN.into()))
                .unwrap()
                .required()
        );
    }

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, value.parse().unwrap());
        map
    }

    #[test]
    fn the_token_or_a_live_session_passes_and_the_cookie_is_not_the_token() {
        let auth = Auth::for_listen("127.0.0.1:1".parse().unwrap(), Some(TOKEN.into())).unwrap();
        assert!(auth.accepts(&headers(header::AUTHORIZATION, &format!("Bearer {TOKEN}"))));
        assert!(!auth.accepts(&headers(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdef-tokem"
        )));
        assert!(!auth.accepts(&HeaderMap::new()));
        let session = auth.session().unwrap();
        assert_ne!(session, TOKEN);
        assert!(!session.contains(TOKEN));
        let with = |value: &str| headers(header::COOKIE, &format!("theme=dark; {COOKIE}={value}"));
        assert!(auth.accepts(&with(&session)));
        // The token itself in the cookie is no session.
        assert!(!auth.accepts(&with(TOKEN)));
        auth.revoke_sessions().unwrap();
        assert!(!auth.accepts(&with(&session)), "a revoked session passed");
        assert!(auth.accepts(&with(&auth.session().unwrap())));
    }

    #[test]
    fn sessions_outlive_a_restart_and_their_key_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let listen: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let first = Auth::for_listen(listen, Some(TOKEN.into()))
            .unwrap()
            .keep_sessions_in(dir.path())
            .unwrap();
        let again = Auth::for_listen(listen, Some(TOKEN.into()))
            .unwrap()
            .keep_sessions_in(dir.path())
            .unwrap();
        assert_eq!(first.session(), again.session());
        let mode = std::fs::metadata(dir.path().join(SESSION_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn sign_ins_are_rate_limited_per_client() {
        let auth = Auth::for_listen("127.0.0.1:1".parse().unwrap(), Some(TOKEN.into())).unwrap();
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..LOGIN_BURST {
            assert!(auth.login_allowed(client).is_ok());
        }
        let wait = auth.login_allowed(client).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= LOGIN_EVERY, "{wait:?}");
        assert!(auth.login_allowed("127.0.0.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn tls_is_what_a_proxy_in_front_says() {
        assert!(came_over_tls(&headers(
            header::HeaderName::from_static("x-forwarded-proto"),
            "https"
        )));
        assert!(came_over_tls(&headers(
            header::FORWARDED,
            "for=1.2.3.4;proto=https"
        )));
        assert!(!came_over_tls(&headers(
            header::HeaderName::from_static("x-forwarded-proto"),
            "http"
        )));
        assert!(!came_over_tls(&HeaderMap::new()));
    }
}
