//! `deployflow audit ID`: every verdict and decision of a deployment.

use std::path::Path;

use serde_json::Value;

use super::client::Client;
use super::{Exit, Global};

pub fn run(global: &Global, data_dir: &Path, id: &str) -> anyhow::Result<Exit> {
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let entries = client.get(&format!("/api/deployments/{id}/audit")).await?;
        if global.json {
            println!("{}", serde_json::to_string(&entries)?);
        } else {
            print_entries(entries.as_array().map(Vec::as_slice).unwrap_or_default());
        }
        Ok(Exit::Success)
    })
}

pub fn print_entries(entries: &[Value]) {
    if entries.is_empty() {
        println!("no review took place");
    }
    for entry in entries {
        let head = format!(
            "#{:<5} round {} {:<7} {:<13}",
            entry["seq"],
            entry["round"],
            entry["role"].as_str().unwrap_or_default(),
            entry["member"].as_str().unwrap_or_default()
        );
        match entry["decision"].as_str() {
            Some(decision) => println!(
                "{head} decision {decision}: {}",
                entry["rule"].as_str().unwrap_or_default()
            ),
            None => {
                let findings = entry["findings"].as_array().map_or(0, Vec::len) as u64;
                println!(
                    "{head} {} ({})",
                    entry["verdict"]
                        .as_str()
                        .unwrap_or_default()
                        .replace('_', " "),
                    deployflow::flow::evidence::counted(findings, "finding", "findings")
                );
                if let Some(summary) = entry["summary"].as_str() {
                    println!("        {summary}");
                }
            }
        }
        for finding in entry["findings"].as_array().into_iter().flatten() {
            let place = match (finding["file"].as_str(), finding["line"].as_u64()) {
                (Some(file), Some(line)) => format!(" {file}:{line}"),
                (Some(file), None) => format!(" {file}"),
                _ => String::new(),
            };
            println!(
                "        {} {}{place}: {}",
                finding["severity"].as_str().unwrap_or_default(),
                finding["requirement"].as_str().unwrap_or_default(),
                finding["message"].as_str().unwrap_or_default()
            );
        }
    }
}
