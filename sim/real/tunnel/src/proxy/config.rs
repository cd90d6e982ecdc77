//! The proxy's config file: parsed (unknown keys refused), then checked ([`ProxyConfig::validate`])
//! so that a typo fails at start, naming the field, rather than changing what the proxy does.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{self, ConfigError};

/// What an agent may do.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub token: String,
    /// Backend ids this agent may serve; a greeting claiming another is refused.
    pub backends: Vec<String>,
}

/// How a client request finds its backend: the first route that matches.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub backend: String,
    /// The request's `Host`, without its port, compared ignoring ASCII case.
    #[serde(default)]
    pub host: Option<String>,
    /// Whole leading segments of the normalised path: `/admin` matches `/admin` and
    /// `/admin/x`, not `/adminx` (see [`super::target`] for the normalisation).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// `name: value`: a header that must carry this value.
    #[serde(default)]
    pub header: Option<(String, String)>,
}

/// The proxy's settings (its JSON config file).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// This proxy's name (in logs and the request ids it makes).
    #[serde(default = "ProxyConfig::default_name")]
    pub name: String,
    /// Agent id -> its token and the backends it may serve.
    pub agents: BTreeMap<String, Grant>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub default_backend: Option<String>,
    /// The backends this proxy serves: it is ready only while each has an agent.
    pub backends: Vec<String>,
    #[serde(default = "ProxyConfig::default_timeout_ms")]
    pub request_timeout_ms: u64,
    #[serde(default = "ProxyConfig::default_max_header_bytes")]
    pub max_header_bytes: usize,
    #[serde(default = "ProxyConfig::default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// A client connection whose request head is not complete this long after it began (or
    /// after the previous response) is closed: slow or idle clients do not hold connections.
    #[serde(default = "ProxyConfig::default_client_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// A client that sends nothing of its request body for this long is cut off: 408 (and the
    /// connection closed) if the response has not started, else the response is aborted; the
    /// stream toward the agent is reset either way, so the backend never sees a clean end.
    #[serde(default = "ProxyConfig::default_client_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// Send an idempotent request (GET, HEAD, OPTIONS, PUT, DELETE) without a body again to
    /// another agent of its backend if its agent is lost before answering (default off: 502).
    /// The backend may then execute it twice.
    #[serde(default)]
    pub retry_idempotent: bool,
    /// Requests the proxy holds at once (waiting for or streaming from agents); beyond it,
    /// 503 at once rather than an unbounded queue (default 10,000).
    #[serde(default = "ProxyConfig::default_max_in_flight")]
    pub max_in_flight: u32,
    /// TLS for agent connections (strongly advised outside a trusted network).
    #[serde(default)]
    pub tls: Option<crate::tls::ServerTlsFiles>,
}

impl ProxyConfig {
    fn default_name() -> String {
        "proxy".into()
    }
    fn default_timeout_ms() -> u64 {
        30_000
    }
    fn default_max_header_bytes() -> usize {
        16 * 1024
    }
    fn default_max_body_bytes() -> u64 {
        100 * 1024 * 1024
    }
    fn default_max_in_flight() -> u32 {
        10_000
    }
    fn default_client_timeout_ms() -> u64 {
        10_000
    }

    /// Parses a config file and checks it.
    pub fn from_json(text: &str) -> Result<ProxyConfig, ConfigError> {
        let config: ProxyConfig = config::parse(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses values that would make the proxy do something other than what the file seems
    /// to say; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        config::word("name", &self.name)?;
        for (id, grant) in &self.agents {
            config::word(format!("agents.{id}"), id)?;
            config::word(format!("agents.{id}.token"), &grant.token)?;
            if grant.backends.is_empty() {
                return Err(ConfigError::invalid(format!("agents.{id}.backends"), "names no backend"));
            }
            for (i, b) in grant.backends.iter().enumerate() {
                config::word(format!("agents.{id}.backends[{i}]"), b)?;
            }
        }
        for (i, b) in self.backends.iter().enumerate() {
            config::word(format!("backends[{i}]"), b)?;
        }
        let served = |field: String, b: &str| {
            if self.backends.iter().any(|s| s == b) { Ok(()) } else { Err(ConfigError::invalid(field, format!("{b:?} is not in `backends`"))) }
        };
        for (i, r) in self.routes.iter().enumerate() {
            served(format!("routes[{i}].backend"), &r.backend)?;
            if let Some(p) = &r.path_prefix
                && !p.starts_with('/')
            {
                return Err(ConfigError::invalid(format!("routes[{i}].path_prefix"), "must begin with `/`"));
            }
            if let Some((name, value)) = &r.header
                && (http::HeaderName::from_bytes(name.as_bytes()).is_err() || http::HeaderValue::from_str(value).is_err())
            {
                return Err(ConfigError::invalid(format!("routes[{i}].header"), "not a valid header name and value"));
            }
            if r.host.as_deref().is_some_and(|h| h.is_empty() || !super::target::is_valid_host(h.as_bytes())) {
                return Err(ConfigError::invalid(format!("routes[{i}].host"), "not a valid host name"));
            }
        }
        if let Some(b) = &self.default_backend {
            served("default_backend".into(), b)?;
        }
        config::millis("request_timeout_ms", self.request_timeout_ms)?;
        config::millis("header_read_timeout_ms", self.header_read_timeout_ms)?;
        config::millis("body_read_timeout_ms", self.body_read_timeout_ms)?;
        config::positive("max_header_bytes", self.max_header_bytes as u64)?;
        config::positive("max_in_flight", self.max_in_flight.into())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ProxyConfig;

    const GOOD: &str = r#"{
        "name": "p1",
        "agents": { "a1": { "token": "s3cret", "backends": ["orders"] } },
        "routes": [ { "backend": "orders", "path_prefix": "/orders", "host": "Orders.example" } ],
        "default_backend": "orders",
        "backends": ["orders"]
    }"#;

    /// `GOOD` with `key` (a JSON pointer's last step under `at`) set to `value`.
    fn with(at: &str, key: &str, value: serde_json::Value) -> String {
        let mut json: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        json.pointer_mut(at).unwrap().as_object_mut().unwrap().insert(key.into(), value);
        json.to_string()
    }

    #[test]
    fn a_good_config_loads() {
        let config = ProxyConfig::from_json(GOOD).unwrap();
        assert_eq!(config.request_timeout_ms, 30_000);
    }

    #[test]
    fn each_bad_field_is_refused_by_name() {
        use serde_json::json;
        let cases: &[(&str, &str, serde_json::Value, &str)] = &[
            // Unknown keys: a misspelling must not change what the proxy does.
            ("", "tsl", json!({ "cert": "c.pem", "key": "k.pem" }), "tsl"),
            ("/routes/0", "path_prefx", json!("/admin"), "path_prefx"),
            ("/agents/a1", "tokn", json!("x"), "tokn"),
            ("", "tls", json!({ "cert": "c.pem", "key": "k.pem", "client_cA": "ca.pem" }), "client_cA"),
            // Values.
            ("/agents/a1", "token", json!(""), "agents.a1.token"),
            ("/agents/a1", "token", json!("s3 cret"), "agents.a1.token"),
            ("/agents", "a 2", json!({ "token": "t", "backends": ["orders"] }), "agents.a 2"),
            ("/agents/a1", "backends", json!([]), "agents.a1.backends"),
            ("", "request_timeout_ms", json!(0), "request_timeout_ms"),
            ("", "request_timeout_ms", json!(u64::MAX), "request_timeout_ms"),
            ("", "header_read_timeout_ms", json!(0), "header_read_timeout_ms"),
            ("", "body_read_timeout_ms", json!(0), "body_read_timeout_ms"),
            ("", "max_in_flight", json!(0), "max_in_flight"),
            ("", "max_header_bytes", json!(0), "max_header_bytes"),
            ("", "default_backend", json!("billing"), "default_backend"),
            ("/routes/0", "backend", json!("billing"), "routes[0].backend"),
            ("/routes/0", "path_prefix", json!("admin"), "routes[0].path_prefix"),
            ("/routes/0", "host", json!("a host"), "routes[0].host"),
            ("/routes/0", "header", json!(["bad name", "v"]), "routes[0].header"),
            ("", "backends", json!(["orders", "bill ing"]), "backends[1]"),
            ("", "name", json!(""), "name"),
        ];
        for (at, key, value, field) in cases {
            let text = with(at, key, value.clone());
            let err = ProxyConfig::from_json(&text).expect_err(&format!("{key} = {value} must be refused"));
            assert!(err.to_string().contains(field), "{key} = {value}: the error must name `{field}`: {err}");
        }
    }
}
