//! `deployflow show ID`: one deployment's timeline.

use std::path::Path;

use serde_json::Value;

use super::client::Client;
use super::{Exit, Global};
use deployflow::events::RolloutStep;

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
    if let Some(why) = super::progress::why(row) {
        println!("{why}");
    }
    if let Some(digest) = row["digest"].as_str() {
        println!("code {digest}");
    }
    print_steps(&shown["state"], row["status"] == "in_progress");
    for event in shown["events"].as_array().into_iter().flatten() {
        if let Some(line) = super::progress::for_people(event) {
            println!("{line}");
        }
    }
}

/// A canary's steps, the one it is at marked, and green's share now.
fn print_steps(state: &Value, in_progress: bool) {
    let steps: Vec<RolloutStep> =
        serde_json::from_value(state["steps"].clone()).unwrap_or_default();
    if steps.is_empty() {
        return;
    }
    let at = state["step"].as_u64().map(|i| i as usize);
    let completed = state["step_completed"].as_bool().unwrap_or(false);
    match state["weight"].as_u64() {
        Some(weight) => println!("canary: green takes {weight} % of the traffic"),
        None => println!("canary:"),
    }
    for (i, step) in steps.iter().enumerate() {
        let mark = match at {
            Some(at) if i < at || (i == at && completed) => "done",
            Some(at) if i == at && in_progress => "now ",
            // Where an ended canary stopped.
            Some(at) if i == at => "end ",
            _ => "    ",
        };
        println!("  {mark} {}. {}", i + 1, step.describe());
    }
}
