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
