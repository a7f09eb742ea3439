//! Reading one message from a memberlist TCP stream (`readStream` in net.go): optional
//! `[10][u32 len]` encryption frame, optional `compress`, then the message. Pure: the shell
//! appends bytes as they arrive and asks again while the answer is "incomplete".

use super::security::{self, CryptoError};
use super::wire::{MessageType, StreamMessage, WireError, compress_payload, decode_stream};

/// Why a stream is refused. The `Display` texts are Go's; on an inbound connection Go writes
/// them back as an `errResp` before closing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("Remote state is encrypted and encryption is not configured")]
    EncryptedButNoKey,
    #[error("Encryption is configured but remote state is not encrypted")]
    PlainButKeyed,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// Tries to read one stream message from the bytes received so far. `Ok(None)`: read more.
/// With a key, only encrypted frames are accepted (MetalLB keeps `GossipVerifyIncoming`).
pub fn read_message(buf: &[u8], keys: &[[u8; 16]]) -> Result<Option<StreamMessage>, StreamError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let encrypted = first == MessageType::Encrypt as u8;
    match (encrypted, keys.is_empty()) {
        (true, true) => Err(StreamError::EncryptedButNoKey),
        (false, false) => Err(StreamError::PlainButKeyed),
        (false, true) => Ok(decode_stream(buf)?),
        (true, false) => {
            let Some(total) = security::stream_frame_len(&buf[..buf.len().min(5)])? else {
                return Ok(None);
            };
            if buf.len() < total {
                return Ok(None);
            }
            let plain = security::open_stream(keys, &buf[..total])?;
            // A complete frame holding an incomplete message is malformed, not "more".
            decode_stream(&plain)?
                .map(Some)
                .ok_or(StreamError::Wire(WireError::Empty))
        }
    }
}

/// What goes on the wire for a plaintext stream message (`rawSendMsgStream`): compressed when
/// compression is on (always, even when larger), then sealed when a key is set.
pub fn write_message(
    plain: &[u8],
    compress: bool,
    key: Option<&[u8; 16]>,
    nonce: &[u8; security::NONCE_SIZE],
) -> Vec<u8> {
    let body = if compress {
        compress_payload(plain)
    } else {
        plain.to_vec()
    };
    match key {
        Some(k) => security::seal_stream(k, nonce, &body),
        None => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memberlist::wire::{Ping, PushPull};

    #[test]
    fn encrypted_push_pull_is_read_once_complete() {
        let key = security::metallb_key("s").unwrap();
        let pp = PushPull {
            join: true,
            nodes: vec![],
            user_state: None,
        };
        let bytes = write_message(&pp.encode(), true, Some(&key), &[3; 12]);
        for cut in 0..bytes.len() {
            assert_eq!(read_message(&bytes[..cut], &[key]), Ok(None), "cut {cut}");
        }
        assert_eq!(
            read_message(&bytes, &[key]),
            Ok(Some(StreamMessage::PushPull(pp)))
        );
    }

    #[test]
    fn key_mismatches_are_refused_with_go_texts() {
        let key = security::metallb_key("s").unwrap();
        let ping = crate::memberlist::wire::Message::Ping(Ping {
            seq_no: 1,
            node: "n".into(),
        })
        .encode();
        let plain = write_message(&ping, false, None, &[0; 12]);
        let sealed = write_message(&ping, false, Some(&key), &[0; 12]);
        assert_eq!(
            read_message(&plain, &[key]).unwrap_err().to_string(),
            "Encryption is configured but remote state is not encrypted"
        );
        assert_eq!(
            read_message(&sealed, &[]).unwrap_err().to_string(),
            "Remote state is encrypted and encryption is not configured"
        );
        let other = security::metallb_key("t").unwrap();
        assert_eq!(
            read_message(&sealed, &[other]),
            Err(StreamError::Crypto(CryptoError::NoKey))
        );
    }
}
