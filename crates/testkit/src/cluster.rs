//! A throwaway PostgreSQL server of a test's own, for tests that stop and
//! restart the database (which the shared test server cannot be), or that
//! need server settings of their own: TLS with test certificates, roles and
//! `pg_hba.conf` rules (roles are server-wide, so such tests keep off the
//! shared server).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

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

/// Test certificates: a CA of its own and certificates it signs (PEM).
pub struct TestPki {
    /// The CA certificate, for `sslrootcert` (clients) or `ssl_ca_file`.
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key (PEM).
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Result<TestPki> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        Ok(TestPki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A server certificate valid for `names` (host names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Result<CertPair> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "switchboard test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate for database user `user` (its common name).
    pub fn client(&self, user: &str) -> Result<CertPair> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<CertPair> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
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
        c.configure(&config)?;
        c.pg_start()?;
        Ok(c)
    }

    /// Writes the TLS files and `pg_hba.conf` lines of `config` into the
    /// data directory.
    fn configure(&self, config: &ClusterConfig) -> Result<()> {
        let mut conf = String::new();
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
            let ok = Command::new("chown")
                .arg("postgres")
                .arg(&path)
                .status()?
                .success();
            if !ok {
                bail!("cannot chown {} to postgres", path.display());
            }
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
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
