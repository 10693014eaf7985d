//! Encryption of webhook secrets at rest (URLs, auth headers, signing secrets): AES-256-GCM in a
//! versioned envelope that names the key that wrote it.
//!
//! # Envelope (format version 2)
//!
//! ```text
//! 0x02 | key id (8 bytes) | nonce (12 bytes, random) | ciphertext | tag (16 bytes)
//! ```
//!
//! The key id is the first 8 bytes of SHA-256 of the key: it is not secret (it is also the key's
//! fingerprint in logs) and lets a reader pick the right key after a rotation. The additional
//! authenticated data is the version byte, the key id and a *context* string chosen by the caller
//! (the column, see [`context`]), so a value cannot be moved to another column, or its header
//! edited, without decryption failing. (Version 1, the original Brokkr format without a key id,
//! is not read: Brokkr's schema starts empty.)
//!
//! # Keys and rotation
//!
//! [`Keyring`] holds the current key (`broker.webhook_encryption_key`, 64 hex characters), which
//! writes every new value, and any previous keys (`broker.webhook_previous_encryption_keys`),
//! which are only read. To rotate:
//!
//! 1. Generate a new key (`openssl rand -hex 32`; `deploy/local-stack.sh` generates one).
//! 2. On every broker and worker, set `broker.webhook_encryption_key` to the new key and add the
//!    old one to `broker.webhook_previous_encryption_keys`.
//! 3. Restart them (a rolling restart is fine: new values are written under the new key, and
//!    values written under the old one still decrypt).
//! 4. Optionally re-encrypt what the old key wrote
//!    (`brokkr-broker reencrypt-webhooks`, i.e. `brokkr_schema::store::webhooks::subscriptions::reencrypt`,
//!    rewrites every value whose key id is not the
//!    current one). Once nothing names the old key, remove it from the previous keys.
//!
//! ```
//! use brokkr_schema::crypto::{Keyring, EncryptionKey, context};
//! let old = EncryptionKey::generate();
//! let keyring = Keyring::new(old.clone(), vec![]);
//! let stored = keyring.encrypt_str(context::WEBHOOK_URL, "https://example.com/hook").unwrap();
//!
//! // Rotation: a new current key, the old one kept for reading.
//! let rotated = Keyring::new(EncryptionKey::generate(), vec![old]);
//! assert_eq!(rotated.decrypt_string(context::WEBHOOK_URL, &stored).unwrap(), "https://example.com/hook");
//! assert!(rotated.needs_reencryption(&stored));
//! ```

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The format version this module writes.
pub const FORMAT_VERSION: u8 = 0x02;
/// Length of the key id in an envelope.
pub const KEY_ID_LEN: usize = 8;
/// Length of the AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM authentication tag.
pub const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// Context strings bound into the ciphertext of each encrypted column.
pub mod context {
    /// `webhook_subscriptions.url_encrypted`.
    pub const WEBHOOK_URL: &str = "webhook_subscriptions.url";
    /// `webhook_subscriptions.auth_header_encrypted`.
    pub const WEBHOOK_AUTH_HEADER: &str = "webhook_subscriptions.auth_header";
    /// `webhook_subscriptions.secret_encrypted`.
    pub const WEBHOOK_SECRET: &str = "webhook_subscriptions.secret";
}

/// What can go wrong. Messages never contain key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A configured key is not 64 hex characters.
    #[error("encryption key must be 64 hex characters (a 256-bit key)")]
    InvalidKey,
    /// The stored value is too short to be an envelope.
    #[error("encrypted value is malformed")]
    Malformed,
    /// The stored value was written in a format this version does not read.
    #[error("encrypted value has unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The key that wrote the value is neither the current nor a previous key.
    #[error(
        "encrypted value was written under key {0}, which is not configured (add it to broker.webhook_previous_encryption_keys)"
    )]
    UnknownKey(String),
    /// Authentication failed: wrong key, wrong context, or a tampered value.
    #[error("decryption failed: the value was altered or belongs elsewhere")]
    DecryptionFailed,
    /// The cipher refused to encrypt (only for absurdly large inputs).
    #[error("encryption failed")]
    EncryptionFailed,
    /// The decrypted bytes are not UTF-8 text.
    #[error("decrypted value is not UTF-8 text")]
    NotUtf8,
}

/// One AES-256 key and its id.
#[derive(Clone)]
pub struct EncryptionKey {
    id: [u8; KEY_ID_LEN],
    cipher: Aes256Gcm,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl EncryptionKey {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self {
            id,
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }

    /// A key from 64 hex characters (the configuration format).
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(CryptoError::InvalidKey);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| CryptoError::InvalidKey)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(&bytes)
    }

    /// The key id written into every envelope.
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        self.id
    }

    /// The key id as 16 hex characters, safe to log.
    pub fn fingerprint(&self) -> String {
        hex::encode(self.id)
    }
}

/// A new random key as 64 hex characters, e.g. for `broker.webhook_encryption_key`.
pub fn generate_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn aad(key_id: &[u8; KEY_ID_LEN], context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + KEY_ID_LEN + context.len());
    aad.push(FORMAT_VERSION);
    aad.extend_from_slice(key_id);
    aad.extend_from_slice(context.as_bytes());
    aad
}

/// The id of the key that wrote `envelope`, if it is a version-2 envelope.
pub fn key_id_of(envelope: &[u8]) -> Option<[u8; KEY_ID_LEN]> {
    if envelope.len() < HEADER_LEN + TAG_LEN || envelope[0] != FORMAT_VERSION {
        return None;
    }
    envelope[1..1 + KEY_ID_LEN].try_into().ok()
}

/// The current key, which writes, and previous keys, which still read.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: EncryptionKey,
    previous: Vec<EncryptionKey>,
}

impl Keyring {
    /// A keyring writing with `current` and also reading with `previous`.
    pub fn new(current: EncryptionKey, previous: Vec<EncryptionKey>) -> Self {
        let previous = previous
            .into_iter()
            .filter(|k| k.id != current.id)
            .collect();
        Self { current, previous }
    }

    /// The keyring configured by `broker.webhook_encryption_key` and
    /// `broker.webhook_previous_encryption_keys`; `None` when no current key is set.
    pub fn from_settings(
        broker: &crate::config::BrokerSettings,
    ) -> Result<Option<Keyring>, CryptoError> {
        let Some(current) = broker
            .webhook_encryption_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
        else {
            return Ok(None);
        };
        let current = EncryptionKey::from_hex(current)?;
        let previous = broker
            .webhook_previous_encryption_keys
            .iter()
            .map(|k| EncryptionKey::from_hex(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Keyring::new(current, previous)))
    }

    /// The key new values are written with.
    pub fn current(&self) -> &EncryptionKey {
        &self.current
    }

    /// Encrypts `plaintext` under the current key, bound to `context`.
    pub fn encrypt(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = aad(&self.current.id, context);
        let sealed = self
            .current
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::EncryptionFailed)?;
        let mut envelope = Vec::with_capacity(HEADER_LEN + sealed.len());
        envelope.push(FORMAT_VERSION);
        envelope.extend_from_slice(&self.current.id);
        envelope.extend_from_slice(&nonce);
        envelope.extend_from_slice(&sealed);
        Ok(envelope)
    }

    /// Decrypts an envelope written for `context` by the current or a previous key.
    pub fn decrypt(&self, context: &str, envelope: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let Some(&version) = envelope.first() else {
            return Err(CryptoError::Malformed);
        };
        if version != FORMAT_VERSION {
            return Err(CryptoError::UnsupportedVersion(version));
        }
        let key_id = key_id_of(envelope).ok_or(CryptoError::Malformed)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
            .ok_or_else(|| CryptoError::UnknownKey(hex::encode(key_id)))?;
        let nonce: [u8; NONCE_LEN] = envelope[1 + KEY_ID_LEN..HEADER_LEN]
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        let aad = aad(&key_id, context);
        key.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &envelope[HEADER_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::DecryptionFailed)
    }

    /// [`Keyring::encrypt`] for text.
    pub fn encrypt_str(&self, context: &str, plaintext: &str) -> Result<Vec<u8>, CryptoError> {
        self.encrypt(context, plaintext.as_bytes())
    }

    /// [`Keyring::decrypt`] for text.
    pub fn decrypt_string(&self, context: &str, envelope: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(context, envelope)?).map_err(|_| CryptoError::NotUtf8)
    }

    /// True when `envelope` was not written by the current key (so a rotation should rewrite it).
    pub fn needs_reencryption(&self, envelope: &[u8]) -> bool {
        key_id_of(envelope) != Some(self.current.id)
    }
}

/// A subscription's destination in clear: what a delivery needs to be sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    pub url: String,
    pub auth_header: Option<String>,
    pub secret: Option<String>,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Destination(<redacted>)")
    }
}

impl Keyring {
    /// Decrypts a subscription's URL, auth header and secret; the error says which failed
    /// (never what they contain).
    pub fn destination(
        &self,
        url: &[u8],
        auth_header: Option<&[u8]>,
        secret: Option<&[u8]>,
    ) -> Result<Destination, String> {
        let url = self
            .decrypt_string(context::WEBHOOK_URL, url)
            .map_err(|e| format!("cannot decrypt URL: {e}"))?;
        let auth_header = auth_header
            .map(|c| self.decrypt_string(context::WEBHOOK_AUTH_HEADER, c))
            .transpose()
            .map_err(|e| format!("cannot decrypt auth header: {e}"))?;
        let secret = secret
            .map(|c| self.decrypt_string(context::WEBHOOK_SECRET, c))
            .transpose()
            .map_err(|e| format!("cannot decrypt secret: {e}"))?;
        Ok(Destination {
            url,
            auth_header,
            secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY_B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    fn key(hex: &str) -> EncryptionKey {
        EncryptionKey::from_hex(hex).unwrap()
    }

    #[test]
    fn round_trip_with_the_documented_layout() {
        let ring = Keyring::new(key(KEY_A), vec![]);
        let envelope = ring.encrypt_str("ctx", "https://hooks.example/x").unwrap();
        assert_eq!(envelope[0], FORMAT_VERSION);
        assert_eq!(&envelope[1..9], &key(KEY_A).id());
        assert_eq!(
            envelope.len(),
            HEADER_LEN + "https://hooks.example/x".len() + TAG_LEN
        );
        assert_eq!(
            ring.decrypt_string("ctx", &envelope).unwrap(),
            "https://hooks.example/x"
        );
        // Random nonces: the same plaintext never gives the same envelope.
        assert_ne!(
            envelope,
            ring.encrypt_str("ctx", "https://hooks.example/x").unwrap()
        );
        assert!(!ring.needs_reencryption(&envelope));
    }

    #[test]
    fn the_key_id_is_a_sha256_prefix() {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(KEY_A, &mut bytes).unwrap();
        assert_eq!(
            key(KEY_A).fingerprint(),
            hex::encode(&Sha256::digest(bytes)[..8])
        );
        assert!(!format!("{:?}", key(KEY_A)).contains(KEY_A));
    }

    #[test]
    fn a_wrong_key_with_the_same_id_fails() {
        // Forge the header of key B's envelope with key A's id: authentication must fail.
        let a = Keyring::new(key(KEY_A), vec![]);
        let b = Keyring::new(key(KEY_B), vec![]);
        let mut envelope = b.encrypt_str("ctx", "secret").unwrap();
        envelope[1..9].copy_from_slice(&key(KEY_A).id());
        assert_eq!(
            a.decrypt("ctx", &envelope),
            Err(CryptoError::DecryptionFailed)
        );
    }

    #[test]
    fn an_unknown_key_id_is_named() {
        let a = Keyring::new(key(KEY_A), vec![]);
        let b = Keyring::new(key(KEY_B), vec![]);
        let envelope = b.encrypt_str("ctx", "secret").unwrap();
        let err = a.decrypt("ctx", &envelope).unwrap_err();
        assert_eq!(err, CryptoError::UnknownKey(key(KEY_B).fingerprint()));
        assert!(!err.to_string().contains(KEY_B));
    }

    #[test]
    fn tampering_fails() {
        let ring = Keyring::new(key(KEY_A), vec![]);
        let envelope = ring.encrypt_str("ctx", "secret value").unwrap();
        for i in 0..envelope.len() {
            let mut bad = envelope.clone();
            bad[i] ^= 0x01;
            assert!(ring.decrypt("ctx", &bad).is_err(), "flipped byte {i}");
        }
        assert_eq!(
            ring.decrypt("other ctx", &envelope),
            Err(CryptoError::DecryptionFailed)
        );
        assert_eq!(
            ring.decrypt("ctx", &envelope[..envelope.len() - 1]),
            Err(CryptoError::DecryptionFailed)
        );
        assert_eq!(
            ring.decrypt("ctx", &envelope[..10]),
            Err(CryptoError::Malformed)
        );
        assert_eq!(ring.decrypt("ctx", &[]), Err(CryptoError::Malformed));
        let mut v1 = envelope.clone();
        v1[0] = 0x01;
        assert_eq!(
            ring.decrypt("ctx", &v1),
            Err(CryptoError::UnsupportedVersion(1))
        );
    }

    #[test]
    fn previous_keys_still_decrypt_after_rotation() {
        let before = Keyring::new(key(KEY_A), vec![]);
        let old = before.encrypt_str("ctx", "written before").unwrap();
        let after = Keyring::new(key(KEY_B), vec![key(KEY_A)]);
        assert_eq!(after.decrypt_string("ctx", &old).unwrap(), "written before");
        assert!(after.needs_reencryption(&old));
        let new = after.encrypt_str("ctx", "written after").unwrap();
        assert_eq!(key_id_of(&new), Some(key(KEY_B).id()));
        // The old key alone cannot read what the new key wrote.
        assert!(matches!(
            before.decrypt("ctx", &new),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn keys_must_be_64_hex_characters() {
        assert!(EncryptionKey::from_hex("abc").is_err());
        assert!(EncryptionKey::from_hex(&"g".repeat(64)).is_err());
        assert!(EncryptionKey::from_hex(&generate_hex()).is_ok());
    }

    #[test]
    fn keyring_from_settings() {
        let mut broker = crate::config::BrokerSettings::default();
        assert!(Keyring::from_settings(&broker).unwrap().is_none());
        broker.webhook_encryption_key = Some(KEY_B.into());
        broker.webhook_previous_encryption_keys = vec![KEY_A.into()];
        let ring = Keyring::from_settings(&broker).unwrap().unwrap();
        assert_eq!(ring.current().id(), key(KEY_B).id());
        let old = Keyring::new(key(KEY_A), vec![])
            .encrypt_str("c", "x")
            .unwrap();
        assert_eq!(ring.decrypt_string("c", &old).unwrap(), "x");
    }
}
