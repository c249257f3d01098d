//! The machine's Docker engine for the black-box tests. No registry is
//! reachable, so the example app's image is built here `FROM scratch`: the
//! test build's own `deployflow-hello` with the few shared libraries it
//! links (read off `ldd`), so the tests need no second, static build of
//! the crate. Each scenario's release images are `FROM` that base.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::scenario::HELLO;

/// Runs the docker CLI; panics with its output when it fails.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `docker`: {e}"));
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The engine must answer: these tests never skip (CI must fail loudly
/// when the engine is missing, not pass without having run them).
pub fn require_engine() {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the Docker engine is unreachable, and the docker backend's tests need it: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("the docker CLI cannot run ({e}); the docker backend's tests need it"),
    }
}

/// The example app's base image, built once per test process.
pub fn base_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_engine();
        let binary = Path::new(HELLO);
        let meta = std::fs::metadata(binary).expect("the example app is built");
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        // A new build of the example app gets a new tag.
        let tag = format!("deployflow-test-hello:{modified}-{}", meta.len());
        if Command::new("docker")
            .args(["image", "inspect", &tag])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return tag;
        }
        let context = tempfile::tempdir().expect("build context");
        let rootfs = context.path().join("rootfs");
        copy_into(&rootfs, binary, Path::new("/deployflow-hello"));
        for library in linked_libraries(binary) {
            copy_into(&rootfs, &library, &library);
        }
        std::fs::write(
            context.path().join("Dockerfile"),
            "FROM scratch\nCOPY rootfs/ /\nENV HELLO_HOST=0.0.0.0\nENTRYPOINT [\"/deployflow-hello\"]\n",
        )
        .expect("Dockerfile");
        docker(&[
            "build",
            "--quiet",
            "--label",
            "deployflow.test=base",
            "-t",
            &tag,
            &context.path().display().to_string(),
        ]);
        tag
    })
}

/// The shared libraries `binary` loads, as absolute paths (ldd's output).
fn linked_libraries(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().expect("run ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
            // "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn copy_into(rootfs: &Path, from: &Path, at: &Path) {
    let to = rootfs.join(at.strip_prefix("/").unwrap_or(at));
    std::fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir");
    // Through symlinks: the image gets the library itself under this name.
    std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

/// One container of an app: its name, state and labels of interest.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub state: String,
    pub release: String,
    pub deployment: String,
}

/// Every container of `app`, as `docker ps -a` lists them.
pub fn containers(app: &str) -> Vec<Container> {
    let format = "{{.ID}}|{{.Names}}|{{.State}}|{{.Label \"deployflow.release\"}}|{{.Label \"deployflow.deployment\"}}";
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=deployflow.app={app}"),
        "--format",
        format,
    ])
    .lines()
    .filter_map(|line| {
        let mut fields = line.split('|').map(str::to_string);
        Some(Container {
            id: fields.next()?,
            name: fields.next()?,
            state: fields.next()?,
            release: fields.next()?,
            deployment: fields.next()?,
        })
    })
    .collect()
}

/// Removes everything the app left on the engine: containers, its
/// network and the images built for it.
pub fn remove_app(app: &str) {
    let ids: Vec<String> = containers(app).into_iter().map(|c| c.id).collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(ids.iter().map(String::as_str));
        let _ = Command::new("docker").args(&args).output();
    }
    let _ = Command::new("docker")
        .args(["network", "rm", &format!("deployflow-{app}")])
        .output();
    let images = Command::new("docker")
        .args([
            "images",
            "-q",
            "--filter",
            &format!("label=deployflow.app={app}"),
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for image in images.split_whitespace() {
        let _ = Command::new("docker").args(["rmi", "-f", image]).output();
    }
}
