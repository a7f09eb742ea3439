//! ferrolb's own migrate golden cases (`compat/migrate/cases`, see its README): outputs,
//! warnings, and errors that leave nothing behind.

mod migrate_support;

use std::path::PathBuf;

use migrate_support::*;

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("compat/migrate/cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert!(v.len() >= 15, "the migrate cases are missing");
    v
}

fn args_of(case: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(case.join("args"))
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn warnings_in(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("ferrolb migrate: warning: "))
        .map(str::to_owned)
        .collect()
}

fn run_case(case: &std::path::Path, output: Option<&std::path::Path>) -> std::process::Output {
    let mut args = vec!["migrate".to_owned()];
    args.extend(args_of(case));
    if let Some(o) = output {
        args.push("-o".into());
        args.push(o.to_string_lossy().into_owned());
    }
    args.push(case.join("input.yaml").to_string_lossy().into_owned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ferrolb(&refs, b"")
}

#[test]
fn every_case_gives_its_expected_output_or_error() {
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let out = run_case(&case, None);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        if let Ok(expected) = std::fs::read_to_string(case.join("expected.yaml")) {
            assert!(out.status.success(), "{name}: {stderr}");
            assert_eq!(stdout, expected, "{name}: output");
            assert_eq!(
                documents(&stdout),
                documents(&expected),
                "{name}: parsed output"
            );
            assert_keys_sorted(&stdout);
            let want: Vec<String> = std::fs::read_to_string(case.join("expected-warnings.txt"))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            assert_eq!(warnings_in(&stderr), want, "{name}: warnings");
        } else {
            let want = std::fs::read_to_string(case.join("expected-error.txt")).unwrap();
            assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
            assert!(stdout.is_empty(), "{name}: partial output {stdout:?}");
            assert!(
                stderr.contains(want.trim_end()),
                "{name}: stderr {stderr:?} lacks {want:?}"
            );
            assert!(stderr.contains("nothing was written"), "{name}");
        }
    }
}

#[test]
fn error_cases_leave_an_existing_output_file_untouched_and_create_none() {
    let tmp = TempDir::new("migrate-compat");
    for case in cases()
        .into_iter()
        .filter(|c| c.join("expected-error.txt").exists())
    {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let fresh = tmp.path().join(format!("{name}-fresh.yaml"));
        let out = run_case(&case, Some(&fresh));
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(!fresh.exists(), "{name}: created an output file");
        let existing = tmp.path().join(format!("{name}-existing.yaml"));
        std::fs::write(&existing, "previous content\n").unwrap();
        let out = run_case(&case, Some(&existing));
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(
            std::fs::read_to_string(&existing).unwrap(),
            "previous content\n",
            "{name}"
        );
    }
    // No temporary file is left behind either.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.iter()
            .all(|n| n.to_string_lossy().ends_with("-existing.yaml")),
        "{left:?}"
    );
}

#[test]
fn success_cases_written_with_dash_o_match_stdout() {
    let tmp = TempDir::new("migrate-compat-o");
    for case in cases()
        .into_iter()
        .filter(|c| c.join("expected.yaml").exists())
    {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let target = tmp.path().join(format!("{name}.yaml"));
        std::fs::write(&target, "old").unwrap();
        let out = run_case(&case, Some(&target));
        assert!(out.status.success(), "{name}");
        assert!(out.stdout.is_empty(), "{name}: -o must not also print");
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            std::fs::read_to_string(case.join("expected.yaml")).unwrap()
        );
    }
}
