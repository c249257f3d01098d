//! The shape of deployflow.toml (DESIGN.md, "deployflow.toml"): every key,
//! its default, and the checks one value can make on its own. Unknown keys
//! are errors, so a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub app: AppSection,
    pub inputs: Inputs,
    pub runtime: Spanned<Runtime>,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub router: RouterSection,
    #[serde(default)]
    pub fix: Fix,
    #[serde(default)]
    pub review: Review,
    #[serde(default)]
    pub members: BTreeMap<String, Spanned<Member>>,
    #[serde(default)]
    pub completion: Completion,
    #[serde(default)]
    pub forge: Option<Forge>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    pub name: AppName,
}

/// An app's name: it names streams, files and routes, so it stays plain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppName(String);

impl AppName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let plain = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if plain {
            Ok(Self(name))
        } else {
            Err(format!(
                "`{name}` is not an app name: use 1 to 64 letters, digits, `-` or `_`"
            ))
        }
    }
}

impl From<AppName> for String {
    fn from(name: AppName) -> String {
        name.0
    }
}

impl std::fmt::Display for AppName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    #[serde(default = "dot")]
    pub code: String,
    pub requirements: String,
    pub tests: String,
}

fn dot() -> String {
    ".".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    #[default]
    Process,
    Docker,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    #[serde(default)]
    pub backend: BackendKind,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub build: Option<Build>,
    /// Process backend: run with `sh -c` in the code directory before each
    /// start of the release (`cargo build --release`, `npm ci`), so a fixed
    /// release is rebuilt before it is redeployed.
    #[serde(default)]
    pub build_command: Option<String>,
    /// How long `build_command` may take.
    #[serde(default = "half_an_hour")]
    pub build_timeout_s: u64,
    #[serde(default)]
    pub container_port: Option<u16>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: Vec<Spanned<SecretName>>,
    /// dotenv file with secret values; default `.deployflow/secrets`.
    #[serde(default)]
    pub secrets_file: Option<String>,
    #[serde(default = "three")]
    pub retain: u32,
    /// Seconds a stopping instance gets between SIGTERM and SIGKILL.
    #[serde(default = "ten")]
    pub stop_timeout_s: u64,
    /// Docker: host directories mounted into the container,
    /// `host:container` or `host:container:ro`; a relative host path is
    /// taken from the config's directory.
    #[serde(default)]
    pub volumes: Vec<String>,
}

fn ten() -> u64 {
    10
}

fn half_an_hour() -> u64 {
    1800
}

fn three() -> u32 {
    3
}

/// The name of a secret: an environment variable's name. Its value never
/// enters the config, the log or any output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

impl SecretName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let valid = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if valid {
            Ok(Self(name))
        } else {
            Err(format!(
                "`{name}` is not a secret name: use an environment variable's name"
            ))
        }
    }
}

impl From<SecretName> for String {
    fn from(name: SecretName) -> String {
        name.0
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    #[serde(default = "dot")]
    pub context: String,
    #[serde(default)]
    pub dockerfile: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    #[serde(default = "health_path")]
    pub path: HealthPath,
    #[serde(default = "health_interval")]
    pub interval_ms: Positive,
    #[serde(default = "health_deadline")]
    pub deadline_s: Positive,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            path: health_path(),
            interval_ms: health_interval(),
            deadline_s: health_deadline(),
        }
    }
}

fn health_path() -> HealthPath {
    HealthPath("/health".into())
}
fn health_interval() -> Positive {
    Positive(200)
}
fn health_deadline() -> Positive {
    Positive(30)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HealthPath(String);

impl HealthPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HealthPath {
    type Error = String;

    fn try_from(path: String) -> Result<Self, String> {
        if path.starts_with('/') && path.parse::<hyper::http::uri::PathAndQuery>().is_ok() {
            Ok(Self(path))
        } else {
            Err(format!(
                "`{path}` is not a request path: it must start with `/`"
            ))
        }
    }
}

impl From<HealthPath> for String {
    fn from(path: HealthPath) -> String {
        path.0
    }
}

/// A count or duration that must be at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u64")]
pub struct Positive(pub u64);

impl TryFrom<i64> for Positive {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, String> {
        u64::try_from(value)
            .ok()
            .filter(|v| *v >= 1)
            .map(Self)
            .ok_or_else(|| format!("{value} is not allowed here: it must be at least 1"))
    }
}

impl From<Positive> for u64 {
    fn from(value: Positive) -> u64 {
        value.0
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSection {
    #[serde(default = "router_listen")]
    pub listen: SocketAddr,
    #[serde(default = "drain_timeout")]
    pub drain_timeout_s: u64,
    /// The router's admin API (loopback only).
    #[serde(default = "router_admin")]
    pub admin: SocketAddr,
}

impl Default for RouterSection {
    fn default() -> Self {
        Self {
            listen: router_listen(),
            drain_timeout_s: drain_timeout(),
            admin: router_admin(),
        }
    }
}

fn router_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn drain_timeout() -> u64 {
    30
}
fn router_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], crate::router::DEFAULT_ADMIN_PORT))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Fix {
    #[serde(default = "three")]
    pub driver_attempts: u32,
    #[serde(default = "two")]
    pub senior_attempts: u32,
    #[serde(default = "one")]
    pub trio_attempts: u32,
}

impl Default for Fix {
    fn default() -> Self {
        Self {
            driver_attempts: 3,
            senior_attempts: 2,
            trio_attempts: 1,
        }
    }
}

fn two() -> u32 {
    2
}
fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Quorum {
    /// Every Trio member approves.
    #[default]
    #[serde(rename = "all")]
    All,
    /// At least two thirds of the Trio approve.
    #[serde(rename = "2/3")]
    TwoThirds,
}

impl Quorum {
    pub fn name(self) -> &'static str {
        match self {
            Quorum::All => "all",
            Quorum::TwoThirds => "2/3",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    #[serde(default = "default_trio")]
    pub trio: Vec<Spanned<String>>,
    #[serde(default = "default_senior")]
    pub senior: Spanned<String>,
    #[serde(default = "default_juniors")]
    pub juniors: Vec<Spanned<String>>,
    #[serde(default)]
    pub quorum: Quorum,
    #[serde(default = "six")]
    pub max_rounds: Positive,
    #[serde(default)]
    pub manual_gate: bool,
}

impl Default for Review {
    fn default() -> Self {
        Self {
            trio: default_trio(),
            senior: default_senior(),
            juniors: default_juniors(),
            quorum: Quorum::All,
            max_rounds: six(),
            manual_gate: false,
        }
    }
}

fn unspanned(names: &[&str]) -> Vec<Spanned<String>> {
    names
        .iter()
        .map(|n| Spanned::new(0..0, (*n).to_string()))
        .collect()
}
fn default_trio() -> Vec<Spanned<String>> {
    unspanned(&["tests", "requirements", "hygiene"])
}
fn default_senior() -> Spanned<String> {
    Spanned::new(0..0, "synthesis".into())
}
fn default_juniors() -> Vec<Spanned<String>> {
    unspanned(&["tests", "hygiene"])
}
fn six() -> Positive {
    Positive(6)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberKind {
    Openai,
    Anthropic,
    Command,
}

/// A reviewer or fixer beyond the built-in ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub kind: MemberKind,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key_env: Option<SecretName>,
    #[serde(default)]
    pub command: Option<String>,
    /// How the member fixes at the Senior and Trio tiers: a command (a
    /// coding agent) run in the code directory. Without it a model member
    /// fixes by answering a patch, and a command member does not fix.
    #[serde(default)]
    pub fix_command: Option<String>,
    #[serde(default)]
    pub timeout_s: Option<Positive>,
    /// Tokens of the release's code a review bundle may carry.
    #[serde(default)]
    pub budget_tokens: Option<Positive>,
    /// Models: the answer's length limit.
    #[serde(default)]
    pub max_tokens: Option<Positive>,
    /// Models: calls after the first for 429, 5xx and network errors.
    #[serde(default)]
    pub retries: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    #[serde(default)]
    pub commit: bool,
    #[serde(default)]
    pub push: bool,
    /// Author and committer of the report's commit, as git's `Name <email>`.
    #[serde(default = "default_author")]
    pub author: String,
}

impl Default for Completion {
    fn default() -> Self {
        Completion {
            commit: false,
            push: false,
            author: default_author(),
        }
    }
}

fn default_author() -> String {
    "deployflow <deployflow@localhost>".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgeKind {
    Github,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forge {
    pub kind: ForgeKind,
    #[serde(default)]
    pub api_url: Option<String>,
    pub repo: String,
    pub token_env: SecretName,
}
