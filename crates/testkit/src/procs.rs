//! The real binaries, started on free ports and stopped when dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

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

/// A free TCP port on loopback.
pub fn free_port() -> Result<u16> {
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
/// that a failing test shows the binary's logs).
pub fn spawn(name: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<Proc> {
    let mut cmd = Command::new(bin(name)?);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env(
            "RUST_LOG",
            std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
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
        let port = free_port()?;
        let admin_port = free_port()?;
        let bind = format!("127.0.0.1:{port}");
        let admin = format!("127.0.0.1:{admin_port}");
        let mut args = vec!["--bind", &bind, "--metrics-bind", &admin, "--workers", "2"];
        args.extend_from_slice(extra);
        let proc = spawn("ingest", &args, &[("DATABASE_URL", db_url)])?;
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
}

/// Runs a `worker` subcommand against `db_url` to completion. Returns its
/// exit code, stdout and stderr.
pub async fn worker_cli(db_url: &str, args: &[&str]) -> Result<(i32, String, String)> {
    let out = Command::new(bin("worker")?)
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .output()
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
    let (code, out, err) = worker_cli(db_url, args).await?;
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
