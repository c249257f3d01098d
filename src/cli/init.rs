//! `deployflow init [--backend process|docker]`: writes a deployflow.toml
//! with every section and its defaults, to edit.

use std::path::Path;

use super::Exit;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Backend {
    Process,
    Docker,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value = "process")]
    pub backend: Backend,
}

pub fn run(config: &Path, args: &Args) -> anyhow::Result<Exit> {
    if config.exists() {
        eprintln!("error: {} exists; nothing written", config.display());
        return Ok(Exit::BadInput);
    }
    let name = std::env::current_dir()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|n| {
            n.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "app".into());
    let runtime = match args.backend {
        Backend::Process => {
            "backend = \"process\"\ncommand = \"./target/release/app\"   # gets PORT, DEPLOYFLOW_SLOT, DEPLOYFLOW_RELEASE"
        }
        Backend::Docker => {
            "backend = \"docker\"\nbuild = { context = \".\", dockerfile = \"Dockerfile\" }\ncontainer_port = 8080"
        }
    };
    // Ports of this directory's own, so two apps initialized side by side
    // do not share a router by default, even before either has run.
    let here = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .unwrap_or_default();
    let listen = free_port_from(8000, 1000, &here, 0);
    let admin = free_port_from(7100, 900, &here, 1);
    let text = format!(
        r#"[app]
name = "{name}"

[inputs]
code = "."
requirements = "REQUIREMENTS.md"
tests = "./smoke-test.sh"     # run against green with DEPLOYFLOW_TARGET_URL set

[runtime]
{runtime}
env = {{}}
secrets = []                  # names; values from .deployflow/secrets or the environment
retain = 3

[health]
path = "/health"
interval_ms = 200
deadline_s = 30

[router]
listen = "127.0.0.1:{listen}"   # where users reach the app
admin = "127.0.0.1:{admin}"     # the router's own API, loopback only
drain_timeout_s = 30

[fix]
driver_attempts = 3
senior_attempts = 2
trio_attempts = 1

[review]
trio = ["tests", "requirements", "hygiene"]
senior = "synthesis"
juniors = ["tests", "hygiene"]
quorum = "all"
max_rounds = 6
manual_gate = false

[completion]
commit = false                # commit the report in docs/deployments/ with git
push = false
author = "deployflow <deployflow@localhost>"

# Close the issues a promoted release's commits fix (`fixes #N`):
# [forge]
# kind = "github"
# repo = "owner/name"
# token_env = "GITHUB_TOKEN"
# api_url = "https://api.github.com"
"#
    );
    // What init writes must load: the schema is the contract.
    deployflow::config::Config::parse(&text, config)?;
    std::fs::write(config, text)?;
    println!("wrote {}", config.display());
    Ok(Exit::Success)
}

/// A port in `base..base + span` picked by a hash of `dir` (and `salt`,
/// so two ports of one directory differ), then the next ones until one
/// is free now.
fn free_port_from(base: u16, span: u16, dir: &Path, salt: u8) -> u16 {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(dir.as_os_str().as_encoded_bytes());
    hasher.update([salt]);
    let digest = hasher.finalize();
    let start = u16::from_be_bytes([digest[0], digest[1]]) % span;
    (0..span)
        .map(|i| base + (start + i) % span)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .unwrap_or(base + start)
}
