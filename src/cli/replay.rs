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
        } else if args.rebuild {
            println!(
                "rebuilt from sequence 0: {} events, {} deployments in {} ms ({} events/s); {}",
                answer["events"],
                answer["deployments"],
                answer["millis"],
                answer["events_per_second"],
                if answer["identical"] == true {
                    "identical to the model kept incrementally"
                } else {
                    "it DIFFERED from the model kept incrementally, and replaced it"
                }
            );
        } else {
            print_replay(&answer);
        }
        Ok(Exit::Success)
    })
}

/// The timeline up to the chosen event, then where the deployment stood.
fn print_replay(answer: &serde_json::Value) {
    for event in answer["timeline"].as_array().into_iter().flatten() {
        println!(
            "#{:<6} {:>8} ms  {:<24} {}",
            event["seq"],
            event["elapsed_ms"].as_i64().unwrap_or(0),
            event["kind"].as_str().unwrap_or_default(),
            event["text"].as_str().unwrap_or_default()
        );
    }
    let state = &answer["state"];
    println!(
        "as of #{}: {}, phase {}, fix tier {}, review round {}; next: {}",
        answer["as_of_seq"],
        answer["status"].as_str().unwrap_or_default(),
        answer["phase"].as_str().unwrap_or_default(),
        state["tier"].as_str().unwrap_or_default(),
        state["round"],
        answer["next_step"]
    );
}
