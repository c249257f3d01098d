//! A one-off GET to an upstream, for health probes.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper_util::rt::TokioIo;

/// The status an upstream answers `GET path` with, or why it did not.
pub async fn get(upstream: SocketAddr, path: &str) -> Result<u16, String> {
    let stream = tokio::net::TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake failed: {e}"))?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(hyper::header::HOST, upstream.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad path: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    Ok(response.status().as_u16())
}
