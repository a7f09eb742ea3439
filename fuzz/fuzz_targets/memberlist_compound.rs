//! A whole decrypted UDP packet (CRC wrapper, compound and compress envelopes, nested): never
//! panics; every message found round-trips through our encoder.
#![no_main]

use ferrolb::memberlist::wire::{Message, make_compound, split_compound, unpack_packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msgs) = unpack_packet(data) {
        let encoded: Vec<Vec<u8>> = msgs.iter().map(Message::encode).collect();
        if encoded.len() <= 255 && encoded.iter().all(|e| e.len() <= usize::from(u16::MAX)) {
            let again = unpack_packet(&make_compound(&encoded)).expect("our compound unpacks");
            assert_eq!(again, msgs);
        }
    }
    if let Ok((parts, truncated)) = split_compound(data) {
        assert!(parts.len() + truncated <= 255);
    }
});
