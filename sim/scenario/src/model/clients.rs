//! `clients:`: workloads, the requests they send, and how they find their target.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Ref;
use crate::one_of::{deserialize_through, exactly_one, given};
use crate::units::Dur;

/// A client workload: hosts in AZs sending requests to a load balancer or a service.
#[derive(Clone, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Client hosts per AZ, e.g. `{ use1-az1: 1 }`.
    #[schemars(with = "BTreeMap<String, u32>")]
    pub azs: Spanned<BTreeMap<String, u32>>,
    /// A load balancer or a service.
    #[schemars(with = "String")]
    pub target: Ref,
    /// How a load balancer's name is resolved (default `any`).
    #[serde(default)]
    pub resolve: Resolve,
    #[serde(flatten)]
    pub pacing: ClientPacing,
    /// Gaps between open-loop requests (default `poisson`).
    #[serde(default)]
    pub arrivals: Arrivals,
    /// Stop after this many requests per host (default: when `duration` ends).
    #[serde(default)]
    pub requests: Option<u64>,
    /// Request body bytes (default 1024).
    #[serde(default = "ClientSpec::default_bytes")]
    pub request_bytes: u64,
    /// Response body bytes (default 1024).
    #[serde(default = "ClientSpec::default_bytes")]
    pub response_bytes: u64,
    /// Give up on a request after this long (default 10s).
    #[serde(default = "ClientSpec::default_timeout")]
    pub timeout: Dur,
    /// When the client starts (default 0).
    #[serde(default)]
    pub start: Dur,
    /// The requests it sends, by weight (default: `GET /`). Listener rules route on them.
    #[serde(default)]
    pub http: Vec<HttpSpec>,
    /// Find the target service's instances through Cloud Map (the service must register).
    #[serde(default)]
    pub discovery: Option<DiscoverySpec>,
    /// Keep a load balancer's DNS answer this long whatever its TTL (60s), as JVMs and some
    /// SDKs do (default: honour the TTL).
    #[serde(default)]
    pub dns_cache: Option<Dur>,
    /// The statuses this client expects, which count as answered rather than failed, as codes
    /// and ranges (`"200-399,401,403"`, as k6's `expected_response`); a probe that expects 401
    /// then stays out of the failures. Default `200-399`. Not for `library:` clients (the
    /// library's policy decides).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub expected_statuses: Option<Spanned<String>>,
    /// Send through the AZ-affinity client library (`affinity-client`): zone-aware selection,
    /// outlier ejection, circuit breaking, retries under a budget. Needs `discovery` (the
    /// library discovers every zone's instances and prefers its own; leave `query` out).
    #[serde(default)]
    pub library: Option<LibrarySpec>,
    /// Keep HTTP/1.1 keep-alive connections to the target (a load balancer, an API, a
    /// CloudFront distribution or a service): each new one pays a handshake; an ALB closes one
    /// idle for its idle timeout (60 s), an NLB's flow keeps its target for the connection's
    /// life. Without it the client's requests travel as messages, routed one by one.
    #[serde(default)]
    #[schemars(with = "Option<ConnectionsSpec>")]
    pub connections: Option<Spanned<ConnectionsSpec>>,
}

/// A client's connection pool.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsSpec {
    /// Close a connection idle this long (default 90s: Go's `http.DefaultTransport`
    /// `IdleConnTimeout`).
    #[serde(default = "ConnectionsSpec::default_idle_timeout")]
    pub idle_timeout: Dur,
    /// Close a connection after this many requests, so new ones spread over targets added
    /// since (default: never).
    #[serde(default)]
    pub max_requests: Option<u64>,
    /// HTTPS: the TLS version the client and the target's listener settle on (`"1.3"`: one
    /// round trip more on each new connection before its first request; `"1.2"`: two).
    /// Default: plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsVersion>,
    /// Keep each server's TLS session and resume it on the next connection to that server:
    /// one round trip with either version, and no certificate. Sessions are per server host
    /// (an ALB keeps them per node). Default false, as Go's `tls.Config` without a
    /// `ClientSessionCache`; browsers resume.
    #[serde(default)]
    pub resumption: bool,
}

/// A TLS version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "1.3")]
    V1_3,
}

impl ConnectionsSpec {
    fn default_idle_timeout() -> Dur {
        Dur(90_000_000_000)
    }
}

impl ClientSpec {
    /// Gives the client a connection pool with the defaults (for programs that build or change
    /// scenarios, e.g. the benches; a file says `connections: {}`).
    pub fn keep_connections(&mut self) {
        let spec = ConnectionsSpec { idle_timeout: ConnectionsSpec::default_idle_timeout(), max_requests: None, tls: None, resumption: false };
        self.connections = Some(Spanned::new(spec, serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN));
    }
}

/// How a client paces its requests: exactly one of `rate` (open loop) and `concurrency`
/// (closed loop).
#[derive(Clone, Copy, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientPacing {
    /// Open loop: requests per second per client host.
    Rate(f64),
    /// Closed loop: requests in flight per client host.
    Concurrency(u32),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientSpecRaw {
    azs: Spanned<BTreeMap<String, u32>>,
    target: Ref,
    #[serde(default)]
    resolve: Resolve,
    #[serde(default)]
    rate: Option<Spanned<f64>>,
    #[serde(default)]
    arrivals: Arrivals,
    #[serde(default)]
    concurrency: Option<Spanned<u32>>,
    #[serde(default)]
    requests: Option<u64>,
    #[serde(default = "ClientSpec::default_bytes")]
    request_bytes: u64,
    #[serde(default = "ClientSpec::default_bytes")]
    response_bytes: u64,
    #[serde(default = "ClientSpec::default_timeout")]
    timeout: Dur,
    #[serde(default)]
    start: Dur,
    #[serde(default)]
    http: Vec<HttpSpec>,
    #[serde(default)]
    discovery: Option<DiscoverySpec>,
    #[serde(default)]
    dns_cache: Option<Dur>,
    #[serde(default)]
    expected_statuses: Option<Spanned<String>>,
    #[serde(default)]
    library: Option<LibrarySpec>,
    #[serde(default)]
    connections: Option<Spanned<ConnectionsSpec>>,
}

impl ClientSpecRaw {
    fn parse<E: serde::de::Error>(self) -> Result<ClientSpec, E> {
        let pacings = [given(self.rate, ClientPacing::Rate), given(self.concurrency, ClientPacing::Concurrency)];
        // Neither: at the target, where the check before the type put it.
        let at = Some(self.target.referenced);
        let pacing = exactly_one(pacings, at, |n| match n {
            0 => "give `rate` (requests per second per host) or `concurrency` (requests in flight per host)".into(),
            _ => "give either `rate` (open loop) or `concurrency` (closed loop), not both".into(),
        })?;
        Ok(ClientSpec {
            azs: self.azs,
            target: self.target,
            resolve: self.resolve,
            pacing,
            arrivals: self.arrivals,
            requests: self.requests,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
            timeout: self.timeout,
            start: self.start,
            http: self.http,
            discovery: self.discovery,
            dns_cache: self.dns_cache,
            expected_statuses: self.expected_statuses,
            library: self.library,
            connections: self.connections,
        })
    }
}

deserialize_through!(ClientSpec, ClientSpecRaw);

impl ClientSpec {
    fn default_bytes() -> u64 {
        1024
    }
    fn default_timeout() -> Dur {
        Dur(10_000_000_000)
    }
}

/// How a client finds a load balancer node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolve {
    /// The regional name: any node, at random.
    #[default]
    Any,
    /// The zonal name of the client's own AZ (e.g. `use1-az1.foo.example`).
    OwnAz,
}

/// How an open-loop client spaces its requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Exponential gaps (a Poisson process).
    #[default]
    Poisson,
    /// Equal gaps.
    Uniform,
}

/// One kind of request a client sends.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    #[serde(default = "HttpSpec::default_method")]
    pub method: String,
    #[serde(default = "HttpSpec::default_path")]
    pub path: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Relative share of this request in the mix (default 1).
    #[serde(default = "HttpSpec::default_weight")]
    pub weight: u32,
    /// One more header of this many bytes, e.g. a large cookie (default 0). An ALB answers
    /// 400 above 16 KiB per header or 64 KiB in all.
    #[serde(default)]
    pub large_header_bytes: u64,
    /// A file holding a JWT (relative to the scenario file), sent as `Authorization: Bearer`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub jwt: Option<Spanned<String>>,
    /// The token read from `jwt` when the scenario was loaded.
    #[serde(skip)]
    #[schemars(skip)]
    pub jwt_token: Option<String>,
}

impl HttpSpec {
    fn default_method() -> String {
        "GET".into()
    }
    fn default_path() -> String {
        "/".into()
    }
    fn default_weight() -> u32 {
        1
    }
}

/// Client-side discovery through Cloud Map's `DiscoverInstances`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySpec {
    /// `QueryParameters`; the value `$az` is replaced by the client's AZ (AZ affinity).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// How often the client asks again (default 30s). Between calls it uses what it has.
    #[serde(default)]
    pub refresh: Option<Dur>,
    /// `api` (`DiscoverInstances`, the default) or `dns` (the service's A records through the
    /// VPC resolver, cached for their TTL or the client's `dns_cache`).
    #[serde(default)]
    pub via: DiscoveryVia,
}

/// How a client discovers instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryVia {
    #[default]
    Api,
    Dns,
}

/// The client library's settings; absent fields take the library's defaults (AZ affinity,
/// spill below 70 %, failback after 30 s above 90 %, Envoy's outlier ejection, a per-zone
/// breaker of 5 failures / 30 s / 3 probes, the AWS SDK's standard retries).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LibrarySpec {
    /// Attempts in all (default 3; 1 = no retries).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Each attempt gives up after this long (default: only the client's `timeout`).
    #[serde(default)]
    pub per_try_timeout: Option<Dur>,
    /// `token_bucket` (the AWS SDK's, default), `ratio` (Envoy's 20 %), or `none` (unlimited:
    /// the retry-storm baseline).
    #[serde(default)]
    pub retry_budget: Option<RetryBudgetKind>,
    /// Outlier ejection after this many failures in a row (default 5; 0 turns it off).
    #[serde(default)]
    pub outlier_consecutive_failures: Option<u32>,
    /// The per-zone circuit breaker opens after this many failures in a row (default 5; 0 off).
    #[serde(default)]
    pub breaker_consecutive_failures: Option<u32>,
    /// How long the breaker stays open (default 30s).
    #[serde(default)]
    pub breaker_open_for: Option<Dur>,
    /// Spill over when the local zone's available share falls below this (default 0.7).
    #[serde(default)]
    pub spill_below: Option<f64>,
    /// Fail back after the local share has been at least 0.9 this long (default 30s).
    #[serde(default)]
    pub failback_after: Option<Dur>,
}

/// A retry budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryBudgetKind {
    TokenBucket,
    Ratio,
    None,
}
