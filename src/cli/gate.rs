//! `deployflow approve ID` and `deployflow reject ID --reason R`: the
//! manual gate (and a canary's manual pause; `approve --full` skips the
//! canary's remaining steps); and `deployflow abort ID --reason R`.

use std::path::Path;

use serde_json::json;

use super::client::{ApiFailure, Client};
use super::{Exit, Global};

fn person() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
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
