//! A small filesystem of the test's own (a tmpfs mount: needs root, which
//! CI has), to put a server's data or WAL on and fill. Unmounted when
//! dropped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// A mounted tmpfs of a fixed size.
pub struct SmallDisk {
    /// Where it is mounted.
    pub path: PathBuf,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `mb` MB. Fails, saying why, when this cannot be
    /// done here (not root, or no permission to mount: an unprivileged
    /// container).
    pub fn mount(name: &str, mb: u32) -> Result<SmallDisk> {
        let path = std::env::temp_dir().join(format!(
            "switchboard-disk-{}-{name}-{}",
            std::process::id(),
            fastrand_suffix()
        ));
        std::fs::create_dir_all(&path)?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mb}m,mode=0777"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .context("running mount")?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&path);
            bail!(
                "cannot mount a {mb} MB tmpfs at {} (root and CAP_SYS_ADMIN needed): {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(SmallDisk {
            filler: path.join("filler"),
            path,
        })
    }

    /// Fills the filesystem until `leave_kb` KB or less are free (a file
    /// of zeros; tmpfs allocates what is written).
    pub fn fill(&self, leave_kb: u64) -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)
            .with_context(|| format!("opening {}", self.filler.display()))?;
        let chunk = vec![0u8; 64 * 1024];
        while self.free_kb()? > leave_kb {
            let want = ((self.free_kb()? - leave_kb) * 1024).min(chunk.len() as u64) as usize;
            match f.write_all(&chunk[..want.max(1)]) {
                Ok(()) => {}
                // Full already: nothing more to take.
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => return Err(e).context("filling the disk"),
            }
        }
        f.sync_all().ok();
        Ok(())
    }

    /// Removes the filler: the space is free again.
    pub fn free(&self) -> Result<()> {
        match std::fs::remove_file(&self.filler) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).context("freeing the disk"),
        }
    }

    /// Free space in KB (`df`).
    pub fn free_kb(&self) -> Result<u64> {
        free_kb(&self.path)
    }
}

fn free_kb(path: &Path) -> Result<u64> {
    let out = Command::new("df")
        .args(["-k", "--output=avail"])
        .arg(path)
        .output()
        .context("running df")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("reading df's answer: {text}"))
}

fn fastrand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}
