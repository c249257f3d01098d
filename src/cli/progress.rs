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
        self.line(&format!(
            "{:>8} ms  {:<24} {}",
            event["elapsed_ms"].as_i64().unwrap_or(0),
            event["kind"].as_str().unwrap_or_default(),
            event["text"].as_str().unwrap_or_default()
        ));
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
