//! Label-selector rules that apimachinery applies when MetalLB turns a CR selector into a
//! selector (`LabelSelectorAsSelector`), and the duplicate checks current MetalLB adds.

use super::objects::{Expression, Selector};

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
}

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        })
}

/// A label key: `[prefix/]name`, the prefix a DNS-1123 subdomain, the name 1-63 characters.
pub fn check_key(k: &str) -> Result<(), String> {
    let ok = match k.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_name_part(name),
        None => is_name_part(k),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid label key {k:?}: must be an optional DNS subdomain prefix and '/', then 1-63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"
        ))
    }
}

/// A label value: empty, or 1-63 characters like a key's name part.
pub fn check_value(k: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || is_name_part(v) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value: {v:?}: at key: {k:?}: must be 63 characters or less, alphanumeric, '-', '_' or '.', starting and ending with an alphanumeric character"
        ))
    }
}

fn check_expression(e: &Expression) -> Result<(), String> {
    check_key(&e.key)?;
    match e.operator.as_str() {
        "In" | "NotIn" => {
            if e.values.is_empty() {
                return Err("for 'in', 'notin' operators, values set can't be empty".into());
            }
        }
        "Exists" | "DoesNotExist" => {
            if !e.values.is_empty() {
                return Err("values set must be empty for exists and does not exist".into());
            }
        }
        op => return Err(format!("{op:?} is not a valid label selector operator")),
    }
    for v in &e.values {
        check_value(&e.key, v)?;
    }
    Ok(())
}

/// The checks on a list of selectors (`what` names the field, e.g. `nodeSelectors`).
pub fn check(selectors: &[Selector], what: &str) -> Result<(), String> {
    for (i, s) in selectors.iter().enumerate() {
        for (j, e) in s.match_expressions.iter().enumerate() {
            for (x, v) in e.values.iter().enumerate() {
                if e.values[x + 1..].contains(v) {
                    return Err(format!(
                        "duplicate definition of match expression value in label selector {v:?}"
                    ));
                }
            }
            if s.match_expressions[j + 1..].contains(e) {
                return Err(format!(
                    "duplicate definition of match expressions {{key: {:?}, operator: {}, values: {:?}}}",
                    e.key, e.operator, e.values
                ));
            }
        }
        if let Some(k) = selectors[i + 1..].iter().position(|o| o == s) {
            return Err(format!(
                "duplicate definition of {what}: selector #{} equals selector #{}",
                i + k + 2,
                i + 1
            ));
        }
        for (k, v) in &s.match_labels {
            check_key(k)?;
            check_value(k, v)?;
        }
        for e in &s.match_expressions {
            check_expression(e)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(key: &str, op: &str, values: &[&str]) -> Expression {
        Expression {
            key: key.into(),
            operator: op.into(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn valid_selectors_pass() {
        let s = Selector {
            match_labels: [("kubernetes.io/hostname".to_string(), "prod-01".to_string())].into(),
            match_expressions: vec![
                expr("kubernetes.io/arch", "In", &["amd64", "arm"]),
                expr("x", "Exists", &[]),
            ],
        };
        assert_eq!(check(&[s, Selector::default()], "nodeSelectors"), Ok(()));
    }

    #[test]
    fn bad_operators_and_value_sets_are_refused() {
        let one = |e| {
            check(
                &[Selector {
                    match_expressions: vec![e],
                    ..Default::default()
                }],
                "nodeSelectors",
            )
        };
        assert_eq!(
            one(expr("k", "in", &["a"])).unwrap_err(),
            "\"in\" is not a valid label selector operator"
        );
        assert_eq!(
            one(expr("k", "In", &[])).unwrap_err(),
            "for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            one(expr("k", "Exists", &["a"])).unwrap_err(),
            "values set must be empty for exists and does not exist"
        );
        assert!(
            one(expr("", "Exists", &[]))
                .unwrap_err()
                .starts_with("invalid label key \"\"")
        );
        assert!(
            one(expr("k", "In", &["-a"]))
                .unwrap_err()
                .starts_with("invalid label value: \"-a\"")
        );
    }

    #[test]
    fn duplicates_are_refused() {
        let dup_values = Selector {
            match_expressions: vec![expr("k", "In", &["a", "a"])],
            ..Default::default()
        };
        assert!(
            check(&[dup_values], "nodeSelectors")
                .unwrap_err()
                .contains("match expression value")
        );
        let e = expr("k", "In", &["a"]);
        let dup_exprs = Selector {
            match_expressions: vec![e.clone(), e],
            ..Default::default()
        };
        assert!(
            check(&[dup_exprs], "nodeSelectors")
                .unwrap_err()
                .contains("match expressions")
        );
        let s = Selector::default();
        assert_eq!(
            check(&[s.clone(), s], "nodeSelectors").unwrap_err(),
            "duplicate definition of nodeSelectors: selector #2 equals selector #1"
        );
    }
}
