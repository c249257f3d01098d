//! One app's public listener: accepts connections and serves each with
//! HTTP/1.1 (keep-alive) or HTTP/2 cleartext, upgrades allowed, until told
//! to close: then it stops accepting and each connection finishes the
//! request it is on and closes.

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::app::App;
use super::proxy::{Downstream, Proxy};

pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    proxy: Arc<Proxy>,
    connections: Arc<Semaphore>,
    mut closing: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Without a timer hyper waits forever for a request's headers: a slow or
    // silent client would hold its connection (and its upstream one). The
    // same timer closes a keep-alive connection idle that long (measured).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .writev(false);
    loop {
        // A connection slot before accepting: at the cap, new connections
        // wait in the kernel's backlog instead of failing for want of a
        // file descriptor.
        let slot = tokio::select! {
            slot = connections.clone().acquire_owned() => slot,
            () = closed(&mut closing) => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = closed(&mut closing) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(app = %app.name, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (app, proxy, builder) = (app.clone(), proxy.clone(), builder.clone());
        let mut closing = closing.clone();
        tokio::spawn(async move {
            let _slot = slot;
            // One context per connection, cloned per request: its reference
            // count stays on this thread, where the app's and the proxy's,
            // shared by every worker, would bounce between cores.
            let connection = Arc::new((app, proxy, Downstream::new(peer)));
            let service = service_fn(move |request| {
                let connection = connection.clone();
                async move {
                    let (app, proxy, downstream) = &*connection;
                    proxy.handle(app, downstream, request).await
                }
            });
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = closed(&mut closing) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        });
    }
}

/// Resolves once the address is told to close (or its owner is gone).
async fn closed(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}
