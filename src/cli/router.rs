//! `deployflow router`: the data plane, in the foreground.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use deployflow::router::{self, RouterOptions, Timeouts};

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The admin API's address; loopback only.
    #[arg(long, env = "DEPLOYFLOW_ROUTER_ADMIN", default_value = router::DEFAULT_ADMIN)]
    pub admin: SocketAddr,
    /// Where the routes are kept (default: router/ in the data directory).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// How long to wait for an upstream to accept a connection.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub connect_timeout_ms: u64,
    /// How long to wait for an upstream's response headers.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub response_timeout_ms: u64,
    /// Close a WebSocket (or other upgraded) session when neither side has
    /// sent anything for this long.
    #[arg(long, default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub tunnel_idle_timeout_ms: u64,
    /// How long a request that was never written to its upstream (the
    /// connection refused, reset or timed out) is tried again before the
    /// client gets 502; 0 tries once.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub connect_retry_budget_ms: u64,
    /// Client connections held open at once, over all apps; past it the
    /// one idle longest is closed to make room, and only when all are busy
    /// do more wait to be accepted (default: half the open-file limit).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: Option<u64>,
    /// How long a client connection with no request in flight (silent,
    /// trickling a request's head, idle between requests) may take to send
    /// a request's head before it is closed.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub header_timeout_ms: u64,
}

pub fn run(data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    lazy_allocator_commit();
    let options = RouterOptions {
        admin: args.admin,
        state_dir: args
            .state_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("router")),
        timeouts: Timeouts {
            connect: Duration::from_millis(args.connect_timeout_ms),
            response: Duration::from_millis(args.response_timeout_ms),
            tunnel_idle: Duration::from_millis(args.tunnel_idle_timeout_ms),
            connect_retry_budget: Duration::from_millis(args.connect_retry_budget_ms),
        },
        max_connections: args
            .max_connections
            .map_or_else(router::default_max_connections, |max| max as usize),
        header_timeout: Duration::from_millis(args.header_timeout_ms),
    };
    super::log_to_stderr();
    // The admin API's runtime; traffic runs on the router's own workers.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the router's runtime")?;
    runtime.block_on(router::run(options))?;
    Ok(Exit::Success)
}

/// mimalloc commits its arenas eagerly by default, which on Linux makes
/// about 7 MB resident that a router at rest never uses (measured: 17.5 MB
/// RSS eagerly, 10.7 MB lazily). The option is read when the allocator
/// starts, before `main`, so the router runs itself again with it set; the
/// same pid carries on, with the same arguments.
fn lazy_allocator_commit() {
    const OPTION: &str = "MIMALLOC_ARENA_EAGER_COMMIT";
    if std::env::var_os(OPTION).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    use std::os::unix::process::CommandExt;
    // `exec` returns only when it failed; then the router runs as it is.
    // The same process again, not a child: its environment is its own.
    let error = deployflow::adapters::child::control_plane(exe)
        .args(std::env::args_os().skip(1))
        .env(OPTION, "0")
        .exec();
    tracing::debug!("running with eager allocator commit ({error})");
}
