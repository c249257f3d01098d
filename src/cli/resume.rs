//! `deployflow resume`: continue every in-flight deployment now (the
//! control plane also does it when it starts).

use std::path::Path;

use serde_json::json;

use super::client::Client;
use super::{Exit, Global};

pub fn run(global: &Global, data_dir: &Path) -> anyhow::Result<Exit> {
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let answer = client.post("/api/resume", &json!({})).await?;
        if global.json {
            println!("{}", serde_json::to_string(&answer)?);
        } else {
            let resumed = answer["resumed"].as_array().cloned().unwrap_or_default();
            for r in &resumed {
                println!(
                    "resumed {} {} from phase {} (deployment {})",
                    r["app"].as_str().unwrap_or_default(),
                    r["release"].as_str().unwrap_or_default(),
                    r["phase"].as_str().unwrap_or_default(),
                    r["id"].as_str().unwrap_or_default()
                );
            }
            println!("{} deployments resumed", resumed.len());
        }
        Ok(Exit::Success)
    })
}
