//! Differential: the layer2 scenario of `speaker_layer2.rs` run with the v0.9 reference
//! speakers (`scripts/reference`, built from v0.9.6, spec §0) and with ferrolb's, in one run:
//! the captured replies (owner MACs, ARP op codes, NA flags and options, gratuitous frames'
//! shapes, shared-IP answers and multicast membership, bad-config behaviour, `nodeAssigned`
//! Events) must be identical.
//!
//! Not compared, by the documented version difference (spec §0, v0.9.4's gratuitous loop):
//! the number of gratuitous rounds and their spacing. v0.9.3 (and ferrolb) send 5 rounds
//! 1.1 s apart from the first announcement; the v0.9.6 reference sends one at once and then on
//! a free-running 1.1 s ticker for 5 s, so 5 or 6 rounds at uneven first spacing. Both are
//! printed.

mod speaker_support;
mod support;

use speaker_support::{Observed, run_scenario};
use support::{cluster, reference, require_tool, serial};

fn comparable(o: &Observed) -> Observed {
    Observed { grat_rounds: 0, grat_spacing: vec![], grat_na_count: 0, owner_metrics: String::new(), ..o.clone() }
}

#[test]
fn reference_and_ferrolb_speakers_put_the_same_frames_on_the_wire() {
    let _serial = serial();
    for tool in ["arping", "ndisc6", "tcpdump", "curl"] {
        require_tool(tool);
    }
    let c = cluster();
    let reference_speaker = reference("speaker");
    let theirs = run_scenario(&c, &[reference_speaker.as_str()]);
    let ours = run_scenario(&c, &[env!("CARGO_BIN_EXE_ferrolb"), "speaker"]);
    println!("reference: {} gratuitous ARP rounds, spacing {:?}, {} NAs", theirs.grat_rounds, theirs.grat_spacing, theirs.grat_na_count);
    println!("ferrolb:   {} gratuitous ARP rounds, spacing {:?}, {} NAs", ours.grat_rounds, ours.grat_spacing, ours.grat_na_count);
    assert!(!theirs.arp_owner.is_empty() && !theirs.grat_arp.is_empty(), "the reference scenario observed nothing: {theirs:#?}");
    assert_eq!(comparable(&ours), comparable(&theirs));
    assert!((5..=6).contains(&theirs.grat_rounds), "v0.9.6 burst: {} rounds", theirs.grat_rounds);
    // The ticker of v0.9.6 makes the ARP and NA counts of one run differ by one at times
    // (seen in CI: 5 ARP rounds, 6 NAs; the first spacing 0.665 s), so each is checked alone.
    assert!((5..=6).contains(&theirs.grat_na_count), "v0.9.6 burst: {} NAs", theirs.grat_na_count);
    assert_eq!((ours.grat_rounds, ours.grat_na_count), (5, 5), "v0.9.3 burst");
}
