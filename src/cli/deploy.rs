//! `deployflow deploy`: sends the config to the control plane, then follows
//! the deployment to its end, showing its progress, and exits with the code
//! its outcome means.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use deployflow::config::Config;
use serde_json::{Value, json};

use super::client::Streamed;
use super::client::{ApiFailure, Client};
use super::progress::Progress;
use super::{Exit, Global};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release's label (default: the code's git commit, else the time).
    #[arg(long)]
    pub release: Option<String>,
    /// When another deployment of the app runs, wait for it instead of
    /// giving up with exit 6.
    #[arg(long)]
    pub wait: bool,
}

/// What `deploy` needs from the config file, checked before anything is sent.
pub struct Request {
    pub body: Value,
}

/// Reads and checks the config; a bad one is exit 2 with the key and place.
pub fn request(config_path: &Path, release: Option<String>) -> Result<Request, (Exit, String)> {
    let config = Config::load(config_path).map_err(|e| (Exit::BadInput, e.to_string()))?;
    let text = std::fs::read_to_string(config_path)
        .map_err(|e| (Exit::BadInput, format!("{}: {e}", config_path.display())))?;
    let base = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base: PathBuf = base
        .canonicalize()
        .map_err(|e| (Exit::BadInput, format!("{}: {e}", base.display())))?;
    let code = Config::resolve(&base, &config.inputs.code);
    let commit = git(&code, &["rev-parse", "--short", "HEAD"]);
    // The commit's time: lead time for changes runs from it to going live.
    let committed_at = git(&code, &["show", "-s", "--format=%cI", "HEAD"]);
    let release = release
        .or_else(|| commit.clone())
        .unwrap_or_else(|| chrono::Utc::now().format("r%Y%m%d-%H%M%S").to_string());
    let requested_by = super::gate::person();
    Ok(Request {
        body: json!({
            "config": text,
            "base_dir": base,
            "release": release,
            "requested_by": requested_by,
            "commit": commit,
            "committed_at": committed_at,
        }),
    })
}

/// One line of git's answer about the code directory, if it is a repository.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = deployflow::adapters::child::std_command("git")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let line = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !line.is_empty()).then_some(line)
}

pub fn run(global: &Global, data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    let request = match request(&global.config, args.release.clone()) {
        Ok(request) => request,
        Err((exit, message)) => {
            eprintln!("error: {message}");
            return Ok(exit);
        }
    };
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let id = match start(&client, &request, args.wait, global.json).await? {
            Ok(id) => id,
            Err((exit, message)) => {
                eprintln!("error: {message}");
                return Ok(exit);
            }
        };
        let progress = Progress::new(global.json);
        let mut client = client;
        let mut after = 0;
        let row = loop {
            match follow(&client, &id, &progress, &mut after).await {
                Ok(row) => break row,
                // The control plane went away (killed, restarted): the
                // deployment is in its log and goes on when one runs again.
                Err(e) if e.downcast_ref::<ApiFailure>().is_none() => {
                    progress.line(&format!(
                        "lost the control plane ({e:#}); waiting for it to come back, the deployment is in its log"
                    ));
                    client = reconnect(&global.server, data_dir).await?;
                }
                Err(e) => return Err(e),
            }
        };
        finish(&row, &id, global.json)
    })
}

/// How long a deploy waits for its control plane to come back.
const COME_BACK_WITHIN: Duration = Duration::from_secs(300);

/// The data dir's control plane again, once one answers (restarted by a
/// person, a supervisor or any command, which resumes the deployment from
/// its log). None is started here: a control plane that went away was
/// stopped by something, and starting another is not this command's call.
async fn reconnect(server: &str, data_dir: &Path) -> anyhow::Result<Client> {
    let deadline = tokio::time::Instant::now() + COME_BACK_WITHIN;
    while tokio::time::Instant::now() < deadline {
        if let Some(found) = Client::find(server, data_dir).await? {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!(
        "no control plane came back within {} s; the deployment goes on from its log when one runs (`deployflow resume`, or any command, starts it)",
        COME_BACK_WITHIN.as_secs()
    )
}

/// Sends the request; waits its turn with `--wait`.
pub async fn start(
    client: &Client,
    request: &Request,
    wait: bool,
    quiet: bool,
) -> anyhow::Result<Result<String, (Exit, String)>> {
    let mut told = false;
    loop {
        match client.post("/api/deployments", &request.body).await {
            Ok(answer) => {
                let id = answer["id"].as_str().unwrap_or_default().to_string();
                return Ok(Ok(id));
            }
            Err(e) => match e.downcast_ref::<ApiFailure>() {
                Some(failure) if failure.exit == Exit::Refused && wait => {
                    if !told && !quiet {
                        eprintln!("{}; waiting for it to end", failure.message);
                        told = true;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Some(failure) => return Ok(Err((failure.exit, failure.message.clone()))),
                None => return Err(e),
            },
        }
    }
}

/// Follows the deployment until it ends; returns its history row. The
/// control plane's event stream says when there is something new to show;
/// a quiet second looks anyway, and a lost stream is opened again.
/// `after` is the stream version shown up to, kept across reconnects so
/// no event is printed twice.
pub async fn follow(
    client: &Client,
    id: &str,
    progress: &Progress,
    after: &mut u64,
) -> anyhow::Result<Value> {
    use futures_util::{FutureExt, StreamExt};
    let mut next_seq = 0;
    let mut told_gate = false;
    let mut wake = None;
    loop {
        let shown = client
            .get(&format!("/api/deployments/{id}?after={}", *after))
            .await
            .with_context(|| format!("following deployment {id}"))?;
        for event in shown["events"].as_array().into_iter().flatten() {
            progress.event(event);
            next_seq = event["seq"].as_u64().map_or(next_seq, |seq| seq + 1);
        }
        *after = shown["version"].as_u64().unwrap_or(*after);
        progress.state(&shown);
        let row = &shown["deployment"];
        if row["status"] != "in_progress" {
            progress.done();
            return Ok(row.clone());
        }
        if shown["state"]["awaiting_approval"] == true && !told_gate {
            progress.line(&format!(
                "waiting at the manual gate: deployflow approve {id}, or deployflow reject {id} --reason R"
            ));
            told_gate = true;
        }
        if wake.is_none() {
            let query = format!("from={next_seq}&stream={id}");
            wake = client.events(&query).await.ok().map(Box::pin);
        }
        let Some(stream) = wake.as_mut() else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        match tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
            Ok(Some(Ok(Streamed::Line(_)))) => {
                // One look shows every event already here.
                while let Some(Some(Ok(Streamed::Line(_)))) = stream.next().now_or_never() {}
            }
            Err(_) => {}
            Ok(_) => {
                wake = None;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn finish(row: &Value, id: &str, json: bool) -> anyhow::Result<Exit> {
    let status = row["status"].as_str().unwrap_or("failed");
    if json {
        println!("{}", serde_json::to_string(row)?);
    } else {
        println!(
            "{} {} {} in {} (deployment {id})",
            row["app"].as_str().unwrap_or_default(),
            row["release"].as_str().unwrap_or_default(),
            status.replace('_', " "),
            deployflow::projections::words::duration(row["duration_ms"].as_i64().unwrap_or(0))
        );
        if let Some(why) = super::progress::why(row) {
            println!("{why}");
        }
    }
    Ok(Exit::of_status(status))
}
