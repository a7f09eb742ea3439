//! Go `flag` package semantics for the daemons' arguments.
//!
//! The v0.9 manifests pass `--port=7472 --config=config`; users also write `-port=7472`,
//! `-port 7472` or `--port 7472`, all of which Go's `flag` accepts. [`normalize`] rewrites such
//! an argument list into clap's `--name=value` form so clap can parse it, and applies Go's
//! rules: parsing stops at the first non-flag argument or at `--` (the rest are positional and
//! ignored by the daemons, as in v0.9); every daemon flag takes a value; a flag without one is
//! Go's error `flag needs an argument: -port`.

/// Rewrites Go-style daemon arguments (`value_flags` are the flags taking a value) into
/// clap's `--flag=value` form. Unknown flags are passed through for clap to reject (exit 2).
pub fn normalize(args: &[String], value_flags: &[&str]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if arg.len() < 2 || !arg.starts_with('-') {
            positional.push(arg.clone());
            positional.extend(args[i..].iter().cloned());
            break;
        }
        let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if !value_flags.contains(&name) {
            // -h, -help and unknown flags: clap prints help (exit 0) or usage (exit 2).
            out.push(match &value {
                Some(v) => format!("--{name}={v}"),
                None => format!("--{name}"),
            });
            continue;
        }
        let value = match value {
            Some(v) => v,
            None => {
                let Some(v) = args.get(i) else {
                    return Err(format!("flag needs an argument: -{name}"));
                };
                i += 1;
                v.clone()
            }
        };
        out.push(format!("--{name}={value}"));
    }
    if !positional.is_empty() {
        out.push("--".into());
        out.extend(positional);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(args: &[&str]) -> Result<Vec<String>, String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        normalize(&v, &["port", "config"])
    }

    #[test]
    fn all_go_spellings_become_double_dash_equals() {
        assert_eq!(n(&["-port=7472", "--config", "cfg"]).unwrap(), vec!["--port=7472", "--config=cfg"]);
        assert_eq!(n(&["-port", "7472", "--config=x"]).unwrap(), vec!["--port=7472", "--config=x"]);
    }

    #[test]
    fn parsing_stops_at_the_first_non_flag() {
        assert_eq!(n(&["extra", "-port=1"]).unwrap(), vec!["--", "extra", "-port=1"]);
        assert_eq!(n(&["-port=1", "--", "-config=x"]).unwrap(), vec!["--port=1", "--", "-config=x"]);
    }

    #[test]
    fn missing_value_is_go_s_error_and_unknown_flags_pass_through() {
        assert_eq!(n(&["-port"]).unwrap_err(), "flag needs an argument: -port");
        assert_eq!(n(&["-nope=1"]).unwrap(), vec!["--nope=1"]);
    }
}
