//! The agent's config file: parsed (unknown keys refused: an agent's `"proxys"` must not start
//! an agent with no proxies), then checked ([`AgentConfig::validate`]), naming the field at fault.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

use crate::config::{self, ConfigError};

/// The agent's settings (its JSON config file).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub id: String,
    /// The token of the greeting. `--token`, then `TUNNEL_TOKEN` in the environment, then
    /// `token_file` take precedence over it; one of the four must give it.
    #[serde(default)]
    pub token: String,
    /// A file whose first token line (blank lines and `#` comments skipped) is the token, read
    /// at start and at each reload (SIGHUP): rotate by writing the new token and reloading.
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
    /// Backend id -> the local address serving it.
    pub backends: BTreeMap<String, SocketAddr>,
    /// Proxies to connect to, by address.
    #[serde(default)]
    pub proxies: Vec<SocketAddr>,
    /// Proxies by DNS name (`host:port`): the agent connects to every address a name resolves
    /// to, and looks again every `resolve_every_ms`.
    #[serde(default)]
    pub proxy_names: Vec<String>,
    #[serde(default = "AgentConfig::default_resolve_every_ms")]
    pub resolve_every_ms: u64,
    #[serde(default = "AgentConfig::default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    #[serde(default = "AgentConfig::default_backoff_cap_ms")]
    pub backoff_cap_ms: u64,
    /// A connection (TCP, TLS and the greeting) to a proxy that is not up within this is
    /// abandoned and redialled: a firewall or a dead host drops SYNs silently.
    #[serde(default = "AgentConfig::default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// An HTTP/2 ping to each proxy this often; a connection that does not answer within
    /// `keepalive_timeout_ms` is closed and redialled (a path that died silently).
    #[serde(default = "AgentConfig::default_keepalive_interval_ms")]
    pub keepalive_interval_ms: u64,
    #[serde(default = "AgentConfig::default_keepalive_timeout_ms")]
    pub keepalive_timeout_ms: u64,
    /// On SIGTERM (and for sessions a reload replaces): how long streams in hand may take to
    /// finish after the proxy is told (HTTP/2 GOAWAY) to send no more (default 30 s).
    #[serde(default = "AgentConfig::default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
    /// TLS to the proxies: the agent verifies their certificate (always, when TLS is on).
    #[serde(default)]
    pub tls: Option<crate::tls::ClientTlsFiles>,
    /// Register the backends in Cloud Map while the agent runs.
    #[serde(default)]
    pub cloud_map: Option<crate::cloudmap::Registration>,
    /// Find proxies in Cloud Map too (looked up again every `resolve_every_ms`).
    #[serde(default)]
    pub proxy_discovery: Option<crate::cloudmap::ProxyDiscovery>,
}

impl AgentConfig {
    /// An agent `id` with `token`, serving `backends` (id -> local address) through `proxies`,
    /// with the defaults for everything else (no TLS, no Cloud Map).
    pub fn new(id: &str, token: &str, backends: BTreeMap<String, SocketAddr>, proxies: Vec<SocketAddr>) -> Self {
        AgentConfig {
            id: id.into(),
            token: token.into(),
            token_file: None,
            backends,
            proxies,
            proxy_names: Vec::new(),
            resolve_every_ms: Self::default_resolve_every_ms(),
            backoff_base_ms: Self::default_backoff_base_ms(),
            backoff_cap_ms: Self::default_backoff_cap_ms(),
            connect_timeout_ms: Self::default_connect_timeout_ms(),
            keepalive_interval_ms: Self::default_keepalive_interval_ms(),
            keepalive_timeout_ms: Self::default_keepalive_timeout_ms(),
            drain_timeout_ms: Self::default_drain_timeout_ms(),
            tls: None,
            cloud_map: None,
            proxy_discovery: None,
        }
    }

    fn default_backoff_base_ms() -> u64 {
        100
    }
    fn default_backoff_cap_ms() -> u64 {
        10_000
    }
    fn default_resolve_every_ms() -> u64 {
        30_000
    }
    fn default_connect_timeout_ms() -> u64 {
        5_000
    }
    fn default_keepalive_interval_ms() -> u64 {
        10_000
    }
    fn default_keepalive_timeout_ms() -> u64 {
        5_000
    }
    fn default_drain_timeout_ms() -> u64 {
        30_000
    }
}

impl AgentConfig {
    /// Reads a config file, takes the token from `token` (a `--token` flag or `TUNNEL_TOKEN`),
    /// else from `token_file`, else the file's own, and checks the result: what the binary does
    /// at start and at each reload. Errors name the file or the field.
    pub fn load(path: &std::path::Path, token: Option<String>) -> Result<AgentConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Syntax(format!("{}: {e}", path.display())))?;
        let mut config: AgentConfig = config::parse(&text)?;
        if let Some(t) = token {
            config.token = t;
        } else if let Some(file) = &config.token_file {
            let tokens = config::read_tokens(file).map_err(|e| ConfigError::invalid("token_file", e))?;
            config.token = tokens.into_iter().next().ok_or_else(|| ConfigError::invalid("token_file", format!("{}: holds no token", file.display())))?;
        }
        if config.token.is_empty() {
            return Err(ConfigError::invalid("token", "no token: give `token` or `token_file` in the file, `--token`, or TUNNEL_TOKEN"));
        }
        config.validate()?;
        Ok(config)
    }

    /// The config as JSON, every default filled in and the token replaced by `***` (what
    /// `--check` prints).
    pub fn effective(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "token": "***",
            "token_file": self.token_file,
            "backends": self.backends,
            "proxies": self.proxies,
            "proxy_names": self.proxy_names,
            "resolve_every_ms": self.resolve_every_ms,
            "backoff_base_ms": self.backoff_base_ms,
            "backoff_cap_ms": self.backoff_cap_ms,
            "connect_timeout_ms": self.connect_timeout_ms,
            "keepalive_interval_ms": self.keepalive_interval_ms,
            "keepalive_timeout_ms": self.keepalive_timeout_ms,
            "drain_timeout_ms": self.drain_timeout_ms,
            "tls": self.tls.as_ref().map(|t| serde_json::json!({ "ca": t.ca, "server_name": t.server_name, "cert": t.cert, "key": t.key })),
            "cloud_map": self.cloud_map.as_ref().map(|r| serde_json::json!({
                "endpoint": r.api.endpoint,
                "aws": r.api.aws.as_ref().map(|a| serde_json::json!({ "region": a.region, "ca_bundle": a.ca_bundle })),
                "service_id": r.service_id,
                "zone": r.zone,
                "attributes": r.attributes,
            })),
            "proxy_discovery": self.proxy_discovery.as_ref().map(|d| serde_json::json!({
                "endpoint": d.api.endpoint,
                "aws": d.api.aws.as_ref().map(|a| serde_json::json!({ "region": a.region, "ca_bundle": a.ca_bundle })),
                "namespace": d.namespace,
                "service": d.service,
                "query": d.query,
                "port": d.port,
            })),
        })
    }

    /// Parses a config file and checks it.
    pub fn from_json(text: &str) -> Result<AgentConfig, ConfigError> {
        let config: AgentConfig = config::parse(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses values that would make the agent do something other than what the file seems
    /// to say; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        config::word("id", &self.id)?;
        config::word("token", &self.token)?;
        if self.backends.is_empty() {
            return Err(ConfigError::invalid("backends", "names no backend"));
        }
        for id in self.backends.keys() {
            config::word(format!("backends.{id}"), id)?;
        }
        if self.proxies.is_empty() && self.proxy_names.is_empty() && self.proxy_discovery.is_none() {
            return Err(ConfigError::invalid("proxies", "no proxy to connect to (give `proxies`, `proxy_names` or `proxy_discovery`)"));
        }
        config::millis("resolve_every_ms", self.resolve_every_ms)?;
        config::millis("backoff_base_ms", self.backoff_base_ms)?;
        config::millis("backoff_cap_ms", self.backoff_cap_ms)?;
        if self.backoff_cap_ms < self.backoff_base_ms {
            return Err(ConfigError::invalid("backoff_cap_ms", "must be at least `backoff_base_ms`"));
        }
        config::millis("connect_timeout_ms", self.connect_timeout_ms)?;
        config::millis("keepalive_interval_ms", self.keepalive_interval_ms)?;
        config::millis("keepalive_timeout_ms", self.keepalive_timeout_ms)?;
        config::millis("drain_timeout_ms", self.drain_timeout_ms)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::AgentConfig;

    const GOOD: &str = r#"{
        "id": "a1",
        "token": "s3cret",
        "backends": { "orders": "127.0.0.1:8080" },
        "proxies": ["127.0.0.1:8443"],
        "cloud_map": { "endpoint": "127.0.0.1:443", "service_id": "srv-1", "zone": "dc1" }
    }"#;

    /// `GOOD` with `key` (under the JSON pointer `at`) set to `value`, or removed if `null`.
    fn with(at: &str, key: &str, value: serde_json::Value) -> String {
        let mut json: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        let object = json.pointer_mut(at).unwrap().as_object_mut().unwrap();
        if value.is_null() {
            object.remove(key);
        } else {
            object.insert(key.into(), value);
        }
        json.to_string()
    }

    #[test]
    fn a_good_config_loads() {
        let config = AgentConfig::from_json(GOOD).unwrap();
        assert_eq!(config.backoff_base_ms, 100);
        assert_eq!(config.cloud_map.unwrap().api.endpoint, Some("127.0.0.1:443".parse().unwrap()));
    }

    #[test]
    fn each_bad_field_is_refused_by_name() {
        use serde_json::json;
        let cases: &[(&str, &str, serde_json::Value, &str)] = &[
            // Unknown keys: `"proxys"` must not start an agent with no proxies.
            ("", "proxys", json!(["127.0.0.1:8443"]), "proxys"),
            ("", "tsl", json!({ "ca": "ca.pem", "server_name": "p" }), "tsl"),
            ("/cloud_map", "zome", json!("dc1"), "zome"),
            ("", "proxy_discovery", json!({ "endpoint": "127.0.0.1:443", "namespace": "n", "service": "s", "prot": 1 }), "prot"),
            // Values.
            ("", "proxies", serde_json::Value::Null, "proxies"),
            ("", "id", json!(""), "id"),
            ("", "id", json!("a 1"), "id"),
            ("", "token", json!(""), "token"),
            ("", "token", json!("s3cret\n"), "token"),
            ("", "backends", json!({}), "backends"),
            ("/backends", "bill,ing", json!("127.0.0.1:1"), "backends.bill,ing"),
            ("", "backoff_base_ms", json!(0), "backoff_base_ms"),
            ("", "backoff_cap_ms", json!(u64::MAX), "backoff_cap_ms"),
            ("", "backoff_cap_ms", json!(50), "backoff_cap_ms"),
            ("", "keepalive_interval_ms", json!(0), "keepalive_interval_ms"),
            ("", "keepalive_timeout_ms", json!(0), "keepalive_timeout_ms"),
            ("", "connect_timeout_ms", json!(0), "connect_timeout_ms"),
            ("", "resolve_every_ms", json!(0), "resolve_every_ms"),
        ];
        for (at, key, value, field) in cases {
            let text = with(at, key, value.clone());
            let err = AgentConfig::from_json(&text).expect_err(&format!("{key} = {value} must be refused"));
            assert!(err.to_string().contains(field), "{key} = {value}: the error must name `{field}`: {err}");
        }
    }
}
