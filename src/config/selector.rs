//! Kubernetes label selectors as v0.9 builds them for `node-selectors`.

use std::collections::BTreeMap;

/// A label-selector operator (`metav1.LabelSelectorOperator` as converted by apimachinery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operator {
    /// `In`
    In,
    /// `NotIn`
    NotIn,
    /// `Exists`
    Exists,
    /// `DoesNotExist`
    DoesNotExist,
    /// `match-labels` entries become equality requirements.
    Equals,
}

/// One requirement: `key op values`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: Operator,
    /// The values, sorted (apimachinery sorts them).
    pub values: Vec<String>,
}

/// A selector: the AND of its requirements, sorted by key. Empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    /// The requirements, sorted by key as apimachinery does.
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// The selector that matches every node.
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    /// Whether a node with these labels is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| {
            let v = labels.get(&r.key);
            match r.operator {
                Operator::In | Operator::Equals => v.is_some_and(|v| r.values.contains(v)),
                Operator::NotIn => v.is_none_or(|v| !r.values.contains(v)),
                Operator::Exists => v.is_some(),
                Operator::DoesNotExist => v.is_none(),
            }
        })
    }
}

impl std::fmt::Display for Requirement {
    /// apimachinery's `Requirement.String()`: `!k`, `k`, `k=v`, `k in (a,b)`, `k notin (a,b)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values = self.values.join(",");
        match self.operator {
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::Equals => write!(f, "{}={}", self.key, values),
            Operator::In => write!(f, "{} in ({})", self.key, values),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, values),
        }
    }
}

impl std::fmt::Display for LabelSelector {
    /// apimachinery's selector string: requirements joined by `,`; empty for everything.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// v0.9's `parseNodeSelector`: `metav1.LabelSelectorAsSelector` over the raw selector, with
/// apimachinery's validation texts (as vendored by the reference build). Match labels are
/// checked in key order (Go iterates its map randomly).
pub(crate) fn parse_node_selector(
    match_labels: &[(String, String)],
    match_expressions: &[(String, String, Vec<String>)],
) -> Result<LabelSelector, String> {
    if match_labels.is_empty() && match_expressions.is_empty() {
        return Ok(LabelSelector::everything());
    }
    let mut reqs = Vec::new();
    let mut labels: Vec<&(String, String)> = match_labels.iter().collect();
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in labels {
        reqs.push(new_requirement(k, Operator::Equals, vec![v.clone()])?);
    }
    for (key, op, values) in match_expressions {
        let op = match op.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => return Err(format!("{} is not a valid pod selector operator", crate::config::quote(other))),
        };
        reqs.push(new_requirement(key, op, values.clone())?);
    }
    reqs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(LabelSelector { requirements: reqs })
}

fn new_requirement(key: &str, op: Operator, mut values: Vec<String>) -> Result<Requirement, String> {
    let q = crate::config::quote;
    let errs = qualified_name_errors(key);
    if !errs.is_empty() {
        return Err(format!("invalid label key {}: {}", q(key), errs.join("; ")));
    }
    match op {
        Operator::In | Operator::NotIn if values.is_empty() => {
            return Err("for 'in', 'notin' operators, values set can't be empty".into());
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            return Err("values set must be empty for exists and does not exist".into());
        }
        _ => {}
    }
    for v in &values {
        let errs = label_value_errors(v);
        if !errs.is_empty() {
            return Err(format!("invalid label value: {}: at key: {}: {}", q(v), q(key), errs.join("; ")));
        }
    }
    values.sort();
    values.dedup();
    Ok(Requirement { key: key.to_string(), operator: op, values })
}

const QUALIFIED_NAME_MSG: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

/// apimachinery's `RegexError`, double spaces included.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_alnum(b[0])
        && is_alnum(b[b.len() - 1])
        && b.iter().all(|c| is_alnum(*c) || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty() && ok(&b[0]) && ok(&b[b.len() - 1]) && b.iter().all(|c| ok(c) || *c == b'-')
}

fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !s.split('.').all(is_dns1123_label) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// apimachinery's `IsQualifiedName`.
fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(dns1123_subdomain_errors(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    if !is_qualified_name(name) {
        errs.push(format!(
            "name part {}",
            regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// apimachinery's `IsValidLabelValue`.
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !(value.is_empty() || is_qualified_name(value)) {
        errs.push(regex_error(LABEL_VALUE_MSG, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn selector_string_sorts_by_key_like_apimachinery() {
        let s = parse_node_selector(
            &[("foo".into(), "bar".into())],
            &[("bar".into(), "In".into(), vec!["quux".into()])],
        )
        .unwrap();
        assert_eq!(s.to_string(), "bar in (quux),foo=bar");
    }

    #[test]
    fn any_selector_semantics() {
        let s = parse_node_selector(&[], &[("foo".into(), "In".into(), vec!["bar".into(), "baz".into()])]).unwrap();
        assert!(s.matches(&labels(&[("foo", "baz")])));
        assert!(!s.matches(&labels(&[("foo", "qux")])));
        let s = parse_node_selector(&[], &[("foo".into(), "NotIn".into(), vec!["bar".into()])]).unwrap();
        assert!(s.matches(&labels(&[])));
        let s = parse_node_selector(&[], &[("foo".into(), "DoesNotExist".into(), vec![])]).unwrap();
        assert!(!s.matches(&labels(&[("foo", "")])));
        assert!(LabelSelector::everything().matches(&labels(&[])));
    }

    #[test]
    fn empty_key_error_text_is_apimachinery_s() {
        let e = parse_node_selector(&[], &[("".into(), "In".into(), vec!["foo".into()])]).unwrap_err();
        assert_eq!(
            e,
            "invalid label key \"\": name part must be non-empty; name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
    }

    #[test]
    fn operator_is_checked_before_the_key() {
        let e = parse_node_selector(&[], &[("".into(), "Surrounds".into(), vec![])]).unwrap_err();
        assert_eq!(e, "\"Surrounds\" is not a valid pod selector operator");
    }
}
