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

/// The context directory as an uncompressed tar archive.
fn pack(context: &PathBuf) -> Result<Vec<u8>, String> {
    if !context.is_dir() {
        return Err(format!(
            "the build context {} is not a directory",
            context.display()
        ));
    }
    let mut archive = tar::Builder::new(Vec::new());
    // Symlinks go in as links, as `docker build` sends them.
    archive.follow_symlinks(false);
    archive
        .append_dir_all(".", context)
        .and_then(|()| archive.into_inner())
        .map_err(|e| format!("cannot pack the build context {}: {e}", context.display()))
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
