//! Finding the `config` payload of the MetalLB ConfigMap in a Kubernetes manifest (one
//! document or a stream, or a `kind: List`), and mapping positions inside the payload back to
//! the manifest's lines, so that `ferrolb check` can point at the offending line of the file
//! the user actually edits.

use super::yaml::Mark;
use super::yaml::parser::{Document, Kind, NodeId, Style, parse_all_documents};

/// The ConfigMap found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// `metadata.name`
    pub name: String,
    /// `metadata.namespace`, if the manifest sets one.
    pub namespace: Option<String>,
    /// `data.config`; empty when the key is missing (v0.9 then runs with an empty config).
    pub text: String,
    /// Whether `data.config` was present at all.
    pub has_config_key: bool,
    origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    /// A literal block scalar: payload line i is file line `first_line + i`, shifted by `indent`.
    Block { first_line: usize, indent: usize },
    /// A one-line plain or quoted scalar starting at this mark.
    Inline { mark: Mark, offset: usize },
    /// Anything else: positions are not mapped.
    Unmapped,
}

/// Why no payload could be taken from the manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The manifest is not YAML.
    #[error("the manifest is not valid YAML: {0}")]
    Syntax(String),
    /// No ConfigMap of that name.
    #[error("no ConfigMap named {name:?} in the manifest{}", found_list(.found))]
    NotFound {
        /// The name looked for.
        name: String,
        /// The ConfigMaps that were there.
        found: Vec<String>,
    },
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() { " (it has no ConfigMap at all)".into() } else { format!(" (ConfigMaps found: {})", found.join(", ")) }
}

impl Payload {
    /// Where payload position `m` is in the manifest (0-based), when it can be known.
    pub fn file_position(&self, m: Mark) -> Option<Mark> {
        match self.origin {
            Origin::Block { first_line, indent } => Some(Mark { line: first_line + m.line, column: indent + m.column }),
            Origin::Inline { mark, offset } if m.line == 0 => Some(Mark { line: mark.line, column: mark.column + offset + m.column }),
            _ => None,
        }
    }
}

struct View<'a> {
    doc: &'a Document,
}

impl<'a> View<'a> {
    fn resolve(&self, mut n: NodeId) -> NodeId {
        while let Kind::Alias(t) = self.doc.nodes[n].kind {
            n = t;
        }
        n
    }
    fn get(&self, n: NodeId, key: &str) -> Option<NodeId> {
        let Kind::Mapping(c) = &self.doc.nodes[self.resolve(n)].kind else { return None };
        c.chunks(2).find(|p| self.doc.nodes[self.resolve(p[0])].value == key).map(|p| self.resolve(p[1]))
    }
    fn str(&self, n: Option<NodeId>) -> Option<&'a str> {
        let n = self.resolve(n?);
        matches!(self.doc.nodes[n].kind, Kind::Scalar).then(|| self.doc.nodes[n].value.as_str())
    }
    fn objects(&self, n: NodeId, out: &mut Vec<NodeId>) {
        if self.str(self.get(n, "kind")) == Some("List") {
            if let Some(items) = self.get(n, "items")
                && let Kind::Sequence(c) = &self.doc.nodes[items].kind {
                    for &i in c {
                        self.objects(self.resolve(i), out);
                    }
                }
        } else {
            out.push(n);
        }
    }
}

/// Finds the ConfigMap named `name` in `manifest` and takes its `data.config`.
pub fn find_configmap(manifest: &str, name: &str) -> Result<Payload, ManifestError> {
    let docs = parse_all_documents(manifest.as_bytes()).map_err(|e| ManifestError::Syntax(e.message))?;
    let lines: Vec<&str> = manifest.lines().collect();
    let mut found = Vec::new();
    for doc in &docs {
        let Some(root) = doc.root else { continue };
        let v = View { doc };
        let mut objs = Vec::new();
        v.objects(v.resolve(root), &mut objs);
        for obj in objs {
            if v.str(v.get(obj, "kind")) != Some("ConfigMap") {
                continue;
            }
            let meta = v.get(obj, "metadata");
            let cm_name = meta.and_then(|m| v.str(v.get(m, "name"))).unwrap_or("").to_string();
            if cm_name != name {
                found.push(cm_name);
                continue;
            }
            let namespace = meta.and_then(|m| v.str(v.get(m, "namespace"))).map(str::to_string);
            let config = v.get(obj, "data").and_then(|d| v.get(d, "config"));
            let Some(node) = config.map(|c| &doc.nodes[c]) else {
                return Ok(Payload { name: cm_name, namespace, text: String::new(), has_config_key: false, origin: Origin::Unmapped });
            };
            let origin = match node.style {
                Style::Literal => {
                    let first_line = node.mark.line + 1;
                    let indent = lines
                        .iter()
                        .skip(first_line)
                        .find(|l| !l.trim().is_empty())
                        .map_or(0, |l| l.len() - l.trim_start_matches(' ').len());
                    Origin::Block { first_line, indent }
                }
                Style::Plain | Style::Quoted if !node.value.contains('\n') => {
                    Origin::Inline { mark: node.mark, offset: usize::from(node.style == Style::Quoted) }
                }
                _ => Origin::Unmapped,
            };
            return Ok(Payload { name: cm_name, namespace, text: node.value.clone(), has_config_key: true, origin });
        }
    }
    Err(ManifestError::NotFound { name: name.to_string(), found })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: metallb-system\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: metallb-system\n  name: config\ndata:\n  config: |\n    address-pools:\n    - name: default\n      protcol: layer2\n";

    #[test]
    fn finds_the_named_configmap_in_a_stream_and_maps_lines() {
        let p = find_configmap(MANIFEST, "config").unwrap();
        assert_eq!(p.namespace.as_deref(), Some("metallb-system"));
        assert!(p.text.starts_with("address-pools:\n"));
        // payload line 2 (0-based), column 2 -> file line 14, column 6
        assert_eq!(p.file_position(Mark { line: 2, column: 2 }), Some(Mark { line: 14, column: 6 }));
    }

    #[test]
    fn a_missing_configmap_names_what_was_found() {
        let e = find_configmap(MANIFEST, "other").unwrap_err();
        assert_eq!(e.to_string(), "no ConfigMap named \"other\" in the manifest (ConfigMaps found: config)");
    }

    #[test]
    fn a_list_is_searched_and_a_missing_key_is_an_empty_config() {
        let list = "kind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: config}\n  data: {}\n";
        let p = find_configmap(list, "config").unwrap();
        assert_eq!((p.text.as_str(), p.has_config_key), ("", false));
    }
}
