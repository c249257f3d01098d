//! Everything the server reads from its environment, checked once at start so
//! a bad value fails loudly instead of misbehaving later.

use std::net::Ipv4Addr;
use std::path::Path;

use axum::http::HeaderValue;

use super::Fatal;
use super::smoke::Test;

/// What `/health` answers for this start (the `HELLO_UNHEALTHY_STARTS` knob).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// This is start number `start` of the `of` unhealthy ones.
    UnhealthyStart {
        start: u64,
        of: u64,
    },
    /// No counter file to tell starts apart: unhealthy for good.
    AlwaysUnhealthy {
        of: u64,
    },
}

#[derive(Debug)]
pub struct Settings {
    /// Where to listen: loopback unless `HELLO_HOST` says otherwise (in a
    /// container, 0.0.0.0, so the published port reaches it).
    pub host: Ipv4Addr,
    pub port: u16,
    /// The release label, and the same checked as an `x-release` value.
    pub release: String,
    pub release_header: HeaderValue,
    pub slot: String,
    pub greeting: String,
    pub health: Health,
    /// The smoke test `HELLO_FAIL_TEST` asks the server to break.
    pub fail_test: Option<Test>,
    /// `HELLO_FAIL_PROXIED=N`: one in N requests to `/` that came through a
    /// proxy (an `x-forwarded-for` header) answers 500. The tests reach the
    /// app directly and pass; real users, through the router, see errors:
    /// what only watching the release after the switch catches.
    pub fail_proxied: Option<u64>,
    /// `HELLO_DELAY_MS=N`: every answer to `/` waits N ms first (a slow
    /// release that is otherwise right).
    pub delay_ms: u64,
    /// `HELLO_FLAKY_GREET=1`: the first `/greet` of this start answers 500,
    /// the later ones right: a test that fails once and passes when run
    /// again.
    pub flaky_greet: bool,
}

impl Settings {
    /// Reads and checks the environment. The order matters: usage errors
    /// first, then the knobs that stop the start, and the counter last so a
    /// start that never listens is not counted.
    pub fn from_env() -> Result<Self, Fatal> {
        let port = port()?;
        let release = non_empty("DEPLOYFLOW_RELEASE").unwrap_or_else(|| "unknown".into());
        let release_header = HeaderValue::from_str(&release).map_err(|_| {
            Fatal::usage(format!(
                "DEPLOYFLOW_RELEASE {release:?} is not usable as a header value"
            ))
        })?;
        let slot = non_empty("DEPLOYFLOW_SLOT").unwrap_or_else(|| "unknown".into());
        let greeting = non_empty("GREETING").unwrap_or_else(|| "hello".into());
        let fail_test = match non_empty("HELLO_FAIL_TEST") {
            None => None,
            Some(name) => Some(Test::from_name(&name).ok_or_else(|| {
                Fatal::usage(format!(
                    "HELLO_FAIL_TEST={name:?} names no smoke test (one of: {})",
                    Test::names()
                ))
            })?),
        };
        let unhealthy_starts = match non_empty("HELLO_UNHEALTHY_STARTS") {
            None => 0,
            Some(n) => n.trim().parse::<u64>().map_err(|_| {
                Fatal::usage(format!(
                    "HELLO_UNHEALTHY_STARTS={n:?} is not a whole number"
                ))
            })?,
        };

        let whole = |name: &str| -> Result<Option<u64>, Fatal> {
            non_empty(name)
                .map(|n| {
                    n.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (1..=3_600_000).contains(n))
                        .ok_or_else(|| {
                            Fatal::usage(format!("{name}={n:?} is not a whole number from 1"))
                        })
                })
                .transpose()
        };
        let fail_proxied = whole("HELLO_FAIL_PROXIED")?;
        let delay_ms = whole("HELLO_DELAY_MS")?.unwrap_or(0);

        let host = match non_empty("HELLO_HOST") {
            None => Ipv4Addr::LOCALHOST,
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| Fatal::usage(format!("HELLO_HOST={raw:?} is not an IPv4 address")))?,
        };

        let flaky_greet = switch("HELLO_FLAKY_GREET")?;
        require_secret()?;
        needs()?;
        if crash_requested()? {
            return Err(Fatal::failure("crash requested by HELLO_CRASH_AT_START"));
        }

        let health = match (unhealthy_starts, non_empty("HELLO_COUNTER_FILE")) {
            (0, _) => Health::Healthy,
            (of, None) => Health::AlwaysUnhealthy { of },
            (of, Some(path)) => {
                let start = count_start(Path::new(&path))?;
                if start <= of {
                    Health::UnhealthyStart { start, of }
                } else {
                    Health::Healthy
                }
            }
        };

        Ok(Self {
            host,
            port,
            release,
            release_header,
            slot,
            greeting,
            health,
            fail_test,
            fail_proxied,
            delay_ms,
            flaky_greet,
        })
    }
}

/// An environment variable's value, with unset, empty and non-UTF-8 alike
/// treated as absent.
fn non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn port() -> Result<u16, Fatal> {
    let raw = non_empty("PORT").ok_or_else(|| {
        Fatal::usage("PORT is not set: run with PORT=<1-65535> (deployflow sets it)")
    })?;
    // Port 0 would bind a random port nobody was told about.
    raw.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Fatal::usage(format!("PORT={raw:?} is not a port number (1-65535)")))
}

/// `HELLO_REQUIRE_SECRET=NAME`: refuse to start without `$NAME`. Only the
/// name is ever printed, never the value.
fn require_secret() -> Result<(), Fatal> {
    let Some(name) = non_empty("HELLO_REQUIRE_SECRET") else {
        return Ok(());
    };
    // Checked first: std may panic on a name with `=` or NUL in it.
    let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(Fatal::usage(format!(
            "HELLO_REQUIRE_SECRET={name:?} is not an environment variable name"
        )));
    }
    match std::env::var_os(&name) {
        Some(value) if !value.is_empty() => Ok(()),
        _ => Err(Fatal::failure(format!("secret {name} is not set"))),
    }
}

fn crash_requested() -> Result<bool, Fatal> {
    switch("HELLO_CRASH_AT_START")
}

/// A knob that is on (`1`) or off (`0` or unset).
fn switch(name: &str) -> Result<bool, Fatal> {
    match non_empty(name).as_deref() {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => Err(Fatal::usage(format!(
            "{name}={other:?}: use 1 for on, 0 or unset for off"
        ))),
    }
}

/// `HELLO_NEEDS=HOST:PORT`: a service the app needs (a database, say) must
/// accept a connection at start, or the app says so and exits 1, as apps
/// whose dependency is not up yet do.
fn needs() -> Result<(), Fatal> {
    let Some(address) = non_empty("HELLO_NEEDS") else {
        return Ok(());
    };
    let target: std::net::SocketAddr = address
        .trim()
        .parse()
        .map_err(|_| Fatal::usage(format!("HELLO_NEEDS={address:?} is not HOST:PORT")))?;
    std::net::TcpStream::connect_timeout(&target, std::time::Duration::from_secs(2))
        .map(drop)
        .map_err(|e| Fatal::failure(format!("cannot reach the service at {target}: {e}")))
}

/// Adds this start to the counter file and returns its number (1 for the
/// first). The file outlives the process, which is what lets a restart heal.
fn count_start(path: &Path) -> Result<u64, Fatal> {
    let previous = match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => 0,
        Ok(text) => text.trim().parse::<u64>().map_err(|_| {
            Fatal::failure(format!(
                "counter file {} holds {:?}, not a number",
                path.display(),
                text.trim()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => {
            return Err(Fatal::failure(format!(
                "cannot read counter file {}: {e}",
                path.display()
            )));
        }
    };
    let start = previous.saturating_add(1);
    std::fs::write(path, format!("{start}\n")).map_err(|e| {
        Fatal::failure(format!("cannot write counter file {}: {e}", path.display()))
    })?;
    Ok(start)
}
