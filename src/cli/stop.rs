//! `deployflow stop`: the control plane stops cleanly (its actors, its
//! log, its checkpoint); the routers and the instances keep running, so
//! traffic flows on.

use std::path::Path;
use std::time::Duration;

use super::client::Client;
use super::{Exit, Global};

/// Whether the process a pid file names still runs (a file left by a
/// killed control plane names nobody).
fn alive(pid_file: &Path) -> bool {
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .is_some_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok())
}

pub fn run(global: &Global, data_dir: &Path) -> anyhow::Result<Exit> {
    // Stopped means ended: its pid file goes last, once the log is closed
    // and the checkpoint saved (so `stop && verify` finds the log free).
    let pid_file = data_dir.join(deployflow::server::PID_FILE);
    super::block_on(async {
        // This data dir's control plane, not whichever holds the address.
        let Some(client) = Client::find(&global.server, data_dir).await? else {
            println!(
                "no control plane keeps the log in {} (none answers for it)",
                data_dir.display()
            );
            return Ok(Exit::Success);
        };
        let at = client.base().to_string();
        client.post("/api/stop", &serde_json::json!({})).await?;
        for _ in 0..300 {
            if !client.is_up().await && !alive(&pid_file) {
                println!("the control plane at {at} stopped");
                return Ok(Exit::Success);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the control plane at {at} did not stop within 30 s")
    })
}
