//! One memberlist message (type byte + go-msgpack body) and push/pull stream bodies: never
//! panics; whatever decodes re-encodes to something that decodes to the same value.
#![no_main]

use ferrolb::memberlist::wire::{Message, StreamMessage, decode_stream};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let again = Message::decode(&m.encode()).expect("our encoding decodes");
        assert_eq!(again, m);
    }
    if let Ok(Some(StreamMessage::PushPull(pp))) = decode_stream(data) {
        match decode_stream(&pp.encode()) {
            Ok(Some(StreamMessage::PushPull(again))) => assert_eq!(again, pp),
            other => panic!("push/pull did not round-trip: {other:?}"),
        }
    }
});
