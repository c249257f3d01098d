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
    println!(
        "{:<36}  {:<10} {:<10} {:<12} {:<11} {:>10} {:>5} {:>6}",
        "id", "app", "release", "status", "phase", "ms", "fixes", "rounds"
    );
    for row in rows {
        println!(
            "{:<36}  {:<10} {:<10} {:<12} {:<11} {:>10} {:>5} {:>6}",
            row["id"].as_str().unwrap_or_default(),
            row["app"].as_str().unwrap_or_default(),
            row["release"].as_str().unwrap_or_default(),
            row["status"].as_str().unwrap_or_default(),
            row["phase"].as_str().unwrap_or_default(),
            row["duration_ms"]
                .as_i64()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            row["fix_iterations"],
            row["review_rounds"]
        );
    }
}
