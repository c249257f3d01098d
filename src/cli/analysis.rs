//! `deployflow analysis ID`: every analysis measurement of a deployment,
//! run by run, with the rule that ended each run.

use std::path::Path;

use serde_json::Value;

use super::client::Client;
use super::{Exit, Global};

pub fn run(global: &Global, data_dir: &Path, id: &str) -> anyhow::Result<Exit> {
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let runs = client
            .get(&format!("/api/deployments/{id}/analysis"))
            .await?;
        let runs = runs.as_array().map(Vec::as_slice).unwrap_or_default();
        if global.json {
            // DESIGN.md's `analysis --json`: the measurements, flat.
            let rows: Vec<&Value> = runs
                .iter()
                .flat_map(|run| run["measurements"].as_array().into_iter().flatten())
                .collect();
            println!("{}", serde_json::to_string(&rows)?);
        } else {
            print_runs(runs);
        }
        Ok(Exit::Success)
    })
}

pub fn print_runs(runs: &[Value]) {
    if runs.is_empty() {
        println!("no analysis ran");
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    for run in runs {
        let ending = match run["verdict"].as_str() {
            Some(verdict) => format!("{verdict}: {}", text(&run["reason"])),
            None => "running".into(),
        };
        println!(
            "{} ({}, run {}): {ending}",
            text(&run["name"]),
            text(&run["phase"]),
            run["run"]
        );
        for m in run["measurements"].as_array().into_iter().flatten() {
            let baseline = match &m["baseline"] {
                Value::Null => String::new(),
                baseline => format!(" (baseline {baseline})"),
            };
            println!(
                "  #{:<3} {:<16} {:<12} {}{baseline}  {}",
                m["index"],
                text(&m["metric"]),
                text(&m["verdict"]),
                m["value"],
                text(&m["detail"])
            );
        }
    }
}
