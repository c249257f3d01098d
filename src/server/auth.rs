//! Who may use the control plane. On loopback, anyone on the machine (as
//! with any local tool) unless a token is set; on any other address a token
//! is required (`DEPLOYFLOW_TOKEN`), and every endpoint but the health
//! check asks for it: `Authorization: Bearer TOKEN`, or the dashboard's
//! cookie. The comparison takes the same time whatever the guess, so
//! timing tells an attacker nothing about the token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq;

/// The environment variable holding the API token.
pub const TOKEN_ENV: &str = "DEPLOYFLOW_TOKEN";
/// The cookie the dashboard's login sets.
pub const COOKIE: &str = "deployflow_token";
/// Shorter tokens are refused: they could be guessed.
const MIN_TOKEN_LEN: usize = 16;

/// Paths answered without a token: a load balancer's health probe, and the
/// dashboard's sign-in page and the files it needs.
const OPEN_PATHS: [&str; 5] = [
    "/health",
    "/api/health",
    "/login",
    "/assets/dashboard.css",
    "/assets/dashboard.js",
];

#[derive(Clone, Default)]
pub struct Auth {
    token: Option<Arc<[u8]>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "the control plane binds to {0}, beyond this machine: set {TOKEN_ENV} to a token of at least {MIN_TOKEN_LEN} characters first"
    )]
    TokenNeeded(SocketAddr),
    #[error("{TOKEN_ENV} is shorter than {MIN_TOKEN_LEN} characters")]
    WeakToken,
}

impl Auth {
    /// The policy for serving on `listen` with `token` (from the
    /// environment): a token is needed off loopback, and used wherever set.
    pub fn for_listen(listen: SocketAddr, token: Option<String>) -> Result<Auth, AuthError> {
        let token = token.filter(|t| !t.is_empty());
        match token {
            Some(t) if t.len() < MIN_TOKEN_LEN => Err(AuthError::WeakToken),
            Some(t) => Ok(Auth {
                token: Some(Arc::from(t.into_bytes())),
            }),
            None if listen.ip().is_loopback() => Ok(Auth::default()),
            None => Err(AuthError::TokenNeeded(listen)),
        }
    }

    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `token` is this control plane's token (always, when none is
    /// set).
    pub fn accepts_token(&self, token: &str) -> bool {
        self.accepts(Some(token.as_bytes()))
    }

    /// Whether `presented` is the token, in time independent of where they
    /// differ.
    fn accepts(&self, presented: Option<&[u8]>) -> bool {
        match (&self.token, presented) {
            (None, _) => true,
            (Some(token), Some(presented)) => bool::from(token.as_ref().ct_eq(presented)),
            (Some(_), None) => false,
        }
    }
}

/// The middleware: a request without the token gets 401 and goes no
/// further.
pub async fn check(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    if !auth.required() || OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    if auth.accepts(presented(&request)) {
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

/// The token the request carries: the bearer header, else the cookie.
fn presented(request: &Request) -> Option<&[u8]> {
    let headers = request.headers();
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    {
        return Some(bearer);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-token";

    #[test]
    fn off_loopback_a_token_is_required_and_a_weak_one_refused() {
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

    #[test]
    fn only_the_exact_token_is_accepted() {
        let auth = Auth::for_listen("127.0.0.1:1".parse().unwrap(), Some(TOKEN.into())).unwrap();
        assert!(auth.accepts(Some(TOKEN.as_bytes())));
        assert!(!auth.accepts(Some(b"0123456789abcdef-tokem")));
        assert!(!auth.accepts(Some(b"0123456789abcdef-token-and-more")));
        assert!(!auth.accepts(Some(b"")));
        assert!(!auth.accepts(None));
    }

    #[test]
    fn the_token_is_read_from_the_bearer_header_or_the_cookie() {
        let request = |name: header::HeaderName, value: &str| {
            Request::builder()
                .header(name, value)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let bearer = request(header::AUTHORIZATION, "Bearer abc");
        assert_eq!(presented(&bearer), Some(&b"abc"[..]));
        let cookie = request(header::COOKIE, "theme=dark; deployflow_token=xyz");
        assert_eq!(presented(&cookie), Some(&b"xyz"[..]));
        let neither = request(header::COOKIE, "deployflow_tokenx=1");
        assert_eq!(presented(&neither), None);
    }
}
