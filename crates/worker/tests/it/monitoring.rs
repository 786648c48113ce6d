//! The alert rules and the dashboard of deploy/monitoring use the metrics
//! the binaries really export: every `switchboard_*` name in them is on a
//! running ingest's, worker's (`--deliver`: it hands its deliveries
//! over), delivery worker's (with an endpoint that answers 410 and one
//! that answers 200) or board's
//! `/metrics` after some traffic. And
//! the rules fire on synthetic series (`promtool test rules`), when
//! promtool is installed here (CI runs it through scripts/monitoring-check.sh
//! in any case).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use testkit::load::Load;
use testkit::{free_port, wait_until, Stack, TestDb};

use crate::events_out::receiver::{Receiver, Reply};

const SECRET: &str = "monitoring-secret-0123456789abcd";
const PASSWORD: &str = "monitoring-password-1";

fn monitoring_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/monitoring")
}

/// The `switchboard_*` names in `text`.
fn names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("switchboard_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

async fn metrics_page(port: u16) -> String {
    let mut c = traffic::Client::new(format!("127.0.0.1:{port}"), Duration::from_secs(10));
    c.request("GET", "/metrics", &[], b"")
        .await
        .map(|r| r.text())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_and_dashboard_use_real_metrics() {
    let dir = monitoring_dir();
    let mut used = BTreeSet::new();
    for f in ["alerts.yml", "dashboard.json"] {
        let text = std::fs::read_to_string(dir.join(f)).expect("deploy/monitoring files");
        used.extend(names(&text));
    }
    assert!(used.len() > 10, "{used:?}");

    let worker_port = free_port().expect("port");
    let deliver_port = free_port().expect("port");
    // An endpoint that is gone: attempts, and a worker disabling it.
    let db = TestDb::new().await.expect("database");
    let gone = Receiver::start(|_, _, _| Reply::status(410)).await;
    testkit::worker_ok(
        &db.url,
        &[
            "endpoint",
            "add",
            "gone",
            "--url",
            &gone.url("/gone"),
            "--allow-private",
        ],
    )
    .await
    .expect("endpoint add");
    // And one that answers 200: deliveries, and their lag.
    let ok = Receiver::start(|_, _, _| Reply::status(200)).await;
    testkit::worker_ok(
        &db.url,
        &[
            "endpoint",
            "add",
            "ok",
            "--url",
            &ok.url("/ok"),
            "--allow-private",
        ],
    )
    .await
    .expect("endpoint add");
    let s = Stack::builder()
        .on(db)
        .yeastar("pbx", SECRET)
        .user("olivia", "operator", PASSWORD)
        .ingest(&[])
        .worker(&[
            "--deliver",
            "--metrics-bind",
            &format!("127.0.0.1:{worker_port}"),
        ])
        .worker_command(&[
            "deliver",
            "--metrics-bind",
            &format!("127.0.0.1:{deliver_port}"),
        ])
        .board(&[])
        .start()
        .await
        .expect("stack");
    // Traffic, a refused webhook, a browser on the board.
    let load = Load::start(&[s.ingest()], "pbx", SECRET, 2, "metrics");
    let tally = load.tally();
    wait_until(Duration::from_secs(20), "some webhooks", || async {
        Ok(tally.acks().len() >= 50)
    })
    .await
    .expect("load");
    load.stop().await;
    let cookie = traffic::board::login(&s.board().url(), "olivia", PASSWORD)
        .await
        .expect("login");
    let http = reqwest::Client::new();
    let mut events = http
        .get(format!("{}/events", s.board().url()))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("event stream");
    let _ = events.chunk().await;

    let exported = std::cell::RefCell::new(BTreeSet::new());
    wait_until(
        Duration::from_secs(30),
        "every metric used to be exported",
        || async {
            let mut all = BTreeSet::new();
            for port in [
                s.ingest().admin_port,
                worker_port,
                deliver_port,
                s.board().admin_port,
            ] {
                let page = metrics_page(port).await;
                // Names at the start of sample lines (not in HELP text).
                for line in page.lines().filter(|l| !l.starts_with('#')) {
                    all.extend(names(line.split(['{', ' ']).next().unwrap_or_default()));
                }
            }
            let done = used.iter().all(|m| all.contains(m));
            *exported.borrow_mut() = all;
            Ok(done)
        },
    )
    .await
    .unwrap_or_else(|e| {
        let missing: Vec<_> = used.difference(&exported.borrow()).cloned().collect();
        panic!("{e:#}: used by deploy/monitoring but exported by no binary: {missing:?}")
    });

    match std::process::Command::new("promtool")
        .args(["test", "rules", "alerts.test.yml"])
        .current_dir(&dir)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "promtool test rules: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!(
            "promtool not run ({e}): scripts/monitoring-check.sh runs it in CI \
             (scripts/install-deps.sh monitoring installs it)"
        ),
    }
}
