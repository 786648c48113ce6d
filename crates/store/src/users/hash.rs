//! Password hashes: Argon2id PHC strings, made with RustCrypto `argon2`'s
//! default parameters (19 MiB, 2 passes, 1 lane) and a random salt, and
//! checked in memory that is kept and reused.
//!
//! Why a pool: each check needs 19 MiB of Argon2 blocks. Allocated and freed
//! per check, glibc keeps the freed blocks (its mmap threshold rises to their
//! size after the first free, and each thread's arena keeps what it gets):
//! 20 failed logins took a board from 10 to 391 MiB resident, a few rounds
//! of 40 at once to 2 GB, and it stays there. [`Checks`] holds at most its
//! limit of block buffers, made when first needed (a board nobody logs in
//! to holds none) and never freed, so that a flood of logins costs at most
//! `limit` x 19 MiB, resident, whatever its size.

use std::sync::{Condvar, Mutex, MutexGuard};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::{User, UserError};

/// Blocks (1 KiB each) of one buffer: what the default parameters need.
const BLOCKS: usize = Params::DEFAULT.block_count();

/// The hash an unknown user is checked against: of a password nobody has,
/// with the default parameters (a unit test checks they are the ones
/// [`hash_password`] uses), so that it costs what a real check costs.
/// Computed once, offline: computing it at start would take 19 MiB outside
/// the pool.
pub(super) const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$0VLLLUlDXXRxbPfxL7Dgkw$uTNHgHjBf4HL/piKp7hh5/Xj7oqqWLeKiAdLrF8lcu0";

/// Hashes `password` with Argon2id (default parameters) and a random salt;
/// returns the PHC string (`$argon2id$v=19$...`). Allocates its own 19 MiB
/// (for `worker user add`, run once; logins use [`Checks`]).
pub fn hash_password(password: &str) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(UserError::Hash)
}

/// Argon2 memory for password checks: at most `limit` buffers of 19 MiB,
/// each made the first time every other is busy, then kept and reused. A
/// check that finds all `limit` busy waits for one (callers bound their
/// concurrency anyway: the board runs at most `BOARD_PASSWORD_CHECKS`).
pub struct Checks {
    pool: Mutex<Pool>,
    returned: Condvar,
    limit: usize,
}

struct Pool {
    free: Vec<Box<[Block]>>,
    made: usize,
}

impl Checks {
    /// A pool of at most `limit` buffers (at least one); none made yet.
    pub fn new(limit: usize) -> Checks {
        Checks {
            pool: Mutex::new(Pool {
                free: Vec::new(),
                made: 0,
            }),
            returned: Condvar::new(),
            limit: limit.max(1),
        }
    }

    /// Buffers made so far: at most the limit; each holds 19 MiB for good.
    pub fn buffers(&self) -> usize {
        self.lock().made
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        // The pool holds plain buffers: a panic elsewhere leaves it usable.
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with a buffer of the pool, then gives it back.
    fn with_memory<R>(&self, f: impl FnOnce(&mut [Block]) -> R) -> R {
        let mut buffer = {
            let mut pool = self.lock();
            loop {
                if let Some(b) = pool.free.pop() {
                    break b;
                }
                if pool.made < self.limit {
                    pool.made += 1;
                    drop(pool);
                    break vec![Block::new(); BLOCKS].into_boxed_slice();
                }
                pool = self.returned.wait(pool).unwrap_or_else(|p| p.into_inner());
            }
        };
        let r = f(&mut buffer);
        self.lock().free.push(buffer);
        self.returned.notify_one();
        r
    }

    /// Whether `password` matches the PHC string `phc`: its algorithm,
    /// version, parameters and salt, computed in the pool's memory, the
    /// output compared in constant time. A malformed hash, or one needing
    /// more memory than a buffer holds, matches nothing.
    pub fn matches(&self, phc: &str, password: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) =
            (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
        else {
            return false;
        };
        let version = match hash.version.map(Version::try_from).transpose() {
            Ok(v) => v.unwrap_or_default(),
            Err(_) => return false,
        };
        if params.block_count() > BLOCKS {
            tracing::error!(
                memory_kib = params.m_cost(),
                "a stored password hash needs more memory than a check may use; it matches nothing (set the password again with `worker user add`)"
            );
            return false;
        }
        let mut salt_buf = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let argon2 = Argon2::new(algorithm, version, params);
        let computed =
            self.with_memory(|memory| {
                Output::init_with(expected.len(), |out| {
                    Ok(argon2.hash_password_into_with_memory(
                        password.as_bytes(),
                        salt,
                        out,
                        memory,
                    )?)
                })
            });
        // `Output`'s equality is constant-time.
        computed.is_ok_and(|c| c == expected)
    }

    /// The login decision, given the stored user and hash (`None`: no such
    /// user): the user when the password matches and they are not
    /// disabled. Spends one check in every case (against [`DUMMY_HASH`]
    /// for an unknown user), in the pool's memory; blocks the thread for
    /// tens of milliseconds.
    pub fn check(&self, stored: Option<(User, String)>, password: &str) -> Option<User> {
        match stored {
            Some((user, hash)) => {
                let ok = self.matches(&hash, password);
                (ok && user.disabled_at.is_none()).then_some(user)
            }
            None => {
                let _ = self.matches(DUMMY_HASH, password);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    const PASSWORD: &str = "correct horse battery staple";

    #[test]
    fn hashes_are_argon2id_with_a_random_salt() {
        let a = hash_password(PASSWORD).unwrap();
        let b = hash_password(PASSWORD).unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(!a.contains(PASSWORD));
    }

    #[test]
    fn the_pool_agrees_with_the_library_and_reuses_one_buffer() {
        let checks = Checks::new(4);
        let hash = hash_password(PASSWORD).unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        for (password, right) in [
            (PASSWORD, true),
            ("correct horse battery stapler", false),
            ("", false),
            (PASSWORD, true),
        ] {
            assert_eq!(checks.matches(&hash, password), right, "{password:?}");
            assert_eq!(
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
                right
            );
        }
        assert_eq!(checks.buffers(), 1, "one check at a time: one buffer");
    }

    #[test]
    fn other_parameters_and_algorithms_verify_too() {
        let checks = Checks::new(1);
        let salt = SaltString::generate(&mut OsRng);
        for (algorithm, m) in [(Algorithm::Argon2id, 4096), (Algorithm::Argon2i, 8192)] {
            let params = Params::new(m, 3, 1, None).unwrap();
            let phc = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(PASSWORD.as_bytes(), &salt)
                .unwrap()
                .to_string();
            assert!(checks.matches(&phc, PASSWORD), "{phc}");
            assert!(!checks.matches(&phc, "wrong"), "{phc}");
        }
        // More memory than a buffer: refused, not allocated.
        let big = Params::new(64 * 1024, 1, 1, None).unwrap();
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, big)
            .hash_password(PASSWORD.as_bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(!checks.matches(&phc, PASSWORD));
    }

    #[test]
    fn concurrent_checks_make_at_most_the_limit_of_buffers() {
        let checks = std::sync::Arc::new(Checks::new(2));
        let hash = hash_password(PASSWORD).unwrap();
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let (checks, hash) = (checks.clone(), hash.clone());
                std::thread::spawn(move || {
                    checks.matches(&hash, if i % 2 == 0 { PASSWORD } else { "no" })
                })
            })
            .collect();
        let results: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(results, [true, false, true, false, true, false]);
        assert!(checks.buffers() <= 2, "{}", checks.buffers());
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let real = hash_password(PASSWORD).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(
            Params::try_from(&dummy).unwrap(),
            Params::try_from(&real).unwrap()
        );
        assert_eq!(
            Params::try_from(&dummy).unwrap().block_count(),
            Params::default().block_count()
        );
        assert_eq!(dummy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
        assert!(!Checks::new(1).matches(DUMMY_HASH, PASSWORD));
    }

    #[test]
    fn a_malformed_hash_matches_nothing() {
        let checks = Checks::new(1);
        for bad in [
            "plaintext",
            "",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$scrypt$ln=1$x$y",
        ] {
            assert!(!checks.matches(bad, bad), "{bad:?}");
        }
        assert_eq!(checks.buffers(), 0, "nothing computed for them");
    }
}
