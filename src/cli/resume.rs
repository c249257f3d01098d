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
            let resumed = answer["resumed"].as_array().map_or(0, Vec::len);
            println!("{resumed} deployments resumed");
        }
        Ok(Exit::Success)
    })
}
