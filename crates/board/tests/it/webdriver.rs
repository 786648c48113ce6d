//! A real browser for the board's tests: Debian's `chromium`, headless,
//! driven over WebDriver by Debian's `chromedriver` (plain HTTP on
//! loopback, through fantoccini), with bounded waits that poll the DOM.
//!
//! chromedriver runs in a process group of its own, with a fresh profile
//! directory; dropping the [`Browser`] kills the group (chromedriver and
//! every chromium process it started) and removes the profile.

use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// How long any page condition is waited for.
pub const WAIT: Duration = Duration::from_secs(30);
/// How often a page condition is checked.
pub const POLL: Duration = Duration::from_millis(50);

/// How to get the browser (CI's `.ci/run` does it).
const INSTALL_HINT: &str = "install Debian's chromium and chromium-driver \
     (apt-get install chromium chromium-driver; .ci/run does it), or point \
     CHROMIUM / CHROMEDRIVER at the binaries";

/// A headless chromium session and the chromedriver that drives it.
pub struct Browser {
    pub client: Client,
    driver: Driver,
}

/// A running chromedriver (in a process group of its own) and its
/// directory (chromium's profile, chromedriver's log).
struct Driver {
    child: Child,
    dir: PathBuf,
}

impl Driver {
    fn log_path(&self) -> PathBuf {
        self.dir.join("chromedriver.log")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Kill chromedriver's whole process group (chromium with it).
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            // Keep the logs (not the profile) for the failure.
            let _ = std::fs::remove_dir_all(self.dir.join("profile"));
            eprintln!(
                "browser test failed: chromedriver's and chromium's logs are kept in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Waits until `probe` returns a value that satisfies `ok`, polling every
/// [`POLL`] for at most [`WAIT`]; returns that value. Panics naming
/// `what` and the last value (or error) seen when time runs out.
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F, ok: impl Fn(&T) -> bool) -> T
where
    T: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = Instant::now() + WAIT;
    let mut last;
    loop {
        match probe().await {
            Ok(v) if ok(&v) => return v,
            Ok(v) => last = format!("{v:?}"),
            Err(e) => last = format!("error: {e:#}"),
        }
        if Instant::now() > deadline {
            panic!("timed out after {WAIT:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A board card as the page shows it (`null` from the page when absent).
#[derive(Debug, Clone, Deserialize)]
pub struct CardView {
    /// `data-status`.
    pub status: String,
    /// `[data-field=status]` text.
    pub status_text: String,
    /// `[data-field=name]` text.
    pub name: String,
    /// `[data-field=party]` text.
    pub party: String,
    /// `[data-field=duration]` text.
    pub duration: String,
    /// The computed background colour, `[r, g, b]` (0-255).
    pub background: [f64; 3],
    /// Whether a `button[data-action=hangup]` is in the card.
    pub hangup: bool,
}

/// Reads one card (`arguments[0]` source, `arguments[1]` extension).
const CARD_JS: &str = r#"
const [source, ext] = arguments;
const card = [...document.querySelectorAll('#cards .card')]
  .find((c) => c.dataset.source === source && c.dataset.extension === ext);
if (!card) return null;
const text = (f) => { const e = card.querySelector('[data-field=' + f + ']'); return e ? e.textContent : ''; };
const rgb = (getComputedStyle(card).backgroundColor.match(/[\d.]+/g) || []).map(Number).slice(0, 3);
return {
  status: card.dataset.status || '',
  status_text: text('status'),
  name: text('name'),
  party: text('party'),
  duration: text('duration'),
  background: rgb.length === 3 ? rgb : [0, 0, 0],
  hangup: !!card.querySelector('button[data-action=hangup]'),
};
"#;

/// Reads an attribute of the first element matching a selector (`null`
/// when there is no such element or attribute).
const ATTR_JS: &str = r#"
const e = document.querySelector(arguments[0]);
return e ? e.getAttribute(arguments[1]) : null;
"#;

impl Browser {
    /// Starts chromedriver on a free port, waits until it is ready, and
    /// opens a headless chromium session with a fresh profile. Panics with
    /// a clear message when chromium or chromedriver is missing.
    pub async fn start() -> Browser {
        let chromium = binary("CHROMIUM", "chromium")
            .unwrap_or_else(|| panic!("chromium not found: {INSTALL_HINT}"));
        let chromedriver = binary("CHROMEDRIVER", "chromedriver")
            .unwrap_or_else(|| panic!("chromedriver not found: {INSTALL_HINT}"));
        let dir = fresh_dir().expect("creating a browser profile directory");
        let port = testkit::free_port().expect("a free port for chromedriver");
        // chromium's own messages go to chromedriver's standard error.
        let stderr =
            std::fs::File::create(dir.join("chromium.log")).expect("creating the chromium log");
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Its own process group, so that dropping kills chromium too.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        // From here on, dropping `driver` cleans up whatever happens.
        let driver = Driver { child, dir };
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        testkit::wait_until(WAIT, "chromedriver /status", || async {
            let r = http.get(format!("{url}/status")).send().await?;
            let v: Value = r.json().await?;
            Ok(v["value"]["ready"] == json!(true))
        })
        .await
        .unwrap_or_else(|e| panic!("{e:#} (log: {})", driver.log_path().display()));

        let user_data_dir = driver.dir.join("profile");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", user_data_dir.display()),
                    "--window-size=1400,1000",
                    "--autoplay-policy=no-user-gesture-required",
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!("capabilities are an object")
        };
        let client = tokio::time::timeout(
            Duration::from_secs(60),
            ClientBuilder::new(HttpConnector::new())
                .capabilities(caps)
                .connect(&url),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no chromium session within 60 s (log: {})",
                driver.log_path().display()
            )
        })
        .unwrap_or_else(|e| {
            panic!(
                "opening a chromium session: {e} (log: {})",
                driver.log_path().display()
            )
        });
        Browser { client, driver }
    }

    /// Ends the session (chromium quits), then stops chromedriver.
    pub async fn close(self) {
        let Browser { client, driver } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        drop(driver);
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Runs `script` with `args` and reads its result as `T`.
    pub async fn js<T: DeserializeOwned>(&self, script: &str, args: Vec<Value>) -> Result<T> {
        let v = self
            .client
            .execute(script, args)
            .await
            .map_err(|e| anyhow!("script failed: {e}"))?;
        serde_json::from_value(v.clone()).with_context(|| format!("unexpected script result {v}"))
    }

    /// The card of extension `ext` of `source`, if the page has it.
    pub async fn card(&self, source: &str, ext: &str) -> Result<Option<CardView>> {
        self.js(CARD_JS, vec![json!(source), json!(ext)]).await
    }

    /// Waits until the card of `ext` of `source` exists and satisfies
    /// `ok`; returns it.
    pub async fn wait_card(
        &self,
        source: &str,
        ext: &str,
        what: &str,
        ok: impl Fn(&CardView) -> bool,
    ) -> CardView {
        let what = format!("card {source}/{ext}: {what}");
        wait_for(
            &what,
            || self.card(source, ext),
            |c| c.as_ref().is_some_and(&ok),
        )
        .await
        .expect("a card")
    }

    /// Attribute `name` of the first element matching `selector`.
    pub async fn attr(&self, selector: &str, name: &str) -> Result<Option<String>> {
        self.js(ATTR_JS, vec![json!(selector), json!(name)]).await
    }

    /// Waits until attribute `name` of `selector` equals `want`.
    pub async fn wait_attr(&self, selector: &str, name: &str, want: &str) {
        let what = format!("{selector} [{name}] = {want:?}");
        wait_for(
            &what,
            || self.attr(selector, name),
            |v| v.as_deref() == Some(want),
        )
        .await;
    }

    /// How many elements match `selector` (through WebDriver).
    pub async fn count(&self, selector: &str) -> usize {
        self.client
            .find_all(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("finding {selector}: {e}"))
            .len()
    }

    /// Clicks the element matching `selector`.
    pub async fn click(&self, selector: &str) {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("finding {selector}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
    }

    /// The text (`textContent`) of the first element matching `selector`
    /// (`None` when there is none).
    pub async fn text(&self, selector: &str) -> Result<Option<String>> {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            vec![json!(selector)],
        )
        .await
    }

    /// Waits for a `window.confirm()` dialog, accepts it (as a person
    /// pressing OK) and returns its message.
    pub async fn accept_confirm(&self) -> String {
        let text = wait_for(
            "a confirmation dialog",
            || async {
                self.client
                    .get_alert_text()
                    .await
                    .map_err(|e| anyhow!("no dialog: {e}"))
            },
            |_| true,
        )
        .await;
        self.client
            .accept_alert()
            .await
            .unwrap_or_else(|e| panic!("accepting the dialog: {e}"));
        text
    }

    /// Logs in on the board at `board_url` through its login form, as a
    /// person would (types the name and password, presses the button), and
    /// waits until the board page is shown for `user`.
    pub async fn login(&self, board_url: &str, user: &str, password: &str) {
        self.goto(&format!("{board_url}/login")).await;
        for (field, value) in [("username", user), ("password", password)] {
            let sel = format!("form[action='/login'] input[name={field}]");
            let input = self
                .client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Css(&sel))
                .await
                .unwrap_or_else(|e| panic!("the login form's {field}: {e}"));
            input
                .send_keys(value)
                .await
                .unwrap_or_else(|e| panic!("typing into {field}: {e}"));
        }
        self.click("form[action='/login'] button[type=submit]")
            .await;
        let base = format!("{board_url}/");
        wait_for(
            &format!("the board page after {user} logs in"),
            || async {
                let url = self.client.current_url().await?;
                let who = self.attr("body", "data-user").await?;
                Ok((url.to_string(), who))
            },
            |(url, who)| *url == base && who.as_deref() == Some(user),
        )
        .await;
    }

    /// Takes a PNG screenshot of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("a screenshot")
    }
}

/// A browser binary: the path in environment variable `var` when set,
/// else `name` on PATH, else Debian's (/usr/bin, /usr/lib/chromium).
fn binary(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A new empty directory under the system's temporary directory.
fn fresh_dir() -> Result<PathBuf> {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "switchboard-browser-{}-{}-{:08x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
