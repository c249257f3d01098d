//! `deployflow metrics`: the process document's success metrics.

use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

use super::client::Client;
use super::{Exit, Global};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub app: Option<String>,
    /// Only deployments started within this long: 30d, 12h, 45m.
    #[arg(long)]
    pub since: Option<String>,
}

/// `30d`, `12h`, `45m`, `90s` as a duration back from now.
pub fn parse_since(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number
        .parse()
        .with_context(|| format!("--since {text}: use a number and d, h, m or s (30d)"))?;
    let span = match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        "m" => chrono::Duration::minutes(n),
        "s" => chrono::Duration::seconds(n),
        _ => anyhow::bail!("--since {text}: use a number and d, h, m or s (30d)"),
    };
    Ok(chrono::Utc::now() - span)
}

pub fn run(global: &Global, data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    let mut query = Vec::new();
    if let Some(app) = &args.app {
        query.push(format!("app={app}"));
    }
    if let Some(since) = &args.since {
        let since = match parse_since(since) {
            Ok(since) => since,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(Exit::BadInput);
            }
        };
        query.push(format!(
            "since={}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let metrics = client
            .get(&format!("/api/metrics?{}", query.join("&")))
            .await?;
        if global.json {
            println!("{}", serde_json::to_string(&metrics)?);
        } else {
            print_metrics(&metrics);
        }
        Ok(Exit::Success)
    })
}

pub fn print_metrics(m: &Value) {
    println!(
        "deployments {} (promoted {}, rolled back {}, returned {}), success rate {:.0} %",
        m["deployments"],
        m["promoted"],
        m["rolled_back"],
        m["returned"],
        m["success_rate"].as_f64().unwrap_or(0.0) * 100.0
    );
    let d = &m["duration_ms"];
    println!(
        "duration: p50 {}, p90 {}, max {}",
        duration(&d["p50"]),
        duration(&d["p90"]),
        duration(&d["max"])
    );
    let f = &m["fix_iterations"];
    let by_tier: Vec<String> = f["by_tier"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(tier, n)| format!("{tier} {n}"))
        .collect();
    println!(
        "fix iterations: mean {:.2}, max {}, by tier: {}",
        f["mean"].as_f64().unwrap_or(0.0),
        f["max"],
        by_tier.join(", ")
    );
    let r = &m["review_outcomes"];
    println!(
        "review outcomes: consensus {}, fixes requested {}, major flaws {}",
        r["consensus"], r["fixes_requested"], r["major_flaws"]
    );
    println!(
        "change failure rate {:.0} %, {:.2} deployments a day, {:.2} went live a day, mean time to restore {}",
        m["change_failure_rate"].as_f64().unwrap_or(0.0) * 100.0,
        m["deployments_per_day"].as_f64().unwrap_or(0.0),
        m["promotions_per_day"].as_f64().unwrap_or(0.0),
        duration(&m["mean_time_to_restore_ms"])
    );
}

/// A duration in milliseconds as people read it; `-` when there is none
/// (never `null ms`).
fn duration(ms: &Value) -> String {
    ms.as_i64()
        .map(deployflow::projections::words::duration)
        .unwrap_or_else(|| "-".into())
}
