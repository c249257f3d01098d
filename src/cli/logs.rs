//! `deployflow logs [APP] [--release R] [--follow] [--tail N]`: what an
//! instance of the app wrote, on either backend: the live release's by
//! default, or a stopped one kept for rollback.

use std::path::Path;
use std::time::Duration;

use deployflow::adapters::backend::Backends;
use deployflow::config::Config;
use deployflow::events::Slot;
use serde_json::Value;

use super::client::Client;
use super::{Exit, Global};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The app (default: the config's).
    pub app: Option<String>,
    /// The release (default: the live one); a kept one is read stopped.
    #[arg(long)]
    pub release: Option<String>,
    /// Keep printing what it writes, once a second, until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// How many of the last lines of each stream.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub tail: u32,
}

pub fn run(global: &Global, data_dir: &Path, args: &Args) -> anyhow::Result<Exit> {
    let config = match Config::load(&global.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: `logs` reads the instances the config's backend runs: {e}");
            return Ok(Exit::BadInput);
        }
    };
    let app = args
        .app
        .clone()
        .unwrap_or_else(|| config.app.name.to_string());
    let backend = Backends::new(data_dir).of(config.runtime.get_ref().backend);
    super::block_on(async {
        let client = Client::connect(&global.server, data_dir).await?;
        let status = client.get(&format!("/api/status?app={app}")).await?;
        let Some(state) = status.as_array().and_then(|apps| apps.first()).cloned() else {
            eprintln!("error: no app {app} in the log");
            return Ok(Exit::BadInput);
        };
        let Some((release, slot)) = placed(&state, args.release.as_deref()) else {
            let what = args.release.as_deref().unwrap_or("live release");
            eprintln!(
                "error: {app} has no {what} running or kept (`deployflow rollback {app} --list` lists them)"
            );
            return Ok(Exit::BadInput);
        };
        let tail = args.tail as usize;
        let mut shown: Vec<String> = Vec::new();
        loop {
            let text = match backend.output(&app, slot, &release, tail).await {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(Exit::Error);
                }
            };
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            for line in new_lines(&shown, &lines) {
                println!("{line}");
            }
            shown = lines;
            if !args.follow {
                return Ok(Exit::Success);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// The release and slot `release` names for the app: the live one by
/// default, else a kept one.
fn placed(state: &Value, release: Option<&str>) -> Option<(String, Slot)> {
    let slot_of = |v: &Value| serde_json::from_value::<Slot>(v["slot"].clone()).ok();
    let live = state["live"].as_object().map(|_| &state["live"]);
    let kept = state["retained"].as_array().into_iter().flatten();
    live.into_iter()
        .chain(kept)
        .find(|r| release.is_none_or(|want| r["release"] == want))
        .and_then(|r| Some((r["release"].as_str()?.to_string(), slot_of(r)?)))
}

/// What `now` holds past what was printed from `before`: the lines after
/// the longest run that ends `before` and begins `now`, or all of `now`
/// when they share none (a new start of the release).
fn new_lines<'a>(before: &[String], now: &'a [String]) -> &'a [String] {
    if before.is_empty() {
        return now;
    }
    // Where the last line printed is in the new window, matched with the
    // lines before it so a repeated line does not mislead.
    for start in (0..now.len()).rev() {
        let overlap = start + 1;
        if overlap <= before.len() && now[..overlap] == before[before.len() - overlap..] {
            return &now[overlap..];
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::new_lines;

    fn lines(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn following_prints_only_what_came_since() {
        assert_eq!(new_lines(&lines("a b c"), &lines("b c d e")), lines("d e"));
        assert_eq!(new_lines(&lines("a b c"), &lines("a b c")), lines(""));
        assert_eq!(new_lines(&[], &lines("a b")), lines("a b"));
        assert_eq!(new_lines(&lines("x y"), &lines("a b")), lines("a b"));
    }
}
