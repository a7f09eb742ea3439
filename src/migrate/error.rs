//! Why a migration did not produce output.

/// A migration failure. Every variant aborts the whole conversion: no partial output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    /// The input is not what was asked for (not YAML, no ConfigMap of that name, no data).
    #[error("{0}")]
    Input(String),
    /// Strict mode: MetalLB v0.9 refuses this payload. The field is v0.9's error text.
    #[error(
        "MetalLB v0.9 refuses this config: {0}\n(the cluster cannot be running it; fix it, or pass --lenient to convert it the way upstream's configmaptocrs does)"
    )]
    RejectedByV09(String),
    /// Lenient mode: the payload does not decode even leniently.
    #[error("could not decode config: {0}")]
    Decode(String),
    /// The payload cannot be expressed as CRDs (a name that cannot convert, a bad hold time).
    #[error("{0}")]
    Convert(String),
    /// The generated objects break the rules of current MetalLB (spec §9.4).
    #[error("the generated resources would be refused by MetalLB >= v0.13: {0}")]
    Invalid(String),
}
