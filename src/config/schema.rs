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
    #[serde(default)]
    pub analysis: BTreeMap<String, Spanned<super::AnalysisTemplate>>,
    #[serde(default)]
    pub rollout: super::Rollout,
    #[serde(default)]
    pub notify: Vec<super::Notify>,
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
    pub build_timeout_s: Seconds,
    /// Docker: the port the app listens on inside its container.
    #[serde(default = "default_container_port")]
    pub container_port: u16,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: Vec<Spanned<SecretName>>,
    /// dotenv file with secret values; default `.deployflow/secrets`.
    #[serde(default)]
    pub secrets_file: Option<String>,
    #[serde(default = "three")]
    pub retain: Bounded<0, 100>,
    /// Seconds a stopping instance gets between SIGTERM and SIGKILL.
    #[serde(default = "ten")]
    pub stop_timeout_s: Bounded<0, 3_600>,
    /// Docker: host directories mounted into the container,
    /// `host:container` or `host:container:ro`; a relative host path is
    /// taken from the config's directory.
    #[serde(default)]
    pub volumes: Vec<String>,
}

fn ten() -> Bounded<0, 3_600> {
    Bounded(10)
}

fn default_container_port() -> u16 {
    8080
}

fn half_an_hour() -> Seconds {
    Bounded(1800)
}

fn three() -> Bounded<0, 100> {
    Bounded(3)
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
    pub interval_ms: Bounded<1, 60_000>,
    #[serde(default = "health_deadline")]
    pub deadline_s: Seconds,
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
fn health_interval() -> Bounded<1, 60_000> {
    Bounded(200)
}
fn health_deadline() -> Seconds {
    Bounded(30)
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

/// A whole number a config may give, refused at load outside
/// `MIN..=MAX`: a duration that would overflow a timer (a `timeout_s` of
/// `i64::MAX` panicked a task), a count that would never end, a negative
/// anything. Each key names its own range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u64")]
pub struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<const MIN: u64, const MAX: u64> TryFrom<i64> for Bounded<MIN, MAX> {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, String> {
        u64::try_from(value)
            .ok()
            .filter(|v| (MIN..=MAX).contains(v))
            .map(Self)
            .ok_or_else(|| format!("{value} is not allowed here: it must be from {MIN} to {MAX}"))
    }
}

impl<const MIN: u64, const MAX: u64> From<Bounded<MIN, MAX>> for u64 {
    fn from(value: Bounded<MIN, MAX>) -> u64 {
        value.0
    }
}

impl<const MIN: u64, const MAX: u64> Bounded<MIN, MAX> {
    /// As a `u32`, for counts (every count's range fits one).
    pub fn count(self) -> u32 {
        u32::try_from(self.0).unwrap_or(u32::MAX)
    }
}

/// Seconds up to a day: timeouts and deadlines.
pub type Seconds = Bounded<1, 86_400>;
/// Seconds up to a day, where 0 means "do not wait".
pub type SecondsOrNone = Bounded<0, 86_400>;
/// How many times a fix tier may try.
pub type Attempts = Bounded<0, 100>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSection {
    #[serde(default = "router_listen")]
    pub listen: ListenAddr,
    #[serde(default = "drain_timeout")]
    pub drain_timeout_s: SecondsOrNone,
    /// The router's admin API (loopback only).
    #[serde(default = "router_admin")]
    pub admin: AdminAddr,
}

/// The address an app is served on: a port of its own (0 would be any
/// port, which no client could find).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ListenAddr(pub SocketAddr);

impl TryFrom<String> for ListenAddr {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let addr: SocketAddr = text.parse().map_err(|_| {
            format!("`{text}` is not an address: give IP:PORT, like 127.0.0.1:8080")
        })?;
        if addr.port() == 0 {
            return Err(format!(
                "`{text}` has port 0: give the port clients will use"
            ));
        }
        Ok(ListenAddr(addr))
    }
}

/// The router's admin address: loopback (it changes where production
/// traffic goes) and a real port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AdminAddr(pub SocketAddr);

impl TryFrom<String> for AdminAddr {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let ListenAddr(addr) = ListenAddr::try_from(text.clone())?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "`{text}` is not a loopback address: the router's admin API changes where traffic goes"
            ));
        }
        Ok(AdminAddr(addr))
    }
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

fn router_listen() -> ListenAddr {
    ListenAddr(SocketAddr::from(([127, 0, 0, 1], 8080)))
}
fn drain_timeout() -> SecondsOrNone {
    Bounded(30)
}
fn router_admin() -> AdminAddr {
    AdminAddr(SocketAddr::from((
        [127, 0, 0, 1],
        crate::router::DEFAULT_ADMIN_PORT,
    )))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Fix {
    #[serde(default = "three")]
    pub driver_attempts: Attempts,
    #[serde(default = "two")]
    pub senior_attempts: Attempts,
    #[serde(default = "one")]
    pub trio_attempts: Attempts,
}

impl Default for Fix {
    fn default() -> Self {
        Self {
            driver_attempts: Bounded(3),
            senior_attempts: Bounded(2),
            trio_attempts: Bounded(1),
        }
    }
}

fn two() -> Attempts {
    Bounded(2)
}
fn one() -> Attempts {
    Bounded(1)
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
    pub max_rounds: Bounded<1, 100>,
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
fn six() -> Bounded<1, 100> {
    Bounded(6)
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
    /// How long the member may take before it counts as abstaining.
    #[serde(default = "member_timeout")]
    pub timeout_s: Seconds,
    /// Tokens of the release's code a review bundle may carry.
    #[serde(default = "budget_tokens")]
    pub budget_tokens: Bounded<1, 10_000_000>,
    /// Models: the answer's length limit.
    #[serde(default = "max_tokens")]
    pub max_tokens: Bounded<1, 1_000_000>,
    /// Models: calls after the first for 429, 5xx and network errors.
    #[serde(default = "model_retries")]
    pub retries: Bounded<0, 10>,
}

/// How long a member may take when its config does not say, and how long
/// a built-in one (which has no config) may.
pub const MEMBER_TIMEOUT_S: u64 = 300;

fn member_timeout() -> Seconds {
    Bounded(MEMBER_TIMEOUT_S)
}

fn budget_tokens() -> Bounded<1, 10_000_000> {
    Bounded(60_000)
}

fn max_tokens() -> Bounded<1, 1_000_000> {
    Bounded(4_000)
}

fn model_retries() -> Bounded<0, 10> {
    Bounded(3)
}

impl Member {
    /// Where its API is: `base_url`, or the kind's public endpoint.
    pub fn api_base_url(&self) -> String {
        let public = match self.kind {
            MemberKind::Openai => "https://api.openai.com/v1",
            MemberKind::Anthropic => "https://api.anthropic.com",
            MemberKind::Command => "",
        };
        self.base_url.clone().unwrap_or_else(|| public.into())
    }
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
