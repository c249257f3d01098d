//! The threads that carry traffic: one single-threaded tokio runtime per
//! core, each with its own listener per app (SO_REUSEPORT, so the kernel
//! spreads connections) and its own pool of upstream connections. A request
//! is then served start to finish on one thread, as an nginx worker serves
//! it, with no hand-off between threads; measured, the shared multi-threaded
//! runtime with one pool was about a quarter slower.

use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::app::App;
use super::listener;
use super::proxy::{Proxy, Timeouts};

pub struct Workers {
    workers: Vec<(Handle, Arc<Proxy>)>,
}

impl Workers {
    /// Starts `count` worker threads; they live as long as the process.
    pub fn start(count: usize, timeouts: Timeouts) -> std::io::Result<Self> {
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name(format!("router-worker-{index}"))
                .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
            workers.push((handle, Arc::new(Proxy::new(timeouts))));
        }
        Ok(Self { workers })
    }

    /// Listens on `addr` for `app` on every worker. Binding happens here, so
    /// an address in use is an error before anything serves.
    pub fn serve(&self, app: &Arc<App>, addr: SocketAddr) -> std::io::Result<Vec<JoinHandle<()>>> {
        let sockets = self
            .workers
            .iter()
            .map(|_| bind_shared(addr))
            .collect::<std::io::Result<Vec<_>>>()?;
        let tasks = self
            .workers
            .iter()
            .zip(sockets)
            .map(|((handle, proxy), socket)| {
                let (app, proxy) = (app.clone(), proxy.clone());
                handle.spawn(async move {
                    // Registered with this worker's reactor, inside it.
                    match tokio::net::TcpListener::from_std(socket) {
                        Ok(listener) => listener::serve(listener, app, proxy).await,
                        Err(e) => tracing::error!(app = %app.name, "cannot listen: {e}"),
                    }
                })
            })
            .collect();
        Ok(tasks)
    }
}

/// A listening socket other workers can bind too. SO_REUSEPORT only admits
/// sockets of the same user, and the router binds its admin address first,
/// so a second router fails before it reaches here.
fn bind_shared(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
