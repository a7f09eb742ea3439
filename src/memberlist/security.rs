//! memberlist v0.1.7 encryption (security.go) and MetalLB v0.9's key derivation.
//!
//! A sealed payload is `[version][12-byte nonce][AES-128-GCM ciphertext ‖ 16-byte tag]`.
//! Version 1 (what protocol version 2 speaks) has no padding; version 0 PKCS7-pads the
//! plaintext and is only read. UDP packets use empty associated data; TCP streams are framed
//! as `[10][u32 BE length][sealed]` with those first 5 bytes as the associated data.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use sha2::{Digest, Sha256};

pub const NONCE_SIZE: usize = 12;
const TAG_SIZE: usize = 16;
const VERSION_SIZE: usize = 1;
/// Bytes added by version-1 sealing (Go's `encryptOverhead(1)`).
pub const ENCRYPT_OVERHEAD_V1: usize = VERSION_SIZE + NONCE_SIZE + TAG_SIZE;
/// Go refuses push/pull streams larger than this (`maxPushStateBytes`).
pub const MAX_STREAM_BYTES: u32 = 20 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("Cannot decrypt empty payload")]
    Empty,
    #[error("Unsupported encryption version {0}")]
    UnsupportedVersion(u8),
    #[error("Payload is too small to decrypt: {0}")]
    TooSmall(usize),
    #[error("No installed keys could decrypt the message")]
    NoKey,
    #[error("Remote node state is larger than limit ({0})")]
    StreamTooLarge(u32),
    #[error("not an encrypted stream frame")]
    NotEncryptedFrame,
}

/// MetalLB v0.9's key (vectors F): `sha256.New().Sum(secret)[:16]`, i.e. the first 16 bytes
/// of the secret followed by SHA-256 of nothing. An empty secret means no encryption.
pub fn metallb_key(secret: &str) -> Option<[u8; 16]> {
    metallb_key_bytes(secret.as_bytes())
}

/// [`metallb_key`] for a secret given as raw bytes (Go converts the string to `[]byte`).
pub fn metallb_key_bytes(secret: &[u8]) -> Option<[u8; 16]> {
    if secret.is_empty() {
        return None;
    }
    let mut bytes = secret.to_vec();
    bytes.extend_from_slice(&Sha256::digest(b""));
    let mut key = [0u8; 16];
    key.copy_from_slice(&bytes[..16]);
    Some(key)
}

/// `encryptedLength(1, n)`.
pub fn sealed_len(plain_len: usize) -> usize {
    ENCRYPT_OVERHEAD_V1 + plain_len
}

/// Version-1 sealing with the caller's nonce (the shell draws it from the OS RNG; tests fix it).
pub fn seal(key: &[u8; 16], nonce: &[u8; NONCE_SIZE], plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes128Gcm::new(key.into());
    let ct = cipher
        .encrypt(&Nonce::from(*nonce), Payload { msg: plain, aad })
        .expect("AES-GCM sealing of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(VERSION_SIZE + NONCE_SIZE + ct.len());
    out.push(1);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens a sealed payload with any of `keys` (`decryptPayload`).
pub fn open(keys: &[[u8; 16]], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (&vsn, _) = sealed.split_first().ok_or(CryptoError::Empty)?;
    if vsn > 1 {
        return Err(CryptoError::UnsupportedVersion(vsn));
    }
    // Version 0 counts a full padding block as the minimum (encryptedLength(0, 0)).
    let min = if vsn == 0 {
        ENCRYPT_OVERHEAD_V1 + 16
    } else {
        ENCRYPT_OVERHEAD_V1
    };
    if sealed.len() < min {
        return Err(CryptoError::TooSmall(sealed.len()));
    }
    let mut nonce = [0u8; NONCE_SIZE];
    nonce.copy_from_slice(&sealed[VERSION_SIZE..VERSION_SIZE + NONCE_SIZE]);
    let nonce = Nonce::from(nonce);
    let ct = &sealed[VERSION_SIZE + NONCE_SIZE..];
    for key in keys {
        let cipher = Aes128Gcm::new(key.into());
        if let Ok(mut plain) = cipher.decrypt(&nonce, Payload { msg: ct, aad }) {
            if vsn == 0 {
                // PKCS7: Go trusts the last byte; we refuse a pad longer than the buffer.
                let pad = usize::from(*plain.last().ok_or(CryptoError::NoKey)?);
                if pad > plain.len() {
                    return Err(CryptoError::NoKey);
                }
                plain.truncate(plain.len() - pad);
            }
            return Ok(plain);
        }
    }
    Err(CryptoError::NoKey)
}

/// TCP frame `[10][u32 BE sealed length][sealed]`, the 5-byte header being the AAD.
pub fn seal_stream(key: &[u8; 16], nonce: &[u8; NONCE_SIZE], plain: &[u8]) -> Vec<u8> {
    let mut hdr = vec![super::wire::MessageType::Encrypt as u8];
    hdr.extend_from_slice(&(sealed_len(plain.len()) as u32).to_be_bytes());
    let sealed = seal(key, nonce, plain, &hdr);
    hdr.extend_from_slice(&sealed);
    hdr
}

/// How many bytes a stream frame needs in total once its 5-byte header is known.
pub fn stream_frame_len(header: &[u8]) -> Result<Option<usize>, CryptoError> {
    if header.is_empty() {
        return Ok(None);
    }
    if header[0] != super::wire::MessageType::Encrypt as u8 {
        return Err(CryptoError::NotEncryptedFrame);
    }
    if header.len() < 5 {
        return Ok(None);
    }
    let n = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if n > MAX_STREAM_BYTES {
        return Err(CryptoError::StreamTooLarge(n));
    }
    Ok(Some(5 + n as usize))
}

/// Opens a complete TCP frame (header included).
pub fn open_stream(keys: &[[u8; 16]], frame: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let total = stream_frame_len(frame)?.ok_or(CryptoError::TooSmall(frame.len()))?;
    let body = frame
        .get(5..total)
        .ok_or(CryptoError::TooSmall(frame.len()))?;
    open(keys, body, &frame[..5])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn metallb_key_matches_vectors_f() {
        assert_eq!(
            hex(&metallb_key("short").unwrap()),
            "73686f7274e3b0c44298fc1c149afbf4"
        );
        assert_eq!(
            hex(&metallb_key("abc").unwrap()),
            "616263e3b0c44298fc1c149afbf4c899"
        );
        assert_eq!(
            hex(&metallb_key("0123456789abcdefXYZ").unwrap()),
            "30313233343536373839616263646566"
        );
        assert_eq!(metallb_key(""), None);
    }

    #[test]
    fn sealed_payload_opens_only_with_the_right_key_and_aad() {
        let k1 = metallb_key("one").unwrap();
        let k2 = metallb_key("two").unwrap();
        let s = seal(&k1, &[7; 12], b"hello", b"");
        assert_eq!(s.len(), sealed_len(5));
        assert_eq!(open(&[k2, k1], &s, b"").unwrap(), b"hello");
        assert_eq!(open(&[k2], &s, b""), Err(CryptoError::NoKey));
        assert_eq!(open(&[k1], &s, b"x"), Err(CryptoError::NoKey));
    }

    #[test]
    fn short_or_unknown_version_payloads_are_errors() {
        let k = metallb_key("k").unwrap();
        assert_eq!(open(&[k], &[], b""), Err(CryptoError::Empty));
        assert_eq!(
            open(&[k], &[2; 40], b""),
            Err(CryptoError::UnsupportedVersion(2))
        );
        assert_eq!(open(&[k], &[1; 28], b""), Err(CryptoError::TooSmall(28)));
    }

    #[test]
    fn stream_frame_round_trips_and_its_header_is_authenticated() {
        let k = metallb_key("k").unwrap();
        let mut f = seal_stream(&k, &[1; 12], b"state");
        assert_eq!(stream_frame_len(&f[..5]).unwrap(), Some(f.len()));
        assert_eq!(open_stream(&[k], &f).unwrap(), b"state");
        f.push(0);
        f[4] += 1;
        assert_eq!(open_stream(&[k], &f), Err(CryptoError::NoKey));
    }
}
