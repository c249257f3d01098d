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
    /// A redactor of one value, for tests elsewhere in the crate.
    #[cfg(test)]
    pub(crate) fn of(name: &str, value: &str) -> Redactor {
        Redactor {
            values: vec![(value.to_string(), format!("[secret {name}]"))],
        }
    }

    /// Both redactors' values: a rollback's results may quote the restored
    /// release's secrets as well as this deployment's.
    pub fn and(mut self, other: Redactor) -> Redactor {
        self.values.extend(other.values);
        self.values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        self
    }

    /// `text` with every secret value replaced, and any part of one that
    /// a cut (`CUT`, see `keep_head` and `keep_tail`) left beside it
    /// masked too: a value cut in two is no longer found whole, and its
    /// half is still half the secret.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (value, mask) in &self.values {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), mask);
            }
        }
        if self.values.is_empty() || !text.contains(CUT) {
            return text;
        }
        let pieces: Vec<&str> = text.split(CUT).collect();
        let last = pieces.len() - 1;
        let mut out = String::with_capacity(text.len());
        for (i, piece) in pieces.iter().enumerate() {
            let mut piece = piece.to_string();
            if i > 0 {
                piece = self.mask_cut_start(&piece);
            }
            if i < last {
                piece = self.mask_cut_end(&piece);
            }
            out.push_str(&piece);
            if i < last {
                out.push_str(CUT);
            }
        }
        out
    }

    /// A text that begins where a cut fell: its longest beginning that is
    /// the end of a secret value is masked.
    fn mask_cut_start(&self, text: &str) -> String {
        let found = self.longest_part(|value, n| {
            value.is_char_boundary(value.len() - n)
                && text
                    .as_bytes()
                    .starts_with(&value.as_bytes()[value.len() - n..])
        });
        match found {
            Some((n, mask)) => format!("{}{}", cut_mask(mask), &text[n..]),
            None => text.to_string(),
        }
    }

    /// A text that ends where a cut fell: its longest end that is the
    /// beginning of a secret value is masked.
    fn mask_cut_end(&self, text: &str) -> String {
        let found = self.longest_part(|value, n| {
            value.is_char_boundary(n) && text.as_bytes().ends_with(&value.as_bytes()[..n])
        });
        match found {
            Some((n, mask)) => format!("{}{}", &text[..text.len() - n], cut_mask(mask)),
            None => text.to_string(),
        }
    }

    /// The longest proper part (`n` bytes, `n` below the value's length)
    /// of any value that `is_there(value, n)` finds, and that value's mask.
    fn longest_part(&self, is_there: impl Fn(&str, usize) -> bool) -> Option<(usize, &str)> {
        self.values
            .iter()
            .filter_map(|(value, mask)| {
                (1..value.len())
                    .rev()
                    .find(|&n| is_there(value, n))
                    .map(|n| (n, mask.as_str()))
            })
            .max_by_key(|(n, _)| *n)
    }
}

/// `[secret NAME]` as `[secret NAME, cut]`: a part of the value was here.
fn cut_mask(mask: &str) -> String {
    format!("{}, cut]", mask.trim_end_matches(']'))
}

/// Marks where outside text was cut short. The redactor masks any part of
/// a secret value beside it, wherever the text goes after the cut (into
/// lines, behind a note), so a cut made before the secrets are known (a
/// memory cap) leaks no half of one.
pub const CUT: &str = "⟨cut⟩";

/// Bytes some were cut from (`cut_before`: from the front, `cut_after`:
/// from the end) as text: a character the cut split is dropped whole
/// rather than replaced (a `U+FFFD` beside the mark would hide the part of
/// a secret next to it from the redactor), and each cut is marked `CUT`.
pub fn text_of_cut(bytes: &[u8], cut_before: bool, cut_after: bool) -> String {
    let mut bytes = bytes;
    if cut_before {
        let split = bytes
            .iter()
            .take(3)
            .take_while(|&&b| b & 0xC0 == 0x80)
            .count();
        bytes = &bytes[split..];
    }
    if cut_after
        && let Err(e) = std::str::from_utf8(bytes)
        && e.error_len().is_none()
    {
        bytes = &bytes[..e.valid_up_to()];
    }
    let text = String::from_utf8_lossy(bytes);
    format!(
        "{}{text}{}",
        if cut_before { CUT } else { "" },
        if cut_after { CUT } else { "" }
    )
}

/// The first `max` bytes of `text` (at a character boundary), `CUT` after
/// them when anything was left out.
pub fn keep_head(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    format!("{}{CUT}", &text[..text.floor_char_boundary(max)])
}

/// The last `max` bytes of `text` (at a character boundary), `CUT`
/// before them when anything was left out.
pub fn keep_tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    format!(
        "{CUT}{}",
        &text[text.ceil_char_boundary(text.len() - max)..]
    )
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

    fn one_secret(value: &str) -> Redactor {
        Redactor {
            values: vec![(value.to_string(), "[secret API_TOKEN]".to_string())],
        }
    }

    #[test]
    fn half_a_secret_beside_a_cut_is_masked() {
        let redactor = one_secret("abcdefghijklmnopqrstuvwx");
        let head = keep_head("token=abcdefghijklmnopqrstuvwx!", 18);
        assert_eq!(head, "token=abcdefghijkl⟨cut⟩");
        assert_eq!(redactor.redact(&head), "token=[secret API_TOKEN, cut]⟨cut⟩");
        let tail = keep_tail("token=abcdefghijklmnopqrstuvwx!", 13);
        assert_eq!(redactor.redact(&tail), "⟨cut⟩[secret API_TOKEN, cut]!");
        // Far from a cut, text is left as it is.
        assert_eq!(
            redactor.redact("mnop and abc⟨cut⟩"),
            "mnop and [secret API_TOKEN, cut]⟨cut⟩"
        );
        assert_eq!(redactor.redact("no cut: xyz abc"), "no cut: xyz abc");
    }

    proptest::proptest! {
        /// Whatever is cut where, and however the pieces are then cut into
        /// lines, no letter of the secret survives redaction (the filler
        /// around it has none).
        #[test]
        fn no_fragment_of_a_secret_survives_a_cut(
            secret in "[a-zñéß漢]{8,32}",
            before in "[0-9 \n]{0,40}",
            after in "[0-9 \n]{0,40}",
            keep in 0usize..120,
            from_end in proptest::bool::ANY,
        ) {
            let redactor = one_secret(&secret);
            let text = format!("{before}{secret}{after}");
            let cut = if from_end { keep_tail(&text, keep) } else { keep_head(&text, keep) };
            // The same cut made on bytes, where it may split a character.
            let bytes = text.as_bytes();
            let at = keep.min(bytes.len());
            let byte_cut = if from_end {
                text_of_cut(&bytes[bytes.len() - at..], at < bytes.len(), false)
            } else {
                text_of_cut(&bytes[..at], false, at < bytes.len())
            };
            for cut in [cut, byte_cut] {
                let redacted = redactor.redact(&cut);
                let rest = redacted
                    .replace("[secret API_TOKEN, cut]", "")
                    .replace("[secret API_TOKEN]", "")
                    .replace(CUT, "");
                proptest::prop_assert!(
                    !rest.chars().any(|c| c.is_alphabetic()),
                    "{cut:?} became {redacted:?}"
                );
            }
        }
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
