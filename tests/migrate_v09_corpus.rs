//! The v0.9 config corpus (`compat/config/cases`, verdicts from the reference build) through
//! `ferrolb migrate` in its strict default: every config v0.9 refuses is refused with v0.9's
//! text, and every config v0.9 accepts converts, except the listed ones that current MetalLB's
//! rules refuse (spec §9.4) or whose names cannot become object names (§9.2). The lenient
//! decoder must never be the reason a v0.9-valid config fails.

mod migrate_support;

use migrate_support::*;

/// v0.9-valid cases that the conversion refuses, and why.
const REFUSED: &[(&str, &str)] = &[
    (
        "A.11.06-reversed-range",
        "start IP \"10.0.0.10\" is after the end IP \"10.0.0.1\"",
    ),
    (
        "X.11-unicode-pool-name",
        "is not a valid Kubernetes object name",
    ),
    (
        "X.16-scalar-in-string-field",
        "failed to make IpAddressPool K8S compatible: 42",
    ),
    (
        "X.38-communities-dedup-and-sorted",
        "duplicate definition of community \"0:1234\"",
    ),
];

#[test]
fn strict_migrate_agrees_with_every_v0_9_verdict_of_the_corpus() {
    let dir = repo().join("compat/config/cases");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() > 100, "the v0.9 corpus is missing");
    let (mut accepted, mut refused) = (0, 0);
    for case in cases {
        let name = case.file_stem().unwrap().to_string_lossy().into_owned();
        let verdict = std::fs::read_to_string(case.with_extension("expected")).unwrap();
        let out = ferrolb(&["migrate", "--only-data", case.to_str().unwrap()], b"");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if let Some(v09) = verdict.strip_prefix("ERR ") {
            refused += 1;
            assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
            assert!(out.stdout.is_empty(), "{name}");
            let want = format!(
                "MetalLB v0.9 refuses this config: {}\n",
                v09.trim_end_matches('\n')
            );
            assert!(stderr.contains(&want), "{name}: {stderr:?} lacks {want:?}");
        } else if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
            assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
            assert!(stderr.contains(why), "{name}: {stderr}");
        } else {
            accepted += 1;
            assert!(verdict.starts_with("OK"), "{name}: unknown verdict");
            assert!(
                out.status.success(),
                "{name}: a config v0.9 accepts must convert: {stderr}"
            );
            let text = String::from_utf8(out.stdout).unwrap();
            documents(&text);
        }
    }
    assert!(
        accepted > 30 && refused > 30,
        "accepted {accepted}, refused {refused}"
    );
}
