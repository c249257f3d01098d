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
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::app::App;
use super::listener;
use super::proxy::{Proxy, Timeouts};
use crate::net::connections::{Connections, Limits};

pub struct Workers {
    workers: Vec<Worker>,
}

struct Worker {
    runtime: Handle,
    proxy: Arc<Proxy>,
    /// Client connections this worker may hold open, over all apps (as an
    /// nginx worker's `worker_connections`): past it, the one idle longest
    /// is closed, or, all being busy, it stops accepting until one ends,
    /// rather than running out of file descriptors.
    connections: Arc<Connections>,
    header_timeout: std::time::Duration,
}

impl Workers {
    /// Starts `count` worker threads sharing `limits.max_connections`; they
    /// live as long as the process.
    pub fn start(count: usize, timeouts: Timeouts, limits: Limits) -> std::io::Result<Self> {
        let per_worker = limits.max_connections.div_ceil(count.max(1)).max(1);
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name(format!("router-worker-{index}"))
                .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
            workers.push(Worker {
                runtime: handle,
                proxy: Arc::new(Proxy::new(timeouts)),
                connections: Connections::new(per_worker),
                header_timeout: limits.header_timeout,
            });
        }
        Ok(Self { workers })
    }

    /// Binds `addr` once per worker, without listening yet, so that a
    /// route can be saved between taking the address and serving on it.
    pub fn bind(&self, addr: SocketAddr) -> std::io::Result<Vec<Socket>> {
        // SO_REUSEPORT would let this group join another program's listener
        // on the same port; a plain bind first makes that an error.
        drop(plain_socket(addr)?);
        self.workers.iter().map(|_| bind_shared(addr)).collect()
    }

    /// Starts serving `app` on sockets from `bind`, one per worker.
    pub fn serve(
        &self,
        app: &Arc<App>,
        sockets: Vec<Socket>,
        closing: &watch::Receiver<bool>,
    ) -> std::io::Result<Vec<JoinHandle<()>>> {
        let mut tasks = Vec::with_capacity(sockets.len());
        for (worker, socket) in self.workers.iter().zip(sockets) {
            socket.listen(1024)?;
            // Registered with this worker's reactor.
            let listener = {
                let _entered = worker.runtime.enter();
                tokio::net::TcpListener::from_std(socket.into())?
            };
            let serving = listener::serve(
                listener,
                app.clone(),
                worker.proxy.clone(),
                worker.connections.clone(),
                worker.header_timeout,
                closing.clone(),
            );
            tasks.push(worker.runtime.spawn(serving));
        }
        Ok(tasks)
    }
}

fn plain_socket(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // SO_REUSEADDR still refuses a port another socket listens on, but not
    // one whose old connections linger in TIME_WAIT: a router restarted
    // after a crash must get its apps' ports back at once.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A socket the other workers bind to the same address (SO_REUSEPORT), so
/// the kernel spreads connections over them.
fn bind_shared(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}
