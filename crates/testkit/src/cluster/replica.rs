//! A streaming standby of a [`TempCluster`], synchronous on request, and
//! its promotion: a primary and a standby on loopback to fail over.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::TempCluster;

impl TempCluster {
    /// A streaming standby of this server (`pg_basebackup -R`), started
    /// on a port of its own. Its settings are this server's (copied);
    /// make the primary synchronous afterwards ([`TempCluster::sync_with`]),
    /// so that a promoted standby does not wait for a standby of its own.
    pub fn standby(&self) -> Result<TempCluster> {
        let s = TempCluster::empty(None)?;
        s.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &s.data.to_string_lossy(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        )?;
        s.pg_start()?;
        Ok(s)
    }

    /// Makes commits on this server wait until a standby has flushed them
    /// (`synchronous_standby_names = '*'`), and waits (at most 30 s) until
    /// one streams synchronously.
    pub fn sync_with(&self) -> Result<()> {
        self.set("synchronous_standby_names", "*")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.psql(
                "postgres",
                &[
                    "-At",
                    "-c",
                    "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
                ],
            )?;
            if out.trim() != "0" {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("no synchronous standby within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Promotes this standby to a primary (`pg_ctl promote`, waiting until
    /// it takes writes).
    pub fn promote(&self) -> Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "promote",
            ],
        )
    }
}
