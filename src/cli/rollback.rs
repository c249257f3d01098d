//! `deployflow rollback [APP] [--to RELEASE] --reason R`: traffic back to a
//! retained release (started again if stopped), the current one drained.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::client::{ApiFailure, Client};
use super::progress::Progress;
use super::{Exit, Global};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The app (default: the config's).
    pub app: Option<String>,
    /// The release to return to (default: the one the live release replaced).
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub reason: String,
}

pub fn run(global: &Global, data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    let app = match &args.app {
        Some(app) => app.clone(),
        None => match deployflow::config::Config::load(&global.config) {
            Ok(config) => config.app.name.to_string(),
            Err(e) => {
                eprintln!("error: name the app, or give a config: {e}");
                return Ok(Exit::BadInput);
            }
        },
    };
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let body = json!({
            "by": std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            "reason": args.reason,
            "to": args.to,
        });
        let answer = match client
            .post(&format!("/api/apps/{app}/rollback"), &body)
            .await
        {
            Ok(answer) => answer,
            Err(e) => match e.downcast_ref::<ApiFailure>() {
                Some(failure) => {
                    eprintln!("error: {}", failure.message);
                    return Ok(failure.exit);
                }
                None => return Err(e),
            },
        };
        let id = answer["id"].as_str().unwrap_or_default().to_string();
        let progress = Progress::new(global.json);
        // Follows the deployment's stream from the rollback's first event.
        let mut after = answer["from_version"].as_u64().unwrap_or(0);
        loop {
            let shown = client
                .get(&format!("/api/deployments/{id}?after={after}"))
                .await?;
            let events = shown["events"].as_array().cloned().unwrap_or_default();
            for event in &events {
                progress.event(event);
            }
            after = shown["version"].as_u64().unwrap_or(after);
            let ended = events
                .iter()
                .any(|e| matches!(e["kind"].as_str(), Some("completed" | "rollback_failed")));
            if ended {
                progress.done();
                let status = shown["deployment"]["status"]
                    .as_str()
                    .unwrap_or("failed")
                    .to_string();
                if global.json {
                    println!("{}", serde_json::to_string(&shown["deployment"])?);
                } else {
                    println!("{app}: rollback {status} (deployment {id})");
                }
                return Ok(match status.as_str() {
                    "rolled_back" => Exit::Success,
                    _ => Exit::Error,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}
