//! The proxy's config file: parsed (unknown keys refused), then checked ([`ProxyConfig::validate`])
//! so that a typo fails at start, naming the field, rather than changing what the proxy does.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{self, ConfigError};

/// What an agent may do.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The tokens this agent may greet with: one (`"token": "a"`) or several (`"token": ["a",
    /// "b"]`, while a token is rotated: add the new one, move the agents, remove the old one).
    #[serde(default)]
    pub token: Tokens,
    /// A file holding more tokens, one a line (blank lines and `#` comments skipped), read at
    /// start and at each reload: secrets stay out of the config file and out of `ps`.
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
    /// Backend ids this agent may serve; a greeting claiming another is refused.
    pub backends: Vec<String>,
}

impl Grant {
    /// A grant of `backends` to an agent greeting with `token`.
    pub fn new(token: impl Into<String>, backends: Vec<String>) -> Self {
        Grant { token: Tokens(vec![token.into()]), token_file: None, backends }
    }
}

/// One token or a list of them, as the config file gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tokens(pub Vec<String>);

impl From<&str> for Tokens {
    fn from(t: &str) -> Self {
        Tokens(vec![t.to_string()])
    }
}

impl From<String> for Tokens {
    fn from(t: String) -> Self {
        Tokens(vec![t])
    }
}

impl<'de> Deserialize<'de> for Tokens {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        match OneOrMany::deserialize(d) {
            Ok(OneOrMany::One(t)) => Ok(Tokens(vec![t])),
            Ok(OneOrMany::Many(ts)) => Ok(Tokens(ts)),
            Err(_) => Err(serde::de::Error::custom("`token` is a string or a list of strings")),
        }
    }
}

/// Headers the proxy adds (each on by default).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderSettings {
    /// `X-Forwarded-For` (the client's address appended to any the client sent),
    /// `X-Forwarded-Proto` and `X-Forwarded-Host` toward the backend.
    #[serde(default = "yes")]
    pub x_forwarded: bool,
    /// RFC 7239 `Forwarded: for=...;proto=...;host=...` toward the backend (off by default).
    #[serde(default)]
    pub forwarded: bool,
    /// Trust the `X-Forwarded-For` and `X-Forwarded-Proto` a client sends (only behind a load
    /// balancer that sets them); otherwise they are replaced. Off by default.
    #[serde(default)]
    pub trust_client_forwarded: bool,
    /// The request id (the client's `x-request-id`, or the one the proxy made) returned to the
    /// client as `x-request-id`.
    #[serde(default = "yes")]
    pub request_id_in_response: bool,
}

fn yes() -> bool {
    true
}

impl Default for HeaderSettings {
    fn default() -> Self {
        HeaderSettings { x_forwarded: true, forwarded: false, trust_client_forwarded: false, request_id_in_response: true }
    }
}

impl HeaderSettings {
    /// No header added: the request and response pass as they came.
    pub fn none() -> Self {
        HeaderSettings { x_forwarded: false, forwarded: false, trust_client_forwarded: false, request_id_in_response: false }
    }
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
    /// With mutual TLS, the name an agent's certificate must carry (a DNS subject alternative
    /// name), `{agent}` standing for the agent id of its greeting: a certificate issued to
    /// `site-1` cannot greet as `site-2`. Default `{agent}`.
    #[serde(default = "ProxyConfig::default_agent_cert_name")]
    pub agent_cert_name: String,
    /// The proxy is ready only while each backend in `backends` has at least this many agents
    /// connected (default 1).
    #[serde(default = "ProxyConfig::default_min_agents")]
    pub min_agents: u32,
    /// Headers the proxy adds toward the backend and the client.
    #[serde(default)]
    pub headers: HeaderSettings,
    /// On SIGTERM: how long the proxy reports not ready, still serving, so that load balancers
    /// notice (default 10 s). An idle proxy with no agent skips it (nothing to drain).
    #[serde(default = "ProxyConfig::default_client_timeout_ms")]
    pub drain_grace_ms: u64,
    /// Then how long requests in hand may take to finish (default 30 s).
    #[serde(default = "ProxyConfig::default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
    /// At start, clients' connections are not accepted (they wait in the listen queue) until
    /// the proxy is ready or this has passed (default 5 s; 0: at once): a restarted proxy does
    /// not answer 503 to everyone while its agents reconnect.
    #[serde(default = "ProxyConfig::default_start_grace_ms")]
    pub start_grace_ms: u64,
}

impl Default for ProxyConfig {
    /// No agent, no backend, every setting at its default.
    fn default() -> Self {
        ProxyConfig {
            name: Self::default_name(),
            agents: BTreeMap::new(),
            routes: Vec::new(),
            default_backend: None,
            backends: Vec::new(),
            request_timeout_ms: Self::default_timeout_ms(),
            max_header_bytes: Self::default_max_header_bytes(),
            max_body_bytes: Self::default_max_body_bytes(),
            header_read_timeout_ms: Self::default_client_timeout_ms(),
            body_read_timeout_ms: Self::default_client_timeout_ms(),
            retry_idempotent: false,
            max_in_flight: Self::default_max_in_flight(),
            tls: None,
            agent_cert_name: Self::default_agent_cert_name(),
            min_agents: Self::default_min_agents(),
            headers: HeaderSettings::default(),
            drain_grace_ms: Self::default_client_timeout_ms(),
            drain_timeout_ms: Self::default_drain_timeout_ms(),
            start_grace_ms: Self::default_start_grace_ms(),
        }
    }
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
    fn default_drain_timeout_ms() -> u64 {
        30_000
    }
    fn default_start_grace_ms() -> u64 {
        5_000
    }
    fn default_agent_cert_name() -> String {
        "{agent}".into()
    }
    fn default_min_agents() -> u32 {
        1
    }

    /// Reads a config file, adds the tokens of each grant's `token_file`, and checks it: what
    /// the binary does at start and at each reload. Errors name the file or the field.
    pub fn load(path: &std::path::Path) -> Result<ProxyConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Syntax(format!("{}: {e}", path.display())))?;
        let mut config: ProxyConfig = config::parse(&text)?;
        for (id, grant) in &mut config.agents {
            if let Some(file) = &grant.token_file {
                let tokens = config::read_tokens(file).map_err(|e| ConfigError::invalid(format!("agents.{id}.token_file"), e))?;
                grant.token.0.extend(tokens);
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// The config as JSON, every default filled in and every token replaced by `***` (what
    /// `--check` prints).
    pub fn effective(&self) -> serde_json::Value {
        use serde_json::json;
        let agents: serde_json::Map<String, serde_json::Value> = self
            .agents
            .iter()
            .map(|(id, g)| {
                let tokens = vec!["***"; g.token.0.len()];
                (id.clone(), json!({ "token": tokens, "token_file": g.token_file, "backends": g.backends }))
            })
            .collect();
        let routes: Vec<_> =
            self.routes.iter().map(|r| json!({ "backend": r.backend, "host": r.host, "path_prefix": r.path_prefix, "header": r.header })).collect();
        json!({
            "name": self.name,
            "agents": agents,
            "routes": routes,
            "default_backend": self.default_backend,
            "backends": self.backends,
            "request_timeout_ms": self.request_timeout_ms,
            "max_header_bytes": self.max_header_bytes,
            "max_body_bytes": self.max_body_bytes,
            "header_read_timeout_ms": self.header_read_timeout_ms,
            "body_read_timeout_ms": self.body_read_timeout_ms,
            "retry_idempotent": self.retry_idempotent,
            "max_in_flight": self.max_in_flight,
            "tls": self.tls.as_ref().map(|t| json!({ "cert": t.cert, "key": t.key, "client_ca": t.client_ca })),
            "agent_cert_name": self.agent_cert_name,
            "min_agents": self.min_agents,
            "headers": {
                "x_forwarded": self.headers.x_forwarded,
                "forwarded": self.headers.forwarded,
                "trust_client_forwarded": self.headers.trust_client_forwarded,
                "request_id_in_response": self.headers.request_id_in_response,
            },
            "drain_grace_ms": self.drain_grace_ms,
            "drain_timeout_ms": self.drain_timeout_ms,
            "start_grace_ms": self.start_grace_ms,
        })
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
            if grant.token.0.is_empty() {
                let problem = if grant.token_file.is_some() { "no token (the `token_file` holds none)" } else { "no token (give `token` or `token_file`)" };
                return Err(ConfigError::invalid(format!("agents.{id}.token"), problem));
            }
            for (i, t) in grant.token.0.iter().enumerate() {
                let field = if grant.token.0.len() == 1 { format!("agents.{id}.token") } else { format!("agents.{id}.token[{i}]") };
                config::word(field, t)?;
            }
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
        config::millis("drain_grace_ms", self.drain_grace_ms).or_else(|e| if self.drain_grace_ms == 0 { Ok(()) } else { Err(e) })?;
        config::millis("drain_timeout_ms", self.drain_timeout_ms).or_else(|e| if self.drain_timeout_ms == 0 { Ok(()) } else { Err(e) })?;
        config::millis("start_grace_ms", self.start_grace_ms).or_else(|e| if self.start_grace_ms == 0 { Ok(()) } else { Err(e) })?;
        if !self.agent_cert_name.contains("{agent}") {
            return Err(ConfigError::invalid("agent_cert_name", "must contain `{agent}` (else every agent could use any agent's certificate)"));
        }
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
    fn a_grant_takes_a_list_of_tokens_and_a_token_file() {
        let dir = std::env::temp_dir().join(format!("tunnel-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tokens = dir.join("a1.tokens");
        std::fs::write(&tokens, "# rotated on 2026-12-01\nfrom-file\n\n").unwrap();
        let text = with("/agents/a1", "token_file", serde_json::json!(tokens));
        let text = text.replace(r#""token":"s3cret""#, r#""token":["s3cret","next"]"#);
        let path = dir.join("proxy.json");
        std::fs::write(&path, &text).unwrap();
        let config = ProxyConfig::load(&path).unwrap();
        assert_eq!(config.agents["a1"].token.0, ["s3cret", "next", "from-file"]);
        // Without a token in the file, the token file alone is enough; an empty one is not.
        let only_file = text.replace(r#""token":["s3cret","next"],"#, "");
        std::fs::write(&path, &only_file).unwrap();
        assert_eq!(ProxyConfig::load(&path).unwrap().agents["a1"].token.0, ["from-file"]);
        std::fs::write(&tokens, "# none yet\n").unwrap();
        let err = ProxyConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("agents.a1.token") && err.contains("token_file"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
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
            ("/agents/a1", "token", json!(["new", "o ld"]), "agents.a1.token[1]"),
            ("/agents/a1", "token", json!([]), "agents.a1.token"),
            ("/agents/a1", "token", json!(5), "token"),
            ("", "agent_cert_name", json!("agents.example"), "agent_cert_name"),
            ("", "drain_grace_ms", json!(u64::MAX), "drain_grace_ms"),
            ("", "drain_timeout_ms", json!(u64::MAX), "drain_timeout_ms"),
            ("", "headers", json!({ "x_forwarded_for": true }), "x_forwarded_for"),
        ];
        for (at, key, value, field) in cases {
            let text = with(at, key, value.clone());
            let err = ProxyConfig::from_json(&text).expect_err(&format!("{key} = {value} must be refused"));
            assert!(err.to_string().contains(field), "{key} = {value}: the error must name `{field}`: {err}");
        }
    }
}
