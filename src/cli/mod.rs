//! The command line: one file per subcommand, each printing for people or,
//! with `--json`, for scripts.

mod analysis;
mod audit;
mod client;
mod demo;
mod deploy;
mod events;
mod exit;
mod gate;
mod history;
mod init;
mod logs;
mod metrics;
mod paths;
mod progress;
mod replay;
mod report;
mod resume;
mod rollback;
mod router;
mod serve;
mod show;
mod status;
mod stop;
mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use exit::Exit;

#[derive(Debug, Parser)]
#[command(
    name = "deployflow",
    version,
    about = "Blue/Green deployments, every decision in an event log"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct Global {
    /// The deployment configuration.
    #[arg(long, global = true, default_value = "deployflow.toml")]
    pub config: PathBuf,
    /// Where the event log lives (default: .deployflow/ beside the config).
    #[arg(long, global = true, env = "DEPLOYFLOW_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The control plane's API (started on demand when it is local).
    #[arg(
        long,
        global = true,
        env = "DEPLOYFLOW_SERVER",
        default_value = client::DEFAULT_SERVER
    )]
    pub server: String,
    /// Output JSON for scripts instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a deployflow.toml to edit.
    Init(init::Args),
    /// The example app, end to end, on the embedded defaults.
    Demo,
    /// Run the flow for the config's app; progress on a terminal.
    Deploy(deploy::Args),
    /// Live release, candidate and retained releases.
    Status { app: Option<String> },
    /// Past deployments, newest first.
    History(history::Args),
    /// What an instance of the app wrote: the live release's, or a kept one's.
    Logs(logs::Args),
    /// One deployment's timeline.
    Show { id: String },
    /// Every verdict and decision of a deployment.
    Audit { id: String },
    /// Every analysis measurement of a deployment, and each run's verdict.
    Analysis { id: String },
    /// Success and efficiency metrics.
    Metrics(metrics::Args),
    /// Pass the manual gate, or a canary's manual pause.
    Approve {
        id: String,
        #[arg(long, default_value = "approved")]
        reason: String,
        /// A canary: skip its remaining steps and analyses, go to 100 %.
        #[arg(long)]
        full: bool,
    },
    /// Refuse at the manual gate: the release rolls back.
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Traffic back to a retained release.
    Rollback(rollback::Args),
    /// Stop a deployment before its switch; blue keeps serving.
    Abort {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Continue in-flight deployments now.
    Resume,
    /// A deployment's state as of any event, or rebuild the projections.
    Replay(replay::Args),
    /// The deployment report, regenerated from the log.
    Report { id: String },
    /// Check every record's CRC and the hash chain.
    Verify,
    /// Stop the control plane cleanly (routers and instances keep running).
    Stop,
    /// The raw log as JSON lines.
    Events(events::Args),
    /// The control plane: actors, event log, API.
    Serve(serve::Args),
    /// The data plane: serve each app's traffic and take routes from the admin API.
    Router(router::Args),
}

impl Command {
    /// A long-running process that serves (the control plane, the data
    /// plane) rather than a command that prints and ends.
    pub fn serves(&self) -> bool {
        matches!(self, Command::Serve(_) | Command::Router(_))
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    // What a command creates under a data directory is its user's alone
    // (test and instance logs hold secrets); `init` writes the user's own
    // config, with the user's own mode.
    if !matches!(cli.command, Command::Init(_)) {
        deployflow::adapters::owner_only::restrict();
    }
    let data_dir = paths::data_dir(&cli.global);
    let g = &cli.global;
    match &cli.command {
        Command::Init(args) => init::run(&g.config, args),
        Command::Demo => demo::run(g),
        Command::Deploy(args) => deploy::run(g, &data_dir, args),
        Command::Status { app } => status::run(g, &data_dir, app.as_deref()),
        Command::History(args) => history::run(g, &data_dir, args),
        Command::Logs(args) => logs::run(g, &data_dir, args),
        Command::Show { id } => show::run(g, &data_dir, id),
        Command::Audit { id } => audit::run(g, &data_dir, id),
        Command::Analysis { id } => analysis::run(g, &data_dir, id),
        Command::Metrics(args) => metrics::run(g, &data_dir, args),
        Command::Approve { id, reason, full } => {
            gate::run(g, &data_dir, "approve", id, reason, *full)
        }
        Command::Reject { id, reason } => gate::run(g, &data_dir, "reject", id, reason, false),
        Command::Abort { id, reason } => gate::run(g, &data_dir, "abort", id, reason, false),
        Command::Rollback(args) => rollback::run(g, &data_dir, args),
        Command::Resume => resume::run(g, &data_dir),
        Command::Replay(args) => replay::run(g, &data_dir, args),
        Command::Report { id } => report::run(g, &data_dir, id),
        Command::Serve(args) => serve::run(&data_dir, args),
        Command::Verify => verify::run(g, &data_dir),
        Command::Stop => stop::run(g, &data_dir),
        Command::Events(args) => events::run(g, &data_dir, args),
        Command::Router(args) => router::run(&data_dir, args),
    }
}

/// Log lines of a long-running process (serve, router) to stderr, at
/// `RUST_LOG`'s level (default: warnings).
pub fn log_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a client command's async body on a small runtime of its own.
pub fn block_on<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(future)
}

/// The exit code for an error that reached the command line: a damaged log
/// is an integrity failure, whichever command found it.
pub fn exit_code_of(error: &anyhow::Error) -> Exit {
    let corrupt = error.chain().any(|cause| {
        cause
            .downcast_ref::<deployflow::events::StoreError>()
            .is_some_and(|e| e.is_corruption())
    });
    if corrupt {
        return Exit::Integrity;
    }
    error
        .downcast_ref::<client::ApiFailure>()
        .map_or(Exit::Error, |failure| failure.exit)
}
