//! ferrolb's memberlist node meta (`memberlist::meta`), as any peer may send it: never panics,
//! and what it reads re-encodes to a meta that reads the same.
#![no_main]

use ferrolb::memberlist::meta::NodeMeta;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(m) = NodeMeta::parse(data) {
        assert_eq!(NodeMeta::parse(&m.encode()), Some(m));
    }
});
