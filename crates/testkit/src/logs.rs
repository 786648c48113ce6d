//! A binary's log, kept for the test to read: what a board logged while
//! the test ran (e.g. that bad input left no `ERROR` line). The lines go
//! to a file (JSON lines, `LOG_FORMAT=json`, level `info`); when the
//! [`Logs`] is dropped they are copied to the test's stderr, as an
//! ordinary binary's would be, and the file is removed.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

use crate::procs::spawn_to;
use crate::{free_port, Board};

/// The log file of a running binary.
pub struct Logs {
    path: PathBuf,
}

impl Logs {
    /// A new, empty log file in the system's temporary directory.
    fn create(name: &str) -> Result<(Logs, std::fs::File)> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "switchboard-{name}-{}-{}.log",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok((Logs { path }, file))
    }

    /// Every line logged so far.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The lines logged so far at `level` (`ERROR`, `WARN`, `INFO`).
    pub fn at_level(&self, level: &str) -> Vec<String> {
        let field = format!("\"level\":\"{level}\"");
        self.lines()
            .into_iter()
            .filter(|l| l.contains(&field))
            .collect()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        for l in self.lines() {
            eprintln!("{l}");
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Board {
    /// [`Board::start_with_env`], its log (JSON lines, from level `info`)
    /// kept in [`Logs`] for the test to read.
    pub async fn start_logged(
        db_url: &str,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<(Board, Logs)> {
        let (port, admin_port) = (free_port()?, free_port()?);
        let bind = format!("127.0.0.1:{port}");
        let admin = format!("127.0.0.1:{admin_port}");
        let mut envs = envs.to_vec();
        envs.extend_from_slice(&[("LOG_FORMAT", "json"), ("RUST_LOG", "info")]);
        let (args, all) = Board::command(db_url, &bind, &admin, extra, &envs);
        let (logs, file) = Logs::create("board")?;
        let proc = spawn_to("board", &args, &all, Stdio::from(file))?;
        Ok((Board::ready(proc, port, admin_port).await?, logs))
    }
}
