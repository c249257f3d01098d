//! Secret values: resolved by the control plane each time it starts an
//! instance, from the secrets file (dotenv format, refused when others can
//! read it) and then from its own environment. The values go to the
//! instance's environment and nowhere else; `Redactor` scrubs them from any
//! text that might reach the log (an app may print its own secrets).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::SecretName;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "the secrets file {path} can be read by others (mode {mode:o}): run `chmod 600 {path}`"
    )]
    Exposed { path: String, mode: u32 },
    #[error("the secrets file {path} cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("secret{} not set: {} (neither in {file} nor in the environment)", if .names.len() > 1 { "s" } else { "" }, .names.join(", "))]
    Missing { names: Vec<String>, file: String },
}

/// Resolved values, by name.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: a Debug print must not leak a value.
        f.debug_list().entries(self.values.keys()).finish()
    }
}

impl Secrets {
    pub fn resolve(names: &[SecretName], file: &Path) -> Result<Secrets, SecretError> {
        let from_file = read_file(file)?;
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for name in names {
            let name = name.as_str();
            let value = from_file
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok());
            match value {
                Some(value) => {
                    values.insert(name.to_string(), value);
                }
                None => missing.push(name.to_string()),
            }
        }
        if missing.is_empty() {
            Ok(Secrets { values })
        } else {
            Err(SecretError::Missing {
                names: missing,
                file: file.display().to_string(),
            })
        }
    }

    /// Every secret that resolves now, missing ones left out: what a
    /// redactor must know even when one secret has gone missing since.
    pub fn available(names: &[SecretName], file: &Path) -> Secrets {
        let from_file = read_file(file).unwrap_or_default();
        let values = names
            .iter()
            .filter_map(|name| {
                let name = name.as_str();
                let value = from_file
                    .get(name)
                    .cloned()
                    .or_else(|| std::env::var(name).ok())?;
                Some((name.to_string(), value))
            })
            .collect();
        Secrets { values }
    }

    /// Name and value pairs for an instance's environment.
    pub fn env(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn redactor(&self) -> Redactor {
        Redactor {
            // Longest first, so a value containing another is replaced whole.
            values: {
                let mut values: Vec<(String, String)> = self
                    .values
                    .iter()
                    .filter(|(_, v)| v.len() >= 4)
                    .map(|(k, v)| (v.clone(), format!("[secret {k}]")))
                    .collect();
                values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
                values
            },
        }
    }
}

fn read_file(file: &Path) -> Result<BTreeMap<String, String>, SecretError> {
    let path = file.display().to_string();
    let metadata = match std::fs::metadata(file) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => {
            return Err(SecretError::Unreadable {
                path,
                reason: e.to_string(),
            });
        }
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::Exposed { path, mode });
    }
    let entries = dotenvy::from_path_iter(file).map_err(|e| SecretError::Unreadable {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut values = BTreeMap::new();
    for entry in entries {
        // dotenvy's errors quote the line, which may hold a value: say where only.
        let (key, value) = entry.map_err(|_| SecretError::Unreadable {
            path: path.clone(),
            reason: "a line is not NAME=value".into(),
        })?;
        values.insert(key, value);
    }
    Ok(values)
}

/// Replaces secret values in text with `[secret NAME]`.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Vec<(String, String)>,
}

impl Redactor {
    /// Both redactors' values: a rollback's results may quote the restored
    /// release's secrets as well as this deployment's.
    pub fn and(mut self, other: Redactor) -> Redactor {
        self.values.extend(other.values);
        self.values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        self
    }

    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (value, mask) in &self.values {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), mask);
            }
        }
        text
    }
}

/// Variables no child process inherits from the control plane: the forge's
/// token is deployflow's own, not the app's, its tests' or an agent's (an
/// agent could hand it to its model). Named as deployments' configs name
/// them; a child that is given one explicitly (`runtime.secrets`) still
/// gets it.
static WITHHELD: std::sync::RwLock<std::collections::BTreeSet<String>> =
    std::sync::RwLock::new(std::collections::BTreeSet::new());

pub fn withhold(name: &str) {
    if let Ok(mut withheld) = WITHHELD.write() {
        withheld.insert(name.to_string());
    }
}

/// The names `withhold` was given, to remove from a child's environment.
pub fn withheld() -> Vec<String> {
    WITHHELD
        .read()
        .map(|w| w.iter().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<SecretName> {
        list.iter()
            .map(|n| SecretName::try_from(n.to_string()).unwrap())
            .collect()
    }

    #[test]
    fn values_come_from_the_file_then_the_environment_and_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets");
        std::fs::write(&file, "# tokens\nDF_TEST_TOKEN=s3cr3t-value\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secrets = Secrets::resolve(&names(&["DF_TEST_TOKEN", "PATH"]), &file).unwrap();
        assert_eq!(format!("{secrets:?}"), "[\"DF_TEST_TOKEN\", \"PATH\"]");
        let redacted = secrets.redactor().redact("token=s3cr3t-value!");
        assert_eq!(redacted, "token=[secret DF_TEST_TOKEN]!");
    }

    #[test]
    fn a_missing_secret_is_named_and_a_readable_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets");
        let missing = Secrets::resolve(&names(&["DF_SURELY_UNSET_1"]), &file).unwrap_err();
        assert!(missing.to_string().contains("DF_SURELY_UNSET_1"));
        std::fs::write(&file, "A=b\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let exposed = Secrets::resolve(&names(&["A"]), &file).unwrap_err();
        assert!(matches!(exposed, SecretError::Exposed { mode: 0o644, .. }));
    }
}
