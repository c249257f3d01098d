//! `deployflow status [APP]`: what serves each app, the candidate, and the
//! releases kept for rollback.

use std::path::Path;

use serde_json::Value;

use super::client::Client;
use super::{Exit, Global};

pub fn run(global: &Global, data_dir: &Path, app: Option<&str>) -> anyhow::Result<Exit> {
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let query = app.map(|a| format!("?app={a}")).unwrap_or_default();
        let apps = client.get(&format!("/api/status{query}")).await?;
        let list = apps.as_array().cloned().unwrap_or_default();
        if let (Some(app), true) = (app, list.is_empty()) {
            anyhow::bail!("no app {app} in the log");
        }
        if global.json {
            println!("{}", serde_json::to_string(&apps)?);
            return Ok(Exit::Success);
        }
        if list.is_empty() {
            println!("no app deployed yet");
        }
        for app in list {
            print_app(&app);
        }
        Ok(Exit::Success)
    })
}

fn print_app(app: &Value) {
    let name = app["app"].as_str().unwrap_or_default();
    match app["live"].as_object() {
        Some(live) => {
            let by = live["deployed_by"]
                .as_str()
                .filter(|b| !b.is_empty())
                .map(|b| format!(", deployed by {b}"))
                .unwrap_or_default();
            println!(
                "{name}: live {} in {} at {} since {}{by}",
                live["release"].as_str().unwrap_or_default(),
                live["slot"].as_str().unwrap_or_default(),
                live["endpoint"].as_str().unwrap_or_default(),
                live["since"].as_str().unwrap_or_default()
            )
        }
        None => println!("{name}: nothing live"),
    }
    if let Some(url) = app["url"].as_str() {
        println!("  url {url}");
    }
    if let Some(digest) = app["digest"].as_str() {
        println!("  code {}", digest.get(..12).unwrap_or(digest));
    }
    if let Some(candidate) = app["candidate"].as_object() {
        println!(
            "  candidate: {} ({}, deployment {})",
            candidate["release"].as_str().unwrap_or_default(),
            candidate["phase"].as_str().unwrap_or_default(),
            candidate["id"].as_str().unwrap_or_default()
        );
        if let Some(weight) = app["weight"].as_u64() {
            println!("  canary: green takes {weight} % of the traffic");
        }
    }
    for retained in app["retained"].as_array().into_iter().flatten() {
        println!(
            "  retained: {} ({} slot, stopped {})",
            retained["release"].as_str().unwrap_or_default(),
            retained["slot"].as_str().unwrap_or_default(),
            retained["stopped_at"].as_str().unwrap_or_default()
        );
    }
}
