//! One app's public listener: accepts connections and serves each with
//! HTTP/1.1 (keep-alive) or HTTP/2 cleartext, upgrades allowed, until told
//! to close: then it stops accepting and each connection finishes the
//! request it is on and closes. Idle connections are timed out and, at the
//! cap, closed to make room (`net::connections`).

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::app::App;
use super::proxy::{Downstream, Proxy};
use crate::net::connections::{self, Connections};

pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    proxy: Arc<Proxy>,
    connections: Arc<Connections>,
    header_timeout: Duration,
    closing: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own clock on a request head, as a second guard beside the
    // connection's (which also covers the HTTP/2 preface hyper waits for
    // before it knows the protocol).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .writev(false);
    let service = move |peer| {
        // One context per connection, cloned per request: its reference
        // count stays on this thread, where the app's and the proxy's,
        // shared by every worker, would bounce between cores.
        let connection = Arc::new((app.clone(), proxy.clone(), Downstream::new(peer)));
        service_fn(move |request| {
            let connection = connection.clone();
            async move {
                let (app, proxy, downstream) = &*connection;
                proxy.handle(app, downstream, request).await
            }
        })
    };
    connections::serve(
        listener,
        builder,
        connections,
        header_timeout,
        service,
        closing,
    )
    .await;
}
