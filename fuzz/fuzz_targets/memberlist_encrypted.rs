//! AES-GCM sealed payloads and TCP frames under MetalLB's key: opening arbitrary bytes never
//! panics and never succeeds without the key's tag; sealing then opening is the identity;
//! the stream reader takes any bytes with and without a key.
#![no_main]

use ferrolb::memberlist::security::{
    metallb_key, open, open_stream, seal, seal_stream, stream_frame_len,
};
use ferrolb::memberlist::stream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = metallb_key("fuzz-secret").expect("non-empty secret");
    let _ = open(&[key], data, &[]);
    let _ = open_stream(&[key], data);
    let _ = stream_frame_len(data);
    let _ = stream::read_message(data, &[key]);
    let _ = stream::read_message(data, &[]);
    let nonce = [7u8; 12];
    assert_eq!(
        open(&[key], &seal(&key, &nonce, data, &[]), &[]).expect("opens"),
        data
    );
    assert_eq!(
        open_stream(&[key], &seal_stream(&key, &nonce, data)).expect("opens"),
        data
    );
    let other = metallb_key("other").expect("non-empty secret");
    assert!(open(&[other], &seal(&key, &nonce, data, &[]), &[]).is_err());
});
