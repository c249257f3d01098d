//! Reviewers beyond the built-in ones, through the binary: a `command`
//! member (an agent CLI) seated in the Trio.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::scenario::{Knobs, Scenario, text};
use sha2::{Digest, Sha256};

#[test]
fn a_command_member_reviews_from_stdin_and_its_usage_is_audited() {
    let mut s = Scenario::new();
    let secret = "s3cr3t-for-the-agent-77";
    s.start_server_with(&[("API_TOKEN", secret)]);
    let seen = s.dir.path().join("agent-saw.json");
    let agent = s.dir.path().join("agent.sh");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\ncat > '{}'\necho '{{\"verdict\":\"approve\",\"summary\":\"REQ-1..3 met\",\"findings\":[]}}'\n",
            seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    s.release(
        "v1",
        &Knobs {
            env: ", HELLO_REQUIRE_SECRET = \"API_TOKEN\"".into(),
            runtime: "secrets = [\"API_TOKEN\"]".into(),
            review: format!(
                "trio = [\"tests\", \"agent\"]\n\n[members.agent]\nkind = \"command\"\ncommand = \"'{}'\"\ntimeout_s = 30\n",
                agent.display()
            ),
            ..Knobs::default()
        },
    );
    // The secret's value is in the code the agent reads, as a leak would be.
    std::fs::write(
        s.dir.path().join("code-v1/leak.txt"),
        format!("token = {secret}\n"),
    )
    .unwrap();
    let out = s.deploy("v1");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out),
        s.serve_log()
    );

    let input = std::fs::read(&seen).expect("the agent ran");
    assert!(!String::from_utf8_lossy(&input).contains(secret));
    let bundle: serde_json::Value = serde_json::from_slice(&input).unwrap();
    assert_eq!(bundle["release"], "v1");
    assert!(bundle["requirements"].as_str().unwrap().contains("REQ-"));

    let audit = s.json(&["audit", &s.last_id()]);
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["member"] == "agent")
        .unwrap_or_else(|| panic!("{audit}"))
        .clone();
    assert_eq!(entry["verdict"], "approve");
    assert!(entry["model"].as_str().unwrap().starts_with("command:"));
    assert_eq!(
        entry["usage"]["prompt_sha256"],
        hex::encode(Sha256::digest(&input))
    );
}
