//! ARCHITECTURE.md cannot drift from the tree: every path it names in
//! backticks exists, every type, constant or module path it names is in the
//! code, and every test it names as a guard is a test.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use regex::Regex;

/// The folders whose files the document may name.
const ROOTS: [&str; 4] = ["src", "tests", "benches", "examples"];

#[test]
fn every_path_type_and_test_architecture_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("read ARCHITECTURE.md");
    let files = files_under(root);
    let names: HashSet<String> = files
        .iter()
        .filter_map(|path| path.file_name()?.to_str().map(str::to_string))
        .collect();
    let code: String = files
        .iter()
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let words: HashSet<&str> = Regex::new(r"[A-Za-z_][A-Za-z0-9_]*")
        .unwrap()
        .find_iter(&code)
        .map(|m| m.as_str())
        .collect();
    let functions: HashSet<&str> = Regex::new(r"\bfn\s+([a-z_][a-z0-9_]*)")
        .unwrap()
        .captures_iter(&code)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .collect();

    let file_name = Regex::new(r"^[A-Za-z0-9_.-]+\.(rs|sh|toml|md)$").unwrap();
    let rust_path =
        Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*(\(\))?$").unwrap();
    let mut missing = Vec::new();
    let mut checked = 0;
    for span in backtick_spans(&doc) {
        let found = if ROOTS.iter().any(|r| span.starts_with(&format!("{r}/"))) {
            expand_braces(&span)
                .iter()
                .all(|path| root.join(before_placeholder(path)).exists())
        } else if file_name.is_match(&span) {
            names.contains(&span)
        } else if rust_path.is_match(&span) {
            let segments: Vec<&str> = span.trim_end_matches("()").split("::").collect();
            let last = segments[segments.len() - 1];
            if segments.len() == 1 && !is_type_like(last) && last.matches('_').count() < 3 {
                // A plain word (`append`, `git`): prose as much as code.
                continue;
            }
            segments.iter().all(|s| words.contains(s))
                && (!is_test_name(last) || functions.contains(last))
        } else {
            continue;
        };
        checked += 1;
        if !found {
            missing.push(span);
        }
    }
    assert!(
        checked > 100,
        "only {checked} names checked: is the parser right?"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names what the tree does not have: {missing:?}"
    );
}

/// What the document quotes between single backticks.
fn backtick_spans(doc: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut in_fence = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), parts.next()) {
            spans.push(inside.to_string());
        }
    }
    spans
}

/// `tests/common/{router,upstream}.rs` names two files.
fn expand_braces(path: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (path.find('{'), path.find('}')) else {
        return vec![path.to_string()];
    };
    path[open + 1..close]
        .split(',')
        .map(|choice| format!("{}{choice}{}", &path[..open], &path[close + 1..]))
        .collect()
}

/// `tests/golden/v<schema>/`: the folder before the placeholder.
fn before_placeholder(path: &str) -> &str {
    match path.find('<') {
        None => path,
        Some(end) => path[..end].rsplit_once('/').map_or("", |(dir, _)| dir),
    }
}

/// A type, a variant or a constant: a capital first.
fn is_type_like(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
}

/// The names of tests are sentences: many words joined by underscores.
fn is_test_name(name: &str) -> bool {
    !is_type_like(name) && name.matches('_').count() >= 3
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = ROOTS.iter().map(|r| root.join(r)).collect();
    for top in std::fs::read_dir(root).into_iter().flatten().flatten() {
        if top.path().is_file() {
            files.push(top.path());
        }
    }
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
