//! `[rollout]`'s canary keys (DESIGN.md, "Analysis and rollout"): the
//! steps, the analysis run beside the whole canary, and how the router
//! splits traffic between blue and green.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::analysis::AnalysisTemplate;
use crate::events::RolloutStep;
pub use crate::router::{Split, SplitBy};

/// `rollout.background_analysis`: a template's name, or the name with the
/// step it starts at (`{ name = "errors", starting_step = 2 }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Background {
    Name(String),
    From(BackgroundFrom),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackgroundFrom {
    pub name: String,
    /// The step (from 0) at whose start the run begins.
    #[serde(default)]
    pub starting_step: u32,
}

impl Background {
    /// The template and the step it starts at; `None` when none is named
    /// (DESIGN.md's `background_analysis = ""`).
    pub fn template(&self) -> Option<(&str, u32)> {
        let (name, from) = match self {
            Background::Name(name) => (name.as_str(), 0),
            Background::From(from) => (from.name.as_str(), from.starting_step),
        };
        (!name.trim().is_empty()).then_some((name, from))
    }
}

/// The most steps a canary may have, and allow-listed values a split.
pub const MAX_STEPS: usize = 100;
pub const MAX_ALLOW: usize = 1_000;
const MAX_PAUSE_S: u64 = 86_400;

type Problem = (String, Option<std::ops::Range<usize>>, String);

/// The canary's keys, checked against each other and the templates.
pub fn check(
    analysis: &BTreeMap<String, Spanned<AnalysisTemplate>>,
    canary: bool,
    steps: &[Spanned<RolloutStep>],
    background: Option<&Background>,
    split: &Split,
) -> Result<(), Problem> {
    if !canary {
        let stray = if !steps.is_empty() {
            Some("rollout.steps")
        } else if background.and_then(Background::template).is_some() {
            Some("rollout.background_analysis")
        } else {
            None
        };
        if let Some(key) = stray {
            return Err((
                key.into(),
                None,
                format!("`{key}` is a canary's: set rollout.strategy = \"canary\" to use it"),
            ));
        }
    }
    if canary && steps.is_empty() {
        return Err((
            "rollout.steps".into(),
            None,
            "a canary needs its steps, e.g. steps = [ { set_weight = 10 }, { pause_s = 60 }, { set_weight = 50 }, { pause = \"manual\" } ]".into(),
        ));
    }
    if steps.len() > MAX_STEPS {
        return Err((
            "rollout.steps".into(),
            None,
            format!("{} steps; a canary has at most {MAX_STEPS}", steps.len()),
        ));
    }
    for (i, step) in steps.iter().enumerate() {
        let key = format!("rollout.steps[{i}]");
        let at = Some(step.span());
        match step.get_ref() {
            RolloutStep::SetWeight(percent) if *percent > 100 => {
                return Err((
                    format!("{key}.set_weight"),
                    at,
                    format!("{percent} is not a percent: 0 to 100"),
                ));
            }
            RolloutStep::PauseS(seconds) if !(1..=MAX_PAUSE_S).contains(seconds) => {
                return Err((
                    format!("{key}.pause_s"),
                    at,
                    format!("{seconds} s: a pause is 1 to {MAX_PAUSE_S} s"),
                ));
            }
            RolloutStep::Analysis(name) => {
                ended_template(analysis, name)
                    .map_err(|message| (format!("{key}.analysis"), at, message))?;
            }
            _ => {}
        }
    }
    if let Some((name, from)) = background.and_then(Background::template) {
        if !analysis.contains_key(name) {
            return Err((
                "rollout.background_analysis".into(),
                None,
                format!("no [analysis.{name}] template"),
            ));
        }
        let as_step = steps
            .iter()
            .any(|step| matches!(step.get_ref(), RolloutStep::Analysis(n) if n == name));
        if as_step {
            return Err((
                "rollout.background_analysis".into(),
                None,
                format!(
                    "`{name}` is also a step's analysis: the background run needs a template of its own (copy it under another name)"
                ),
            ));
        }
        if from as usize >= steps.len() {
            return Err((
                "rollout.background_analysis.starting_step".into(),
                None,
                format!(
                    "step {from} does not exist: the canary has {} steps, counted from 0",
                    steps.len()
                ),
            ));
        }
    }
    split_problem(split)
        .map_err(|(field, message)| (format!("rollout.split.{field}"), None, message))
}

/// A step's template exists and ends on its own.
fn ended_template(
    analysis: &BTreeMap<String, Spanned<AnalysisTemplate>>,
    name: &str,
) -> Result<(), String> {
    match analysis.get(name) {
        None => Err(format!("no [analysis.{name}] template")),
        Some(template) if template.get_ref().count.0 == 0 => Err(format!(
            "analysis `{name}` has count = 0 (until the phase ends), and a step must end: give it a count, or run it as rollout.background_analysis"
        )),
        Some(_) => Ok(()),
    }
}

fn split_problem(split: &Split) -> Result<(), (&'static str, String)> {
    let key = split.key.trim();
    match split.by {
        SplitBy::Random if !key.is_empty() => {
            return Err((
                "key",
                "a random split has no key: set by = \"header\" or \"cookie\" to split on one"
                    .into(),
            ));
        }
        SplitBy::Random if !split.allow.is_empty() => {
            return Err((
                "allow",
                "an allow list names values of a header or a cookie: set by and key".into(),
            ));
        }
        SplitBy::Header if hyper::header::HeaderName::from_bytes(key.as_bytes()).is_err() => {
            return Err((
                "key",
                format!("`{key}` is not a header name (by = \"header\" needs one)"),
            ));
        }
        SplitBy::Cookie if key.is_empty() || !key.bytes().all(cookie_name_byte) => {
            return Err((
                "key",
                format!("`{key}` is not a cookie name (by = \"cookie\" needs one)"),
            ));
        }
        _ => {}
    }
    if split.allow.len() > MAX_ALLOW {
        return Err((
            "allow",
            format!("{} values; at most {MAX_ALLOW}", split.allow.len()),
        ));
    }
    Ok(())
}

/// RFC 6265's token characters.
fn cookie_name_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    const BASE: &str = r#"[app]
name = "hello"
[inputs]
requirements = "REQ.md"
tests = "./t.sh"
[runtime]
command = "./hello"
[analysis.errors]
count = 2
[[analysis.errors.metrics]]
name = "success"
provider = "router"
measure = "success_rate"
[analysis.watch]
count = 0
[[analysis.watch.metrics]]
name = "success"
provider = "router"
measure = "success_rate"
"#;

    fn parse(rollout: &str) -> Result<Config, (String, String)> {
        let text = format!("{BASE}[rollout]\n{rollout}\n");
        Config::parse(&text, Path::new("deployflow.toml")).map_err(|e| match e {
            ConfigError::Invalid { key, message, .. } => (key, message),
            other => (String::new(), other.to_string()),
        })
    }

    #[test]
    fn design_md_s_canary_reads() {
        let config = parse(
            r#"strategy = "canary"
steps = [ { set_weight = 10 }, { analysis = "errors" }, { pause_s = 30 },
          { set_weight = 50 }, { pause = "manual" } ]
background_analysis = { name = "watch", starting_step = 1 }
split = { by = "header", key = "x-user", allow = ["staff"] }"#,
        )
        .unwrap();
        assert_eq!(config.rollout.steps.len(), 5);
        let policy = crate::flow::Policy::of(&config);
        assert!(policy.canary);
        assert_eq!(policy.background, Some(("watch".into(), 1)));
        assert_eq!(config.rollout.split.allow, vec!["staff".to_string()]);
    }

    #[test]
    fn every_bad_canary_is_refused_naming_its_key() {
        let cases = [
            ("strategy = \"canary\"", "rollout.steps"),
            ("steps = [ { set_weight = 10 } ]", "rollout.steps"),
            (
                "strategy = \"canary\"\nsteps = [ { set_weight = 101 } ]",
                "rollout.steps[0].set_weight",
            ),
            (
                "strategy = \"canary\"\nsteps = [ { pause_s = 0 } ]",
                "rollout.steps[0].pause_s",
            ),
            (
                "strategy = \"canary\"\nsteps = [ { pause_s = 86401 } ]",
                "rollout.steps[0].pause_s",
            ),
            (
                "strategy = \"canary\"\nsteps = [ { analysis = \"nope\" } ]",
                "rollout.steps[0].analysis",
            ),
            (
                "strategy = \"canary\"\nsteps = [ { analysis = \"watch\" } ]",
                "rollout.steps[0].analysis",
            ),
            (
                "strategy = \"canary\"\nsteps = [ { analysis = \"errors\" } ]\nbackground_analysis = \"errors\"",
                "rollout.background_analysis",
            ),
            (
                "strategy = \"canary\"\nsteps = [ { set_weight = 5 } ]\nbackground_analysis = { name = \"watch\", starting_step = 1 }",
                "rollout.background_analysis.starting_step",
            ),
            (
                "strategy = \"canary\"\nsteps = [ { set_weight = 5 } ]\nsplit = { by = \"header\" }",
                "rollout.split.key",
            ),
            (
                "strategy = \"canary\"\nsteps = [ { set_weight = 5 } ]\nsplit = { by = \"cookie\", key = \"a b\" }",
                "rollout.split.key",
            ),
            (
                "strategy = \"canary\"\nsteps = [ { set_weight = 5 } ]\nsplit = { key = \"x-user\" }",
                "rollout.split.key",
            ),
            (
                "strategy = \"canary\"\nsteps = [ { set_weight = 5 } ]\nsplit = { allow = [\"a\"] }",
                "rollout.split.allow",
            ),
        ];
        for (rollout, key) in cases {
            match parse(rollout) {
                Err((got, message)) => assert!(got.starts_with(key), "{rollout}: {got}: {message}"),
                Ok(_) => panic!("{rollout} was taken"),
            }
        }
    }

    #[test]
    fn an_empty_background_is_none() {
        let config = parse(
            "strategy = \"canary\"\nsteps = [ { set_weight = 5 } ]\nbackground_analysis = \"\"",
        )
        .unwrap();
        assert_eq!(crate::flow::Policy::of(&config).background, None);
    }
}
