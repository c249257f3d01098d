//! The command line: one file per subcommand, each printing for people or,
//! with `--json`, for scripts.

mod events;
mod exit;
mod paths;
mod router;
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
    /// Output JSON for scripts instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every record's CRC and the hash chain.
    Verify,
    /// The raw log as JSON lines.
    Events(events::Args),
    /// The data plane: serve each app's traffic and take routes from the admin API.
    Router(router::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let data_dir = paths::data_dir(&cli.global);
    match cli.command {
        Command::Verify => verify::run(&data_dir, cli.global.json),
        Command::Events(args) => events::run(&data_dir, &args),
        Command::Router(args) => router::run(&data_dir, &args),
    }
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
        Exit::Integrity
    } else {
        Exit::Error
    }
}
