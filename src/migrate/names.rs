//! Name conversion for pools and BFD profiles (spec §9.2), plus the check upstream lacks: the
//! converted name must be one the API server accepts for a custom resource.

/// `^[a-z][-a-z0-9]{0,61}[a-z0-9]$`: names that upstream keeps unchanged.
fn is_kept(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b[1..b.len() - 1]
            .iter()
            .all(|&c| c == b'-' || c.is_ascii_lowercase() || c.is_ascii_digit())
        && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
}

/// Upstream's conversion: kept as is when it matches the regex above; otherwise truncated to
/// 63 bytes, lower-cased, `_` → `-`, and everything before the first `[a-z]` dropped. `None`
/// when no letter remains (upstream: `failed to make <kind> K8S compatible: <name>`).
pub fn convert(name: &str) -> Option<String> {
    if is_kept(name) {
        return Some(name.to_owned());
    }
    // Go cuts at byte 63; we cut at the last char boundary at or below it so the text stays
    // UTF-8. Only non-ASCII names differ, and those are refused as object names anyway.
    let mut end = name.len().min(63);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let lowered = name[..end].to_lowercase().replace('_', "-");
    let first = lowered.find(|c: char| c.is_ascii_lowercase())?;
    Some(lowered[first..].to_owned())
}

/// Whether `name` is a valid custom-resource name (a DNS-1123 subdomain: at most 253
/// characters, dot-separated labels of `[a-z0-9]` and inner `-`).
pub fn is_valid_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|&c| c == b'-' || c.is_ascii_lowercase() || c.is_ascii_digit())
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h4_names_convert_as_upstream() {
        assert_eq!(
            convert("01-numbered-addresspool").as_deref(),
            Some("numbered-addresspool")
        );
        assert_eq!(
            convert("Capitalized-AddressPool").as_deref(),
            Some("capitalized-addresspool")
        );
        assert_eq!(
            convert("underscored_bfd_profile").as_deref(),
            Some("underscored-bfd-profile")
        );
        let long = "tooLongBFDProfileName01-tooLongBFDProfileName02-tooLongBFDProfileName03-tooLongBFDProfileName04";
        let got = convert(long).unwrap();
        assert_eq!(
            got,
            "toolongbfdprofilename01-toolongbfdprofilename02-toolongbfdprofi"
        );
        assert_eq!(got.len(), 63);
    }

    #[test]
    fn valid_names_are_kept() {
        assert_eq!(convert("my-ip-space").as_deref(), Some("my-ip-space"));
        assert_eq!(convert("ab").as_deref(), Some("ab"));
    }

    #[test]
    fn a_name_without_letters_cannot_convert() {
        assert_eq!(convert("0123"), None);
        assert_eq!(convert(""), None);
        assert_eq!(convert("_-9"), None);
    }

    #[test]
    fn conversion_keeps_dots_and_trailing_dashes_which_are_then_refused() {
        assert_eq!(convert("Pool_").as_deref(), Some("pool-"));
        assert!(!is_valid_object_name("pool-"));
        assert_eq!(convert("a.b").as_deref(), Some("a.b"));
        assert!(is_valid_object_name("a.b"));
        assert_eq!(convert("x").as_deref(), Some("x"));
        assert!(is_valid_object_name("x"));
        assert_eq!(convert("My Pool").as_deref(), Some("my pool"));
        assert!(!is_valid_object_name("my pool"));
    }
}
