//! `hygiene`: what must not ship — private keys and hard-coded secrets
//! (a major flaw: the value is exposed to everyone who gets the code, and
//! must be rotated) and debug leftovers (fixes needed).
//!
//! A finding names the kind of secret and where it is, never its value:
//! findings go into the event log, and no secret value may (DESIGN.md,
//! "Invariants").

use std::sync::LazyLock;

use async_trait::async_trait;
use regex::Regex;

use super::scan::{TextFile, WalkStats, walk_text_files};
use super::{MAX_FINDINGS, answer, severity_rank};
use crate::adapters::review::{Answer, Member, ReviewBundle};
use crate::events::{Finding, Severity, Verdict};

// The patterns are literals exercised by the tests below: they compile.
static PRIVATE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----").expect("pem pattern")
});
/// The key's base64 body: a header alone (a parser's constant, a doc) is
/// no key.
static KEY_BODY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/]{32,}").expect("body pattern"));
static AWS_KEY_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b").expect("aws pattern"));
static GITHUB_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})").expect("gh pattern")
});
static SK_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bsk-[A-Za-z0-9_-]{20,}").expect("sk pattern"));
/// `name = "literal"` where the name ends in a secret's word, so
/// `token_url = "..."` or `password_prompt = "..."` are not secrets.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)\b([a-z0-9_]*?(?:password|passwd|secret|api[_-]?key|access[_-]?key|token))["']?\s*(?::=|=>|=|:)\s*(?:"([^"\\\n]{8,})"|'([^'\\\n]{8,})')"#,
    )
    .expect("assignment pattern")
});

/// Debug leftovers per language: looked for only in that language's files,
/// where the call means what it looks like (a doc may well show one).
static DEBUG_LEFTOVERS: LazyLock<Vec<(&'static [&'static str], &'static str, Regex)>> =
    LazyLock::new(|| {
        const JS: &[&str] = &[
            "js", "jsx", "ts", "tsx", "mjs", "cjs", "vue", "svelte", "html",
        ];
        let leftovers: [(&'static [&'static str], &'static str, &str); 6] = [
            (&["rs"], "dbg!", r"\bdbg!\s*\("),
            (JS, "console.log", r"\bconsole\.log\s*\("),
            (JS, "debugger", r"\bdebugger\s*;"),
            (&["py"], "pdb.set_trace", r"\bi?pdb\.set_trace\s*\(\s*\)"),
            (&["py"], "breakpoint", r"\bbreakpoint\s*\(\s*\)"),
            (&["rb", "erb", "rake"], "binding.pry", r"\bbinding\.pry\b"),
        ];
        leftovers
            .into_iter()
            .map(|(exts, name, pattern)| (exts, name, Regex::new(pattern).expect("debug pattern")))
            .collect()
    });

/// Values that stand for a secret rather than being one.
const PLACEHOLDER_WORDS: [&str; 22] = [
    "changeme",
    "change_me",
    "change-me",
    "example",
    "placeholder",
    "your_",
    "your-",
    "yourpass",
    "dummy",
    "redacted",
    "fake",
    "sample",
    "mock",
    "test",
    "todo",
    "fixme",
    "replace",
    "xxxx",
    "****",
    "...",
    "${",
    "{{",
];

#[derive(Debug, Clone, Copy, Default)]
pub struct HygieneMember;

#[async_trait]
impl Member for HygieneMember {
    fn name(&self) -> &str {
        "hygiene"
    }

    async fn review(&self, bundle: &ReviewBundle) -> Answer {
        let code_dir = bundle.code_dir.clone();
        let scanned = tokio::task::spawn_blocking(move || {
            let mut report = Report::default();
            let stats = walk_text_files(&code_dir, |_| true, |file| report.scan(&file))?;
            Ok::<_, std::io::Error>((report, stats))
        })
        .await;
        match scanned {
            Ok(Ok((report, stats))) => report.into_answer(stats),
            Ok(Err(e)) => Answer::abstain(
                super::MODEL,
                format!(
                    "cannot read the code directory {}: {e}",
                    bundle.code_dir.display()
                ),
            ),
            Err(e) => Answer::abstain(super::MODEL, format!("the hygiene scan failed: {e}")),
        }
    }
}

#[derive(Debug, Default)]
struct Report {
    findings: Vec<Finding>,
    private_keys: usize,
    secrets: usize,
    leftovers: usize,
}

impl Report {
    fn scan(&mut self, file: &TextFile) {
        let extension = file
            .rel
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .unwrap_or_default();
        let mut offset = 0;
        for (index, line) in file.text.split_inclusive('\n').enumerate() {
            let after = &file.text[offset + line.len()..];
            offset += line.len();
            let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let at = |severity, message: String| Finding {
                severity,
                requirement: None,
                file: Some(file.rel.clone()),
                line: Some(line_no),
                message,
            };
            if let Some(kind) = private_key(line, after) {
                self.private_keys += 1;
                self.findings.push(at(
                    Severity::Critical,
                    format!(
                        "a {kind} private key is committed with the code: remove it and rotate the key"
                    ),
                ));
            } else if let Some(secret) = hard_coded_secret(line) {
                self.secrets += 1;
                self.findings.push(at(
                    Severity::Critical,
                    format!(
                        "a hard-coded {secret}: read it from a secret (runtime.secrets) and rotate it"
                    ),
                ));
            }
            for (extensions, name, pattern) in DEBUG_LEFTOVERS.iter() {
                if extensions.contains(&extension.as_str()) && pattern.is_match(line) {
                    self.leftovers += 1;
                    self.findings.push(at(
                        Severity::Low,
                        format!("debug leftover `{name}`: remove it before release"),
                    ));
                }
            }
        }
    }

    fn into_answer(mut self, stats: WalkStats) -> Answer {
        let scanned = format!(
            "{} files scanned, {} skipped as binary, over 1 MiB or unreadable",
            stats.scanned, stats.skipped
        );
        if self.findings.is_empty() {
            return answer(
                Verdict::Approve,
                format!("no private key, hard-coded secret or debug leftover ({scanned})"),
                Vec::new(),
            );
        }
        let verdict = if self.private_keys + self.secrets > 0 {
            Verdict::MajorFlaw
        } else {
            Verdict::FixesNeeded
        };
        let total = self.findings.len();
        let mut summary = format!(
            "{} private keys, {} hard-coded secrets, {} debug leftovers ({scanned})",
            self.private_keys, self.secrets, self.leftovers
        );
        if total > MAX_FINDINGS {
            summary.push_str(&format!(
                "; the {MAX_FINDINGS} most severe of {total} findings are listed"
            ));
        }
        self.findings.sort_by_key(|f| severity_rank(f.severity));
        self.findings.truncate(MAX_FINDINGS);
        answer(verdict, summary, self.findings)
    }
}

/// A whole PEM private key, header to footer.
static PEM_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    )
    .expect("pem block pattern")
});

/// `text` with everything this member would flag as a secret replaced by
/// `[redacted]`: what a model reviewer is shown of the release must not
/// carry a key the release leaked, whether or not it is a configured secret.
pub fn redact_key_material(text: &str) -> String {
    let text = PEM_BLOCK.replace_all(text, "[redacted private key]");
    let text = AWS_KEY_ID.replace_all(&text, |c: &regex::Captures| {
        masked(&c[0], |k| !k.contains("EXAMPLE"))
    });
    let text = GITHUB_TOKEN.replace_all(&text, |c: &regex::Captures| {
        masked(&c[0], |k| !is_placeholder(k))
    });
    let text = SK_KEY.replace_all(&text, |c: &regex::Captures| {
        masked(&c[0], looks_like_sk_key)
    });
    ASSIGNMENT
        .replace_all(&text, |c: &regex::Captures| {
            let whole = &c[0];
            match c.get(2).or_else(|| c.get(3)) {
                Some(value)
                    if !is_placeholder(value.as_str())
                        && !value.as_str().contains(char::is_whitespace) =>
                {
                    whole.replace(value.as_str(), "[redacted]")
                }
                _ => whole.to_string(),
            }
        })
        .into_owned()
}

fn masked(found: &str, real: impl Fn(&str) -> bool) -> String {
    if real(found) {
        "[redacted]".to_string()
    } else {
        found.to_string()
    }
}

/// The key's kind ("RSA", "OPENSSH", ...) when `line` starts a PEM private
/// key with its body following (on the next lines, or in the same string
/// literal after `\n` escapes).
fn private_key(line: &str, after: &str) -> Option<String> {
    let found = PRIVATE_KEY.captures(line)?;
    let header_end = found.get(0)?.end();
    // A key's body is a few KiB at most: no need to look further.
    let after = match after.char_indices().nth(8192) {
        Some((cut, _)) => &after[..cut],
        None => after,
    };
    let rest = format!("{}{after}", &line[header_end..]);
    let body = rest
        .find("-----END")
        .map_or(rest.as_str(), |end| &rest[..end]);
    if !KEY_BODY.is_match(body) {
        return None;
    }
    let kind = found.get(1).map_or("", |k| k.as_str().trim());
    Some(if kind.is_empty() {
        "PEM".to_string()
    } else {
        format!("PEM ({kind})")
    })
}

/// What kind of secret `line` hard-codes, masked: a format's public prefix
/// and the length, never a character of the secret itself.
fn hard_coded_secret(line: &str) -> Option<String> {
    if let Some(m) = AWS_KEY_ID
        .find_iter(line)
        .find(|m| !m.as_str().contains("EXAMPLE"))
    {
        let prefix = &m.as_str()[..4];
        return Some(format!("AWS access key id ({prefix}…, masked)"));
    }
    if let Some(m) = GITHUB_TOKEN
        .find_iter(line)
        .find(|m| !is_placeholder(m.as_str()))
    {
        let prefix = if m.as_str().starts_with("github_pat_") {
            "github_pat_"
        } else {
            &m.as_str()[..4]
        };
        return Some(format!(
            "GitHub token ({prefix}…, {} characters, masked)",
            m.as_str().len()
        ));
    }
    if let Some(m) = SK_KEY
        .find_iter(line)
        .find(|m| looks_like_sk_key(m.as_str()))
    {
        return Some(format!(
            "API key (sk-…, {} characters, masked)",
            m.as_str().len()
        ));
    }
    ASSIGNMENT.captures_iter(line).find_map(|caps| {
        let name = caps.get(1)?.as_str();
        let value = caps.get(2).or_else(|| caps.get(3))?.as_str();
        (!is_placeholder(value) && !value.contains(char::is_whitespace)).then(|| {
            format!(
                "value assigned to `{name}` ({} characters, masked)",
                value.chars().count()
            )
        })
    })
}

/// A real `sk-` key has a long random segment of letters and digits;
/// kebab-case words (`sk-learn-...`) and `sk-xxxx` stand-ins do not.
fn looks_like_sk_key(candidate: &str) -> bool {
    let body = &candidate[3..];
    !is_placeholder(body)
        && body.split(['-', '_']).any(|segment| {
            segment.len() >= 16
                && segment.chars().any(|c| c.is_ascii_digit())
                && segment.chars().any(|c| c.is_ascii_alphabetic())
        })
}

fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    // `$API_KEY`, `%(key)s`, `env:KEY`, `<token>`: a lookup or a template.
    let lookup = lower.starts_with(['$', '%', '<']) || lower.starts_with("env:");
    lookup || distinct.len() < 5 || PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::super::test_support::bundle;
    use super::*;

    // Fixtures are assembled from pieces so this file never holds a
    // secret-shaped literal or a debug leftover: the tool can review itself.
    fn pem_key() -> (String, String) {
        let body = "MIIEowIBAAKCAQEAx3k9Qm2Lr8FvP0aZt7WcYq1Nb5Jd";
        let pem = format!(
            "{dashes}BEGIN RSA {pk}{dashes}\n{body}\nQm2Lr8FvP0aZt7WcYq1Nb5Jd4Ke2\n{dashes}END RSA {pk}{dashes}\n",
            dashes = "-----",
            pk = "PRIVATE KEY",
        );
        (pem, body.to_string())
    }

    fn sk_key() -> String {
        ["sk", "-proj-", "T3BlbkFJ9xQ2mZ7vLk4PwR8sN1cYb6Hd0Ge5Uf"].concat()
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, text).expect("write");
    }

    async fn review(root: &Path) -> Answer {
        HygieneMember.review(&bundle(root, "", "", None)).await
    }

    /// No window of the secret, however short, leaks anywhere in the answer.
    fn assert_masked(answer: &Answer, secret: &str) {
        let json = serde_json::to_string(answer).expect("serialize");
        let chars: Vec<char> = secret.chars().collect();
        for window in chars.windows(8) {
            let window: String = window.iter().collect();
            assert!(!json.contains(&window), "{window} leaked in {json}");
        }
    }

    #[tokio::test]
    async fn clean_code_is_approved() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "src/main.rs",
            "fn main() {\n    let token = std::env::var(\"API_TOKEN\");\n    println!(\"hi\");\n}\n",
        );
        let answer = review(dir.path()).await;
        assert_eq!(answer.verdict, Verdict::Approve, "{answer:?}");
        assert!(answer.summary.contains("1 files scanned"));
    }

    #[tokio::test]
    async fn a_private_key_is_a_major_flaw_and_its_material_stays_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (pem, body) = pem_key();
        write(dir.path(), "deploy/id_rsa", &format!("\n{pem}"));
        let answer = review(dir.path()).await;
        assert_eq!(answer.verdict, Verdict::MajorFlaw);
        let finding = &answer.findings[0];
        assert_eq!(finding.severity, Severity::Critical);
        assert_eq!(finding.file.as_deref(), Some("deploy/id_rsa"));
        assert_eq!(finding.line, Some(2));
        assert!(finding.message.contains("private key"));
        assert!(!finding.message.contains(&body[..12]));
        assert_masked(&answer, &body);
    }

    #[tokio::test]
    async fn a_key_header_without_key_material_is_not_a_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let header = format!("{d}BEGIN {pk}{d}", d = "-----", pk = "PRIVATE KEY");
        write(
            dir.path(),
            "src/pem.rs",
            &format!("const HEADER: &str = \"{header}\";\nfn parse() {{}}\n"),
        );
        assert_eq!(review(dir.path()).await.verdict, Verdict::Approve);
    }

    #[tokio::test]
    async fn a_hard_coded_sk_api_key_is_a_masked_major_flaw() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = sk_key();
        write(
            dir.path(),
            "app/settings.py",
            &format!("import os\napi_key = \"{key}\"\n"),
        );
        let answer = review(dir.path()).await;
        assert_eq!(answer.verdict, Verdict::MajorFlaw);
        let finding = &answer.findings[0];
        assert_eq!(finding.severity, Severity::Critical);
        assert_eq!(finding.file.as_deref(), Some("app/settings.py"));
        assert_eq!(finding.line, Some(2));
        assert!(finding.message.contains("sk-…"), "{}", finding.message);
        assert_masked(&answer, &key[3..]);
    }

    #[tokio::test]
    async fn token_formats_and_assigned_literals_are_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let aws = ["AK", "IA", "Z7Q4M2X9K3L8P5R1"].concat();
        let github = ["gh", "p_", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"].concat();
        let password = ["Tr0ub4dor", "&3horse"].concat();
        let text =
            format!("aws = {aws}\nGITHUB = '{github}'\n  \"db_password\": \"{password}\",\n");
        write(dir.path(), "config/app.json", &text);
        let answer = review(dir.path()).await;
        assert_eq!(answer.verdict, Verdict::MajorFlaw);
        let lines: Vec<Option<u32>> = answer.findings.iter().map(|f| f.line).collect();
        assert_eq!(lines, [Some(1), Some(2), Some(3)]);
        assert!(answer.findings[0].message.contains("AWS access key id"));
        assert!(answer.findings[1].message.contains("GitHub token"));
        assert!(answer.findings[2].message.contains("`db_password`"));
        for secret in [&aws[4..], &github[4..], password.as_str()] {
            assert_masked(&answer, secret);
        }
    }

    #[tokio::test]
    async fn placeholders_and_lookups_are_not_flagged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = [
            "password = \"changeme\"",
            "api_key = \"${API_KEY}\"",
            "secret: \"your-secret-here\"",
            "token = os.environ[\"GITHUB_TOKEN\"]",
            "api_key = process.env.API_KEY",
            "password = \"<password>\"",
            "aws_key = \"AKIAIOSFODNN7EXAMPLE\"",
            "api_key = \"sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
            "token_url = \"https://auth.example.org/token\"",
            "password_prompt = \"Enter your password\"",
            "if password == \"hunter2hunter2\" {}",
        ]
        .join("\n");
        write(dir.path(), "src/config.py", &text);
        let answer = review(dir.path()).await;
        assert_eq!(answer.verdict, Verdict::Approve, "{answer:?}");
    }

    #[tokio::test]
    async fn a_debug_leftover_is_a_low_finding_that_needs_fixes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let leftover = format!("fn main() {{\n    let x = 1;\n    {}!(x);\n}}\n", "dbg");
        write(dir.path(), "src/main.rs", &leftover);
        // The same call in prose is not a leftover.
        write(dir.path(), "README.md", &leftover);
        let answer = review(dir.path()).await;
        assert_eq!(answer.verdict, Verdict::FixesNeeded);
        assert_eq!(answer.findings.len(), 1);
        let finding = &answer.findings[0];
        assert_eq!(finding.severity, Severity::Low);
        assert_eq!(finding.file.as_deref(), Some("src/main.rs"));
        assert_eq!(finding.line, Some(3));
    }

    #[tokio::test]
    async fn build_output_and_dependencies_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (pem, _) = pem_key();
        write(dir.path(), "target/release/key.pem", &pem);
        write(
            dir.path(),
            "node_modules/lib/index.js",
            &format!("{}.log(1);", "console"),
        );
        write(dir.path(), "src/lib.rs", "pub fn f() {}\n");
        let answer = review(dir.path()).await;
        assert_eq!(answer.verdict, Verdict::Approve, "{answer:?}");
    }

    #[tokio::test]
    async fn findings_are_capped_with_the_worst_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let leftovers = format!("{}.log(1);\n", "console").repeat(60);
        write(dir.path(), "a.js", &leftovers);
        let (pem, _) = pem_key();
        write(dir.path(), "z.pem", &pem);
        let answer = review(dir.path()).await;
        assert_eq!(answer.verdict, Verdict::MajorFlaw);
        assert_eq!(answer.findings.len(), MAX_FINDINGS);
        assert_eq!(answer.findings[0].severity, Severity::Critical);
        assert!(
            answer.summary.contains("50 most severe of 61"),
            "{}",
            answer.summary
        );
    }

    #[tokio::test]
    async fn an_unreadable_code_dir_abstains() {
        let dir = tempfile::tempdir().expect("tempdir");
        let answer = review(&dir.path().join("absent")).await;
        assert_eq!(answer.verdict, Verdict::Abstain);
        assert!(answer.summary.contains("cannot read the code directory"));
    }

    #[test]
    fn key_material_is_redacted_for_reviewers_and_the_rest_kept() {
        let (pem, body) = pem_key();
        let sk = sk_key();
        let text = format!(
            "{pem}let client = Client::new(\"{sk}\");\napi_key = \"Zq8vLw3mNx7rTb2k\"\nname = \"greeting service\"\nsk-learn-example\n"
        );
        let redacted = redact_key_material(&text);
        assert!(!redacted.contains(&body), "{redacted}");
        assert!(!redacted.contains(&sk), "{redacted}");
        assert!(!redacted.contains("Zq8vLw3mNx7rTb2k"), "{redacted}");
        assert!(redacted.contains("[redacted private key]"));
        assert!(redacted.contains("api_key = \"[redacted]\""), "{redacted}");
        assert!(redacted.contains("greeting service"));
        assert!(redacted.contains("sk-learn-example"));
    }
}
