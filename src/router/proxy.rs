//! Forwarding one request: pick the upstream, rewrite the headers a proxy
//! must, send it over a pooled connection, stream the answer back, and pass
//! WebSocket upgrades through.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::{Authority, Parts, PathAndQuery, Scheme};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::affinity::{Affinity, SendError};
use super::app::App;
use super::route::{Route, STICKY_COOKIE, Side, Visitor, sticky_side};
use super::split::{SplitBy, cookie_value};
use super::stats::InFlight;
use super::tunnel;

/// Timeouts for talking to upstreams.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to the response's headers.
    pub response: Duration,
    /// An upgraded session (a WebSocket) with no byte either way this long
    /// is closed.
    pub tunnel_idle: Duration,
    /// How long a request never written to its upstream (the connection
    /// refused, reset or timed out) is tried again, with a short back-off,
    /// before the client gets 502; zero tries once.
    pub connect_retry_budget: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            response: Duration::from_secs(60),
            tunnel_idle: Duration::from_secs(300),
            connect_retry_budget: Duration::from_secs(5),
        }
    }
}

pub struct Proxy {
    client: Client<HttpConnector, Incoming>,
    timeouts: Timeouts,
}

impl Proxy {
    pub fn new(timeouts: Timeouts) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeouts.connect));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            // The idle timeout needs a timer to act.
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(connector);
        Self { client, timeouts }
    }

    pub async fn handle(
        &self,
        app: &App,
        downstream: &Downstream,
        mut request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        // Two Host headers, or an HTTP/1.1 request without one, is a bad
        // request (RFC 9112 §3.2), not something to guess a host for.
        if let Some(problem) =
            crate::net::hosts::host_problem(request.version(), request.uri(), request.headers())
        {
            return Ok(short(StatusCode::BAD_REQUEST, problem.into()));
        }
        if !app.wait_while_paused().await {
            return Ok(short(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{} is paused", app.name),
            ));
        }
        let placement = placement(&app.live().route, request.headers());
        let client_version = request.version();
        let (upstream, other, side, authority, listen, in_flight) = loop {
            let live = app.live();
            let visitor = Visitor {
                sticky: placement.sticky,
                key: placement.key.as_deref(),
            };
            // The visitor counter is shared by all workers: touched only
            // when a split has a new visitor to place.
            let roll = match (&live.route.canary, visitor) {
                (
                    Some(_),
                    Visitor {
                        sticky: None,
                        key: None,
                    },
                ) => app.next_roll(),
                _ => 0,
            };
            let (upstream, side) = live.route.pick(visitor, roll);
            let target = live.target(upstream);
            let in_flight = target.stats.begin();
            // Counted first, then checked: a switch and a drain of this
            // upstream that came in between would otherwise see nothing in
            // flight while this request is still on its way there.
            if !Arc::ptr_eq(&live, &app.live()) {
                continue;
            }
            // A kept HTTP/1 connection takes the origin form (just the path);
            // the shared pool, used for HTTP/2 clients, needs the upstream.
            let authority = (client_version == Version::HTTP_2).then(|| target.authority.clone());
            // The split's other side, whose kept connection stays.
            let other = live.route.canary.as_ref().map(|c| {
                if c.upstream == upstream {
                    live.route.upstream
                } else {
                    c.upstream
                }
            });
            break (
                upstream,
                other,
                side,
                authority,
                live.route.listen,
                in_flight,
            );
        };
        let stats = in_flight.stats().clone();

        let upgrade = is_upgrade(request.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let forwarded = match forward_request(request, authority, listen, &downstream.ip, upgrade) {
            Ok(forwarded) => forwarded,
            Err(message) => return Ok(short(StatusCode::BAD_REQUEST, message)),
        };
        let started = Instant::now();
        let attempt = async {
            if client_version == Version::HTTP_2 {
                // Concurrent requests on one connection: the shared pool.
                self.client.request(forwarded).await.map_err(|e| {
                    if e.is_connect() {
                        SendError::Connect(e.to_string())
                    } else {
                        SendError::of(&e)
                    }
                })
            } else {
                self.send_retrying(downstream, upstream, other, forwarded, &stats, started)
                    .await
            }
        };
        let response = match tokio::time::timeout(self.timeouts.response, attempt).await {
            Err(_) => {
                stats.failed();
                return Ok(short(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("upstream {upstream} did not answer in time"),
                ));
            }
            Ok(Err(SendError::Request(e))) => {
                // Not the upstream's failure: not counted against it.
                return Ok(short(
                    StatusCode::BAD_REQUEST,
                    format!("the request could not be read whole: {e}"),
                ));
            }
            Ok(Err(e)) => {
                stats.failed();
                let what = match e {
                    SendError::Connect(_) => "refused the connection",
                    SendError::Failed(_) | SendError::Request(_) => "failed",
                };
                return Ok(short(
                    StatusCode::BAD_GATEWAY,
                    format!("upstream {upstream} {what}"),
                ));
            }
            Ok(Ok(response)) => response,
        };
        stats.answered(response.status().as_u16(), started.elapsed());

        if let (StatusCode::SWITCHING_PROTOCOLS, Some(client_upgrade)) =
            (response.status(), client_upgrade)
        {
            return Ok(pass_upgrade(
                response,
                client_upgrade,
                in_flight,
                self.timeouts.tunnel_idle,
            ));
        }
        let (mut parts, body) = response.into_parts();
        // The client gets its own protocol back, whatever the upstream spoke.
        parts.version = client_version;
        remove_hop_by_hop(&mut parts.headers, false);
        if let (Some(side), true) = (side, placement.sticky != side) {
            let value = format!(
                "{STICKY_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
                side.cookie_value()
            );
            if let Ok(value) = HeaderValue::from_str(&value) {
                parts.headers.append(header::SET_COOKIE, value);
            }
        }
        let body = Counted {
            inner: body,
            _in_flight: in_flight,
            idle_limit: self.timeouts.response,
            stall: None,
        };
        Ok(Response::from_parts(parts, ProxyBody::Upstream(body)))
    }
}

impl Proxy {
    /// Sends on the client connection's kept upstream connection; a
    /// request that was never written is safe to send again (Envoy's
    /// `connect-failure` policy): an upstream whose accept queue was full
    /// for a moment, or a SYN it dropped, costs the client a short wait
    /// instead of a 502 nginx would not have given.
    async fn send_retrying(
        &self,
        downstream: &Downstream,
        upstream: SocketAddr,
        other: Option<SocketAddr>,
        request: Request<Incoming>,
        stats: &super::stats::UpstreamStats,
        started: Instant,
    ) -> Result<Response<Incoming>, SendError> {
        // Within half the response timeout too: the client then hears why
        // (502, refused) before the router would give up on an answer.
        let until = started
            + self
                .timeouts
                .connect_retry_budget
                .min(self.timeouts.response / 2);
        let mut back_off = FIRST_RETRY_BACK_OFF;
        let mut request = request;
        loop {
            match downstream
                .affinity
                .send(upstream, other, request, self.timeouts.connect)
                .await
            {
                Ok(response) => return Ok(response),
                Err((SendError::Connect(_), Some(unsent))) if Instant::now() + back_off < until => {
                    stats.retried();
                    tokio::time::sleep(back_off).await;
                    back_off = (back_off * 2).min(MAX_RETRY_BACK_OFF);
                    request = unsent;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }
}

/// The back-off between connect retries: short, since an accept queue
/// drains in milliseconds, doubling up to a few hundred.
const FIRST_RETRY_BACK_OFF: Duration = Duration::from_millis(10);
const MAX_RETRY_BACK_OFF: Duration = Duration::from_millis(250);

/// What the proxy keeps per client connection.
pub struct Downstream {
    /// The client's address, ready to append to X-Forwarded-For.
    pub ip: HeaderValue,
    pub affinity: Affinity,
}

impl Downstream {
    pub fn new(peer: SocketAddr) -> Self {
        Self {
            ip: HeaderValue::from_str(&peer.ip().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            affinity: Affinity::default(),
        }
    }
}

/// The request as the upstream gets it.
/// What a request carries that places it in a canary split: its sticky
/// cookie and the split's key (a header or a cookie). Read only while a
/// split is on, so a plain route costs nothing here.
struct Placement {
    sticky: Option<Side>,
    key: Option<String>,
}

fn placement(route: &Route, headers: &HeaderMap) -> Placement {
    let Some(canary) = &route.canary else {
        return Placement {
            sticky: None,
            key: None,
        };
    };
    let cookies = || {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
    };
    let split = &canary.split;
    let key = match split.by {
        SplitBy::Random => None,
        SplitBy::Header => headers
            .get(split.key.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        SplitBy::Cookie => cookies()
            .find_map(|c| cookie_value(c, &split.key))
            .map(str::to_string),
    }
    .filter(|key| !key.is_empty());
    Placement {
        sticky: cookies().find_map(sticky_side),
        key,
    }
}

fn forward_request(
    request: Request<Incoming>,
    upstream: Option<Authority>,
    listen: SocketAddr,
    client_ip: &HeaderValue,
    upgrade: bool,
) -> Result<Request<Incoming>, String> {
    let (mut parts, body) = request.into_parts();
    // HTTP/2 carries the host as the :authority pseudo-header; an HTTP/1.0
    // client may send none, and the upstream still needs one.
    let host = parts
        .headers
        .get(header::HOST)
        .cloned()
        .or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        })
        .or_else(|| HeaderValue::from_str(&listen.to_string()).ok());
    let mut uri = Parts::default();
    if let Some(upstream) = upstream {
        uri.scheme = Some(Scheme::HTTP);
        uri.authority = Some(upstream);
    }
    uri.path_and_query = Some(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    parts.uri = Uri::from_parts(uri).map_err(|e| format!("bad request target: {e}"))?;
    remove_hop_by_hop(&mut parts.headers, upgrade);
    let forwarded_for = if parts.headers.contains_key("x-forwarded-for") {
        // Every earlier line, in order, then this hop's client.
        let mut joined = Vec::new();
        for earlier in parts.headers.get_all("x-forwarded-for") {
            joined.extend_from_slice(earlier.as_bytes());
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(client_ip.as_bytes());
        HeaderValue::from_bytes(&joined).unwrap_or_else(|_| client_ip.clone())
    } else {
        client_ip.clone()
    };
    parts.headers.insert("x-forwarded-for", forwarded_for);
    parts
        .headers
        .insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = host {
        parts.headers.insert("x-forwarded-host", host.clone());
        parts.headers.insert(header::HOST, host);
    }
    parts.version = Version::HTTP_11;
    Ok(Request::from_parts(parts, body))
}

/// A WebSocket upgrade. Other protocols are not tunnelled: an `h2c` upgrade
/// would let a client talk HTTP/2 straight to one upstream, past route
/// switches and drains.
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
        })
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes the headers that describe one connection, not the message (RFC
/// 9110 7.6.1), including any the Connection header names. An upgrade keeps
/// `Connection: upgrade` and `Upgrade`, which the next hop needs.
fn remove_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none or only `Connection`: one pass over the names
    // finds what to remove, instead of a lookup for every hop-by-hop name.
    let mut doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_hop_by_hop(name))
        .cloned()
        .collect();
    if headers.contains_key(header::CONNECTION) {
        doomed.extend(
            headers
                .get_all(header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok()),
        );
    }
    for name in doomed {
        if !(upgrade && (name == header::UPGRADE || name == header::CONNECTION)) {
            headers.remove(name);
        }
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Answers the client's upgrade with the upstream's 101 and splices the two
/// upgraded connections together; the session counts as in flight.
fn pass_upgrade(
    response: Response<Incoming>,
    client_upgrade: hyper::upgrade::OnUpgrade,
    in_flight: InFlight,
    idle: Duration,
) -> Response<ProxyBody> {
    let mut response = response;
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let (Ok(client), Ok(upstream)) = tokio::join!(client_upgrade, upstream_upgrade) else {
            return;
        };
        tunnel::splice(TokioIo::new(client), TokioIo::new(upstream), idle).await;
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, empty())
}

fn empty() -> ProxyBody {
    ProxyBody::Own(Full::new(Bytes::new()))
}

/// A response the router writes itself: a status and one short line.
fn short(status: StatusCode, message: String) -> Response<ProxyBody> {
    let body = format!(
        "{} {}: {message}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut response = Response::new(ProxyBody::Own(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The body of a response to a client: the upstream's, streamed through,
/// or one the router wrote. An enum rather than a box: one allocation less
/// per request on the hot path.
pub enum ProxyBody {
    Upstream(Counted),
    Own(Full<Bytes>),
}

/// Why the router stopped relaying a response body.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            ProxyBody::Upstream(counted) => counted.poll_frame(cx),
            ProxyBody::Own(full) => Pin::new(full)
                .poll_frame(cx)
                .map(|frame| frame.map(|result| result.map_err(|never| match never {}))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Upstream(counted) => counted.inner.is_end_stream(),
            ProxyBody::Own(full) => full.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Upstream(counted) => counted.inner.size_hint(),
            ProxyBody::Own(full) => full.size_hint(),
        }
    }
}

/// An upstream body that keeps its request counted in flight until it is
/// sent or dropped, so a drain waits for bodies still streaming; and that
/// gives up on an upstream that stops sending it for `idle_limit`, so a
/// stalled body cannot hold a drain (or a client) forever.
pub struct Counted {
    inner: Incoming,
    _in_flight: InFlight,
    idle_limit: Duration,
    /// Armed only while the body waits for data: most bodies arrive with
    /// their headers and never need a timer.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Counted {
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.stall = None;
                Poll::Ready(frame.map(|result| result.map_err(BodyError::from)))
            }
            Poll::Pending => {
                let limit = self.idle_limit;
                let stall = self
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match stall.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                        "the upstream sent nothing of the body for {} ms",
                        limit.as_millis()
                    )
                    .into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_the_ones_connection_names_too() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        remove_hop_by_hop(&mut headers, false);
        let left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["accept"]);
    }

    #[test]
    fn an_upgrade_keeps_what_the_next_hop_needs() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&headers));
        remove_hop_by_hop(&mut headers, true);
        assert_eq!(headers[header::UPGRADE], "websocket");
        assert_eq!(headers[header::CONNECTION], "upgrade");
    }
}
