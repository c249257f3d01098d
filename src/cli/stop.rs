//! `deployflow stop`: the control plane stops cleanly (its actors, its
//! log, its checkpoint); the routers and the instances keep running, so
//! traffic flows on.

use std::time::Duration;

use super::client::Client;
use super::{Exit, Global};

pub fn run(global: &Global) -> anyhow::Result<Exit> {
    super::block_on(async {
        let client = Client::new(&global.server)?;
        if !client.is_up().await {
            println!("no control plane answers at {}", global.server);
            return Ok(Exit::Success);
        }
        client.post("/api/stop", &serde_json::json!({})).await?;
        for _ in 0..300 {
            if !client.is_up().await {
                println!("the control plane at {} stopped", global.server);
                return Ok(Exit::Success);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!(
            "the control plane at {} did not stop within 30 s",
            global.server
        )
    })
}
