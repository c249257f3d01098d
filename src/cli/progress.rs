//! A deployment's progress: on a terminal, a spinner with the phase, fix
//! tier, review round and elapsed time, events printed above it; otherwise
//! one plain line per event. Nothing with `--json`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress { bar, quiet }
    }

    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None if !self.quiet => println!("{text}"),
            None => {}
        }
    }

    pub fn event(&self, event: &Value) {
        if let Some(line) = for_people(event) {
            self.line(&line);
        }
    }

    pub fn state(&self, shown: &Value) {
        if let Some(bar) = &self.bar {
            let state = &shown["state"];
            bar.set_message(format!(
                "{} · phase {} · tier {} · round {}",
                shown["deployment"]["release"].as_str().unwrap_or_default(),
                state["phase"].as_str().unwrap_or_default(),
                state["tier"].as_str().unwrap_or_default(),
                state["round"]
            ));
        }
    }

    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Event kinds a person's timeline leaves out: bookkeeping that says an
/// effect began, which the next event says better. `--json` and `events`
/// keep them.
const BOOKKEEPING: &[&str] = &["effect_started"];

/// One event of a timeline as a person reads it (`show`, `deploy`), or
/// None for bookkeeping.
pub fn for_people(event: &Value) -> Option<String> {
    let kind = event["kind"].as_str().unwrap_or_default();
    if BOOKKEEPING.contains(&kind) {
        return None;
    }
    Some(format!(
        "{:>8} ms  {:<24} {}",
        event["elapsed_ms"].as_i64().unwrap_or(0),
        kind,
        event["text"].as_str().unwrap_or_default()
    ))
}

/// Why the deployment ended as it did, for the line under its header or
/// its last line: the history row's `reason`.
pub fn why(row: &Value) -> Option<String> {
    row["reason"]
        .as_str()
        .filter(|r| !r.is_empty())
        .map(|r| format!("why: {r}"))
}
