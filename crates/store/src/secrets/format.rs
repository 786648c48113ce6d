//! The format a signing secret must have, per provider: checked before
//! it is sealed, so that a pasted secret with a stray space or a Standard
//! Webhooks key without its `whsec_` is refused with the reason.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use domain::Provider;

/// Shortest Standard Webhooks key (`whsec_` + Base64 of this many bytes), and
/// shortest secret of the other providers, in characters.
pub const MIN_SECRET_LEN: usize = 16;
/// Longest secret accepted, in bytes.
pub const MAX_SECRET_LEN: usize = 1024;

/// Why a secret is refused. The secret itself is never part of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    #[error("the secret is empty")]
    Empty,
    #[error("the secret contains whitespace (character {0}): give it exactly, one per line")]
    Whitespace(usize),
    #[error("the secret contains a control character (character {0})")]
    Control(usize),
    #[error(
        "the secret is {len} characters long; a {provider} secret needs at least {MIN_SECRET_LEN}"
    )]
    TooShort { provider: Provider, len: usize },
    #[error("the secret is longer than {MAX_SECRET_LEN} bytes")]
    TooLong,
    #[error("a Standard Webhooks secret is `whsec_` followed by the Base64 of at least {MIN_SECRET_LEN} random bytes: the `whsec_` prefix is missing")]
    StandardPrefix,
    #[error("a Standard Webhooks secret is `whsec_` followed by the Base64 of at least {MIN_SECRET_LEN} random bytes: what follows `whsec_` is not Base64")]
    StandardBase64,
    #[error("a Standard Webhooks secret is `whsec_` followed by the Base64 of at least {MIN_SECRET_LEN} random bytes: it holds {0}")]
    StandardTooShort(usize),
}

/// Checks that `secret` may be a signing secret of a `provider` source:
/// no whitespace or control character, at most [`MAX_SECRET_LEN`] bytes;
/// Standard Webhooks: `whsec_` + Base64 of at least 16 bytes; the others:
/// at least 16 characters.
pub fn validate(provider: Provider, secret: &str) -> Result<(), SecretFormatError> {
    if secret.is_empty() {
        return Err(SecretFormatError::Empty);
    }
    for (i, c) in secret.chars().enumerate() {
        if c.is_whitespace() {
            return Err(SecretFormatError::Whitespace(i + 1));
        }
        if c.is_control() {
            return Err(SecretFormatError::Control(i + 1));
        }
    }
    if secret.len() > MAX_SECRET_LEN {
        return Err(SecretFormatError::TooLong);
    }
    match provider {
        Provider::Standard => {
            let b64 = secret
                .strip_prefix("whsec_")
                .ok_or(SecretFormatError::StandardPrefix)?;
            let key = STANDARD
                .decode(b64)
                .map_err(|_| SecretFormatError::StandardBase64)?;
            if key.len() < MIN_SECRET_LEN {
                return Err(SecretFormatError::StandardTooShort(key.len()));
            }
        }
        Provider::Yeastar | Provider::Dialpad => {
            let len = secret.chars().count();
            if len < MIN_SECRET_LEN {
                return Err(SecretFormatError::TooShort { provider, len });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_formats() {
        use Provider::*;
        let whsec = format!("whsec_{}", STANDARD.encode([1u8; 16]));
        assert_eq!(validate(Standard, &whsec), Ok(()));
        assert_eq!(
            validate(Standard, &format!("whsec_{}", STANDARD.encode([1u8; 15]))),
            Err(SecretFormatError::StandardTooShort(15))
        );
        assert_eq!(
            validate(Standard, &STANDARD.encode([1u8; 32])),
            Err(SecretFormatError::StandardPrefix)
        );
        assert_eq!(
            validate(Standard, "whsec_not-base64-at-all!!"),
            Err(SecretFormatError::StandardBase64)
        );
        assert_eq!(validate(Yeastar, "0123456789abcdef"), Ok(()));
        assert_eq!(
            validate(Yeastar, "s"),
            Err(SecretFormatError::TooShort {
                provider: Yeastar,
                len: 1
            })
        );
        assert_eq!(
            validate(Dialpad, "0123456789abcde"),
            Err(SecretFormatError::TooShort {
                provider: Dialpad,
                len: 15
            })
        );
        assert_eq!(validate(Dialpad, ""), Err(SecretFormatError::Empty));
        assert_eq!(
            validate(Dialpad, "0123456789 abcdef"),
            Err(SecretFormatError::Whitespace(11))
        );
        assert_eq!(
            validate(Dialpad, "0123456789abcdef\r"),
            Err(SecretFormatError::Whitespace(17))
        );
        assert_eq!(
            validate(Dialpad, "0123456789\u{1b}abcdef"),
            Err(SecretFormatError::Control(11))
        );
        assert_eq!(
            validate(Dialpad, "0123456789abcdef\u{a0}"),
            Err(SecretFormatError::Whitespace(17))
        );
        assert_eq!(
            validate(Yeastar, &"x".repeat(MAX_SECRET_LEN + 1)),
            Err(SecretFormatError::TooLong)
        );
        // Messages never include the secret.
        let e = validate(Yeastar, "hunter2").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
