//! Building a release's image from its context: the directory packed with
//! the `tar` crate, sent to the engine's build API, and the build's output
//! kept, so a failed build's log becomes the fix loop's diagnosis.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{Either, Full};

use super::engine::error_text;
use super::naming;

/// Lines of build output kept for a diagnosis.
const LOG_LINES: usize = 60;

pub struct BuildRequest<'a> {
    pub app: &'a str,
    pub release: &'a str,
    pub deployment: &'a str,
    pub context: &'a Path,
    pub dockerfile: Option<&'a str>,
}

/// Builds the image and returns its tag; the error holds the reason and the
/// end of the build's output.
pub async fn build(docker: &Docker, request: &BuildRequest<'_>) -> Result<String, String> {
    let context = request.context.to_path_buf();
    let archive = tokio::task::spawn_blocking(move || pack(&context))
        .await
        .map_err(|e| format!("packing the build context failed: {e}"))??;
    let tag = naming::image_tag(request.app, request.release);
    let labels = HashMap::from([
        (naming::APP.to_string(), request.app.to_string()),
        (naming::RELEASE.to_string(), request.release.to_string()),
        (
            naming::DEPLOYMENT.to_string(),
            request.deployment.to_string(),
        ),
    ]);
    let mut options = BuildImageOptionsBuilder::default()
        .dockerfile(request.dockerfile.unwrap_or("Dockerfile"))
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .build();
    options.labels = Some(labels);
    let mut output = BuildLog::default();
    let mut stream = docker.build_image(
        options,
        None,
        Some(Either::Left(Full::new(Bytes::from(archive)))),
    );
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                    output.push(text);
                }
                if let Some(detail) = info.error_detail {
                    let message = detail.message.unwrap_or_else(|| "the build failed".into());
                    return Err(output.failure(&message));
                }
            }
            Err(e) => return Err(output.failure(&error_text(&e))),
        }
    }
    Ok(tag)
}

/// The context directory as an uncompressed tar archive, without what its
/// `.dockerignore` excludes (as `docker build` sends it).
fn pack(context: &PathBuf) -> Result<Vec<u8>, String> {
    if !context.is_dir() {
        return Err(format!(
            "the build context {} is not a directory",
            context.display()
        ));
    }
    let excluded = dockerignore(context)?;
    let failed = |e: &dyn std::fmt::Display| {
        format!("cannot pack the build context {}: {e}", context.display())
    };
    let mut archive = tar::Builder::new(Vec::new());
    // Symlinks go in as links, as `docker build` sends them.
    archive.follow_symlinks(false);
    let walk = ignore::WalkBuilder::new(context)
        .standard_filters(false)
        .filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            !excluded
                .matched_path_or_any_parents(entry.path(), is_dir)
                .is_ignore()
        })
        .build();
    for entry in walk {
        let entry = entry.map_err(|e| failed(&e))?;
        let Ok(relative) = entry.path().strip_prefix(context) else {
            continue;
        };
        if relative.as_os_str().is_empty() {
            continue;
        }
        archive
            .append_path_with_name(entry.path(), relative)
            .map_err(|e| failed(&e))?;
    }
    archive.into_inner().map_err(|e| failed(&e))
}

/// The context's `.dockerignore` as a matcher. Its patterns are relative to
/// the context's root, so each is anchored there (gitignore's would match
/// at any depth).
fn dockerignore(context: &Path) -> Result<ignore::gitignore::Gitignore, String> {
    let mut builder = ignore::gitignore::GitignoreBuilder::new(context);
    let text = match std::fs::read_to_string(context.join(".dockerignore")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read .dockerignore: {e}")),
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negated, pattern) = match line.strip_prefix('!') {
            Some(rest) => ("!", rest.trim()),
            None => ("", line),
        };
        let pattern = pattern.trim_start_matches("./");
        let anchored = if pattern.starts_with('/') || pattern.starts_with("**") {
            format!("{negated}{pattern}")
        } else {
            format!("{negated}/{pattern}")
        };
        builder
            .add_line(None, &anchored)
            .map_err(|e| format!(".dockerignore: `{line}`: {e}"))?;
    }
    builder.build().map_err(|e| format!(".dockerignore: {e}"))
}

#[derive(Default)]
struct BuildLog {
    lines: std::collections::VecDeque<String>,
}

impl BuildLog {
    fn push(&mut self, text: &str) {
        for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            if self.lines.len() == LOG_LINES {
                self.lines.pop_front();
            }
            self.lines.push_back(line.to_string());
        }
    }

    fn failure(&self, reason: &str) -> String {
        let log: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        format!(
            "the image build failed: {reason}\nbuild log (last lines):\n{}",
            log.join("\n")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_is_packed_with_its_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/app"), "binary").unwrap();
        let archive = pack(&dir.path().to_path_buf()).unwrap();
        let mut names: Vec<String> = tar::Archive::new(archive.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert!(names.iter().any(|n| n.ends_with("Dockerfile")), "{names:?}");
        assert!(names.iter().any(|n| n.ends_with("bin/app")), "{names:?}");
    }

    #[test]
    fn what_dockerignore_excludes_stays_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(
            dir.path().join(".dockerignore"),
            "# build output\ntarget\n*.log\n!keep.log\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("target/release")).unwrap();
        std::fs::write(dir.path().join("target/release/big"), "x").unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/target"), "a file named target, deeper").unwrap();
        std::fs::write(dir.path().join("debug.log"), "x").unwrap();
        std::fs::write(dir.path().join("keep.log"), "x").unwrap();
        let archive = pack(&dir.path().to_path_buf()).unwrap();
        let names: Vec<String> = tar::Archive::new(archive.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(!names.iter().any(|n| n.starts_with("target")), "{names:?}");
        assert!(!names.iter().any(|n| n == "debug.log"), "{names:?}");
        assert!(names.iter().any(|n| n == "keep.log"), "{names:?}");
        assert!(names.iter().any(|n| n == "src/target"), "{names:?}");
        assert!(names.iter().any(|n| n == "Dockerfile"), "{names:?}");
    }

    #[test]
    fn a_missing_context_is_named() {
        let error = pack(&PathBuf::from("/surely/not/here")).unwrap_err();
        assert!(error.contains("/surely/not/here"), "{error}");
    }

    #[test]
    fn the_log_keeps_its_last_lines() {
        let mut log = BuildLog::default();
        for i in 0..100 {
            log.push(&format!("step {i}\n"));
        }
        let text = log.failure("boom");
        assert!(
            text.contains("step 99") && !text.contains("step 39\n"),
            "{text}"
        );
        assert!(text.starts_with("the image build failed: boom"));
    }
}
