//! The data plane: `deployflow router`, a reverse proxy serving each app's
//! public address and forwarding to its live upstream. It runs apart from
//! the control plane, keeps its routes on disk, and takes orders through a
//! small admin API on loopback.

mod admin;
mod affinity;
mod app;
pub mod latency;
mod listener;
mod persist;
mod probe;
pub mod proxy;
pub mod route;
pub mod split;
mod state;
pub mod stats;
mod tunnel;
mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use admin::CHANGE_HEADER;
pub use persist::PersistError;
pub use proxy::Timeouts;
pub use route::{Canary, Route};
pub use split::{Split, SplitBy};

use persist::RouteFile;
use state::RouterState;
use stats::StatsRegistry;
use workers::Workers;

/// The admin API's default address.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:7071";
/// The port of `DEFAULT_ADMIN`, for callers that build the address.
pub const DEFAULT_ADMIN_PORT: u16 = 7071;

#[derive(Debug, Clone)]
pub struct RouterOptions {
    pub admin: SocketAddr,
    pub state_dir: PathBuf,
    pub timeouts: Timeouts,
    /// Client connections held open at once, over all apps.
    pub max_connections: usize,
    /// How long a client connection with no request in flight may take to
    /// send a request's head (silent, trickling, or idle between requests).
    pub header_timeout: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(
        "the admin API must listen on loopback, not {0}: it changes where production traffic goes"
    )]
    AdminNotLoopback(SocketAddr),
    #[error("cannot listen for the admin API on {addr} (is another router running?): {source}")]
    AdminBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Routes(#[from] state::RouteError),
    #[error("cannot lock {path} (is another router using this state directory?): {source}")]
    StateLocked {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the router's worker threads: {0}")]
    Workers(std::io::Error),
}

/// Runs the router until it is interrupted (SIGINT or SIGTERM).
pub async fn run(options: RouterOptions) -> Result<(), RouterError> {
    if !options.admin.ip().is_loopback() {
        return Err(RouterError::AdminNotLoopback(options.admin));
    }
    // The admin address first: it is what makes a second router fail
    // before it binds any app's address.
    let admin = tokio::net::TcpListener::bind(options.admin)
        .await
        .map_err(|source| RouterError::AdminBind {
            addr: options.admin,
            source,
        })?;
    // One router per state directory: two would overwrite each other's routes.
    let _lock = lock_state_dir(&options.state_dir)?;
    for problem in crate::adapters::owner_only::tighten(&options.state_dir) {
        eprintln!("deployflow router: cannot make it owner-only: {problem}");
    }
    let file = RouteFile::new(&options.state_dir);
    let routes_path = file.path().to_path_buf();
    let stats = Arc::new(StatsRegistry::default());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let limits = crate::net::connections::Limits {
        header_timeout: options.header_timeout,
        max_connections: options.max_connections,
    };
    let workers =
        Workers::start(threads, options.timeouts, limits).map_err(RouterError::Workers)?;
    let state = Arc::new(RouterState::new(file, workers, stats, options.admin));
    for problem in state.restore().await? {
        eprintln!("deployflow router: {problem}");
    }
    eprintln!(
        "deployflow router: admin API on http://{}, {} route(s) from {}",
        options.admin,
        state.routes().await.len(),
        routes_path.display()
    );
    crate::net::connections::serve_app(admin, admin::api(state.clone()), ADMIN_LIMITS, shutdown())
        .await;
    // Stopping: no new connections; what is in flight may finish.
    state.close_all().await;
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while state.stats.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The default cap on client connections: what the file-descriptor limit
/// allows, each client connection taking two (its own and its upstream's),
/// with room left for the admin API, the route file and logs.
pub fn default_max_connections() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _hard)| soft);
    (soft.saturating_sub(128) / 2).clamp(16, 1 << 20) as usize
}

/// The admin API's connections: only the control plane talks to it.
const ADMIN_LIMITS: crate::net::connections::Limits = crate::net::connections::Limits {
    header_timeout: std::time::Duration::from_secs(30),
    max_connections: 256,
};

/// How long a stopping router lets requests in flight finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

fn lock_state_dir(dir: &std::path::Path) -> Result<std::fs::File, RouterError> {
    let path = dir.join("router.lock");
    let locked = std::fs::create_dir_all(dir)
        // Not truncated before the lock is ours: it names the holder.
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
        })
        .and_then(|file| match file.try_lock() {
            Ok(()) => {
                // Who holds it: what a script (or `deployflow demo`) signals
                // to stop this router.
                use std::io::Write;
                let mut file = file;
                file.set_len(0)?;
                writeln!(file, "{}", std::process::id())?;
                Ok(file)
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another router holds it",
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        });
    locked.map_err(|source| RouterError::StateLocked { path, source })
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
