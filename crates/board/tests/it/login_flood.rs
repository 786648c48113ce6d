//! A login flood: failed logins (unknown users and wrong passwords), many
//! at once, cost the board bounded resident memory, however many come:
//! each password check uses one of at most `BOARD_PASSWORD_CHECKS` Argon2
//! buffers (19 MiB each), kept and reused, never freed and re-allocated.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{login_raw, rss_kb, stack, OPERATOR};

/// Argon2id's memory per check (RustCrypto `argon2`'s default, 19 MiB).
const ARGON2_KIB: u64 = 19 * 1024;
/// What the board may hold beyond its buffers: allocator slack, the
/// requests in flight, the database pool.
const MARGIN_KIB: u64 = 48 * 1024;

#[tokio::test]
async fn a_login_flood_costs_bounded_resident_memory() -> anyhow::Result<()> {
    const LOGINS: usize = 200;
    const AT_ONCE: usize = 40;
    const CHECKS: u64 = 4;
    let s = stack(&[
        "--password-checks",
        "4",
        "--login-failures-per-user",
        "100000",
        "--login-failures-per-address",
        "100000",
        "--db-timeout",
        "30s",
    ])
    .await?;
    let url = s.board().url();
    let pid = s.board().proc.child.id().expect("board pid");
    let before = rss_kb(pid);

    // Sample the resident memory while the flood runs.
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(before));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        tokio::spawn(async move {
            let mut samples = 0u32;
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(pid), Ordering::Relaxed);
                samples += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            samples
        })
    };
    let mut statuses = Vec::new();
    for round in 0..LOGINS / AT_ONCE {
        let logins: Vec<_> = (0..AT_ONCE)
            .map(|i| {
                let url = url.clone();
                tokio::spawn(async move {
                    // Half unknown users (the dummy hash), half wrong passwords.
                    let user = if i % 2 == 0 {
                        format!("nobody-{round}-{i}")
                    } else {
                        OPERATOR.0.to_string()
                    };
                    login_raw(&url, &user, &format!("flood guess {round} {i}"))
                        .await
                        .status()
                        .as_u16()
                })
            })
            .collect();
        for l in logins {
            statuses.push(l.await?);
        }
    }
    done.store(true, Ordering::Relaxed);
    let samples = sampler.await?;
    let after = rss_kb(pid);
    let peak = peak.load(Ordering::Relaxed).max(after);
    let bound = before + CHECKS * ARGON2_KIB + MARGIN_KIB;
    eprintln!(
        "login flood: {LOGINS} failed logins, {AT_ONCE} at a time: board RSS before {} MiB, \
         peak {} MiB ({samples} samples), after {} MiB; bound {} MiB",
        before / 1024,
        peak / 1024,
        after / 1024,
        bound / 1024
    );
    assert!(
        statuses.iter().all(|s| *s == 401),
        "every guess is refused as wrong: {statuses:?}"
    );
    assert!(
        peak <= bound,
        "the board's resident memory reached {} MiB under the flood (bound {} MiB: \
         {CHECKS} checks x 19 MiB + {} MiB over the {} MiB it started with)",
        peak / 1024,
        bound / 1024,
        MARGIN_KIB / 1024,
        before / 1024
    );
    Ok(())
}
