//! The real binaries, started on free ports and stopped when dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

use store::secrets::{KEY_VAR, PREVIOUS_KEY_VAR};

use crate::signing::{post_webhook, Posted, SignedRequest};
use crate::wait_until;

/// The path of a workspace binary (`ingest`, `worker`, `traffic`), built
/// beside the test executable.
pub fn bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .context("test executable has no target directory")?;
    let p = dir.join(name);
    if !p.exists() {
        bail!(
            "binary {} not found: build it first (cargo build --workspace --bins)",
            p.display()
        );
    }
    Ok(p)
}

/// A TCP port free on loopback now, below the kernel's ephemeral range
/// (Linux: 32768-60999). A port from that range (a bind to port 0), let go
/// for the binary under test to bind, can meanwhile become the local port
/// of any outgoing connection: a board test's ingest once failed with
/// "Address already in use" on its operators' port that way.
pub fn free_port() -> Result<u16> {
    for _ in 0..200 {
        let port = fastrand::u16(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A running binary, killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    /// Sends SIGTERM and waits (at most `limit`) for the exit status code.
    pub async fn terminate(&mut self, limit: Duration) -> Result<Option<i32>> {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .with_context(|| format!("{} did not exit within {limit:?} of SIGTERM", self.name))??;
        Ok(status.code())
    }

    /// Kills the process with SIGKILL and reaps it.
    pub async fn kill(&mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Starts `name` with `args` and `envs` (stdout and stderr inherited, so
/// that a failing test shows the binary's logs). The binary gets the test
/// secrets key ([`crate::TEST_SECRETS_KEY`]) unless `envs` says otherwise.
pub fn spawn(name: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<Proc> {
    spawn_to(name, args, envs, Stdio::inherit())
}

/// [`spawn`] with the binary's stderr sent to `stderr` (a log file, say).
pub(crate) fn spawn_to(
    name: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    stderr: Stdio,
) -> Result<Proc> {
    let mut cmd = Command::new(bin(name)?);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env(KEY_VAR, crate::TEST_SECRETS_KEY)
        .env_remove(PREVIOUS_KEY_VAR)
        .env(
            "RUST_LOG",
            std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
    Ok(Proc {
        child,
        name: name.to_string(),
    })
}

/// A running `ingest` on a free port.
pub struct Ingest {
    pub proc: Proc,
    pub port: u16,
    /// The operators' port (`--metrics-bind`): /metrics, /readyz.
    pub admin_port: u16,
}

impl Ingest {
    /// Starts ingest against `db_url` with extra flags and waits until its
    /// `/healthz` answers (at most 20 s).
    pub async fn start(db_url: &str, extra: &[&str]) -> Result<Ingest> {
        Ingest::start_with_env(db_url, extra, &[]).await
    }

    /// [`Ingest::start`] with extra environment variables (e.g. another
    /// `SWITCHBOARD_SECRETS_KEY`).
    pub async fn start_with_env(
        db_url: &str,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<Ingest> {
        let port = free_port()?;
        let admin_port = free_port()?;
        let bind = format!("127.0.0.1:{port}");
        let admin = format!("127.0.0.1:{admin_port}");
        let mut args = vec!["--bind", &bind, "--metrics-bind", &admin, "--workers", "2"];
        args.extend_from_slice(extra);
        let mut all = vec![("DATABASE_URL", db_url)];
        all.extend_from_slice(envs);
        let proc = spawn("ingest", &args, &all)?;
        let ingest = Ingest {
            proc,
            port,
            admin_port,
        };
        wait_until(Duration::from_secs(20), "ingest /healthz", || async {
            let mut c = traffic::Client::new(ingest.authority(), Duration::from_secs(1));
            Ok(c.request("GET", "/healthz", &[], b"")
                .await
                .is_ok_and(|r| r.status == 200))
        })
        .await?;
        Ok(ingest)
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A client for this ingest's operators' port.
    pub fn admin_client(&self) -> traffic::Client {
        traffic::Client::new(
            format!("127.0.0.1:{}", self.admin_port),
            Duration::from_secs(10),
        )
    }

    /// A client for this ingest.
    pub fn client(&self) -> traffic::Client {
        traffic::Client::new(self.authority(), Duration::from_secs(10))
    }

    /// Posts `req` to `/webhooks/{source}` with a new client; returns
    /// ingest's answer, whatever it is.
    pub async fn post(&self, source: &str, req: &SignedRequest) -> Result<Posted> {
        post_webhook(&mut self.client(), source, req).await
    }
}

/// A running `board` on a free port (plain HTTP: `BOARD_COOKIE_SECURE=false`).
pub struct Board {
    pub proc: Proc,
    pub port: u16,
    /// The operators' port (`--metrics-bind`): /metrics, /readyz.
    pub admin_port: u16,
}

impl Board {
    /// Starts the board against `db_url` with extra flags and waits until
    /// it has loaded the state (`/readyz`, at most 20 s).
    pub async fn start(db_url: &str, extra: &[&str]) -> Result<Board> {
        Board::start_on(db_url, free_port()?, extra).await
    }

    /// [`Board::start`] with extra environment variables (e.g. an empty
    /// `SWITCHBOARD_SECRETS_KEY`: a board that cannot open API credentials).
    pub async fn start_with_env(
        db_url: &str,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<Board> {
        Board::start_on_with_env(db_url, free_port()?, extra, envs).await
    }

    /// [`Board::start`] on `port` (to restart one where browsers expect it).
    pub async fn start_on(db_url: &str, port: u16, extra: &[&str]) -> Result<Board> {
        Board::start_on_with_env(db_url, port, extra, &[]).await
    }

    /// [`Board::start_on`] with extra environment variables.
    pub async fn start_on_with_env(
        db_url: &str,
        port: u16,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<Board> {
        let admin_port = free_port()?;
        let bind = format!("127.0.0.1:{port}");
        let admin = format!("127.0.0.1:{admin_port}");
        let (args, all) = Board::command(db_url, &bind, &admin, extra, envs);
        let proc = spawn("board", &args, &all)?;
        Board::ready(proc, port, admin_port).await
    }

    /// The arguments and environment [`Board::start_on_with_env`] starts
    /// the board with: its binds, then `extra`; the plain-HTTP cookie.
    pub(crate) fn command<'a>(
        db_url: &'a str,
        bind: &'a str,
        admin: &'a str,
        extra: &[&'a str],
        envs: &[(&'a str, &'a str)],
    ) -> (Vec<&'a str>, Vec<(&'a str, &'a str)>) {
        let mut args = vec!["--bind", bind, "--metrics-bind", admin, "--workers", "2"];
        args.extend_from_slice(extra);
        let mut all = vec![("DATABASE_URL", db_url), ("BOARD_COOKIE_SECURE", "false")];
        all.extend_from_slice(envs);
        (args, all)
    }

    /// The board started as `proc`, once its `/readyz` answers 200 (at
    /// most 20 s).
    pub(crate) async fn ready(proc: Proc, port: u16, admin_port: u16) -> Result<Board> {
        let board = Board {
            proc,
            port,
            admin_port,
        };
        wait_until(Duration::from_secs(20), "board /readyz", || async {
            let mut c = board.admin_client();
            Ok(c.request("GET", "/readyz", &[], b"")
                .await
                .is_ok_and(|r| r.status == 200))
        })
        .await?;
        Ok(board)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client for this board's operators' port.
    pub fn admin_client(&self) -> traffic::Client {
        traffic::Client::new(
            format!("127.0.0.1:{}", self.admin_port),
            Duration::from_secs(10),
        )
    }
}

/// Runs a `worker` subcommand against `db_url` to completion, with the test
/// secrets key and an empty stdin. Returns its exit code, stdout and stderr.
pub async fn worker_cli(db_url: &str, args: &[&str]) -> Result<(i32, String, String)> {
    worker_cli_stdin(db_url, args, "").await
}

/// [`worker_cli`] with `stdin` written to the command's standard input
/// (how secrets reach `worker source add` and `add-secret`).
pub async fn worker_cli_stdin(
    db_url: &str,
    args: &[&str],
    stdin: &str,
) -> Result<(i32, String, String)> {
    worker_cli_env(db_url, args, stdin, &[]).await
}

/// [`worker_cli_stdin`] with environment changes: `(name, Some(value))`
/// sets a variable, `(name, None)` removes it (e.g. the secrets key).
pub async fn worker_cli_env(
    db_url: &str,
    args: &[&str],
    stdin: &str,
    envs: &[(&str, Option<&str>)],
) -> Result<(i32, String, String)> {
    use tokio::io::AsyncWriteExt;
    let mut cmd = Command::new(bin("worker")?);
    cmd.args(args)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .env(KEY_VAR, crate::TEST_SECRETS_KEY)
        .env_remove(PREVIOUS_KEY_VAR);
    for (k, v) in envs {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("running worker {args:?}"))?;
    if let Some(mut input) = child.stdin.take() {
        // The command may exit without reading (a refused flag): ignore a
        // broken pipe, the exit code tells.
        let _ = input.write_all(stdin.as_bytes()).await;
    }
    let out = child
        .wait_with_output()
        .await
        .with_context(|| format!("running worker {args:?}"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Runs a `worker` subcommand that must succeed. Returns its stdout.
pub async fn worker_ok(db_url: &str, args: &[&str]) -> Result<String> {
    worker_ok_stdin(db_url, args, "").await
}

/// [`worker_ok`] with `stdin` as the command's standard input.
pub async fn worker_ok_stdin(db_url: &str, args: &[&str], stdin: &str) -> Result<String> {
    let (code, out, err) = worker_cli_stdin(db_url, args, stdin).await?;
    if code != 0 {
        bail!("worker {args:?} exited {code}: {err}");
    }
    Ok(out)
}

/// Starts `worker run` against `db_url` with extra flags.
pub fn start_worker(db_url: &str, extra: &[&str]) -> Result<Proc> {
    let mut args = vec!["run", "--poll-interval", "20ms"];
    args.extend_from_slice(extra);
    spawn("worker", &args, &[("DATABASE_URL", db_url)])
}
