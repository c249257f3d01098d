//! Upstream connections kept per client connection.
//!
//! An HTTP/1.1 client sends its requests one after another, so its
//! connection can keep one upstream connection and reuse it request after
//! request, with no shared pool to check out from: the path nginx's workers
//! take. A route switch simply finds the kept connection pointing elsewhere
//! and opens one to the new upstream. During a canary's split a client's
//! requests go to both sides, so one connection is kept to each: without
//! that, every change of side would open a new upstream connection. (HTTP/2
//! clients, whose requests run concurrently, use the worker's shared pool
//! instead.)

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Why a request never got a response from the upstream.
pub enum SendError {
    /// The upstream refused the connection or did not accept it in time.
    Connect(String),
    Failed(String),
    /// The client's request could not be sent as it came (a malformed
    /// chunked body, say): the client's fault, not the upstream's.
    Request(String),
}

impl SendError {
    /// `error` from sending: the request's own (hyper calls it the user's:
    /// its body failed to read) or the upstream's.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> SendError {
        let mut cause = Some(error);
        while let Some(e) = cause {
            if e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_user)
            {
                return SendError::Request(error.to_string());
            }
            cause = e.source();
        }
        SendError::Failed(error.to_string())
    }
}

/// A kept connection and the upstream it goes to.
type Kept = Option<(SocketAddr, SendRequest<Incoming>)>;

#[derive(Default)]
pub struct Affinity {
    /// At most one per upstream of the route: two while a split is on.
    kept: Mutex<[Kept; 2]>,
}

impl Affinity {
    /// Sends `request` to `upstream` on the kept connection, or on a new one
    /// when there is none for that upstream or it has closed. `other` is
    /// the route's other upstream during a split: its connection is kept
    /// too; any other is let go (a switch leaves nothing open to blue).
    /// A request that was never written (the connection could not be
    /// made) comes back with the error, so it can be sent again.
    pub async fn send(
        &self,
        upstream: SocketAddr,
        other: Option<SocketAddr>,
        request: Request<Incoming>,
        connect_timeout: Duration,
    ) -> Result<Response<Incoming>, (SendError, Option<Request<Incoming>>)> {
        let kept = self.take(upstream);
        let reused = kept.is_some();
        let mut sender = match kept {
            Some(sender) => sender,
            None => match connect(upstream, connect_timeout).await {
                Ok(sender) => sender,
                Err(e) => return Err((e, Some(request))),
            },
        };
        let request = match send_on(&mut sender, request).await {
            Ok(response) => {
                self.put(upstream, other, sender);
                return Ok(response);
            }
            // The upstream closed a kept connection before taking the request
            // (an idle timeout, a request limit): nothing was sent, so it is
            // safe to send again on a new connection.
            Err((Some(request), _)) if reused => request,
            Err((_, error)) => return Err((SendError::of(&error), None)),
        };
        let mut sender = match connect(upstream, connect_timeout).await {
            Ok(sender) => sender,
            Err(e) => return Err((e, Some(request))),
        };
        match send_on(&mut sender, request).await {
            Ok(response) => {
                self.put(upstream, other, sender);
                Ok(response)
            }
            Err((_, error)) => Err((SendError::of(&error), None)),
        }
    }

    fn take(&self, upstream: SocketAddr) -> Option<SendRequest<Incoming>> {
        let mut kept = self.kept.lock().ok()?;
        let slot = kept
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|(addr, _)| *addr == upstream))?;
        match slot.take() {
            Some((_, sender)) if !sender.is_closed() => Some(sender),
            _ => None,
        }
    }

    fn put(&self, upstream: SocketAddr, other: Option<SocketAddr>, sender: SendRequest<Incoming>) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        for slot in kept.iter_mut() {
            let keep = slot
                .as_ref()
                .is_some_and(|(addr, _)| Some(*addr) == other && *addr != upstream);
            if !keep {
                *slot = None;
            }
        }
        if let Some(free) = kept.iter_mut().find(|slot| slot.is_none()) {
            *free = Some((upstream, sender));
        }
    }
}

/// Sends on one connection; on failure hands back the request if it was
/// never sent.
async fn send_on(
    sender: &mut SendRequest<Incoming>,
    request: Request<Incoming>,
) -> Result<Response<Incoming>, (Option<Request<Incoming>>, hyper::Error)> {
    // The previous response's body must be done before the next request.
    if let Err(error) = sender.ready().await {
        return Err((Some(request), error));
    }
    sender.try_send_request(request).await.map_err(|mut e| {
        let request = e.take_message();
        (request, e.into_error())
    })
}

async fn connect(
    upstream: SocketAddr,
    timeout: Duration,
) -> Result<SendRequest<Incoming>, SendError> {
    let stream = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(upstream)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(SendError::Connect(e.to_string())),
        Err(_) => return Err(SendError::Connect("connect timed out".into())),
    };
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::Builder::new()
        .writev(false)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| SendError::Failed(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!("upstream connection to {upstream} ended: {e}");
        }
    });
    Ok(sender)
}
