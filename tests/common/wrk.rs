//! wrk as the load in the flow's tests: runs back to back until stopped,
//! each answer counted by what it said, so a test can tell blue's answers
//! from green's and name every request that failed on either side.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Counts answers per thread by status and the body's last word (the
/// example app ends its body with the release), then sums them in
/// `done`, where wrk lets the script read every thread's counts. `delay`
/// paces each connection so several tests' loads share two cores with
/// the control planes they are watching.
const SCRIPT: &str = r#"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) answers = {} end
function delay() return 4 end
function response(status, headers, body)
  local key
  if status >= 200 and status < 300 then
    key = "ok " .. (body:match("(%S+)%s*$") or "")
  else
    key = "failed " .. status .. ": " .. body:gsub("%s+$", ""):gsub("[\t\n]", " ")
  end
  answers[key] = (answers[key] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("answers")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("answer\t%d\t%s\n", v, k)) end
  local e = summary.errors
  io.write(string.format("socket\t%d\n", e.connect + e.read + e.write + e.timeout))
end
"#;

/// The first `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|path| path.is_file())
}

pub struct Wrk {
    stop: Arc<AtomicBool>,
    runs: Option<JoinHandle<WrkReport>>,
    _script: tempfile::TempPath,
}

/// What every run of wrk saw, summed.
#[derive(Debug, Default)]
pub struct WrkReport {
    /// 2xx answers by release.
    pub answered: BTreeMap<String, u64>,
    /// Other answers by `status: body`.
    pub failed: BTreeMap<String, u64>,
    /// Connects, reads, writes and timeouts that failed: a dropped request.
    pub socket_errors: u64,
    /// How many runs of wrk it took.
    pub runs: u32,
}

impl WrkReport {
    pub fn total(&self) -> u64 {
        self.answered.values().sum::<u64>() + self.failed.values().sum::<u64>()
    }

    pub fn answered_by(&self, release: &str) -> u64 {
        self.answered.get(release).copied().unwrap_or(0)
    }

    /// Every request that failed for another reason than `allowed` (the
    /// `status: body` green's fault gives): a failure on blue's side.
    pub fn failed_other_than(&self, allowed: &str) -> Vec<String> {
        let mut other: Vec<String> = self
            .failed
            .iter()
            .filter(|(answer, _)| answer.as_str() != allowed)
            .map(|(answer, n)| format!("{n} × {answer}"))
            .collect();
        if self.socket_errors > 0 {
            other.push(format!("{} socket errors", self.socket_errors));
        }
        other
    }

    fn add(&mut self, stdout: &str) {
        self.runs += 1;
        for line in stdout.lines() {
            let mut fields = line.splitn(3, '\t');
            match (fields.next(), fields.next(), fields.next()) {
                (Some("answer"), Some(n), Some(key)) => {
                    let n: u64 = n.parse().unwrap_or(0);
                    let (table, what) = match key.split_once(' ') {
                        Some(("ok", release)) => (&mut self.answered, release),
                        Some((_, answer)) => (&mut self.failed, answer),
                        None => (&mut self.failed, key),
                    };
                    *table.entry(what.to_string()).or_default() += n;
                }
                (Some("socket"), Some(n), None) => self.socket_errors += n.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
}

impl Wrk {
    /// Starts wrk against `addr` in runs of a second, back to back, until
    /// `finish`; a run that cannot start fails the test.
    pub fn start(addr: SocketAddr) -> Wrk {
        let wrk = which("wrk").expect("wrk is needed for this test: apt-get install wrk");
        let mut script = tempfile::Builder::new()
            .suffix(".lua")
            .tempfile()
            .expect("a script file");
        std::io::Write::write_all(&mut script, SCRIPT.as_bytes()).expect("write the script");
        let script = script.into_temp_path();
        let path = script.to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let runs = std::thread::spawn(move || {
            let mut report = WrkReport::default();
            while !stopped.load(Ordering::Relaxed) {
                let out = Command::new(&wrk)
                    .args(["-t1", "-c4", "-d1s", "--timeout", "5s", "-s"])
                    .arg(&path)
                    .arg(format!("http://{addr}/"))
                    .output()
                    .expect("run wrk");
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(out.status.success(), "wrk failed: {stdout}");
                report.add(&stdout);
            }
            report
        });
        Wrk {
            stop,
            runs: Some(runs),
            _script: script,
        }
    }

    /// Stops after the run under way and sums them all.
    pub fn finish(mut self) -> WrkReport {
        self.stop.store(true, Ordering::Relaxed);
        self.runs
            .take()
            .expect("finished once")
            .join()
            .expect("wrk's runs")
    }
}

impl Drop for Wrk {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
