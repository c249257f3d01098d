//! Forwarding one request: pick the upstream, rewrite the headers a proxy
//! must, send it over a pooled connection, stream the answer back, and pass
//! WebSocket upgrades through.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::app::App;
use super::route::{STICKY_COOKIE, sticky_side};
use super::stats::{InFlight, StatsRegistry};

pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Timeouts for talking to upstreams.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to the response's headers.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            response: Duration::from_secs(60),
        }
    }
}

pub struct Proxy {
    client: Client<HttpConnector, Incoming>,
    pub stats: Arc<StatsRegistry>,
    timeouts: Timeouts,
}

impl Proxy {
    pub fn new(stats: Arc<StatsRegistry>, timeouts: Timeouts) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeouts.connect));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(connector);
        Self {
            client,
            stats,
            timeouts,
        }
    }

    pub async fn handle(
        &self,
        app: &App,
        peer: SocketAddr,
        mut request: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        if !app.wait_while_paused().await {
            return Ok(short(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{} is paused", app.name),
            ));
        }
        let route = app.route();
        let cookie = request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(sticky_side);
        let (upstream, side) = route.pick(cookie, app.next_roll());
        drop(route);
        let stats = self.stats.get(upstream);
        let in_flight = stats.begin();

        let client_version = request.version();
        let upgrade = is_upgrade(request.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let forwarded = match forward_request(request, upstream, peer, upgrade) {
            Ok(forwarded) => forwarded,
            Err(message) => return Ok(short(StatusCode::BAD_REQUEST, message)),
        };
        let started = Instant::now();
        let response = match tokio::time::timeout(
            self.timeouts.response,
            self.client.request(forwarded),
        )
        .await
        {
            Err(_) => {
                stats.failed();
                return Ok(short(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("upstream {upstream} did not answer in time"),
                ));
            }
            Ok(Err(e)) => {
                stats.failed();
                let what = if e.is_connect() {
                    "refused the connection"
                } else {
                    "failed"
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
            return Ok(pass_upgrade(response, client_upgrade, in_flight));
        }
        let (mut parts, body) = response.into_parts();
        // The client gets its own protocol back, whatever the upstream spoke.
        parts.version = client_version;
        remove_hop_by_hop(&mut parts.headers, false);
        if let (Some(side), true) = (side, cookie != side) {
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
        };
        Ok(Response::from_parts(parts, body.boxed()))
    }
}

/// The request as the upstream gets it.
fn forward_request(
    request: Request<Incoming>,
    upstream: SocketAddr,
    peer: SocketAddr,
    upgrade: bool,
) -> Result<Request<Incoming>, String> {
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    parts.uri = Uri::builder()
        .scheme("http")
        .authority(upstream.to_string())
        .path_and_query(path)
        .build()
        .map_err(|e| format!("bad request target: {e}"))?;
    let host = parts.headers.get(header::HOST).cloned().or_else(|| {
        // HTTP/2 carries the host as the :authority pseudo-header.
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let original_authority = host.clone();
    remove_hop_by_hop(&mut parts.headers, upgrade);
    let forwarded_for = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        parts.headers.insert("x-forwarded-for", value);
    }
    parts
        .headers
        .insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = original_authority {
        parts.headers.insert("x-forwarded-host", host.clone());
        parts.headers.insert(header::HOST, host);
    }
    parts.version = Version::HTTP_11;
    Ok(Request::from_parts(parts, body))
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
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
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .filter(|name| !(upgrade && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

/// Answers the client's upgrade with the upstream's 101 and splices the two
/// upgraded connections together; the session counts as in flight.
fn pass_upgrade(
    response: Response<Incoming>,
    client_upgrade: hyper::upgrade::OnUpgrade,
    in_flight: InFlight,
) -> Response<ProxyBody> {
    let mut response = response;
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let (Ok(client), Ok(upstream)) = tokio::join!(client_upgrade, upstream_upgrade) else {
            return;
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, empty())
}

fn empty() -> ProxyBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

/// A response the router writes itself: a status and one short line.
fn short(status: StatusCode, message: String) -> Response<ProxyBody> {
    let body = format!(
        "{} {}: {message}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A response body that keeps its request counted in flight until it is
/// sent or dropped, so a drain waits for bodies still streaming.
struct Counted {
    inner: Incoming,
    _in_flight: InFlight,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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
