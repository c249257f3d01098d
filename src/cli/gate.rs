//! `deployflow approve ID` and `deployflow reject ID --reason R`: the
//! manual gate (and a canary's manual pause; `approve --full` skips the
//! canary's remaining steps); and `deployflow abort ID --reason R`.

use std::path::Path;

use serde_json::json;

use super::client::{ApiFailure, Client};
use super::{Exit, Global};

/// Who is asking: `$USER`, else `$LOGNAME`, else the name the system
/// gives this process' user (a cron job or a container has no `$USER`).
pub fn person() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.name)
        })
        .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid()))
}

/// Sends `action` (approve, reject, abort) for deployment `id`.
pub fn run(
    global: &Global,
    data_dir: &Path,
    action: &str,
    id: &str,
    reason: &str,
    full: bool,
) -> anyhow::Result<Exit> {
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let mut body = json!({ "by": person(), "reason": reason });
        if full {
            body["full"] = json!(true);
        }
        match client
            .post(&format!("/api/deployments/{id}/{action}"), &body)
            .await
        {
            Ok(answer) => {
                if global.json {
                    println!("{}", serde_json::to_string(&answer)?);
                } else {
                    println!("{action}: sent for deployment {id}");
                }
                Ok(Exit::Success)
            }
            Err(e) => match e.downcast_ref::<ApiFailure>() {
                Some(failure) => {
                    eprintln!("error: {}", failure.message);
                    Ok(failure.exit)
                }
                None => Err(e),
            },
        }
    })
}
