//! Handling the ConfigMap key of the work queue (spec §3.1, shared by both daemons), pure.
//!
//! v0.9: a deleted ConfigMap marks the config stale and asks the daemon's `SetConfig(nil)`,
//! which fails, so the key is retried forever (the old config stays). A payload that does not
//! parse is logged `configStale`, the stale gauge is set, and the key is *not* retried (the
//! object has to change). A parsed config the daemon rejects is handled the same way — and
//! v0.9 logs the nil parse error there, so that line's `error` is `null`. An accepted config
//! sets `config_loaded_bool` (never reset) and clears `config_stale_bool`.
//!
//! Beyond v0.9 (documented in docs/differences.md): the outcome also names an Event for the
//! ConfigMap itself — Warning `ConfigStale` with the exact error text, or Normal
//! `ConfigLoaded` — so `kubectl describe configmap` shows why a config is not in force.
//! [`ConfigEventFilter`] drops the `ConfigLoaded` of a process's first, clean load: a restarted
//! daemon (or a swapped-in one, which must write nothing) has nothing new to say about a config
//! that was already in force; after a stale outcome, or on any later reload, it is recorded.

use crate::config::{self, Config};
use crate::logging::Field;

use super::SyncState;

/// One log line's fields.
pub type LogLine = Vec<(&'static str, Field)>;

/// The daemon's `SetConfig`: accepts or rejects a config (`None` = the ConfigMap is gone).
pub trait ApplyConfig {
    /// Ok(state) when applied; Err(text) when rejected. Logs go into `logs`.
    fn apply(&mut self, cfg: Option<Config>, logs: &mut Vec<LogLine>) -> Result<SyncState, String>;
}

/// The Event ferrolb records on the ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigEvent {
    /// Warning `ConfigStale`: the text of the parse error or rejection.
    Stale(String),
    /// Normal `ConfigLoaded`.
    Loaded,
}

/// What to do after the ConfigMap key was processed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigOutcome {
    /// The queue action.
    pub state: SyncState,
    /// New value of `metallb_k8s_client_config_stale_bool`, if it changes.
    pub stale: Option<bool>,
    /// Whether `metallb_k8s_client_config_loaded_bool` becomes 1.
    pub loaded: bool,
    /// Log lines (the shell adds `configmap=<ns/name>` context).
    pub logs: Vec<LogLine>,
    /// The Event for the ConfigMap, if any.
    pub event: Option<ConfigEvent>,
}

/// Processes the ConfigMap: `data` is `None` when the ConfigMap does not exist, else its
/// `data.config` (a missing key is the empty payload, a valid empty config).
pub fn on_configmap(data: Option<&str>, daemon: &mut dyn ApplyConfig) -> ConfigOutcome {
    let mut out = ConfigOutcome { state: SyncState::Success, stale: None, loaded: false, logs: vec![], event: None };
    let Some(text) = data else {
        out.stale = Some(true);
        out.state = match daemon.apply(None, &mut out.logs) {
            Ok(s) => s,
            Err(_) => SyncState::Error,
        };
        return out;
    };
    let stale = |out: &mut ConfigOutcome, error: Field, text: String| {
        out.logs.push(vec![
            ("event", Field::from("configStale")),
            ("error", error),
            ("msg", Field::from("config (re)load failed, config marked stale")),
        ]);
        out.stale = Some(true);
        out.event = Some(ConfigEvent::Stale(text));
        out.state = SyncState::Success;
    };
    match config::parse(text) {
        Err(e) => stale(&mut out, Field::from(e.message.as_str()), e.message.clone()),
        Ok(cfg) => match daemon.apply(Some(cfg), &mut out.logs) {
            Err(rejection) => stale(&mut out, Field::Null, rejection),
            Ok(state) => {
                out.loaded = true;
                out.stale = Some(false);
                out.logs.push(vec![("event", Field::from("configLoaded")), ("msg", Field::from("config (re)loaded"))]);
                out.event = Some(ConfigEvent::Loaded);
                out.state = state;
            }
        },
    }
    out
}

/// Decides which [`ConfigEvent`]s are recorded: all `ConfigStale`s, and every `ConfigLoaded`
/// except the one of the process's first load when nothing was stale before it.
#[derive(Debug, Default)]
pub struct ConfigEventFilter {
    seen: bool,
}

impl ConfigEventFilter {
    /// The Event to record for this outcome's `event`, if any.
    pub fn filter(&mut self, event: Option<ConfigEvent>) -> Option<ConfigEvent> {
        let first = !self.seen;
        self.seen |= event.is_some();
        match event {
            Some(ConfigEvent::Loaded) if first => None,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daemon that accepts configs with at most `max_pools` pools.
    struct Fake {
        max_pools: usize,
        applied: Vec<Option<usize>>,
    }

    impl ApplyConfig for Fake {
        fn apply(&mut self, cfg: Option<Config>, logs: &mut Vec<LogLine>) -> Result<SyncState, String> {
            self.applied.push(cfg.as_ref().map(|c| c.pools.len()));
            match cfg {
                None => Err("no MetalLB configuration in cluster".into()),
                Some(c) if c.pools.len() > self.max_pools => {
                    logs.push(vec![("op", Field::from("setConfig"))]);
                    Err("too many".into())
                }
                Some(_) => Ok(SyncState::ReprocessAll),
            }
        }
    }

    #[test]
    fn a_deleted_configmap_is_stale_and_retried() {
        let mut d = Fake { max_pools: 1, applied: vec![] };
        let out = on_configmap(None, &mut d);
        assert_eq!((out.state, out.stale, out.loaded), (SyncState::Error, Some(true), false));
        assert_eq!(d.applied, vec![None]);
    }

    #[test]
    fn a_parse_error_is_stale_not_retried_and_names_the_error() {
        let mut d = Fake { max_pools: 1, applied: vec![] };
        let out = on_configmap(Some("address-pools: [{name: a, protcol: layer2}]"), &mut d);
        assert_eq!((out.state, out.stale), (SyncState::Success, Some(true)));
        let text = "could not parse config: yaml: unmarshal errors:\n  line 1: field protcol not found in type config.addressPool";
        assert_eq!(out.event, Some(ConfigEvent::Stale(text.into())));
        assert_eq!(out.logs[0][1], ("error", Field::from(text)));
        assert!(d.applied.is_empty(), "SetConfig is not called");
    }

    #[test]
    fn a_rejected_config_logs_a_null_error_like_v0_9() {
        let mut d = Fake { max_pools: 0, applied: vec![] };
        let out = on_configmap(Some("address-pools: [{name: a, protocol: layer2, addresses: [192.0.2.0/24]}]"), &mut d);
        assert_eq!((out.state, out.stale, out.loaded), (SyncState::Success, Some(true), false));
        assert_eq!(out.logs[1][1], ("error", Field::Null));
        assert_eq!(out.event, Some(ConfigEvent::Stale("too many".into())));
    }

    #[test]
    fn an_accepted_config_is_loaded_and_a_missing_key_is_an_empty_config() {
        let mut d = Fake { max_pools: 1, applied: vec![] };
        let out = on_configmap(Some(""), &mut d);
        assert_eq!((out.state, out.stale, out.loaded), (SyncState::ReprocessAll, Some(false), true));
        assert_eq!(out.event, Some(ConfigEvent::Loaded));
        assert_eq!(d.applied, vec![Some(0)]);
    }

    #[test]
    fn the_first_clean_load_records_no_event_later_ones_do() {
        let mut f = ConfigEventFilter::default();
        assert_eq!(f.filter(None), None);
        assert_eq!(f.filter(Some(ConfigEvent::Loaded)), None, "startup load: nothing new to say");
        assert_eq!(f.filter(Some(ConfigEvent::Loaded)), Some(ConfigEvent::Loaded));
        let mut f = ConfigEventFilter::default();
        assert_eq!(f.filter(Some(ConfigEvent::Stale("x".into()))), Some(ConfigEvent::Stale("x".into())));
        assert_eq!(f.filter(Some(ConfigEvent::Loaded)), Some(ConfigEvent::Loaded), "recovery is recorded");
    }
}
