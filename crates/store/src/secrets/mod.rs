//! Signing secrets at rest: the key from the environment, sealing with
//! AES-256-GCM, the keyed fingerprint, and the format a secret must have.
//!
//! The 32-byte key (`SWITCHBOARD_SECRETS_KEY`, Base64) is never used as is:
//! HKDF-SHA256 derives from it an AES-256-GCM key (sealing) and an
//! HMAC-SHA256 key (fingerprints). Each sealed secret has a random 96-bit
//! nonce (`ring::rand::SystemRandom`) and the source name as associated
//! data, so a row copied to another source does not open. A key is named by
//! its id, the first 8 hex digits of SHA-256 of the key, stored per row; an
//! older key (`SWITCHBOARD_SECRETS_KEY_PREVIOUS`) is accepted for opening
//! only, until `worker source rekey` has resealed every row under the
//! current one.
//!
//! Here: the key's variables and the errors; `format.rs` checks what a
//! secret must look like, `seal.rs` holds the keys, sealing and
//! fingerprints.

mod format;
mod seal;

pub use format::{validate, SecretFormatError, MAX_SECRET_LEN, MIN_SECRET_LEN};
pub use seal::{plaintext_len, short_fingerprint, Keyring, Sealed, SecretsKey};

/// The environment variable holding the current key (Base64 of 32 bytes).
pub const KEY_VAR: &str = "SWITCHBOARD_SECRETS_KEY";
/// The environment variable holding the previous key, accepted for opening
/// only while a rotation is under way (optional).
pub const PREVIOUS_KEY_VAR: &str = "SWITCHBOARD_SECRETS_KEY_PREVIOUS";

/// Length of a key, in bytes.
pub const KEY_LEN: usize = 32;

/// Why the key could not be loaded. Every message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0} is not set: it must hold 32 random bytes in Base64 (generate one with `openssl rand -base64 32`)")]
    Missing(&'static str),
    #[error("{0} is not valid Unicode")]
    NotUnicode(&'static str),
    #[error("{0} is not valid Base64 (generate one with `openssl rand -base64 32`)")]
    NotBase64(&'static str),
    #[error("{var} decodes to {len} bytes; it must be exactly 32 (generate one with `openssl rand -base64 32`)")]
    WrongLength { var: &'static str, len: usize },
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed under key {found}, which is not loaded ({KEY_VAR} is key {current}{previous}); set the key it was sealed with as {PREVIOUS_KEY_VAR}")]
    UnknownKey {
        found: String,
        current: String,
        previous: String,
    },
    #[error(
        "authentication failed: wrong key, tampered ciphertext, or a row moved to another source"
    )]
    Tampered,
    #[error("malformed sealed secret: {0}")]
    Malformed(&'static str),
    #[error("the opened secret is not UTF-8")]
    NotUtf8,
    #[error("the system random number generator failed")]
    Random,
}
