//! `deployflow history`: past deployments, newest first.

use std::path::Path;

use serde_json::Value;

use super::client::Client;
use super::{Exit, Global};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

pub fn run(global: &Global, data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let mut path = format!("/api/deployments?limit={}", args.limit);
        if let Some(app) = &args.app {
            path.push_str(&format!("&app={app}"));
        }
        let rows = client.get(&path).await?;
        if global.json {
            println!("{}", serde_json::to_string(&rows)?);
        } else {
            print_rows(rows.as_array().map(Vec::as_slice).unwrap_or_default());
        }
        Ok(Exit::Success)
    })
}

pub fn print_rows(rows: &[Value]) {
    let id_width = rows
        .iter()
        .filter_map(|r| r["short_id"].as_str().map(str::len))
        .max()
        .unwrap_or(8)
        .max(2);
    println!(
        "{:<id_width$}  {:<10} {:<10} {:<12} {:<11} {:<16} {:>9} {:>5} {:>6}",
        "id", "app", "release", "status", "phase", "started", "took", "fixes", "rounds"
    );
    for row in rows {
        let id = row["short_id"]
            .as_str()
            .or_else(|| row["id"].as_str())
            .unwrap_or_default();
        println!(
            "{:<id_width$}  {:<10} {:<10} {:<12} {:<11} {:<16} {:>9} {:>5} {:>6}",
            id,
            row["app"].as_str().unwrap_or_default(),
            row["release"].as_str().unwrap_or_default(),
            row["status"].as_str().unwrap_or_default(),
            row["phase"].as_str().unwrap_or_default(),
            started(&row["started_at"]),
            row["duration_ms"]
                .as_i64()
                .map(deployflow::projections::words::duration)
                .unwrap_or_else(|| "-".into()),
            row["fix_iterations"],
            row["review_rounds"]
        );
    }
}

/// When a deployment started, in the machine's time zone, to the minute.
fn started(at: &Value) -> String {
    at.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}
