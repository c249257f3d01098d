//! A fixer that is a command: a coding agent (or any script) run with
//! `sh -c` in the release's code directory. It learns what is wrong from
//! a file (`DEPLOYFLOW_DIAGNOSIS_FILE`), from `DEPLOYFLOW_DIAGNOSIS` and on
//! stdin; it fixes by changing files. The change is read off the code
//! directory (a snapshot before, one after) and recorded as a diff. A run
//! that fails or times out has its changes put back, so a half-done edit
//! never reaches the next attempt.

use std::io::Write;
use std::time::Duration;

use async_trait::async_trait;

use super::snapshot::Snapshot;
use super::{FixReport, FixRequest, Fixer, recorded};
use crate::adapters::shell::{STDERR_LINES, last_lines, run};
use crate::events::FixOutcome;

/// The diagnosis in `DEPLOYFLOW_DIAGNOSIS` is cut to this (environment
/// strings have a size limit); the file and stdin carry all of it.
const MAX_ENV_DIAGNOSIS: usize = 32 * 1024;

pub struct CommandFixer {
    /// The member it speaks for.
    pub name: String,
    pub command: String,
    pub timeout: Duration,
}

#[async_trait]
impl Fixer for CommandFixer {
    async fn fix(&self, request: &FixRequest) -> FixReport {
        let not_applied = |action: String| FixReport {
            action,
            outcome: FixOutcome::NotApplied,
            patches: Vec::new(),
        };
        let file = match diagnosis_file(&request.diagnosis) {
            Ok(file) => file,
            Err(e) => return not_applied(format!("could not write the diagnosis file: {e}")),
        };
        let path = file.path().to_string_lossy().into_owned();
        let short = crate::adapters::secrets::keep_head(&request.diagnosis, MAX_ENV_DIAGNOSIS);
        let attempt = request.attempt.to_string();
        let env = [
            ("DEPLOYFLOW_DIAGNOSIS_FILE", path.as_str()),
            ("DEPLOYFLOW_DIAGNOSIS", short.as_str()),
            ("DEPLOYFLOW_APP", request.app.as_str()),
            ("DEPLOYFLOW_RELEASE", request.release.as_str()),
            ("DEPLOYFLOW_TIER", request.tier.name()),
            ("DEPLOYFLOW_ATTEMPT", attempt.as_str()),
        ];
        let input = format!(
            "Release {} of {} failed on its way to production. Fix the code in this \
             directory so that it works, changing nothing else. What is wrong:\n\n{}\n",
            request.release, request.app, request.diagnosis
        );

        let before = Snapshot::take_off_thread(&request.code_dir).await;
        let ran = run(
            &self.command,
            &request.code_dir,
            input.as_bytes(),
            self.timeout,
            &env,
        )
        .await;
        let after = Snapshot::take_off_thread(&request.code_dir).await;
        let diff = before.diff(&after);

        let failure = match &ran {
            Ok(output) if output.code == Some(0) => None,
            Ok(output) => Some(format!(
                "`{}` exited with {}: {}",
                self.command,
                output
                    .code
                    .map_or("a signal".to_string(), |c| format!("code {c}")),
                last_lines(&output.stderr, STDERR_LINES)
            )),
            Err(why) => Some(format!("`{}`: {why}", self.command)),
        };
        match failure {
            None if diff.is_empty() => {
                not_applied(format!("`{}` ran and changed nothing", self.command))
            }
            None => FixReport {
                action: format!("`{}` changed the code", self.command),
                outcome: FixOutcome::Applied,
                patches: vec![recorded(&self.name, true, &diff)],
            },
            Some(why) => {
                let mut action = why;
                if !diff.is_empty() {
                    let root = request.code_dir.clone();
                    let (before, after) = (before.clone(), after.clone());
                    let unrestored =
                        tokio::task::spawn_blocking(move || before.restore(&root, &after))
                            .await
                            .unwrap_or_else(|_| vec!["(the restore did not run)".into()]);
                    action.push_str("; its changes were put back");
                    if !unrestored.is_empty() {
                        action.push_str(&format!(", except {}", unrestored.join(", ")));
                    }
                }
                FixReport {
                    action,
                    outcome: FixOutcome::NotApplied,
                    patches: if diff.is_empty() {
                        Vec::new()
                    } else {
                        vec![recorded(&self.name, false, &diff)]
                    },
                }
            }
        }
    }
}

/// The diagnosis in a private temporary file, removed when dropped.
fn diagnosis_file(diagnosis: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new()
        .prefix("deployflow-diagnosis-")
        .suffix(".txt")
        .tempfile()?;
    file.write_all(diagnosis.as_bytes())?;
    file.flush()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Tier;

    fn request(dir: &std::path::Path) -> FixRequest {
        FixRequest {
            app: "hello".into(),
            release: "v2".into(),
            tier: Tier::Senior,
            attempt: 1,
            diagnosis: "exit status 1: MODE=broken is not a mode".into(),
            code_dir: dir.to_path_buf(),
            requirements: String::new(),
        }
    }

    fn fixer(script: &str) -> CommandFixer {
        CommandFixer {
            name: "agent".into(),
            command: script.into(),
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn the_agent_reads_the_diagnosis_and_its_change_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.env"), "MODE=broken\n").unwrap();
        let script = "grep -q 'MODE=broken' \"$DEPLOYFLOW_DIAGNOSIS_FILE\" && \
                      [ \"$DEPLOYFLOW_TIER\" = senior ] && [ \"$DEPLOYFLOW_ATTEMPT\" = 1 ] && \
                      case \"$DEPLOYFLOW_DIAGNOSIS\" in *broken*) ;; *) exit 3;; esac && \
                      grep -q 'What is wrong' && echo MODE=fixed > app.env";
        let report = fixer(script).fix(&request(dir.path())).await;
        assert_eq!(report.outcome, FixOutcome::Applied, "{}", report.action);
        assert_eq!(report.patches.len(), 1);
        assert!(report.patches[0].applied);
        assert!(
            report.patches[0]
                .diff
                .contains("-MODE=broken\n+MODE=fixed\n")
        );
    }

    #[tokio::test]
    async fn a_failed_run_is_put_back_and_an_idle_one_is_not_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.env");
        std::fs::write(&file, "MODE=broken\n").unwrap();
        let report = fixer("echo MODE=half > app.env; touch extra.txt; echo stuck >&2; exit 4")
            .fix(&request(dir.path()))
            .await;
        assert_eq!(report.outcome, FixOutcome::NotApplied);
        assert!(report.action.contains("code 4") && report.action.contains("stuck"));
        assert!(report.action.contains("put back"), "{}", report.action);
        assert!(!report.patches[0].applied);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "MODE=broken\n");
        assert!(!dir.path().join("extra.txt").exists());

        let idle = fixer("true").fix(&request(dir.path())).await;
        assert_eq!(idle.outcome, FixOutcome::NotApplied);
        assert!(idle.action.contains("changed nothing"));
        assert!(idle.patches.is_empty());
    }
}
