//! The issues a commit message closes, in GitHub's own words: `fixes #12`,
//! `Closes: #3`, `resolved owner/repo#7` (a reference into another
//! repository is not this forge's to close).

use std::sync::LazyLock;

use regex::Regex;

static CLOSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?[ \t]+([\w.-]+/[\w.-]+)?#(\d+)\b",
    )
    .expect("a fixed pattern compiles")
});

/// The issue numbers `messages` close in `repo` (`owner/name`), ascending,
/// each once.
pub fn closed_issues<'a>(messages: impl IntoIterator<Item = &'a str>, repo: &str) -> Vec<u64> {
    let mut issues: Vec<u64> = messages
        .into_iter()
        .flat_map(|message| CLOSING.captures_iter(message))
        .filter(|found| {
            found
                .get(1)
                .is_none_or(|other| other.as_str().eq_ignore_ascii_case(repo))
        })
        .filter_map(|found| found.get(2)?.as_str().parse().ok())
        .filter(|n| *n > 0)
        .collect();
    issues.sort_unstable();
    issues.dedup();
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_closing_keyword_of_github_is_read() {
        let messages = [
            "Fix the crash at start\n\nFixes #12",
            "close #3, resolves #4 and fixed #5",
            "Resolved: #6",
            "closes #3 again",
        ];
        assert_eq!(closed_issues(messages, "o/r"), vec![3, 4, 5, 6, 12]);
    }

    #[test]
    fn mentions_and_other_repositories_close_nothing() {
        let messages = [
            "see #1, refs #2, prefix#3",
            "fixes other/repo#4",
            "fixes O/R#5",
            "fixes #0",
            "suffixes #6",
        ];
        assert_eq!(closed_issues(messages, "o/r"), vec![5]);
    }
}
