//! The keys and what they do: a 32-byte key read from the environment,
//! the AES-256-GCM and HMAC-SHA256 keys derived from it, sealing and
//! opening a secret, and its keyed fingerprint.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hkdf, hmac};

use super::{CryptoError, KeyError, KEY_LEN, KEY_VAR, PREVIOUS_KEY_VAR};

const HKDF_SALT: &[u8] = b"switchboard/source-secrets/v1";
const INFO_SEAL: &[u8] = b"aes-256-gcm";
const INFO_FINGERPRINT: &[u8] = b"fingerprint/hmac-sha256";
const TAG_LEN: usize = 16;

/// One 32-byte key, as the keys derived from it. Its bytes are not kept.
pub struct SecretsKey {
    id: String,
    seal: LessSafeKey,
    fingerprint: hmac::Key,
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsKey").field("id", &self.id).finish()
    }
}

impl SecretsKey {
    /// The key of these 32 bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> SecretsKey {
        let id_digest = digest::digest(&digest::SHA256, bytes);
        let id = hex(&id_digest.as_ref()[..4]);
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(bytes);
        // Both lengths are the algorithms' own, which HKDF-SHA256 can always
        // produce (at most 255 × 32 bytes): expand cannot fail here.
        let seal = match prk.expand(&[INFO_SEAL], &AES_256_GCM) {
            Ok(okm) => LessSafeKey::new(UnboundKey::from(okm)),
            Err(_) => unreachable!("HKDF-SHA256 yields 32 bytes"),
        };
        let fingerprint = match prk.expand(&[INFO_FINGERPRINT], hmac::HMAC_SHA256) {
            Ok(okm) => hmac::Key::from(okm),
            Err(_) => unreachable!("HKDF-SHA256 yields 32 bytes"),
        };
        SecretsKey {
            id,
            seal,
            fingerprint,
        }
    }

    /// The key whose Base64 is `value`, read from variable `var` (named in
    /// the errors). Surrounding whitespace is ignored.
    pub fn from_base64(var: &'static str, value: &str) -> Result<SecretsKey, KeyError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(KeyError::Missing(var));
        }
        let bytes = STANDARD
            .decode(value)
            .map_err(|_| KeyError::NotBase64(var))?;
        let arr: [u8; KEY_LEN] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::WrongLength {
                    var,
                    len: bytes.len(),
                })?;
        Ok(SecretsKey::from_bytes(&arr))
    }

    /// The key's id: the first 8 hex digits of SHA-256 of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// HMAC-SHA256 of `source`, a NUL and `secret`, under this key's
    /// fingerprint key.
    fn fingerprint(&self, source: &str, secret: &str) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.fingerprint);
        ctx.update(source.as_bytes());
        ctx.update(&[0]);
        ctx.update(secret.as_bytes());
        ctx.sign().as_ref().to_vec()
    }
}

/// A secret as stored: sealed under key `key_id`, with its fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    /// The ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
    pub fingerprint: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("len", &plaintext_len(self.ciphertext.len()))
            .finish_non_exhaustive()
    }
}

/// The length of the secret sealed in `ciphertext_len` bytes.
pub fn plaintext_len(ciphertext_len: usize) -> usize {
    ciphertext_len.saturating_sub(TAG_LEN)
}

/// The current key, and the previous one during a rotation.
#[derive(Debug)]
pub struct Keyring {
    current: SecretsKey,
    previous: Option<SecretsKey>,
}

impl Keyring {
    /// A keyring of `current` (seals and opens) and `previous` (opens only).
    pub fn new(current: SecretsKey, previous: Option<SecretsKey>) -> Keyring {
        let previous = previous.filter(|p| p.id != current.id);
        Keyring { current, previous }
    }

    /// The keyring of `SWITCHBOARD_SECRETS_KEY` and, when set,
    /// `SWITCHBOARD_SECRETS_KEY_PREVIOUS`. Fails when the first is missing
    /// or either is malformed.
    pub fn from_env() -> Result<Keyring, KeyError> {
        let current = match std::env::var(KEY_VAR) {
            Ok(v) => SecretsKey::from_base64(KEY_VAR, &v)?,
            Err(std::env::VarError::NotPresent) => return Err(KeyError::Missing(KEY_VAR)),
            Err(std::env::VarError::NotUnicode(_)) => return Err(KeyError::NotUnicode(KEY_VAR)),
        };
        let previous = match std::env::var(PREVIOUS_KEY_VAR) {
            Ok(v) if v.trim().is_empty() => None,
            Ok(v) => Some(SecretsKey::from_base64(PREVIOUS_KEY_VAR, &v)?),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(KeyError::NotUnicode(PREVIOUS_KEY_VAR))
            }
        };
        Ok(Keyring::new(current, previous))
    }

    /// The current key's id (new seals use it).
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// The previous key's id, when one is loaded.
    pub fn previous_id(&self) -> Option<&str> {
        self.previous.as_ref().map(|k| k.id.as_str())
    }

    /// Whether the key `id` is loaded (current or previous).
    pub fn has(&self, id: &str) -> bool {
        self.key(id).is_some()
    }

    fn key(&self, id: &str) -> Option<&SecretsKey> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.id == id)
    }

    /// Seals `secret` of source `source` under the current key. Returns the
    /// row to store.
    pub fn seal(&self, source: &str, secret: &str) -> Result<Sealed, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CryptoError::Random)?;
        let mut in_out = secret.as_bytes().to_vec();
        self.current
            .seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(source.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| CryptoError::Malformed("the secret is too long to seal"))?;
        Ok(Sealed {
            key_id: self.current.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext: in_out,
            fingerprint: self.current.fingerprint(source, secret),
        })
    }

    /// Opens a secret of source `source` sealed under key `key_id`. Fails
    /// when that key is not loaded or authentication fails (wrong key,
    /// tampering, another source's row).
    pub fn open(
        &self,
        source: &str,
        key_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<String, CryptoError> {
        let key = self.key(key_id).ok_or_else(|| self.unknown_key(key_id))?;
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| CryptoError::Malformed("the nonce is not 12 bytes"))?;
        if ciphertext.len() <= TAG_LEN {
            return Err(CryptoError::Malformed("the ciphertext is too short"));
        }
        let mut in_out = ciphertext.to_vec();
        let plain = key
            .seal
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(source.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| CryptoError::Tampered)?;
        String::from_utf8(plain.to_vec()).map_err(|_| CryptoError::NotUtf8)
    }

    /// The error for a row sealed under `key_id`, which is not loaded.
    pub fn unknown_key(&self, key_id: &str) -> CryptoError {
        CryptoError::UnknownKey {
            found: key_id.to_string(),
            current: self.current.id.clone(),
            previous: self.previous.as_ref().map_or_else(
                || format!(", {PREVIOUS_KEY_VAR} is unset"),
                |p| format!(", {PREVIOUS_KEY_VAR} is key {}", p.id),
            ),
        }
    }

    /// The fingerprint of `secret` of source `source` under the current key.
    pub fn fingerprint(&self, source: &str, secret: &str) -> Vec<u8> {
        self.current.fingerprint(source, secret)
    }

    /// The fingerprints of `secret` of `source` under every loaded key: a
    /// stored fingerprint equal to one of them is the same secret.
    pub fn fingerprints(&self, source: &str, secret: &str) -> Vec<Vec<u8>> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .map(|k| k.fingerprint(source, secret))
            .collect()
    }
}

/// The short form of a fingerprint shown to operators (8 hex digits): it
/// tells a source's secrets apart without revealing anything about them.
pub fn short_fingerprint(fingerprint: &[u8]) -> String {
    hex(&fingerprint[..fingerprint.len().min(4)])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretsKey {
        SecretsKey::from_bytes(&[byte; KEY_LEN])
    }

    fn ring(byte: u8) -> Keyring {
        Keyring::new(key(byte), None)
    }

    #[test]
    fn seal_open_round_trip_with_fresh_nonces() {
        let k = ring(1);
        let a = k.seal("pbx", "a-secret-of-32-characters-000000").unwrap();
        let b = k.seal("pbx", "a-secret-of-32-characters-000000").unwrap();
        assert_ne!(a.nonce, b.nonce, "random nonce per seal");
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(a.fingerprint, b.fingerprint, "the fingerprint is stable");
        assert_eq!(a.key_id, k.current_id());
        assert_eq!(a.nonce.len(), 12);
        assert_eq!(plaintext_len(a.ciphertext.len()), 32);
        let opened = k.open("pbx", &a.key_id, &a.nonce, &a.ciphertext).unwrap();
        assert_eq!(opened, "a-secret-of-32-characters-000000");
        assert!(!format!("{a:?}").contains("secret"));
    }

    #[test]
    fn wrong_key_tampering_and_another_source_fail() {
        let k = ring(1);
        let s = k.seal("pbx", "a-secret-of-32-characters-000000").unwrap();
        // Another key that claims the same id (a corrupted row or key).
        let other = ring(2);
        let err = other.open("pbx", &s.key_id, &s.nonce, &s.ciphertext);
        assert!(
            matches!(err, Err(CryptoError::UnknownKey { .. })),
            "{err:?}"
        );
        // Every flipped bit is detected.
        for i in 0..s.ciphertext.len() {
            let mut c = s.ciphertext.clone();
            c[i] ^= 0x01;
            assert!(matches!(
                k.open("pbx", &s.key_id, &s.nonce, &c),
                Err(CryptoError::Tampered)
            ));
        }
        let mut n = s.nonce.clone();
        n[0] ^= 0x80;
        assert!(matches!(
            k.open("pbx", &s.key_id, &n, &s.ciphertext),
            Err(CryptoError::Tampered)
        ));
        // The source name is associated data.
        assert!(matches!(
            k.open("pbx2", &s.key_id, &s.nonce, &s.ciphertext),
            Err(CryptoError::Tampered)
        ));
        assert!(matches!(
            k.open("pbx", &s.key_id, &s.nonce[..11], &s.ciphertext),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(
            k.open("pbx", &s.key_id, &s.nonce, &s.ciphertext[..16]),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn previous_key_opens_and_current_seals() {
        let old = ring(1);
        let s = old.seal("pbx", "a-secret-of-32-characters-000000").unwrap();
        let rotated = Keyring::new(key(2), Some(key(1)));
        assert_eq!(
            rotated
                .open("pbx", &s.key_id, &s.nonce, &s.ciphertext)
                .unwrap(),
            "a-secret-of-32-characters-000000"
        );
        let resealed = rotated
            .seal("pbx", "a-secret-of-32-characters-000000")
            .unwrap();
        assert_eq!(resealed.key_id, rotated.current_id());
        assert_ne!(resealed.key_id, s.key_id);
        let fps = rotated.fingerprints("pbx", "a-secret-of-32-characters-000000");
        assert!(fps.contains(&s.fingerprint) && fps.contains(&resealed.fingerprint));
        // Without the previous key, the old row does not open.
        let new_only = ring(2);
        let err = new_only
            .open("pbx", &s.key_id, &s.nonce, &s.ciphertext)
            .unwrap_err();
        assert!(err.to_string().contains(PREVIOUS_KEY_VAR), "{err}");
    }

    #[test]
    fn fingerprints_depend_on_key_source_and_secret() {
        let k = ring(1);
        let a = k.fingerprint("pbx", "secret-one-0123456789");
        assert_eq!(a.len(), 32);
        assert_ne!(a, k.fingerprint("pbx", "secret-two-0123456789"));
        assert_ne!(a, k.fingerprint("pbx2", "secret-one-0123456789"));
        assert_ne!(a, ring(2).fingerprint("pbx", "secret-one-0123456789"));
        // Two secrets with the same start show unrelated short forms.
        let s1 = short_fingerprint(&k.fingerprint("crm", "whsec_AAAAAAAAAAAAAAAAAAAAAA=="));
        let s2 = short_fingerprint(&k.fingerprint("crm", "whsec_AAAAAAAAAAAAAAAAAAAAAQ=="));
        assert_eq!(s1.len(), 8);
        assert_ne!(s1, s2);
        assert!(!s1.starts_with("whse"));
    }

    #[test]
    fn keys_from_base64() {
        let b64 = STANDARD.encode([7u8; 32]);
        let k = SecretsKey::from_base64(KEY_VAR, &format!("{b64}\n")).unwrap();
        assert_eq!(k.id().len(), 8);
        assert_eq!(k.id(), key(7).id());
        assert!(!format!("{k:?}").contains(&b64));
        let short = STANDARD.encode([7u8; 16]);
        let err = SecretsKey::from_base64(KEY_VAR, &short).unwrap_err();
        assert!(matches!(err, KeyError::WrongLength { len: 16, .. }));
        assert!(err.to_string().contains(KEY_VAR));
        let err = SecretsKey::from_base64(KEY_VAR, "not base64!").unwrap_err();
        assert!(matches!(err, KeyError::NotBase64(_)));
        let err = SecretsKey::from_base64(KEY_VAR, "  ").unwrap_err();
        assert!(err.to_string().starts_with(KEY_VAR), "{err}");
    }
}
