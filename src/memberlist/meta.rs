//! What a ferrolb speaker tells its peers about itself in memberlist's node meta.
//!
//! v0.9 speakers create memberlist without a delegate, so their `Meta` is nil; hashicorp/
//! memberlist v0.1.7 carries any meta up to 512 bytes in `alive` and push/pull and never reads
//! it. A ferrolb speaker puts one short ASCII line there, `ferrolb/1 <feature>...`, so other
//! ferrolb speakers know which extensions they may use with it, and Go peers notice nothing.
//!
//! Features (each one a word; unknown words are ignored, so newer speakers can add some):
//! * `watch`: holds a watch connection open on its memberlist TCP port and answers
//!   heartbeat pings ([`super::heartbeat`]): peers may find its death without SWIM's timers.
//!
//! Anything that does not start with `ferrolb/` (nil, Go's meta, garbage) is a peer that gets
//! v0.1.7's protocol only.

/// The prefix of every ferrolb meta, followed by the meta format's version.
const PREFIX: &str = "ferrolb/";
/// The version of this format; a different number is still read, word by word.
const VERSION: u32 = 1;
/// memberlist's `MetaMaxSize`: Go refuses to start a node with a longer meta.
pub const META_MAX_SIZE: usize = 512;

/// One extension a ferrolb speaker supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feature {
    /// Watch connections and heartbeats between ferrolb speakers ([`super::heartbeat`]).
    Watch,
}

impl Feature {
    fn word(self) -> &'static str {
        match self {
            Feature::Watch => "watch",
        }
    }

    fn from_word(w: &str) -> Option<Self> {
        match w {
            "watch" => Some(Feature::Watch),
            _ => None,
        }
    }
}

/// A ferrolb speaker's meta, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeMeta {
    pub version: u32,
    pub features: Vec<Feature>,
}

impl NodeMeta {
    /// The meta this build of ferrolb advertises.
    pub fn ours(features: &[Feature]) -> Self {
        let mut features = features.to_vec();
        features.sort_unstable();
        features.dedup();
        NodeMeta {
            version: VERSION,
            features,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!("{PREFIX}{}", self.version);
        for f in &self.features {
            s.push(' ');
            s.push_str(f.word());
        }
        s.into_bytes()
    }

    /// `None` for anything that is not a ferrolb meta (Go's nil, another program's bytes).
    pub fn parse(meta: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(meta).ok()?;
        let mut words = text.split(' ');
        let version = words.next()?.strip_prefix(PREFIX)?.parse().ok()?;
        let mut features: Vec<Feature> = words.filter_map(Feature::from_word).collect();
        features.sort_unstable();
        features.dedup();
        Some(NodeMeta { version, features })
    }

    pub fn has(&self, f: Feature) -> bool {
        self.features.contains(&f)
    }
}

/// Whether a member's meta (as carried in its `alive`) says it supports `f`.
pub fn supports(meta: Option<&[u8]>, f: Feature) -> bool {
    meta.and_then(NodeMeta::parse).is_some_and(|m| m.has(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ours_is_one_short_ascii_line() {
        let m = NodeMeta::ours(&[Feature::Watch, Feature::Watch]);
        assert_eq!(m.encode(), b"ferrolb/1 watch");
        assert!(m.encode().len() <= META_MAX_SIZE);
        assert_eq!(NodeMeta::parse(&m.encode()), Some(m));
    }

    #[test]
    fn go_speakers_nil_meta_and_foreign_bytes_are_not_ferrolb() {
        assert!(!supports(None, Feature::Watch));
        assert!(!supports(Some(b""), Feature::Watch));
        assert!(!supports(Some(b"watch"), Feature::Watch));
        assert!(!supports(Some(b"ferrolb/x watch"), Feature::Watch));
        assert!(!supports(Some(&[0xff, 0xfe]), Feature::Watch));
    }

    #[test]
    fn a_newer_speaker_with_unknown_words_still_offers_what_we_know() {
        let m = NodeMeta::parse(b"ferrolb/7 shiny watch other").unwrap();
        assert_eq!(m.version, 7);
        assert!(m.has(Feature::Watch));
        assert!(!supports(Some(b"ferrolb/1"), Feature::Watch));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips_what_it_read(b in prop::collection::vec(any::<u8>(), 0..600)) {
            if let Some(m) = NodeMeta::parse(&b) {
                prop_assert_eq!(NodeMeta::parse(&m.encode()), Some(m));
            }
        }
    }
}
