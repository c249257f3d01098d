//! `deployflow show ID`: one deployment's timeline.

use std::path::Path;

use serde_json::Value;

use super::client::Client;
use super::{Exit, Global};

pub fn run(global: &Global, data_dir: &Path, id: &str) -> anyhow::Result<Exit> {
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let shown = client.get(&format!("/api/deployments/{id}")).await?;
        if global.json {
            println!("{}", serde_json::to_string(&shown)?);
        } else {
            print_timeline(&shown);
        }
        Ok(Exit::Success)
    })
}

pub fn print_timeline(shown: &Value) {
    let row = &shown["deployment"];
    println!(
        "{} {} — {} (deployment {})",
        row["app"].as_str().unwrap_or_default(),
        row["release"].as_str().unwrap_or_default(),
        row["status"].as_str().unwrap_or_default(),
        row["id"].as_str().unwrap_or_default()
    );
    if let Some(digest) = row["digest"].as_str() {
        println!("code {digest}");
    }
    for event in shown["events"].as_array().into_iter().flatten() {
        println!(
            "{:>8} ms  {:<24} {}",
            event["elapsed_ms"].as_i64().unwrap_or(0),
            event["kind"].as_str().unwrap_or_default(),
            event["text"].as_str().unwrap_or_default()
        );
    }
}
