//! Deployment ids as people type and read them: a unique prefix of at
//! least `MIN_PREFIX` characters, or `latest`, wherever an id is taken;
//! and the shortest prefix that is unique, for tables and pages.

use crate::events::StreamId;

/// The shortest prefix accepted: shorter ones match too much to be meant.
pub const MIN_PREFIX: usize = 4;

/// The shortest prefix shown: ids begin with their time, so a shorter one
/// would read the same for every deployment of an afternoon.
const MIN_SHOWN: usize = 8;

/// Why a typed id names no one deployment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "`{0}` is too short for a deployment id: give at least {MIN_PREFIX} characters, or `latest`"
    )]
    TooShort(String),
    #[error("`{0}` is not a deployment id: ids are hexadecimal with dashes")]
    NotAnId(String),
    #[error("no deployment {0}")]
    NoneMatch(String),
    #[error("`{typed}` matches {count} deployments ({examples}): give more characters")]
    Ambiguous {
        typed: String,
        count: usize,
        examples: String,
    },
    #[error("there is no deployment yet, so no `latest`")]
    NoneYet,
}

/// The deployment `typed` names among `ids` (oldest first): the whole id,
/// a unique prefix of at least `MIN_PREFIX` characters, or `latest`, the
/// newest.
pub fn resolve<'a>(
    ids: impl DoubleEndedIterator<Item = &'a StreamId> + Clone,
    typed: &str,
) -> Result<StreamId, IdError> {
    let typed = typed.trim();
    if typed.eq_ignore_ascii_case("latest") {
        return ids.clone().next_back().copied().ok_or(IdError::NoneYet);
    }
    if let Ok(id) = typed.parse() {
        return Ok(StreamId(id));
    }
    if !typed.chars().all(|c| c.is_ascii_hexdigit() || c == '-') || typed.len() > 36 {
        return Err(IdError::NotAnId(typed.to_string()));
    }
    if typed.len() < MIN_PREFIX {
        return Err(IdError::TooShort(typed.to_string()));
    }
    let typed_lower = typed.to_ascii_lowercase();
    let matches: Vec<&StreamId> = ids
        .filter(|id| id.to_string().starts_with(&typed_lower))
        .collect();
    match matches.as_slice() {
        [] => Err(IdError::NoneMatch(typed.to_string())),
        [one] => Ok(**one),
        many => Err(IdError::Ambiguous {
            typed: typed.to_string(),
            count: many.len(),
            examples: many
                .iter()
                .take(3)
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The shortest prefix of `id` that no other of `ids` shares, and at
/// least `MIN_SHOWN` characters: what a table shows and `resolve` takes.
pub fn short<'a>(ids: impl Iterator<Item = &'a StreamId>, id: StreamId) -> String {
    let whole = id.to_string();
    let longest_shared = ids
        .filter(|other| **other != id)
        .map(|other| {
            other
                .to_string()
                .bytes()
                .zip(whole.bytes())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0);
    let mut length = (longest_shared + 1).max(MIN_SHOWN).min(whole.len());
    // A prefix never ends on a dash: it would read as cut short.
    while whole.as_bytes().get(length - 1) == Some(&b'-') && length < whole.len() {
        length += 1;
    }
    whole[..length].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> StreamId {
        StreamId(text.parse().unwrap())
    }

    fn ids() -> Vec<StreamId> {
        vec![
            id("01a24271-e48e-7761-9b1b-46926495be5d"),
            id("01a24271-e58f-7077-bc12-bfd43a6bbfa5"),
            id("01a24299-0000-7000-8000-000000000000"),
        ]
    }

    #[test]
    fn a_unique_prefix_latest_and_the_whole_id_each_name_one() {
        let all = ids();
        assert_eq!(resolve(all.iter(), "01a24299"), Ok(all[2]));
        assert_eq!(resolve(all.iter(), "01A24271-E58"), Ok(all[1]));
        assert_eq!(resolve(all.iter(), "latest"), Ok(all[2]));
        assert_eq!(resolve(all.iter(), &all[0].to_string()), Ok(all[0]));
    }

    #[test]
    fn short_ambiguous_and_unknown_prefixes_are_refused_saying_why() {
        let all = ids();
        assert_eq!(
            resolve(all.iter(), "01a"),
            Err(IdError::TooShort("01a".into()))
        );
        assert!(matches!(
            resolve(all.iter(), "01a24271"),
            Err(IdError::Ambiguous { count: 2, .. })
        ));
        assert_eq!(
            resolve(all.iter(), "ffff"),
            Err(IdError::NoneMatch("ffff".into()))
        );
        assert_eq!(
            resolve(all.iter(), "v2; rm"),
            Err(IdError::NotAnId("v2; rm".into()))
        );
        assert_eq!(resolve([].iter(), "latest"), Err(IdError::NoneYet));
    }

    #[test]
    fn the_short_form_is_unique_and_resolves_back() {
        let all = ids();
        for one in &all {
            let shown = short(all.iter(), *one);
            assert!(shown.len() >= MIN_SHOWN && !shown.ends_with('-'), "{shown}");
            assert_eq!(resolve(all.iter(), &shown), Ok(*one), "{shown}");
        }
        assert_eq!(short(all.iter(), all[2]), "01a24299");
        assert_eq!(short(all.iter(), all[1]), "01a24271-e5");
    }
}
