//! The daemons' flags and environment (spec §1.2, §1.3), exactly as v0.9 reads them.
//!
//! Each speaker env var only supplies the *default* of its flag; an explicit flag wins, even
//! when empty. Ports are Go `int`s parsed with `strconv.ParseInt(s, 0, 64)` (so `0x1d30` works);
//! an invalid one is rejected at parse time like Go's `invalid value ... for flag -port`.

use clap::Args;

use crate::config::yaml::golang::parse_int64;

fn go_int(s: &str) -> Result<i64, String> {
    parse_int64(s).map_err(|_| format!("invalid value {s:?}: parse error"))
}

/// `ferrolb controller` flags (v0.9 `controller/main.go`, plus the documented additions).
#[derive(Debug, Clone, PartialEq, Args)]
pub struct ControllerArgs {
    /// HTTP listening port for Prometheus metrics
    #[arg(long, default_value = "7472", value_parser = go_int)]
    pub port: i64,
    /// Kubernetes ConfigMap containing MetalLB's configuration
    #[arg(long, default_value = "config")]
    pub config: String,
    /// Client-side rate limit on API requests per second (new in ferrolb; v0.9 used 5)
    #[arg(long = "kube-api-qps", default_value = "500")]
    pub kube_api_qps: f32,
    /// Client-side burst of API requests (new in ferrolb; v0.9 used 10)
    #[arg(long = "kube-api-burst", default_value = "1000")]
    pub kube_api_burst: u32,
    /// Arguments after the flags; ignored, as Go's flag package leaves them to the program.
    #[arg(last = true, hide = true)]
    pub rest: Vec<String>,
}

impl ControllerArgs {
    /// Flags that take a value, for [`super::goflag::normalize`].
    pub const VALUE_FLAGS: &'static [&'static str] = &["port", "config", "kube-api-qps", "kube-api-burst"];
}

/// `ferrolb speaker` flags as given on the command line; [`SpeakerArgs::resolve`] applies the
/// environment defaults.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct SpeakerArgs {
    /// Kubernetes ConfigMap containing MetalLB's configuration
    #[arg(long, default_value = "config")]
    pub config: String,
    /// HTTP host address (default $METALLB_HOST)
    #[arg(long)]
    pub host: Option<String>,
    /// HTTP listening port
    #[arg(long, default_value = "80", value_parser = go_int)]
    pub port: i64,
    /// Bind addr for MemberList (fast dead node detection) (default $METALLB_ML_BIND_ADDR)
    #[arg(long = "ml-bindaddr")]
    pub ml_bindaddr: Option<String>,
    /// Bind port for MemberList, v0.9.4+ (default $METALLB_ML_BIND_PORT, else 7946)
    #[arg(long = "ml-bindport")]
    pub ml_bindport: Option<String>,
    /// Labels to match the speakers (for MemberList) (default $METALLB_ML_LABELS)
    #[arg(long = "ml-labels")]
    pub ml_labels: Option<String>,
    /// Namespace of the speakers (for MemberList) (default $METALLB_ML_NAMESPACE)
    #[arg(long = "ml-namespace")]
    pub ml_namespace: Option<String>,
    /// Secret key for MemberList (default $METALLB_ML_SECRET_KEY)
    #[arg(long = "ml-secret-key")]
    pub ml_secret_key: Option<String>,
    /// Name of this Kubernetes node (spec.nodeName) (default $METALLB_NODE_NAME)
    #[arg(long = "node-name")]
    pub node_name: Option<String>,
    /// Arguments after the flags; ignored.
    #[arg(last = true, hide = true)]
    pub rest: Vec<String>,
}

impl SpeakerArgs {
    /// Flags that take a value, for [`super::goflag::normalize`].
    pub const VALUE_FLAGS: &'static [&'static str] = &[
        "config", "host", "port", "ml-bindaddr", "ml-bindport", "ml-labels", "ml-namespace", "ml-secret-key", "node-name",
    ];

    /// The effective settings: each unset flag takes its env var (`env` is `std::env::var`
    /// in production; tests pass a map).
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> SpeakerSettings {
        let pick = |flag: &Option<String>, var: &str| flag.clone().unwrap_or_else(|| env(var).unwrap_or_default());
        SpeakerSettings {
            config: self.config.clone(),
            host: pick(&self.host, "METALLB_HOST"),
            port: self.port,
            ml_bindaddr: pick(&self.ml_bindaddr, "METALLB_ML_BIND_ADDR"),
            ml_bindport: pick(&self.ml_bindport, "METALLB_ML_BIND_PORT"),
            ml_labels: pick(&self.ml_labels, "METALLB_ML_LABELS"),
            ml_namespace: pick(&self.ml_namespace, "METALLB_ML_NAMESPACE"),
            ml_secret_key: pick(&self.ml_secret_key, "METALLB_ML_SECRET_KEY"),
            node_name: pick(&self.node_name, "METALLB_NODE_NAME"),
            ml_fast_detection_off: !fast_detection(env("FERROLB_ML_FAST_DETECTION").as_deref()),
        }
    }
}

/// `FERROLB_ML_FAST_DETECTION`: ferrolb's watch connections and heartbeats between ferrolb
/// speakers (`memberlist::heartbeat`) are on unless it says `false`, `0` or `off`, Go's
/// `strconv.ParseBool` falsy spellings included.
fn fast_detection(v: Option<&str>) -> bool {
    !matches!(v.map(str::trim), Some("false" | "0" | "off" | "f" | "F" | "FALSE" | "False" | "OFF" | "Off"))
}

/// The speaker's effective settings after env defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpeakerSettings {
    pub config: String,
    pub host: String,
    pub port: i64,
    pub ml_bindaddr: String,
    pub ml_bindport: String,
    pub ml_labels: String,
    pub ml_namespace: String,
    pub ml_secret_key: String,
    pub node_name: String,
    /// `FERROLB_ML_FAST_DETECTION` said off (ferrolb only; default: on).
    pub ml_fast_detection_off: bool,
}

impl SpeakerSettings {
    /// Memberlist is on iff bind address, labels and namespace are all set (spec §4.3).
    pub fn memberlist_enabled(&self) -> bool {
        !self.ml_bindaddr.is_empty() && !self.ml_labels.is_empty() && !self.ml_namespace.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_detection_is_on_unless_the_env_says_off_in_a_go_spelling() {
        for off in ["false", "0", "off", "F", "FALSE", " false "] {
            assert!(!fast_detection(Some(off)), "{off:?}");
        }
        for on in [None, Some(""), Some("true"), Some("1"), Some("yes")] {
            assert!(fast_detection(on), "{on:?}");
        }
    }
}
