//! `requirements`: every requirement id the document defines must show up
//! in the tests (the test script, the test files) or in what the test run
//! printed; an id nothing mentions is a requirement nobody checked.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use async_trait::async_trait;
use regex::Regex;

use super::scan::{read_text, slash_path, walk_text_files};
use super::{MAX_FINDINGS, answer, finding};
use crate::adapters::review::{Answer, Member, ReviewBundle};
use crate::events::{Finding, Severity, Verdict};

// The patterns are literals exercised by the tests below: they compile.
static ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-Z][A-Z0-9]{1,15}-[0-9]{1,5}\b").expect("id pattern"));
static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ {0,3}#{1,6}\s").expect("heading pattern"));
static LIST_ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?:[-*+]|[0-9]+[.)])\s+(?:\[[ xX]\]\s+)?[*_`\[(]*([A-Z][A-Z0-9]{1,15}-[0-9]{1,5})\b",
    )
    .expect("list item pattern")
});
static TABLE_FIRST_CELL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*\|([^|]*)\|").expect("table pattern"));
/// Mentions in tests are matched loosely: a test *name* cannot hold a
/// hyphen, so `test_req_3` or `req_3_greets` must count for REQ-3.
static MENTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[A-Z][A-Z0-9]{1,15}[-_][0-9]{1,5}").expect("mention pattern")
});

#[derive(Debug, Clone, Copy, Default)]
pub struct RequirementsMember;

#[async_trait]
impl Member for RequirementsMember {
    fn name(&self) -> &str {
        "requirements"
    }

    async fn review(&self, bundle: &ReviewBundle) -> Answer {
        let ids = requirement_ids(&bundle.requirements);
        if ids.is_empty() {
            return answer(
                Verdict::FixesNeeded,
                "the requirements document names no requirement id, so no requirement can be traced to a test",
                vec![finding(
                    Severity::High,
                    "the requirements document defines no requirement ids (like REQ-1 or AUTH-12): \
                     give each requirement an id and name it in the test that checks it",
                )],
            );
        }
        let code_dir = bundle.code_dir.clone();
        let requirements_path = bundle.requirements_path.clone();
        let tests_command = bundle.tests_command.clone();
        let scanned = tokio::task::spawn_blocking(move || {
            scan_tests(&code_dir, &requirements_path, &tests_command)
        })
        .await;
        let tests = match scanned {
            Ok(Ok(tests)) => tests,
            Ok(Err(e)) => {
                return Answer::abstain(
                    super::MODEL,
                    format!(
                        "cannot read the code directory {}: {e}",
                        bundle.code_dir.display()
                    ),
                );
            }
            Err(e) => {
                return Answer::abstain(super::MODEL, format!("the requirements scan failed: {e}"));
            }
        };
        let output = bundle
            .test_run
            .as_ref()
            .map(|run| mentioned_ids(&run.output))
            .unwrap_or_default();
        judge(&ids, &tests, &output)
    }
}

/// Where the tests mention requirement ids.
#[derive(Debug, Default)]
struct TestMentions {
    /// The test command's own script(s), by path relative to the code.
    scripts: Vec<String>,
    script_ids: HashSet<String>,
    files: usize,
    file_ids: HashSet<String>,
}

fn judge(ids: &[String], tests: &TestMentions, output: &HashSet<String>) -> Answer {
    let sources: [(String, &HashSet<String>); 3] = [
        (
            match tests.scripts.as_slice() {
                [] => "the test script (none found)".to_string(),
                scripts => format!("the test script {}", scripts.join(", ")),
            },
            &tests.script_ids,
        ),
        (format!("{} test files", tests.files), &tests.file_ids),
        ("the test output".to_string(), output),
    ];
    let counts: Vec<String> = sources
        .iter()
        .map(|(name, found)| {
            let n = ids.iter().filter(|id| found.contains(*id)).count();
            format!("{n} in {name}")
        })
        .collect();
    let untraced: Vec<&String> = ids
        .iter()
        .filter(|id| !sources.iter().any(|(_, found)| found.contains(*id)))
        .collect();
    if untraced.is_empty() {
        return answer(
            Verdict::Approve,
            format!(
                "all {} requirement ids are traced to the tests: {}",
                ids.len(),
                counts.join(", ")
            ),
            Vec::new(),
        );
    }
    let mut summary = format!(
        "{} of {} requirement ids are not covered by any test or test output: {} (traced: {})",
        untraced.len(),
        ids.len(),
        untraced
            .iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        counts.join(", ")
    );
    if untraced.len() > MAX_FINDINGS {
        summary.push_str(&format!(
            "; the first {MAX_FINDINGS} of {} findings are listed",
            untraced.len()
        ));
    }
    let findings: Vec<Finding> = untraced
        .iter()
        .take(MAX_FINDINGS)
        .map(|id| Finding {
            requirement: Some((*id).clone()),
            ..finding(
                Severity::Medium,
                format!("{id} is not covered by any test or test output"),
            )
        })
        .collect();
    answer(Verdict::FixesNeeded, summary, findings)
}

/// The ids the document defines, in order: those in a heading, at the start
/// of a list item or in a table's first column. A document that defines
/// none that way (ids only in prose) has every id it names counted, so no
/// layout is refused — but a defining layout keeps cross-references such as
/// "see RFC-7231" out of the list.
fn requirement_ids(doc: &str) -> Vec<String> {
    let mut defined = Vec::new();
    let mut fenced = false;
    for line in doc.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        if HEADING.is_match(line) {
            defined.extend(ID.find_iter(line).map(|m| m.as_str()));
        } else if let Some(caps) = LIST_ITEM.captures(line) {
            defined.extend(caps.get(1).map(|m| m.as_str()));
        } else if let Some(cell) = TABLE_FIRST_CELL.captures(line).and_then(|c| c.get(1)) {
            defined.extend(ID.find_iter(cell.as_str()).map(|m| m.as_str()));
        }
    }
    if defined.is_empty() {
        defined.extend(ID.find_iter(doc).map(|m| m.as_str()));
    }
    let mut seen = HashSet::new();
    defined
        .into_iter()
        .filter(|id| seen.insert(*id))
        .map(str::to_string)
        .collect()
}

/// Every id-shaped mention in `text`, normalised to the document's form
/// (`req_3` → `REQ-3`). A mention glued to letters or digits (`XREQ-3`,
/// `REQ-31`) is another word, not this id.
fn mentioned_ids(text: &str) -> HashSet<String> {
    let bytes = text.as_bytes();
    MENTION
        .find_iter(text)
        .filter(|m| {
            let before = m.start().checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(m.end()).copied();
            !before.is_some_and(|b| b.is_ascii_alphanumeric())
                && !after.is_some_and(|b| b.is_ascii_alphanumeric())
        })
        .map(|m| m.as_str().to_ascii_uppercase().replace('_', "-"))
        .collect()
}

/// Reads the tests: the command's script inside the code, then the test
/// files. Blocking: run it off the async workers.
fn scan_tests(
    code_dir: &Path,
    requirements_path: &Path,
    tests_command: &str,
) -> io::Result<TestMentions> {
    let root = code_dir.canonicalize()?;
    let requirements = requirements_path.canonicalize().ok();
    let mut mentions = TestMentions::default();
    let mut script_paths: Vec<PathBuf> = Vec::new();
    for path in script_files(&root, tests_command) {
        if let Some(text) = read_text(&path) {
            if let Ok(rel) = path.strip_prefix(&root) {
                mentions.scripts.push(slash_path(rel));
            }
            mentions.script_ids.extend(mentioned_ids(&text));
            script_paths.push(path);
        }
    }
    walk_text_files(&root, is_test_path, |file| {
        // The document itself would trace every id it defines.
        if requirements.as_ref() == Some(&file.path) || script_paths.contains(&file.path) {
            return;
        }
        mentions.files += 1;
        mentions.file_ids.extend(mentioned_ids(&file.text));
    })?;
    Ok(mentions)
}

/// The files inside the code that the test command names: its first word
/// (`./smoke-test.sh`), or the script an interpreter is given
/// (`bash tests/smoke.sh`). Anything resolving outside the code is not the
/// release's test.
fn script_files(root: &Path, tests_command: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for word in tests_command.split_whitespace() {
        let word = word.trim_matches(|c| c == '"' || c == '\'');
        if word.is_empty() || word.starts_with('-') {
            continue;
        }
        let Ok(path) = root.join(word).canonicalize() else {
            continue;
        };
        if path.starts_with(root) && path.is_file() && !files.contains(&path) {
            files.push(path);
        }
    }
    files
}

/// A test by where it lives (`tests/`, `test/`, `spec/`, `__tests__/`) or by
/// its name (`smoke-test.sh`, `test_api.py`, `user.spec.ts`).
fn is_test_path(rel: &Path) -> bool {
    let in_test_dir = rel.components().any(|c| {
        let name = c.as_os_str().to_string_lossy().to_ascii_lowercase();
        matches!(name.as_str(), "tests" | "test" | "spec" | "__tests__")
    });
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    in_test_dir || name.contains("test") || name.contains(".spec.") || name.contains("_spec.")
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::test_support::{bundle, run};
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, text).expect("write");
    }

    const DOC: &str = "# Hello\n\n## REQ-1: greets\nSee RFC-7231.\n\n- REQ-2: waves\n\n\
                       | id | what |\n|----|------|\n| REQ-3 | says bye |\n";

    #[test]
    fn ids_are_taken_from_headings_list_items_and_table_first_columns() {
        assert_eq!(requirement_ids(DOC), ["REQ-1", "REQ-2", "REQ-3"]);
        let nested = "1. [ ] **AUTH-12** logs in\n* `AUTH-13` logs out\n\
                      ```\n- AUTH-99 in a code block\n```\n";
        assert_eq!(requirement_ids(nested), ["AUTH-12", "AUTH-13"]);
    }

    #[test]
    fn ids_only_in_prose_are_taken_from_anywhere() {
        let doc = "The service greets (REQ-1) and waves (REQ-2), then REQ-1 again. XREQ-1a no.";
        assert_eq!(requirement_ids(doc), ["REQ-1", "REQ-2"]);
        assert!(requirement_ids("Just prose, no ids; UTF8 and R-1 are not ids.").is_empty());
    }

    #[test]
    fn mentions_match_whole_ids_in_test_name_form() {
        let found = mentioned_ids("fn test_req_1_greets() {} // REQ-20\nXREQ-3 REQ-40a req_5");
        let mut found: Vec<String> = found.into_iter().collect();
        found.sort();
        assert_eq!(found, ["REQ-1", "REQ-20", "REQ-5", "XREQ-3"]);
    }

    #[tokio::test]
    async fn every_traced_id_approves_and_says_where() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "smoke.sh", "curl $DEPLOYFLOW_TARGET_URL # REQ-1\n");
        write(root, "tests/api.rs", "#[test]\nfn req_2_waves() {}\n");
        let answer = RequirementsMember
            .review(&bundle(
                root,
                DOC,
                "./smoke.sh --fast",
                Some(run(2, 0, 0, "REQ-3 ok")),
            ))
            .await;
        assert_eq!(answer.verdict, Verdict::Approve, "{}", answer.summary);
        assert!(answer.findings.is_empty());
        let summary = &answer.summary;
        assert!(summary.contains("all 3 requirement ids"), "{summary}");
        assert!(
            summary.contains("1 in the test script smoke.sh"),
            "{summary}"
        );
        assert!(summary.contains("1 in 1 test files"), "{summary}");
        assert!(summary.contains("1 in the test output"), "{summary}");
    }

    #[tokio::test]
    async fn an_id_traced_only_through_the_test_output_approves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let answer = RequirementsMember
            .review(&bundle(
                dir.path(),
                "- REQ-7: answers health checks",
                "cargo test",
                Some(run(1, 0, 0, "test req_7_health ... ok")),
            ))
            .await;
        assert_eq!(answer.verdict, Verdict::Approve, "{}", answer.summary);
    }

    #[tokio::test]
    async fn a_requirement_without_a_test_needs_fixes_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "tests/api.rs", "// REQ-1 REQ-2\n");
        // Mentions outside tests, in skipped directories or in the document
        // itself are not coverage.
        write(root, "src/main.rs", "// REQ-3\n");
        write(root, "target/test_out.rs", "// REQ-3\n");
        write(root, "tests/REQUIREMENTS.md", DOC);
        let mut b = bundle(root, DOC, "cargo test", None);
        b.requirements_path = root.join("tests/REQUIREMENTS.md");
        let answer = RequirementsMember.review(&b).await;
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
        assert_eq!(answer.findings.len(), 1);
        let finding = &answer.findings[0];
        assert_eq!(finding.severity, Severity::Medium);
        assert_eq!(finding.requirement.as_deref(), Some("REQ-3"));
        assert_eq!(
            finding.message,
            "REQ-3 is not covered by any test or test output"
        );
        assert!(answer.summary.contains("REQ-3"));
    }

    #[tokio::test]
    async fn a_document_without_ids_needs_fixes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let answer = RequirementsMember
            .review(&bundle(dir.path(), "# Hello\nIt greets.", "", None))
            .await;
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
        assert_eq!(answer.findings[0].severity, Severity::High);
    }

    #[tokio::test]
    async fn an_unreadable_code_dir_abstains() {
        let dir = tempfile::tempdir().expect("tempdir");
        let answer = RequirementsMember
            .review(&bundle(&dir.path().join("absent"), DOC, "", None))
            .await;
        assert_eq!(answer.verdict, Verdict::Abstain);
        assert!(answer.summary.contains("cannot read the code directory"));
    }

    #[test]
    fn a_script_outside_the_code_is_not_the_release_test() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("code");
        write(&root, "run.sh", "");
        write(dir.path(), "outside.sh", "");
        let root = root.canonicalize().expect("canonical");
        let found = script_files(&root, "./run.sh ../outside.sh cargo");
        assert_eq!(found, [root.join("run.sh")]);
    }
}
