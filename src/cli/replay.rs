//! `deployflow replay ID [--at SEQ]`: a deployment's state as of any event;
//! `deployflow replay --rebuild`: every projection folded again from 0.

use std::path::Path;

use serde_json::json;

use super::client::Client;
use super::{Exit, Global};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(required_unless_present = "rebuild")]
    pub id: Option<String>,
    /// The global sequence to stop at (default: the last event).
    #[arg(long)]
    pub at: Option<u64>,
    #[arg(long, conflicts_with_all = ["id", "at"])]
    pub rebuild: bool,
}

pub fn run(global: &Global, data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let answer = match &args.id {
            Some(id) if !args.rebuild => {
                let at = args.at.map(|a| format!("?at={a}")).unwrap_or_default();
                client
                    .get(&format!("/api/deployments/{id}/replay{at}"))
                    .await?
            }
            _ => client.post("/api/rebuild", &json!({})).await?,
        };
        if global.json {
            println!("{}", serde_json::to_string(&answer)?);
        } else {
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
        Ok(Exit::Success)
    })
}
