//! Prefixed API Keys (PAKs), the only credential Brokkr knows.
//!
//! Format: `<prefix>_<short_token_prefix><short token>_<long token>`, by default
//! `brokkr_BR<8>_<24>`. Only the hex SHA-256 of the **whole** key is stored, so the prefix and the
//! short token are checked too (the original hashed the long token alone). Keys generated under
//! other prefix or length settings keep working: parsing only requires the three-part shape.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Settings of newly generated keys (`[pak]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PakSettings {
    /// First part of every key.
    pub prefix: String,
    /// Fixed text that starts the short token.
    pub short_token_prefix: String,
    /// Random characters in the short token (after its prefix).
    pub short_token_length: usize,
    /// Random characters in the long (secret) token.
    pub long_token_length: usize,
    /// Accepted for compatibility; keys always come from the operating system's RNG.
    pub rng: String,
    /// Accepted for compatibility; the digest is always SHA-256.
    pub digest: i64,
}

impl Default for PakSettings {
    fn default() -> Self {
        Self {
            prefix: "brokkr".into(),
            short_token_prefix: "BR".into(),
            short_token_length: 8,
            long_token_length: 24,
            rng: "osrng".into(),
            digest: 8,
        }
    }
}

/// Longest key accepted; anything longer is refused before hashing.
const MAX_PAK_LEN: usize = 256;

/// Why a presented key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PakError {
    /// Not of the form `prefix_short_long` with alphanumeric parts.
    #[error("malformed API key: expected <prefix>_<short token>_<long token>")]
    Malformed,
}

/// A well-formed PAK (the secret itself; never log it).
#[derive(Clone, PartialEq, Eq)]
pub struct Pak(String);

impl std::fmt::Debug for Pak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pak(<redacted>)")
    }
}

impl Pak {
    /// A new random key under `settings`.
    pub fn generate(settings: &PakSettings) -> Pak {
        let mut rng = rand::rng();
        let mut token = |len: usize| -> String {
            (&mut rng)
                .sample_iter(Alphanumeric)
                .take(len.max(1))
                .map(char::from)
                .collect()
        };
        let short = token(settings.short_token_length);
        let long = token(settings.long_token_length);
        Pak(format!(
            "{}_{}{}_{}",
            settings.prefix, settings.short_token_prefix, short, long
        ))
    }

    /// Checks the shape of a presented key.
    pub fn parse(value: &str) -> Result<Pak, PakError> {
        if value.is_empty() || value.len() > MAX_PAK_LEN {
            return Err(PakError::Malformed);
        }
        let parts: Vec<&str> = value.split('_').collect();
        let well_formed = parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if well_formed {
            Ok(Pak(value.to_owned()))
        } else {
            Err(PakError::Malformed)
        }
    }

    /// Extracts the key from an `Authorization` header value: `Bearer <pak>` or the bare PAK.
    pub fn from_authorization(header: &str) -> Result<Pak, PakError> {
        let value = header.trim();
        let key = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            Some(_) => return Err(PakError::Malformed),
            None => value,
        };
        Pak::parse(key)
    }

    /// The key text, to show once to its owner.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored form: lowercase hex SHA-256 of the whole key.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// Constant-time comparison of two hex hashes.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// True when `value` looks like a stored PAK hash (64 lowercase or uppercase hex characters).
pub fn is_valid_hash(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_default_shape() {
        let pak = Pak::generate(&PakSettings::default());
        let parts: Vec<&str> = pak.as_str().split('_').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "brokkr");
        assert!(parts[1].starts_with("BR"));
        assert_eq!(parts[1].len(), 10);
        assert_eq!(parts[2].len(), 24);
    }

    #[test]
    fn bearer_and_bare_forms_give_the_same_key() {
        let pak = Pak::generate(&PakSettings::default());
        let bare = Pak::from_authorization(pak.as_str()).unwrap();
        let bearer = Pak::from_authorization(&format!("Bearer {}", pak.as_str())).unwrap();
        assert_eq!(bare.hash(), bearer.hash());
        assert_eq!(bare.hash(), pak.hash());
    }

    #[test]
    fn malformed_headers_are_refused_not_panicking() {
        for bad in [
            "",
            "garbage",
            "Bearer abc",
            "Basic brokkr_BRabc_def",
            "a_b",
            "a_b_c_d",
            "brokkr__x",
            "brokkr_BR1_x y",
            "Bearer ",
            "brokkr_BRé_abc",
        ] {
            assert_eq!(
                Pak::from_authorization(bad),
                Err(PakError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_short_token_is_part_of_the_hash() {
        let a = Pak::parse("brokkr_BRaaaaaaaa_0123456789abcdefghijklmn").unwrap();
        let b = Pak::parse("brokkr_BRbbbbbbbb_0123456789abcdefghijklmn").unwrap();
        assert_ne!(a.hash(), b.hash());
        assert!(hashes_equal(&a.hash(), &a.hash()));
        assert!(!hashes_equal(&a.hash(), &b.hash()));
    }
}
