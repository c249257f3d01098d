//! `deployflow rollback [APP] [--to RELEASE] --reason R`: traffic back to a
//! retained release (started again if stopped), the current one drained;
//! `--list`: the releases it can go back to.

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
    #[arg(long, required_unless_present = "list")]
    pub reason: Option<String>,
    /// List the releases it can go back to (the live one, then the
    /// retained ones, newest first) and change nothing.
    #[arg(long)]
    pub list: bool,
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
        if args.list {
            return list(&client, &app, global.json).await;
        }
        let body = json!({
            "by": super::gate::person(),
            "reason": args.reason.clone().unwrap_or_default(),
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
        if !global.json {
            // Which release it goes back to, before it happens.
            let shown = client.get(&format!("/api/deployments/{id}")).await?;
            let target = shown["events"]
                .as_array()
                .into_iter()
                .flatten()
                .rev()
                .find(|e| e["kind"] == "rollback_started")
                .and_then(|e| e["event"]["rollback_started"]["to_release"].as_str())
                .map(str::to_string);
            if let Some(target) = target {
                progress.line(&format!("{app}: going back to {target}"));
            }
        }
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
                    println!("{app}: {} (deployment {id})", status.replace('_', " "));
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

/// The releases `app` can go back to: what is live, then what is kept.
async fn list(client: &Client, app: &str, json: bool) -> anyhow::Result<Exit> {
    let status = client.get(&format!("/api/status?app={app}")).await?;
    let Some(state) = status.as_array().and_then(|apps| apps.first()).cloned() else {
        eprintln!("error: no app {app} in the log");
        return Ok(Exit::BadInput);
    };
    if json {
        println!(
            "{}",
            serde_json::to_string(&json!({"live": state["live"], "retained": state["retained"]}))?
        );
        return Ok(Exit::Success);
    }
    match state["live"].as_object() {
        Some(live) => println!(
            "{app}: live {} since {}",
            live["release"].as_str().unwrap_or_default(),
            live["since"].as_str().unwrap_or_default()
        ),
        None => println!("{app}: nothing live"),
    }
    let retained = state["retained"].as_array().cloned().unwrap_or_default();
    if retained.is_empty() {
        println!("no release is kept to go back to (retain = 0, or a first deploy)");
    }
    for kept in &retained {
        println!(
            "  retained {} (stopped {})",
            kept["release"].as_str().unwrap_or_default(),
            kept["stopped_at"].as_str().unwrap_or_default()
        );
    }
    Ok(Exit::Success)
}
