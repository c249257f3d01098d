//! `deployflow demo` end to end, as README's first set-up command runs it.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::process::Command;

#[test]
fn the_demo_deploys_v1_then_v2_under_traffic_rolls_v3_v4_and_v5_back_takes_v6_as_a_canary_catches_v7_and_leaves_nothing_running()
 {
    let out = Command::new(env!("CARGO_BIN_EXE_deployflow"))
        .arg("demo")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("-> v1 promoted"), "{stdout}");
    assert!(stdout.contains("-> v2 promoted"), "{stdout}");
    assert!(
        stdout.contains("0 failed, served by v1 then v2"),
        "{stdout}"
    );
    assert!(stdout.contains("-> v3 rolled_back"), "{stdout}");
    // v4 fails real users after the switch: back to v2 by its analysis.
    assert!(stdout.contains("-> v4 rolled_back"), "{stdout}");
    assert!(stdout.contains("served by v2 then v4 then v2"), "{stdout}");
    assert!(
        stdout.contains("users (post_promotion, run 1): failed: metric `success` failed"),
        "{stdout}"
    );
    // v5 is slower than v2 under the built-in load: stopped before the switch.
    assert!(stdout.contains("-> v5 rolled_back"), "{stdout}");
    assert!(
        stdout.contains("speed (pre_promotion, run 1): failed: metric `latency` failed"),
        "{stdout}"
    );
    assert!(stdout.contains("0 failed, served by v2\n"), "{stdout}");
    assert!(
        stdout.contains("the app answers: hello from v2"),
        "{stdout}"
    );
    // v6 goes live a slice at a time; v7, slower, is caught at 10 %.
    assert!(stdout.contains("-> v6 promoted"), "{stdout}");
    assert!(stdout.contains("served by v2 and v6 by turns"), "{stdout}");
    assert!(stdout.contains("-> v7 rolled_back"), "{stdout}");
    assert!(
        stdout.contains("slice (canary, run 1): failed: metric `latency` failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(at step 2 of 5, analysis `slice`; green at 10 %)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("then v6\n-> the app answers: hello from v6"),
        "{stdout}"
    );
    assert!(stdout.contains("== audit of v2 =="), "{stdout}");
    assert!(stdout.contains("== metrics =="), "{stdout}");
    // Nothing of the demo's is left: no instance, router or control plane
    // still uses its workspace.
    let workspace = stdout
        .lines()
        .find_map(|l| l.strip_prefix("deployflow demo: workspace "))
        .expect("the workspace line")
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = stat.rsplit_once(')')?.1.split_whitespace().next()? == "Z";
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
            let mine = cmdline.contains(&workspace) || cwd.starts_with(&workspace);
            (mine && !zombie).then_some(cmdline)
        })
        .collect();
    assert!(leftovers.is_empty(), "still running: {leftovers:?}");
    let _ = std::fs::remove_dir_all(&workspace);
}
