//! The manifest reader of `ferrolb check` on arbitrary input: never panics, and a position
//! it maps back into the file stays inside the file.
#![no_main]

use ferrolb::config::{self, manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = manifest::find_configmap(&text, "config") {
        if let Err(e) = config::parse(&p.text) {
            if let Some(pos) = e.position.and_then(|m| p.file_position(m)) {
                let _ = text.lines().nth(pos.line);
            }
        }
    }
});
