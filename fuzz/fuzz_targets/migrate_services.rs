//! `ferrolb migrate --services` on arbitrary input: never panics, and every command it would
//! print stays inside the characters a shell reads literally (the names come from the user's
//! file and are printed into `kubectl annotate` lines).
#![no_main]

use std::sync::OnceLock;

use ferrolb::migrate::{self, Options};
use libfuzzer_sys::fuzz_target;

fn resources() -> &'static migrate::Resources {
    static R: OnceLock<migrate::Resources> = OnceLock::new();
    R.get_or_init(|| {
        let data = "address-pools:\n- name: L2_Manual\n  protocol: layer2\n  addresses: [192.0.2.224/28]\n- name: edge\n  protocol: bgp\n  addresses: [203.0.113.0/26]\n";
        let opts = Options { only_data: true, ..Options::default() };
        migrate::migrate(data, &opts).expect("the fixed config converts").resources
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(findings) = migrate::services::check(&text, &resources().pools) {
        for f in &findings {
            let _ = f.to_string();
            if let Some((before, after)) = f.commands() {
                for c in [before, after] {
                    assert!(
                        c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b" .-=/".contains(&b)),
                        "a command a shell would not read literally: {c:?}"
                    );
                }
            }
        }
    }
});
