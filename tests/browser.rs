//! A person at the dashboard, in headless Chromium (Debian's chromium and
//! chromium-driver) driven over WebDriver (fantoccini): the deployment page
//! opened while the deployment runs follows it live, without a reload, to
//! the manual gate; approved there with a reason, the deployment goes on to
//! promotion. A screenshot of the page is saved for the test's output.
// Tests start the binary and tools directly: they are not the control
// plane, whose children go through `adapters::child` (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::scenario::{Knobs, Scenario, quiet_addr, text};
use fantoccini::ClientBuilder;

/// chromedriver on a port of its own, in a process group of its own with
/// the browsers it starts: all killed when dropped, even when a failing
/// test never closed its session.
struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Driver {
    fn start() -> Driver {
        let addr = quiet_addr();
        let child = Command::new("chromedriver")
            .arg(format!("--port={}", addr.port()))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (apt-get install chromium chromium-driver), as .ci/run does");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, addr }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Waits up to 30 s for `script` (a JavaScript expression) to be true in the page.
async fn wait_until(browser: &fantoccini::Client, what: &str, script: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value = browser
            .execute(&format!("return Boolean({script});"), vec![])
            .await
            .expect("the page runs scripts");
        if value == serde_json::Value::Bool(true) {
            return;
        }
        if Instant::now() > deadline {
            let html = browser.source().await.unwrap_or_default();
            panic!("the page never showed {what}:\n{html}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_person_follows_a_deployment_live_and_approves_it_at_the_gate() {
    let driver = Driver::start();
    let mut s = Scenario::new();
    s.start_server();
    // Unhealthy at its first start, so the page opens well before the gate.
    let counter = s.dir.path().join("starts");
    s.release(
        "v1",
        &Knobs {
            env: format!(
                ", HELLO_UNHEALTHY_STARTS = \"1\", HELLO_COUNTER_FILE = \"{}\"",
                counter.display()
            ),
            ..Knobs::gated()
        },
    );
    let deploy = s.deploy_in_background("v1");
    let id = s.wait_in_progress("prepare");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let screenshot = runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1100"],
            }),
        );
        let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://{}", driver.addr))
            .await
            .expect("a Chromium session");
        browser
            .goto(&format!("http://{}/deployments/{id}", s.api))
            .await
            .unwrap();
        // Marks this page load: a reload would lose it.
        browser
            .execute("window.loadedOnce = true; return document.body.innerText;", vec![])
            .await
            .unwrap();
        let first = browser.source().await.unwrap();
        assert!(
            !first.contains("Waiting at the manual gate"),
            "the page opened after the gate, so it proves nothing live"
        );

        // The timeline grows as the deployment goes: the fix loop, the
        // tests, the review, the gate.
        wait_until(&browser, "the fix loop", "document.body.innerText.includes('Fix loop')").await;
        wait_until(&browser, "the review", "document.body.innerText.includes('Round 1')").await;
        wait_until(
            &browser,
            "the manual gate",
            "document.body.innerText.includes('Waiting at the manual gate')",
        )
        .await;
        wait_until(&browser, "the same page load", "window.loadedOnce === true").await;

        // Approving asks for a reason first.
        // Clicked from a script in one step: the live part may be redrawn
        // at any moment, leaving a found element stale.
        browser
            .execute(
                "document.querySelector('form[data-action=approve] button').click();",
                vec![],
            )
            .await
            .unwrap();
        // The browser holds the form back until a reason is given.
        wait_until(
            &browser,
            "a request for a reason",
            "document.querySelector('form[data-action=approve] input[name=reason]').validity.valueMissing",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        wait_until(
            &browser,
            "the deployment still at the gate",
            "document.body.innerText.includes('Waiting at the manual gate')",
        )
        .await;
        // The reason typed and the form sent in one step, for the same reason.
        browser
            .execute(
                "const form = document.querySelector('form[data-action=approve]');\
                 form.querySelector('input[name=reason]').value = 'checked the release in staging';\
                 form.querySelector('button').click();",
                vec![],
            )
            .await
            .unwrap();
        wait_until(
            &browser,
            "the promotion",
            "document.querySelector('h1 .status').innerText === 'promoted'",
        )
        .await;
        wait_until(&browser, "the same page load", "window.loadedOnce === true").await;
        let png = browser.screenshot().await.unwrap();
        browser.goto(&format!("http://{}/", s.api)).await.unwrap();
        wait_until(&browser, "the overview's charts", "document.querySelectorAll('svg').length === 5").await;
        let overview = browser.screenshot().await.unwrap();
        browser.close().await.unwrap();
        (png, overview)
    });
    let (screenshot, overview) = screenshot;

    let out = deploy.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let audit = s.json(&["audit", &id]);
    let manual = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["role"] == "manual")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(manual["member"], "dashboard");

    assert!(screenshot.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-approved.png");
    std::fs::write(&path, &screenshot).unwrap();
    println!("screenshot: {}", path.display());
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-overview.png");
    std::fs::write(&path, &overview).unwrap();
    println!("screenshot: {}", path.display());
}
