//! `deployflow serve [--listen ADDR]`: the control plane, until SIGTERM or
//! Ctrl-C.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use deployflow::net::connections::Limits;
use deployflow::net::hosts::{AllowedHosts, HostName};
use deployflow::server::ServeOptions;
use deployflow::server::auth::{self, Auth};

use super::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = deployflow::server::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// A name this control plane also answers to, besides localhost, the
    /// loopback addresses and its own address (repeatable).
    #[arg(
        long = "allowed-host",
        value_name = "NAME",
        env = "DEPLOYFLOW_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<HostName>,
    /// Connections held open at once; past it the one idle longest is
    /// closed to make room.
    #[arg(long, default_value_t = deployflow::server::DEFAULT_LIMITS.max_connections as u64,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// How long a connection with no request in flight may take to send
    /// a request's head before it is closed.
    #[arg(long, default_value_t = deployflow::server::DEFAULT_LIMITS.header_timeout.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub header_timeout_ms: u64,
}

pub fn run(data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    let auth = match Auth::for_listen(args.listen, std::env::var(auth::TOKEN_ENV).ok()) {
        Ok(auth) => auth,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Exit::BadInput);
        }
    };
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let auth = auth.keep_sessions_in(data_dir)?;
    super::log_to_stderr();
    deployflow::crash_points::setup();
    super::block_on(async {
        let options = ServeOptions {
            listen: args.listen,
            auth,
            hosts: AllowedHosts::new(args.listen, args.allowed_hosts.clone()),
            limits: Limits {
                header_timeout: std::time::Duration::from_millis(args.header_timeout_ms),
                max_connections: args.max_connections as usize,
            },
        };
        deployflow::server::serve(data_dir, options, stop_signal()).await?;
        Ok(Exit::Success)
    })
}

async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
