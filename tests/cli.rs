//! The `ferrolb` binary as users run it: `check` on files and stdin, and the daemons' v0.9
//! flags (Go `flag` spellings, env defaults, exit 2 on an unknown flag).

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ferrolb(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrolb"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for k in ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "METALLB_NODE_NAME", "METALLB_HOST", "METALLB_ML_BIND_ADDR", "METALLB_ML_LABELS", "METALLB_ML_NAMESPACE", "METALLB_ML_SECRET_KEY"] {
        cmd.env_remove(k);
    }
    cmd.envs(envs.iter().copied());
    cmd.output().expect("ferrolb runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The startup log line of a daemon, as JSON.
fn startup(o: &Output) -> serde_json::Value {
    let line = stdout(o).lines().next().expect("a startup line").to_string();
    serde_json::from_str(&line).expect("startup line is JSON")
}

#[test]
fn check_lists_pools_with_their_cidrs_and_address_counts() {
    let o = ferrolb(&["check", "examples/layer2.yaml"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    // A /28 given with host bits is masked: 16 addresses.
    assert!(out.contains("default  protocol=layer2  addresses=16"), "{out}");
    assert!(out.contains("    198.51.100.64/28\n"), "{out}");
    // A range pool: 101 addresses.
    assert!(out.contains("range  protocol=layer2  addresses=101  auto-assign=false"), "{out}");
    // Two single-address ranges.
    assert!(out.contains("singles  protocol=layer2  addresses=2"), "{out}");
    assert!(out.contains("    192.0.2.10/32\n    192.0.2.20/32\n"), "{out}");
}

#[test]
fn check_shows_the_v0_9_text_then_the_line_and_a_caret_under_a_typo_d_key() {
    let o = ferrolb(&["check", "examples/broken.yaml"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "could not parse config: yaml: unmarshal errors:");
    assert_eq!(lines[1], "  line 3: field protcol not found in type config.addressPool");
    assert_eq!(lines[2].trim(), "--> examples/broken.yaml:11:7");
    let source = lines.iter().find(|l| l.contains("protcol: layer2")).expect("the offending line is shown");
    let caret = lines.iter().find(|l| l.trim_end().ends_with('^')).expect("a caret line");
    assert_eq!(caret.find('^'), source.find("protcol"), "caret under the key:\n{out}");
}

#[test]
fn check_json_output_is_machine_readable() {
    let o = ferrolb(&["check", "--output", "json", "examples/bgp.yaml"], &[]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["pools"][0]["name"], "public");
    assert_eq!(v["pools"][0]["addresses"], 256);
    assert_eq!(v["peers"][1]["node_selectors"][0], "rack=r1");

    let o = ferrolb(&["check", "--output=json", "examples/broken.yaml"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["position"]["line"], 11);
    assert!(v["error"].as_str().unwrap().starts_with("could not parse config: yaml: unmarshal errors:"));
}

#[test]
fn check_reads_a_bare_payload_from_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["check", "--only-data", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"address-pools:\n- name: p\n  protocol: layer2\n  addresses: [192.0.2.0/24]\n  auto-assign: nope\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("line 5: cannot unmarshal !!str `nope` into bool"), "{out}");
    assert!(out.contains("--> <stdin>:5:16"), "{out}");
}

/// `ferrolb check --only-data --output json -` with `payload` on stdin.
fn check_json_stdin(payload: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(["check", "--only-data", "--output", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(payload.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn check_json_counts_ipv6_pools_of_a_64_and_wider_without_a_panic() {
    // Found from outside: v0.9 accepts these; the JSON writer used to panic ("number out of
    // range", exit 101) on any count past u64.
    let o = check_json_stdin("address-pools:\n- name: v6\n  protocol: layer2\n  addresses:\n  - 2001:db8::/64\n");
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["pools"][0]["addresses"], "18446744073709551616");
    let o = check_json_stdin(
        "address-pools:\n- name: all\n  protocol: layer2\n  addresses: ['::/0']\n- name: v4\n  protocol: bgp\n  addresses: [0.0.0.0/0]\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["pools"][0]["addresses"], "340282366920938463463374607431768211456");
    assert_eq!(v["pools"][1]["addresses"], 4294967296u64);
}

#[test]
fn check_and_migrate_end_quietly_when_their_reader_goes_away() {
    // Found from outside: `ferrolb check BIG | head -3` panicked ("failed printing to stdout:
    // Broken pipe", exit 101). Now the tools die of SIGPIPE, as `cat` does, and print nothing.
    let mut big = "peers:\n".to_string();
    for i in 0..2000 {
        big += &format!("- peer-address: 2001:db8::{i:x}\n  peer-asn: 64512\n  my-asn: 64513\n");
    }
    big += "address-pools:\n- name: bgp\n  protocol: bgp\n  addresses:\n  - 198.51.100.0/24\n";
    let file = std::env::temp_dir().join(format!("ferrolb-cli-pipe-{}.yaml", std::process::id()));
    std::fs::write(&file, &big).unwrap();
    for sub in ["check", "migrate"] {
        let out = Command::new("sh")
            .args(["-c", &format!("\"$0\" {sub} --only-data \"$1\" | head -c 1 >/dev/null; echo \"${{PIPESTATUS:-}}\"")])
            .arg(env!("CARGO_BIN_EXE_ferrolb"))
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "ferrolb {sub} | head: {err}");
    }
    let _ = std::fs::remove_file(&file);
}

#[test]
fn an_alias_bomb_is_refused_at_once_without_expanding() {
    // A billion laughs in the one place the config holds a list: nine levels of ten aliases each
    // (10^9 addresses if expanded). v0.9 refuses it (a list where a string goes); so do check
    // and migrate, and they never expand it (the decoder stops at the first type error of an
    // anchored node instead of visiting every alias).
    let mut text = "address-pools:\n- name: p0\n  protocol: layer2\n  addresses: &a0 [".to_string() + &vec!["\"192.0.2.1/32\""; 10].join(",") + "]\n";
    for i in 1..9 {
        text += &format!("- name: p{i}\n  protocol: layer2\n  addresses: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(","));
    }
    let file = std::env::temp_dir().join(format!("ferrolb-cli-bomb-{}.yaml", std::process::id()));
    std::fs::write(&file, &text).unwrap();
    for sub in ["check", "migrate"] {
        // An expansion of 10^9 nodes would take minutes and gigabytes: a hang here, not a pass.
        let o = ferrolb(&[sub, "--only-data", file.to_str().unwrap()], &[]);
        assert_eq!(o.status.code(), Some(1), "{sub}: {}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
        let all = stdout(&o) + &String::from_utf8_lossy(&o.stderr);
        assert!(all.contains("cannot unmarshal !!seq into string"), "{sub}: v0.9's text: {all}");
    }
    // An alias inside its own anchor: an error, not a loop.
    std::fs::write(&file, "address-pools:\n- &p\n  name: a\n  protocol: layer2\n  addresses: [*p]\n").unwrap();
    let o = ferrolb(&["check", "--only-data", file.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("cannot unmarshal !!map into string"), "{}", stdout(&o));
    let _ = std::fs::remove_file(&file);
}

#[test]
fn check_exits_2_on_unreadable_input_or_no_configmap() {
    let o = ferrolb(&["check", "does/not/exist.yaml"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read does/not/exist.yaml"));
    let o = ferrolb(&["check", "--config", "other", "examples/layer2.yaml"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no ConfigMap named \"other\""));
}

#[test]
fn controller_accepts_go_flag_spellings() {
    for args in [&["controller", "-port=7473"][..], &["controller", "--port", "7473"], &["controller", "-port", "7473"], &["controller", "--port=7473"]] {
        let o = ferrolb(args, &[]);
        assert_eq!(startup(&o)["port"], 7473, "{args:?}");
    }
    let o = ferrolb(&["controller", "-config", "cfg2"], &[]);
    assert_eq!(startup(&o)["port"], 7472, "default port");
    assert_eq!(startup(&o)["configmap"], "cfg2");
}

#[test]
fn speaker_env_vars_are_defaults_and_an_explicit_flag_wins() {
    let env = [("METALLB_NODE_NAME", "node-a"), ("METALLB_HOST", "192.0.2.10")];
    let o = ferrolb(&["speaker"], &env);
    let s = startup(&o);
    assert_eq!((s["node"].as_str(), s["host"].as_str(), s["port"].as_i64()), (Some("node-a"), Some("192.0.2.10"), Some(80)));
    let o = ferrolb(&["speaker", "--node-name=node-b", "-host", "", "--port=7472"], &env);
    let s = startup(&o);
    assert_eq!((s["node"].as_str(), s["host"].as_str(), s["port"].as_i64()), (Some("node-b"), Some(""), Some(7472)));
}

#[test]
fn speaker_without_a_node_name_exits_1_with_v0_9_s_log_line() {
    let o = ferrolb(&["speaker", "--port=7472"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let last: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(last["op"], "startup");
    assert_eq!(last["error"], "must specify --node-name or METALLB_NODE_NAME");
    assert_eq!(last["msg"], "missing configuration");
}

#[test]
fn an_unknown_flag_exits_2_with_usage() {
    for args in [&["controller", "--no-such-flag"][..], &["speaker", "-bogus=1"], &["controller", "-port"]] {
        let o = ferrolb(args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("Usage"), "{args:?}");
    }
}
