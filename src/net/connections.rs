//! Serving connections so that nobody can hold them for nothing: the loop
//! every listener of deployflow runs (the router's public listeners, its
//! admin API, the control plane's API).
//!
//! Two rules, both about connections with no request in flight (silent
//! since they connected, sending half an HTTP/2 preface, trickling a
//! request's head, or idle between keep-alive requests):
//! - such a connection must finish a request's head within
//!   `Limits::header_timeout` of becoming idle, or it is closed;
//! - at the cap (`Limits::max_connections`), a new connection closes the
//!   connection idle longest instead of waiting; only when every open
//!   connection has a request in flight does a new one wait (in the
//!   kernel's backlog) for one to end.
//!
//! A request is in flight from its head to the end of its response body,
//! so neither rule ever cuts an answer short.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::hosts::LocalAddr;

/// How long a connection is left alone after it connects or its last
/// answer ends, before a newcomer at the cap may close it: long enough for
/// a client to send its request, too short for a silent one to matter.
const EVICTION_GRACE: Duration = Duration::from_millis(250);

/// How long an idle connection may take, and how many may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// The connections one set of listeners holds open, oldest idle first to
/// go. Shared by every listener of a router worker (its share of the cap),
/// or by the control plane's one listener.
pub struct Connections {
    max: usize,
    open: Mutex<Open>,
    /// Woken when a connection closes or stops being busy.
    freed: Notify,
}

#[derive(Default)]
struct Open {
    next: u64,
    by_id: HashMap<u64, Arc<Tracker>>,
}

/// One connection's state, shared by its task and its requests.
struct Tracker {
    /// Requests whose response body is not finished.
    active: AtomicUsize,
    /// When it last had nothing in flight (or was accepted).
    idle_since: Mutex<Instant>,
    /// Woken when its last request ends: the idle clock starts again.
    became_idle: Notify,
    /// Told to close (a newcomer at the cap needs its place).
    evicted: Notify,
}

impl Tracker {
    fn new() -> Tracker {
        Tracker {
            active: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            became_idle: Notify::new(),
            evicted: Notify::new(),
        }
    }

    fn idle_since(&self) -> Option<Instant> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        self.idle_since.lock().ok().map(|since| *since)
    }
}

impl Connections {
    pub fn new(max: usize) -> Arc<Connections> {
        Arc::new(Connections {
            max: max.max(1),
            open: Mutex::new(Open::default()),
            freed: Notify::new(),
        })
    }

    /// A place for a new connection: at once below the cap; at the cap,
    /// by closing the connection idle longest (once it has been idle for
    /// `EVICTION_GRACE`); when every connection is busy, once one ends or
    /// goes idle.
    async fn admit(self: &Arc<Self>) -> Admitted {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            match self.try_admit() {
                Ok(admitted) => return admitted,
                Err(Some(evictable_at)) => {
                    tokio::select! {
                        () = freed => {}
                        () = tokio::time::sleep_until(evictable_at) => {}
                    }
                }
                Err(None) => freed.await,
            }
        }
    }

    /// A place now, or when one may be made: `Err(Some(at))` when the
    /// connection idle longest may be closed at `at`, `Err(None)` when all
    /// are busy.
    fn try_admit(self: &Arc<Self>) -> Result<Admitted, Option<Instant>> {
        let Ok(mut open) = self.open.lock() else {
            return Err(None);
        };
        if open.by_id.len() >= self.max {
            let (since, id) = open
                .by_id
                .iter()
                .filter_map(|(id, tracker)| tracker.idle_since().map(|since| (since, *id)))
                .min()
                .ok_or(None)?;
            let evictable_at = since + EVICTION_GRACE;
            if Instant::now() < evictable_at {
                return Err(Some(evictable_at));
            }
            // Out of the count now: its task closes it at once.
            if let Some(tracker) = open.by_id.remove(&id) {
                tracker.evicted.notify_one();
            }
        }
        let id = open.next;
        open.next += 1;
        let tracker = Arc::new(Tracker::new());
        open.by_id.insert(id, tracker.clone());
        Ok(Admitted {
            id,
            tracker,
            connections: self.clone(),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().map_or(0, |open| open.by_id.len())
    }
}

/// A connection's place; given back when dropped.
struct Admitted {
    id: u64,
    tracker: Arc<Tracker>,
    connections: Arc<Connections>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            open.by_id.remove(&self.id);
        }
        self.connections.freed.notify_waiters();
    }
}

/// Counts a request in flight until its response body is done or dropped.
struct InFlight {
    tracker: Arc<Tracker>,
    connections: Arc<Connections>,
}

impl InFlight {
    fn begin(tracker: &Arc<Tracker>, connections: &Arc<Connections>) -> InFlight {
        tracker.active.fetch_add(1, Ordering::AcqRel);
        InFlight {
            tracker: tracker.clone(),
            connections: connections.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.tracker.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Ok(mut since) = self.tracker.idle_since.lock() {
                *since = Instant::now();
            }
            self.tracker.became_idle.notify_one();
            // A newcomer waiting at the cap may take this one's place now.
            self.connections.freed.notify_waiters();
        }
    }
}

/// A response body that keeps its request in flight while it is sent.
pub struct Tracked<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> Body for Tracked<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The service for one connection, counting its requests.
#[derive(Clone)]
struct Counting<S> {
    inner: S,
    tracker: Arc<Tracker>,
    connections: Arc<Connections>,
    local: SocketAddr,
}

impl<S, B> Service<Request<Incoming>> for Counting<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Unpin,
{
    type Response = Response<Tracked<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::begin(&self.tracker, &self.connections);
        request.extensions_mut().insert(LocalAddr(self.local));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|inner| Tracked {
                inner,
                _in_flight: in_flight,
            }))
        })
    }
}

/// Serves `listener` until `closing` turns true: then it stops accepting,
/// and each connection finishes what it is on and closes. `service` makes
/// the service for a connection from its client's address.
pub async fn serve<S, B>(
    listener: TcpListener,
    builder: auto::Builder<TokioExecutor>,
    connections: Arc<Connections>,
    header_timeout: Duration,
    service: impl Fn(SocketAddr) -> S,
    mut closing: watch::Receiver<bool>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let local = listener.local_addr().ok();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = closed(&mut closing) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // At the cap this closes the connection idle longest, or waits for
        // one to end: nothing else is accepted meanwhile.
        let admitted = tokio::select! {
            admitted = connections.admit() => admitted,
            () = closed(&mut closing) => return,
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok().or(local).unwrap_or(peer);
        let service = Counting {
            inner: service(peer),
            tracker: admitted.tracker.clone(),
            connections: connections.clone(),
            local,
        };
        let builder = builder.clone();
        let mut closing = closing.clone();
        tokio::spawn(async move {
            let tracker = admitted.tracker.clone();
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(connection);
            // Closing a connection told to go or idle too long is graceful:
            // hyper finishes what it has taken on (a request that arrived
            // just now, the last bytes of an answer still in its buffer),
            // within the header timeout.
            loop {
                let idle_since = tracker.idle_since();
                let deadline = idle_since.map(|since| since + header_timeout);
                tokio::select! {
                    biased;
                    ended = connection.as_mut() => {
                        if let Err(e) = ended {
                            tracing::debug!("connection from {peer} ended: {e}");
                        }
                        break;
                    }
                    () = closed(&mut closing) => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.as_mut().await;
                        break;
                    }
                    () = tracker.evicted.notified() => {
                        // Out of the count already: the newcomer has its place.
                        drop(admitted);
                        connection.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(header_timeout, connection.as_mut()).await;
                        return;
                    }
                    () = sleep_until(deadline) => {
                        if tracker.idle_since() == idle_since {
                            tracing::debug!("closing {peer}: no request within {header_timeout:?}");
                            connection.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(header_timeout, connection.as_mut()).await;
                            break;
                        }
                    }
                    () = tracker.became_idle.notified(), if deadline.is_none() => {}
                }
            }
            drop(admitted);
        });
    }
}

/// Serves an axum app (the control plane's API, the router's admin API)
/// on `listener` with `limits` until `closing`, then lets open
/// connections finish for a while.
pub async fn serve_app(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (close, closing) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = close.send(true);
    });
    let connections = Connections::new(limits.max_connections);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let service = |peer: SocketAddr| {
        let app = app.clone();
        hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            // An API request's body is small: it must arrive whole within
            // the header timeout, or a trickled body would hold its
            // connection (in flight, so never timed out or evicted).
            let request = request
                .map(|body| axum::body::Body::new(Deadlined::new(body, limits.header_timeout)));
            let mut app = app.clone();
            async move { tower_service::Service::call(&mut app, request).await }
        })
    };
    serve(
        listener,
        builder,
        connections.clone(),
        limits.header_timeout,
        service,
        closing,
    )
    .await;
    let deadline = Instant::now() + APP_SHUTDOWN_GRACE;
    while connections.open() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request body that fails once it has taken longer than its limit.
struct Deadlined {
    inner: Incoming,
    limit: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Deadlined {
    fn new(inner: Incoming, limit: Duration) -> Deadlined {
        Deadlined {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

type BodyError = Box<dyn std::error::Error + Send + Sync>;

impl Body for Deadlined {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(BodyError::from))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                    "the request's body did not arrive within {} s",
                    this.limit.as_secs()
                )
                .into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How long a stopping API lets its connections finish (an event stream
/// never does by itself).
const APP_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Resolves once the listener is told to close (or its owner is gone).
pub async fn closed(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_connection_idle_longest_makes_room() {
        let connections = Connections::new(2);
        let first = connections.admit().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = connections.admit().await;
        let busy = InFlight::begin(&second.tracker, &connections);
        assert_eq!(connections.open(), 2);
        // The first is idle: once its grace is over it goes, and is told so.
        let started = Instant::now();
        let third = connections.admit().await;
        assert!(started.elapsed() >= EVICTION_GRACE - Duration::from_millis(10));
        assert_eq!(connections.open(), 2);
        tokio::time::timeout(Duration::from_secs(1), first.tracker.evicted.notified())
            .await
            .expect("the idle one was told to close");
        // Now both are busy: a newcomer waits until one is not.
        let _busy_too = InFlight::begin(&third.tracker, &connections);
        let waiting = tokio::spawn({
            let connections = connections.clone();
            async move { connections.admit().await.id }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "admitted past the cap with all busy"
        );
        drop(busy);
        let admitted = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("admitted once one went idle")
            .unwrap();
        assert!(admitted > third.id);
        drop(first);
    }
}
