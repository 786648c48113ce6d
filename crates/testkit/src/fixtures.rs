//! The sample payloads under `crates/testkit/fixtures`.

use std::path::PathBuf;

/// The bytes of the sample payload at `rel` (e.g.
/// `"yeastar/30011-inbound-ringing.json"`) under [`fixtures_dir`].
///
/// Test support: panics, naming the path, when the file cannot be read.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = fixtures_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// This crate's own sample payloads, `crates/testkit/fixtures`: `yeastar/`
/// bodies as sent before signing and `dialpad/` JWT claims, composed from
/// the providers' published formats with invented values (see the README
/// there). The tests need nothing outside the repository.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}
