//! The verdict contract (DESIGN.md) read strictly from what a model or a
//! command answered: one JSON object, bare or alone in one fenced block,
//! with exactly the contract's fields. Anything else (prose around it, a
//! truncated object, an unknown verdict or field) is `abstain` with the
//! reason, never approval: a reviewer that cannot be read has not approved.

use serde::Deserialize;

use super::MAX_FINDINGS;
use crate::adapters::review::Answer;
use crate::events::{Finding, Severity, Verdict};

/// A summary longer than this is cut: the log keeps what people read.
const MAX_SUMMARY: usize = 4_000;
/// A finding's message, file and requirement past these are cut: a
/// finding is a sentence and a place, and each is stored (and shown)
/// more than once.
const MAX_MESSAGE: usize = 2_000;
const MAX_FILE: usize = 512;
const MAX_REQUIREMENT: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    verdict: WireVerdict,
    summary: String,
    #[serde(default)]
    findings: Vec<WireFinding>,
}

/// The verdicts a reviewer may give; `abstain` is never its to give.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireVerdict {
    Approve,
    FixesNeeded,
    MajorFlaw,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireFinding {
    severity: Severity,
    #[serde(default)]
    requirement: Option<String>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    line: Option<u32>,
    message: String,
}

/// The answer `text` gives, or `abstain` saying why it gives none. Every
/// field is capped, and the summary says what was cut.
pub fn read_answer(text: &str, model: &str) -> Answer {
    let wire = match parse(text) {
        Ok(wire) => wire,
        Err(why) => return Answer::abstain(model, format!("unreadable answer: {why}")),
    };
    let mut cuts = Vec::new();
    let mut cut = |text: &str, max: usize, what: &str| -> String {
        if text.len() > max {
            cuts.push(format!("{what} over {max} bytes"));
        }
        crate::adapters::secrets::keep_head(text, max)
    };
    let mut summary = cut(&wire.summary, MAX_SUMMARY, "the summary");
    let total = wire.findings.len();
    // The most severe first, so what the cap leaves out is never a
    // critical finding behind fifty minor ones.
    let mut wire_findings = wire.findings;
    wire_findings.sort_by_key(|f| super::severity_rank(f.severity));
    let findings: Vec<Finding> = wire_findings
        .into_iter()
        .take(MAX_FINDINGS)
        .enumerate()
        .map(|(i, f)| Finding {
            severity: f.severity,
            requirement: f.requirement.map(|r| {
                cut(
                    &r,
                    MAX_REQUIREMENT,
                    &format!("finding {}'s requirement", i + 1),
                )
            }),
            file: f
                .file
                .map(|p| cut(&p, MAX_FILE, &format!("finding {}'s file", i + 1))),
            line: f.line,
            message: cut(
                &f.message,
                MAX_MESSAGE,
                &format!("finding {}'s message", i + 1),
            ),
        })
        .collect();
    if total > MAX_FINDINGS {
        cuts.push(format!(
            "{} findings past the first {MAX_FINDINGS}",
            total - MAX_FINDINGS
        ));
    }
    if !cuts.is_empty() {
        summary.push_str(&format!("\n(deployflow cut: {})", cuts.join("; ")));
    }
    Answer {
        verdict: match wire.verdict {
            WireVerdict::Approve => Verdict::Approve,
            WireVerdict::FixesNeeded => Verdict::FixesNeeded,
            WireVerdict::MajorFlaw => Verdict::MajorFlaw,
        },
        summary,
        findings,
        model: model.to_string(),
        usage: None,
    }
}

fn parse(text: &str) -> Result<Wire, String> {
    let json = extract(text)?;
    serde_json::from_str(json).map_err(|e| format!("not the verdict contract: {e}"))
}

/// The JSON object alone: the whole answer, or the only thing in a single
/// fenced block (```json ... ```). Prose before or after is refused: which
/// part of it would be the reviewer's real verdict is not for us to guess.
pub fn extract(text: &str) -> Result<&str, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("the answer is empty".into());
    }
    if trimmed.starts_with('{') {
        return Ok(trimmed);
    }
    let Some(fenced) = trimmed.strip_prefix("```") else {
        return Err("prose where the JSON object should be".into());
    };
    let Some((opening, rest)) = fenced.split_once('\n') else {
        return Err("a fence with nothing in it".into());
    };
    if !matches!(opening.trim(), "" | "json") {
        return Err(format!("a fenced block of `{}`, not JSON", opening.trim()));
    }
    let Some(inner) = rest.trim_end().strip_suffix("```") else {
        return Err("an unclosed fence (a truncated answer?)".into());
    };
    if inner.contains("```") {
        return Err("more than one fenced block".into());
    }
    let inner = inner.trim();
    if inner.starts_with('{') {
        Ok(inner)
    } else {
        Err("the fenced block holds no JSON object".into())
    }
}

/// The contract as a JSON schema, for APIs that can hold a model to one
/// (OpenAI's `response_format`, Anthropic's tool input).
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["verdict", "summary", "findings"],
        "properties": {
            "verdict": {"type": "string", "enum": ["approve", "fixes_needed", "major_flaw"]},
            "summary": {"type": "string"},
            "findings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["severity", "requirement", "file", "line", "message"],
                    "properties": {
                        "severity": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
                        "requirement": {"type": ["string", "null"]},
                        "file": {"type": ["string", "null"]},
                        "line": {"type": ["integer", "null"], "minimum": 0},
                        "message": {"type": "string"}
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIXES: &str = r#"{"verdict": "fixes_needed", "summary": "REQ-2 untested",
        "findings": [{"severity": "high", "requirement": "REQ-2", "file": "src/x.rs",
        "line": 10, "message": "no test"}]}"#;

    #[test]
    fn a_bare_object_is_read() {
        let answer = read_answer(FIXES, "gpt");
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
        assert_eq!(answer.findings[0].requirement.as_deref(), Some("REQ-2"));
        assert_eq!(answer.findings[0].line, Some(10));
        assert_eq!(answer.model, "gpt");
    }

    #[test]
    fn one_fenced_block_alone_is_read() {
        let fenced = format!("```json\n{FIXES}\n```\n");
        assert_eq!(read_answer(&fenced, "m").verdict, Verdict::FixesNeeded);
        let bare_fence = format!("```\n{FIXES}\n```");
        assert_eq!(read_answer(&bare_fence, "m").verdict, Verdict::FixesNeeded);
    }

    #[test]
    fn anything_else_abstains_with_its_reason() {
        let cases = [
            ("", "empty"),
            (
                "Looks good to me! {\"verdict\": \"approve\", \"summary\": \"ok\"}",
                "prose",
            ),
            (
                "{\"verdict\": \"approve\", \"summary\": \"ok\"} Hope this helps!",
                "contract",
            ),
            (&format!("Here it is:\n```json\n{FIXES}\n```"), "prose"),
            (&format!("```json\n{FIXES}\n```\nAnd also this."), "fence"),
            ("```json\n{\"verdict\": \"approve\", \"summ", "unclosed"),
            ("{\"verdict\": \"approve\", \"summ", "contract"),
            ("{\"verdict\": \"lgtm\", \"summary\": \"ok\"}", "contract"),
            (
                "{\"verdict\": \"abstain\", \"summary\": \"ok\"}",
                "contract",
            ),
            (
                "{\"verdict\": \"approve\", \"summary\": \"ok\", \"score\": 9}",
                "contract",
            ),
            ("```python\nprint(1)\n```", "python"),
        ];
        for (text, why) in cases {
            let answer = read_answer(text, "m");
            assert_eq!(answer.verdict, Verdict::Abstain, "{text:?}");
            assert!(answer.summary.contains(why), "{text:?}: {}", answer.summary);
        }
    }

    #[test]
    fn findings_may_be_left_out_and_their_places_are_optional() {
        let answer = read_answer(r#"{"verdict":"approve","summary":"fine"}"#, "m");
        assert_eq!(answer.verdict, Verdict::Approve);
        assert!(answer.findings.is_empty());
        let nulls = r#"{"verdict":"major_flaw","summary":"s","findings":[{"severity":"critical",
            "requirement":null,"file":null,"line":null,"message":"m"}]}"#;
        assert_eq!(read_answer(nulls, "m").verdict, Verdict::MajorFlaw);
    }

    #[test]
    fn the_schema_asks_for_what_the_reader_accepts() {
        let schema = schema();
        assert_eq!(
            schema["properties"]["verdict"]["enum"],
            serde_json::json!(["approve", "fixes_needed", "major_flaw"])
        );
        assert_eq!(schema["additionalProperties"], false);
    }

    proptest! {
        /// Whatever a reviewer sends, the reader never panics, and only a
        /// well-formed contract object ever reads as approval.
        #[test]
        fn no_text_reads_as_approval_unless_it_is_the_contract(text in ".{0,300}") {
            let answer = read_answer(&text, "m");
            if answer.verdict == Verdict::Approve {
                let json = extract(&text).expect("an approval came from a JSON object");
                let value: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
                prop_assert_eq!(&value["verdict"], "approve");
            }
        }

        /// Text after a valid approval turns it into an abstention.
        #[test]
        fn trailing_prose_never_keeps_an_approval(tail in "[A-Za-z!.][A-Za-z !.]{0,39}") {
            let text = format!("{{\"verdict\":\"approve\",\"summary\":\"ok\"}} {tail}");
            prop_assert_eq!(read_answer(&text, "m").verdict, Verdict::Abstain);
        }
    }

    #[test]
    fn a_critical_finding_is_never_cut_behind_minor_ones() {
        let mut findings: Vec<serde_json::Value> = (0..60)
            .map(|i| serde_json::json!({"severity": "low", "message": format!("nit {i}")}))
            .collect();
        findings
            .push(serde_json::json!({"severity": "critical", "message": "the keys are public"}));
        let text =
            serde_json::json!({"verdict": "approve", "summary": "fine", "findings": findings})
                .to_string();
        let answer = read_answer(&text, "m");
        assert_eq!(answer.findings.len(), MAX_FINDINGS);
        assert_eq!(answer.findings[0].severity, Severity::Critical);
        assert!(
            answer.summary.contains("11 findings past the first 50"),
            "{}",
            answer.summary
        );
    }
}
