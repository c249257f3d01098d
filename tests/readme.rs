//! README's "Deploy your own app in five minutes", run as written, from
//! an empty directory, with the built binary first on the PATH.
#![allow(clippy::disallowed_methods)]

use std::process::Command;

#[test]
fn the_five_minute_walk_in_the_readme_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("## Deploy your own app in five minutes")
        .nth(1)
        .expect("the section");
    let script = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("its commands");
    let busy = std::net::TcpListener::bind("127.0.0.1:7070").is_err();
    assert!(
        !busy,
        "127.0.0.1:7070 is taken: the walk uses the default control plane address"
    );
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_deployflow"))
        .parent()
        .expect("the binary's folder")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tempfile::tempdir().expect("an empty directory");
    let out = Command::new("bash")
        .args(["-e", "-c", script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("DEPLOYFLOW_SERVER")
        .env_remove("DEPLOYFLOW_DATA_DIR")
        .output()
        .expect("run the walk");
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        let _ = Command::new(bin.join("deployflow"))
            .current_dir(dir.path().join("myapp"))
            .arg("stop")
            .output();
    }
    // `stop` leaves the router and the live release serving, as it says:
    // the test takes them down by their pid files.
    stop_what_runs(&dir.path().join("myapp/.deployflow"));
    assert!(out.status.success(), "{said}");
    for expected in [
        "myapp v1 promoted",
        "myapp v2 promoted",
        "hello again from v2",
        "retained v1",
        "myapp: going back to v1",
        "myapp: rolled back",
        "the control plane at http://127.0.0.1:7070 stopped",
    ] {
        assert!(said.contains(expected), "{expected} missing:\n{said}");
    }
}

fn stop_what_runs(data: &std::path::Path) {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::Pid;
    for slot in ["blue", "green"] {
        let record = data
            .join("instances/myapp")
            .join(slot)
            .join("instance.json");
        let pid = std::fs::read_to_string(record)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["pid"].as_i64());
        if let Some(pid) = pid {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
    for file in ["router/router.lock", "serve.pid"] {
        let pid = std::fs::read_to_string(data.join(file))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
