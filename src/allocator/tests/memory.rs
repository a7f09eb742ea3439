//! Memory is proportional to allocations, never to pool size (issue 4 acceptance).

use super::support::{pool, ports};
use crate::allocator::Allocator;

#[test]
fn a_slash_8_and_a_slash_64_with_ten_allocations_cost_kilobytes() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("v4", &["10.0.0.0/8"], true, false), pool("v6", &["2001:db8::/64"], true, false)]).unwrap();
    let before = a.footprint();
    for i in 0..10 {
        a.allocate(&format!("default/v4-{i}"), false, &ports(&["TCP/80"]), "", "").unwrap();
        a.allocate(&format!("default/v6-{i}"), true, &ports(&["TCP/80"]), "", "").unwrap();
    }
    let f = a.footprint();
    assert_eq!((f.services, f.ips_in_use, f.keyed_runs, f.shared_entries), (20, 20, 2, 0), "{f:?}");
    assert!(before.bytes < 1024, "an empty allocator over a /8 and a /64: {before:?}");
    assert!(f.bytes < 8 * 1024, "ten allocations per pool: {f:?}");
}

#[test]
fn sequential_allocations_are_one_run_even_across_skipped_buggy_addresses() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("v4", &["10.0.0.0/8"], true, true)]).unwrap();
    for i in 0..2000 {
        a.allocate(&format!("default/s-{i}"), false, &[], "", "").unwrap();
    }
    assert_eq!(
        a.ip_of("default/s-1999").unwrap().to_string(),
        "10.0.7.222",
        "254 per /24: ordinal 1999 = 7*254 + 221 is .222 of the eighth /24"
    );
    let f = a.footprint();
    assert_eq!(f.keyed_runs, 1, "{f:?}");
    assert!(f.bytes < 2000 * 200, "about a hundred bytes per allocation: {f:?}");
}

#[test]
fn memory_is_given_back_when_services_leave() {
    let mut a = Allocator::new();
    a.set_pools(&[pool("v6", &["2001:db8::/64"], true, false)]).unwrap();
    for i in 0..1000 {
        a.allocate(&format!("default/s-{i}"), true, &ports(&["TCP/80"]), "k", "").unwrap();
    }
    for i in 0..1000 {
        assert!(a.unassign(&format!("default/s-{i}")));
    }
    let f = a.footprint();
    assert_eq!((f.services, f.ips_in_use, f.keyed_runs, f.shared_entries), (0, 0, 0, 0), "{f:?}");
}
