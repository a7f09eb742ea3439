//! LZW (Go's compress/lzw, LSB, width 8) and the `compress` message: decoding arbitrary bytes
//! never panics; compressing arbitrary bytes always decompresses to them.
#![no_main]

use ferrolb::memberlist::wire::{
    compress_payload, decompress_payload, lzw_compress, lzw_decompress,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lzw_decompress(data);
    let _ = decompress_payload(data);
    assert_eq!(
        lzw_decompress(&lzw_compress(data)).expect("our LZW decodes"),
        data
    );
    let c = compress_payload(data);
    assert_eq!(
        decompress_payload(&c[1..]).expect("our compress decodes").0,
        data
    );
});
