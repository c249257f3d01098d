//! `deployflow report ID`: the deployment report, regenerated from the log.

use std::path::Path;

use super::client::Client;
use super::{Exit, Global};

pub fn run(global: &Global, data_dir: &Path, id: &str) -> anyhow::Result<Exit> {
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let answer = client.get(&format!("/api/deployments/{id}/report")).await?;
        if global.json {
            println!("{}", serde_json::to_string(&answer)?);
        } else {
            print!("{}", answer["report"].as_str().unwrap_or_default());
        }
        Ok(Exit::Success)
    })
}
