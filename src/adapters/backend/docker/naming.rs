//! What deployflow calls things on the Docker engine, as the process
//! document names them so operators find them with `docker ps` as before:
//! the live container has the app's plain name, the candidate a `-green`
//! suffix, a retained release its release and deployment. Labels, not names,
//! are how deployflow finds its containers again after a restart. Pure.

pub const APP: &str = "deployflow.app";
pub const SLOT: &str = "deployflow.slot";
pub const DEPLOYMENT: &str = "deployflow.deployment";
pub const ATTEMPT: &str = "deployflow.attempt";
pub const RELEASE: &str = "deployflow.release";
/// The port inside the container that the app listens on.
pub const PORT: &str = "deployflow.port";
/// Seconds a stop waits before SIGKILL; kept on the container because a
/// stop after a restart knows only the app and the slot.
pub const STOP_TIMEOUT: &str = "deployflow.stop-timeout";
/// Stopped releases of the app to keep, as the deployment that started
/// this container configured it.
pub const RETAIN: &str = "deployflow.retain";

/// The live release's container.
pub fn live(app: &str) -> String {
    container_safe(app)
}

/// The candidate's container, beside the live one.
pub fn candidate(app: &str) -> String {
    format!("{}-green", container_safe(app))
}

/// A release no longer live, kept stopped for rollback. The deployment's
/// last eight hex digits (a UUID v7's random part; its first ones are a
/// timestamp shared by deployments a minute apart) tell two deployments of
/// one release apart.
pub fn retained(app: &str, release: &str, deployment: &str) -> String {
    let hex: String = deployment.chars().filter(char::is_ascii_hexdigit).collect();
    let tail = &hex[hex.len().saturating_sub(8)..];
    format!("{}-{}-{tail}", container_safe(app), container_safe(release))
}

/// The tag of an image deployflow builds for a release.
pub fn image_tag(app: &str, release: &str) -> String {
    let repository = lowercase_safe(app);
    let mut tag: String = release
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    // A tag may not start with '.' or '-'.
    if tag.is_empty() || tag.starts_with(['.', '-']) {
        tag.insert(0, 'r');
        tag.truncate(128);
    }
    format!("deployflow/{repository}:{tag}")
}

/// The app's own bridge network.
pub fn network(app: &str) -> String {
    format!("deployflow-{}", container_safe(app))
}

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, as Docker allows in a container's name.
fn container_safe(text: &str) -> String {
    safe(text.chars())
}

/// An image repository's component: the same, in lowercase.
fn lowercase_safe(text: &str) -> String {
    safe(text.chars().map(|c| c.to_ascii_lowercase()))
}

/// Letters, digits and `_.-` kept, anything else a `-`; an `x` in front when
/// it would not start with a letter or digit.
fn safe(chars: impl Iterator<Item = char>) -> String {
    let mut safe: String = chars
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !safe.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        safe.insert(0, 'x');
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_process_document() {
        assert_eq!(live("hello"), "hello");
        assert_eq!(candidate("hello"), "hello-green");
        assert_eq!(
            retained("hello", "v2", "0193ab12-0000-7000-8000-00000000c0de"),
            "hello-v2-0000c0de"
        );
        assert_eq!(network("hello"), "deployflow-hello");
    }

    #[test]
    fn what_docker_refuses_is_made_safe() {
        assert_eq!(
            image_tag("My App", "v1.2+build/7"),
            "deployflow/my-app:v1.2_build_7"
        );
        assert_eq!(image_tag("app", "-x"), "deployflow/app:r-x");
        assert_eq!(image_tag("app", ""), "deployflow/app:r");
        assert_eq!(retained("_app", "rel/1", "abc"), "x_app-rel-1-abc");
        assert_eq!(candidate("my app"), "my-app-green");
    }
}
