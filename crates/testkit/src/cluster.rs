//! A throwaway PostgreSQL server of a test's own, for tests that stop and
//! restart the database (which the shared test server cannot be).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

fn bindir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("PG_BINDIR") {
        return Ok(PathBuf::from(d));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if let Some(d) = found.pop() {
        return Ok(d);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if d.join("initdb").exists() {
            return Ok(d);
        }
    }
    bail!("no PostgreSQL server binaries (initdb, pg_ctl): install PostgreSQL or set PG_BINDIR")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A server in a temporary directory on a free port, stopped and removed
/// when dropped.
pub struct TempCluster {
    bin: PathBuf,
    data: PathBuf,
    root: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

impl TempCluster {
    /// Creates and starts the server (a few seconds).
    pub fn start() -> Result<TempCluster> {
        let bin = bindir()?;
        let as_postgres = is_root();
        let port = crate::free_port()?;
        let root =
            std::env::temp_dir().join(format!("switchboard-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&root)?;
        if as_postgres {
            let ok = Command::new("chown")
                .arg("postgres")
                .arg(&root)
                .status()?
                .success();
            if !ok {
                bail!("cannot chown {} to postgres", root.display());
            }
        }
        let c = TempCluster {
            bin,
            data: root.join("data"),
            root,
            port,
            as_postgres,
        };
        c.run(
            "initdb",
            &[
                "-D",
                &c.data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        )?;
        c.pg_start()?;
        Ok(c)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let exe = self.bin.join(tool);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        }
        .with_context(|| format!("running {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "{tool} {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn pg_start(&self) -> Result<()> {
        let log = self.root.join("postgres.log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=100",
            self.port,
            self.root.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    /// Stops the server: `fast` (clean) or `immediate` (a crash; recovery on
    /// the next start).
    pub fn pg_stop(&self, mode: &str) -> Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "stop",
            ],
        )
    }

    /// Creates database `name`.
    pub fn create_db(&self, name: &str) -> Result<()> {
        self.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ],
        )
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        let _ = self.pg_stop("immediate");
        std::thread::sleep(Duration::from_millis(50));
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
