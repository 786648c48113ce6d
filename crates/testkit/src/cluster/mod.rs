//! A throwaway PostgreSQL server of a test's own, for tests that stop and
//! restart the database (which the shared test server cannot be), or that
//! need server settings of their own: TLS with test certificates, roles and
//! `pg_hba.conf` rules (roles are server-wide, so such tests keep off the
//! shared server), its data or WAL on a filesystem of the test's (a small
//! one, to fill), and a streaming standby to fail over to (`replica.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

mod pki;
mod replica;

pub use pki::{CertPair, TestPki};

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

/// Settings of a [`TempCluster`] beyond the defaults (trust on loopback, no
/// TLS).
#[derive(Default)]
pub struct ClusterConfig {
    /// `ssl = on` with this certificate and key.
    pub tls: Option<CertPair>,
    /// The CA (PEM) that client certificates must lead to (`ssl_ca_file`),
    /// for `cert` authentication.
    pub client_ca: Option<String>,
    /// `pg_hba.conf` lines, checked before the default ones (which trust
    /// everyone on loopback).
    pub hba: Vec<String>,
    /// `postgresql.conf` lines (`name = value`).
    pub settings: Vec<String>,
    /// The directory the data directory is made in (e.g. a small
    /// filesystem); the server's temporary directory when unset.
    pub data_in: Option<PathBuf>,
    /// The directory the WAL (`pg_wal`) is made in; inside the data
    /// directory when unset.
    pub wal_in: Option<PathBuf>,
    /// WAL segment size in MB (initdb `--wal-segsize`; 16 when unset).
    pub wal_segment_mb: Option<u32>,
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
        TempCluster::start_with(ClusterConfig::default())
    }

    /// Creates and starts a server set up by `config`.
    pub fn start_with(config: ClusterConfig) -> Result<TempCluster> {
        let c = TempCluster::empty(config.data_in.as_deref())?;
        let data = c.data.to_string_lossy().into_owned();
        let mut args = vec!["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"];
        let wal = config.wal_in.as_ref().map(|d| {
            d.join(format!("pg_wal-{}", c.port))
                .to_string_lossy()
                .into_owned()
        });
        if let Some(w) = &wal {
            args.extend(["-X", w]);
        }
        let segment = config
            .wal_segment_mb
            .map(|mb| format!("--wal-segsize={mb}"));
        if let Some(s) = &segment {
            args.push(s);
        }
        c.run("initdb", &args)?;
        c.configure(&config)?;
        c.pg_start()?;
        Ok(c)
    }

    /// A server not made yet: its temporary directory (owned by the
    /// server's user), a free port, and where its data directory goes.
    fn empty(data_in: Option<&Path>) -> Result<TempCluster> {
        let bin = bindir()?;
        let as_postgres = is_root();
        let port = crate::free_port()?;
        let root =
            std::env::temp_dir().join(format!("switchboard-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&root)?;
        if as_postgres {
            chown(&root)?;
            if let Some(d) = data_in {
                chown(d)?;
            }
        }
        let data = match data_in {
            Some(d) => d.join(format!("data-{port}")),
            None => root.join("data"),
        };
        Ok(TempCluster {
            bin,
            data,
            root,
            port,
            as_postgres,
        })
    }

    /// Writes the TLS files and `pg_hba.conf` lines of `config` into the
    /// data directory.
    fn configure(&self, config: &ClusterConfig) -> Result<()> {
        let mut conf = String::new();
        for line in &config.settings {
            conf.push_str(line);
            conf.push('\n');
        }
        if let Some(tls) = &config.tls {
            self.data_file("server.crt", &tls.cert_pem, 0o644)?;
            self.data_file("server.key", &tls.key_pem, 0o600)?;
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        if let Some(ca) = &config.client_ca {
            self.data_file("root.crt", ca, 0o644)?;
            conf.push_str("ssl_ca_file = 'root.crt'\n");
        }
        if !conf.is_empty() {
            append(&self.data.join("postgresql.conf"), &conf)?;
        }
        if !config.hba.is_empty() {
            let path = self.data.join("pg_hba.conf");
            let old = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut new = String::from("# the test's own rules first\n");
            for line in &config.hba {
                new.push_str(line);
                new.push('\n');
            }
            new.push_str(&old);
            std::fs::write(&path, new).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }

    /// Writes `name` in the data directory, owned by the server's user.
    fn data_file(&self, name: &str, contents: &str, mode: u32) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.data.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        if self.as_postgres {
            chown(&path)?;
        }
        Ok(())
    }

    /// Writes `name` in this server's temporary directory (removed with it),
    /// for the test's own files: a CA for `sslrootcert`, a client key.
    /// Returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.root.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(path)
    }

    /// Runs `psql` against database `db` as the superuser `postgres`, with
    /// `ON_ERROR_STOP` and `args` (e.g. `-v name=value -f file.sql`).
    /// Returns its standard output, or its error output as the error.
    pub fn psql(&self, db: &str, args: &[&str]) -> Result<String> {
        let exe = self.bin.join("psql");
        let out = Command::new(&exe)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", db])
            .args(args)
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "psql {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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

    /// Whether the server runs (`pg_ctl status`): a server that hit a full
    /// WAL disk stops by itself.
    pub fn is_running(&self) -> bool {
        self.run("pg_ctl", &["-D", &self.data.to_string_lossy(), "status"])
            .is_ok()
    }

    /// Sets `name` to `value` with `ALTER SYSTEM` and reloads the
    /// configuration (e.g. `default_transaction_read_only`, `on`).
    pub fn set(&self, name: &str, value: &str) -> Result<()> {
        self.psql(
            "postgres",
            &[
                "-c",
                &format!("ALTER SYSTEM SET {name} = '{value}'"),
                "-c",
                "SELECT pg_reload_conf()",
            ],
        )?;
        Ok(())
    }

    /// The server's log so far (for a test's failure message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("postgres.log")).unwrap_or_default()
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

/// Gives `path` to the server's user (`postgres`).
fn chown(path: &Path) -> Result<()> {
    let ok = Command::new("chown")
        .arg("postgres")
        .arg(path)
        .status()?
        .success();
    if !ok {
        bail!("cannot chown {} to postgres", path.display());
    }
    Ok(())
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        let _ = self.pg_stop("immediate");
        std::thread::sleep(Duration::from_millis(50));
        // The WAL directory, when elsewhere, is a link in the data one.
        if let Ok(wal) = std::fs::read_link(self.data.join("pg_wal")) {
            let _ = std::fs::remove_dir_all(wal);
        }
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
