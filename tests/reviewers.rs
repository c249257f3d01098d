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

/// A server answering every chat completion with `content`, counting calls.
fn chat_server(
    content: &'static str,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let counted = calls.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/chat/completions",
                axum::routing::post(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async move {
                        axum::Json(serde_json::json!({
                            "model": "served-model",
                            "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 321, "completion_tokens": 12},
                        }))
                    }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = axum::serve(listener, app).await;
        });
    });
    (addr, calls)
}

#[test]
fn an_openai_compatible_member_is_called_and_one_without_its_key_abstains() {
    let (addr, calls) = chat_server(r#"{"verdict":"approve","summary":"fine","findings":[]}"#);
    let mut s = Scenario::new();
    s.start_server_with(&[("MODEL_KEY", "sk-local")]);
    s.release(
        "v1",
        &Knobs {
            review: format!(
                "trio = [\"tests\", \"gpt\"]\nsenior = \"gpt\"\njuniors = [\"keyless\"]\nquorum = \"2/3\"\n\n\
                 [members.gpt]\nkind = \"openai\"\nmodel = \"m\"\nbase_url = \"http://{addr}\"\napi_key_env = \"MODEL_KEY\"\n\n\
                 [members.keyless]\nkind = \"anthropic\"\nmodel = \"c\"\napi_key_env = \"NOT_SET_ANYWHERE\"\n"
            ),
            ..Knobs::default()
        },
    );
    let _ = s.deploy("v1");
    let audit = s.json(&["audit", &s.last_id()]);
    let entry = |member: &str| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["member"] == member)
            .unwrap_or_else(|| panic!("{member}: {audit}"))
            .clone()
    };
    let gpt = entry("gpt");
    assert_eq!(gpt["verdict"], "approve");
    // The same model sat as the Senior and synthesized.
    let senior = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["member"] == "gpt" && e["role"] == "senior")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(senior["usage"]["model_reported"], "served-model");
    assert_eq!(gpt["usage"]["tokens_in"], 321);
    assert_eq!(gpt["usage"]["model_reported"], "served-model");
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    // No key, no call: an abstention saying so, never an approval.
    let keyless = entry("keyless");
    assert_eq!(keyless["verdict"], "abstain");
}
