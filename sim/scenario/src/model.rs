//! The scenario file's types. Doc comments become the JSON Schema's descriptions (editor hover).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::units::{DistSpec, Dur};

/// A name that refers to something defined elsewhere, with where it was written.
pub type Ref = Spanned<String>;

fn default_seed() -> u64 {
    1
}
fn default_drain() -> Dur {
    Dur(30_000_000_000)
}

/// A scenario: topology, workload, faults and expectations, plus variants of it.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// The format version; must be 1.
    #[schemars(with = "u32")]
    pub version: Spanned<u32>,
    /// The scenario's name (used for report folders).
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// The root seed of every random stream (default 1).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long clients send requests.
    pub duration: Dur,
    /// After `duration`, how long in-flight requests may still finish (default 30s).
    #[serde(default = "default_drain")]
    pub drain: Dur,
    /// Regions and their Availability Zones (by AZ ID, e.g. `use1-az1`).
    #[schemars(with = "BTreeMap<String, RegionSpec>")]
    pub regions: Spanned<BTreeMap<String, RegionSpec>>,
    /// Named distributions, referenced as `{ profile: name }`.
    #[serde(default)]
    pub profiles: BTreeMap<String, DistSpec>,
    /// One-way latency between hosts.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Compute services: instances in AZs that process requests and call each other.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
    /// Load balancers (ALB, NLB) in front of services.
    #[serde(default)]
    pub load_balancers: BTreeMap<String, LoadBalancerSpec>,
    /// Client workloads.
    pub clients: BTreeMap<String, ClientSpec>,
    /// Faults on the timeline.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// What must hold after the run.
    #[serde(default)]
    pub expectations: Vec<ExpectationSpec>,
    /// Data-transfer prices (defaults from AWS's public pricing).
    #[serde(default)]
    pub prices: Prices,
    /// Cloud Map's delays (eventual consistency).
    #[serde(default)]
    pub cloud_map: CloudMapSettingsSpec,
    /// An inverting-proxy tunnel: the real proxy and agent binaries' code, on simulated hosts.
    #[serde(default)]
    pub tunnel: Option<TunnelSpec>,
    /// API Gateway APIs (HTTP or REST) with private integrations through a VPC link.
    #[serde(default)]
    pub api_gateways: BTreeMap<String, ApiGatewaySpec>,
    /// Route 53: records, health checks and the checker fleet.
    #[serde(default)]
    pub route53: Option<Route53Spec>,
    /// CloudFront distributions (edge locations) in front of origins named by Route 53 records.
    #[serde(default)]
    pub cloudfront: BTreeMap<String, CloudFrontSpec>,
    /// NAT gateways: one per AZ with an Elastic IP, and which AZ's NAT each subnet's route
    /// table points at.
    #[serde(default)]
    pub nat_gateways: BTreeMap<String, NatSpec>,
    /// Variants of the baseline; the report compares them side by side.
    #[serde(default)]
    pub variants: BTreeMap<String, VariantSpec>,
}

/// An inverting-proxy tunnel (crate `tunnel`, run unchanged through the I/O seam): proxies on
/// the instances of one service, forwarding agents beside a backend, usually in an
/// on-premises site whose Region is `inbound: closed`. Agents dial out to the proxies; a request
/// that reaches a proxy (through a load balancer) travels to an agent as an HTTP/2 stream on
/// the agent's connection, and the agent sends it to the backend.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TunnelSpec {
    /// The service whose instances run the inverting proxy (its `instances` place them; its
    /// other settings do not apply). Put a load balancer in front of it.
    #[schemars(with = "String")]
    pub proxies: Ref,
    /// The service the agents serve: its instances run a real HTTP server that takes the
    /// service's `processing` time per request and answers with the client's response size.
    #[schemars(with = "String")]
    pub backend: Ref,
    /// Forwarding agents per AZ (hosts `tunnel-agent-<az>-<n>`; fault scope `tunnel-agent`).
    #[schemars(with = "BTreeMap<String, u32>")]
    pub agents: Spanned<BTreeMap<String, u32>>,
    /// Which proxies each agent connects to (default `every_proxy`).
    #[serde(default)]
    pub connect: AgentConnect,
    /// What a proxy's health check answers (default `agents`).
    #[serde(default)]
    pub readiness: Readiness,
    /// The proxy's deadline for an agent's answer; 504 after it (default 30s).
    #[serde(default = "TunnelSpec::default_timeout")]
    pub request_timeout: Dur,
    /// Send an idempotent request again to another agent when its agent is lost before
    /// answering (default false).
    #[serde(default)]
    pub retry_idempotent: bool,
    /// The cap of an agent's reconnection backoff (default 2s).
    #[serde(default = "TunnelSpec::default_backoff_cap")]
    pub backoff_cap: Dur,
}

impl TunnelSpec {
    fn default_timeout() -> Dur {
        Dur(30_000_000_000)
    }
    fn default_backoff_cap() -> Dur {
        Dur(2_000_000_000)
    }
}

/// An API Gateway API (reference/aws-semantics.md §1): stages, routes in AWS's order, a JWT
/// authorizer, throttling, CORS, and private integrations through a VPC link.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiGatewaySpec {
    /// `http` (default) or `rest`: REST answers 403 for unknown paths and 504 on integration
    /// timeouts, and its timeout is 29 s.
    #[serde(default)]
    pub kind: ApiKindSpec,
    /// Stages: `$default` (served at the root) and named ones (a path prefix). Default
    /// `[$default]`.
    #[serde(default = "ApiGatewaySpec::default_stages")]
    pub stages: Vec<String>,
    /// Strip a named stage from the path the backend sees (parameter mapping
    /// `overwrite:path`); by default it reaches the backend.
    #[serde(default)]
    pub strip_stage: bool,
    /// The VPC link's subnets, as AZs: one ENI in each. The gateway spreads requests over the
    /// ENIs whose AZ is up (AWS manages them; how it spreads is not documented: ours). Needed
    /// by private integrations (`load_balancer`, `cloud_map`).
    #[serde(default = "ApiGatewaySpec::no_link")]
    #[schemars(with = "Vec<String>")]
    pub vpc_link: Spanned<Vec<String>>,
    /// The API's Region (default: that of the VPC link's subnets).
    #[serde(default)]
    pub region: Option<String>,
    /// Route key (`GET /orders/{id}`, `ANY /{proxy+}`, `$default`) -> what serves it.
    #[serde(default)]
    pub routes: BTreeMap<String, ApiRouteSpec>,
    /// A Swagger 2.0 or OpenAPI 3 file (relative to the scenario file) whose paths with
    /// `x-amazon-apigateway-integration` (`http_proxy` through a VPC link) become routes.
    #[serde(default)]
    pub openapi: Option<String>,
    /// Stage variables (`${stageVariables.name}` in an imported `connectionId`).
    #[serde(default)]
    pub stage_variables: BTreeMap<String, String>,
    /// VPC link ids an imported `connectionId` may name -> the load balancer each targets.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub vpc_links: BTreeMap<String, Ref>,
    /// 50 ms to 30 s; default 30 s (REST: 29 s).
    #[serde(default)]
    pub integration_timeout: Option<Dur>,
    /// What a timed-out integration answers: AWS's sources conflict (503 reported for HTTP
    /// APIs, 504 in the knowledge center). Default 503 (REST: 504).
    #[serde(default)]
    pub timeout_status: Option<u16>,
    /// The account's bucket in this Region (default 10,000/s, burst 5,000).
    #[serde(default)]
    pub account_throttle: Option<ThrottleSpec>,
    /// The stage's default route throttle (`DefaultRouteSettings`).
    #[serde(default)]
    pub stage_throttle: Option<ThrottleSpec>,
    /// The JWT authorizer of routes with `jwt`.
    #[serde(default)]
    pub jwt: Option<JwtSpec>,
    /// CORS: the gateway answers preflight `OPTIONS` itself.
    #[serde(default)]
    pub cors: Option<CorsSpec>,
    /// How long a Cloud Map integration's `DiscoverInstances` answer is kept (AWS caches it
    /// and does not say for how long; default 30 s, ours).
    #[serde(default = "ApiGatewaySpec::default_discovery_cache")]
    pub discovery_cache: Dur,
    /// The gateway's own time per request (default 0).
    #[serde(default)]
    pub processing: DistSpec,
}

impl ApiGatewaySpec {
    fn no_link() -> Spanned<Vec<String>> {
        Spanned::new(Vec::new(), serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN)
    }
    fn default_stages() -> Vec<String> {
        vec!["$default".into()]
    }
    fn default_discovery_cache() -> Dur {
        Dur(30_000_000_000)
    }
}

/// HTTP API or REST API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKindSpec {
    #[default]
    Http,
    Rest,
}

/// What serves a route: exactly one of `load_balancer` and `cloud_map`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiRouteSpec {
    /// A private integration with this ALB's or NLB's listener.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub load_balancer: Option<Ref>,
    /// A private integration with this service's Cloud Map service (it must register).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cloud_map: Option<Ref>,
    /// A Lambda integration: this service's instances (give it a `cold_start`) are the
    /// function's execution environments.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub lambda: Option<Ref>,
    /// An HTTP proxy integration to a public endpoint: this service's instances (with `uri`,
    /// the `Host` and path they get).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub http: Option<Ref>,
    /// `DiscoverInstances` query parameters of a Cloud Map integration.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Guard the route with the API's JWT authorizer, requiring one of these scopes (an empty
    /// list: any valid token).
    #[serde(default)]
    pub jwt: Option<Vec<String>>,
    /// The route's throttle (`RouteSettings`).
    #[serde(default)]
    pub throttle: Option<ThrottleSpec>,
    /// An `http_proxy` integration URI (`http://host/path/{proxy}`): the backend gets its host
    /// as `Host` and its path, `{name}` filled from `path_parameters`. Without it, the
    /// request's own path and host go through.
    #[serde(default)]
    pub uri: Option<String>,
    /// `{name}` of `uri` -> the route's path parameter that fills it.
    #[serde(default)]
    pub path_parameters: BTreeMap<String, String>,
    /// HTTP API request parameter mappings, applied in key order:
    /// `append|overwrite|remove:header.<name>`, `append|overwrite|remove:querystring.<name>`,
    /// `overwrite:path` -> a value: static text, `$request.header.<name>`,
    /// `$request.querystring.<name>`, `$request.path.<name>`, `$request.path`,
    /// `$context.requestId`, or text with `${...}` of those. Reserved headers (`authorization`,
    /// `x-forwarded-*`, `x-amz-*`, ...) cannot be mapped.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub request_parameters: BTreeMap<String, Spanned<String>>,
}

/// A token bucket.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    /// Requests per second.
    pub rate: f64,
    /// Bucket capacity.
    pub burst: f64,
}

/// A JWT authorizer.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    pub issuer: String,
    pub audience: Vec<String>,
    /// The issuer's JWKS, a file relative to the scenario file.
    pub jwks: String,
    /// The JWKS read when the scenario was loaded.
    #[serde(skip)]
    #[schemars(skip)]
    pub jwks_text: String,
    /// The wall-clock time at the start of the run (token expiry is checked against it), as
    /// seconds since the Unix epoch (default 1767225600: 2026-01-01T00:00:00Z).
    #[serde(default = "JwtSpec::default_epoch")]
    pub start_unix: u64,
}

impl JwtSpec {
    fn default_epoch() -> u64 {
        1_767_225_600
    }
}

/// CORS settings.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsSpec {
    pub allow_origins: Vec<String>,
}

/// Route 53 (reference/aws-semantics.md §6).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route53Spec {
    /// Where the health checkers run (an AZ of a Region standing for the Internet or AWS's
    /// edge), and how many there are (default 16: AWS's 8 Regions probe a 30 s check about every
    /// 2 s in all).
    pub checkers: CheckersSpec,
    /// From a health status change to the name servers answering with it (default uniform 0 to
    /// 60 s: AWS says "generally within 60 seconds").
    #[serde(default = "Route53Spec::default_propagation")]
    pub propagation: DistSpec,
    /// Health checks by id.
    #[serde(default)]
    pub health_checks: BTreeMap<String, HealthCheckR53Spec>,
    /// Calculated health checks by id: healthy while at least `threshold` of `children` are.
    #[serde(default)]
    pub calculated_checks: BTreeMap<String, CalculatedCheckSpec>,
    /// Record sets by DNS name.
    pub records: BTreeMap<String, RecordSpec>,
}

impl Route53Spec {
    fn default_propagation() -> DistSpec {
        DistSpec::Uniform { min: Dur(0), max: Dur(60_000_000_000) }
    }
}

/// A calculated health check.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalculatedCheckSpec {
    /// Health check ids (endpoint or calculated).
    pub children: Vec<String>,
    /// How many must be healthy (0: always healthy; more than the children: never).
    pub threshold: u32,
}

/// The checker fleet.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckersSpec {
    #[schemars(with = "String")]
    pub az: Ref,
    #[serde(default = "CheckersSpec::default_count")]
    pub count: u32,
    /// More AZs (standing for AWS's checker Regions, each its own place on the network): the
    /// checkers are dealt round robin over `az` and these, so a fault between some of them
    /// and a target leaves the others' verdicts (the >18 % rule).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub also_in: Vec<Ref>,
}

impl CheckersSpec {
    /// Where checker `n` runs.
    pub fn az_of(&self, n: u32) -> &str {
        let all = 1 + self.also_in.len();
        match (n as usize) % all {
            0 => &self.az.value,
            i => &self.also_in[i - 1].value,
        }
    }

    fn default_count() -> u32 {
        16
    }
}

/// A Route 53 health check of an endpoint.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckR53Spec {
    /// An API (its regional endpoint) or a service (its first instance).
    #[schemars(with = "String")]
    pub target: Ref,
    /// 10s (fast) or 30s (standard, the default).
    #[serde(default = "HealthCheckR53Spec::default_interval")]
    pub interval: Dur,
    /// 1 to 10 (default 3).
    #[serde(default = "HealthCheckR53Spec::default_threshold")]
    pub failure_threshold: u32,
    /// `http` (default: a 2xx or 3xx within 4 s to connect + 2 s), `https` (the same; no
    /// certificate validation) or `tcp` (a connection within 10 s; any answer passes).
    #[serde(default, rename = "type")]
    pub kind: R53CheckType,
    /// HTTP(S) string matching: the body's first 5,120 bytes must hold this (2 s more for the
    /// body). Services say what their health page holds with `health_body`.
    #[serde(default)]
    pub search_string: Option<String>,
}

/// A Route 53 health check's type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum R53CheckType {
    #[default]
    Http,
    Https,
    Tcp,
}

impl HealthCheckR53Spec {
    fn default_interval() -> Dur {
        Dur(30_000_000_000)
    }
    fn default_threshold() -> u32 {
        3
    }
}

/// A record set: one routing policy.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    /// The answer's TTL (default 60s).
    #[serde(default = "RecordSpec::default_ttl")]
    pub ttl: Dur,
    #[serde(default)]
    pub simple: Option<RecordTargetSpec>,
    #[serde(default)]
    pub failover: Option<FailoverSpec>,
    #[serde(default)]
    pub weighted: Vec<RecordTargetSpec>,
    #[serde(default)]
    pub multivalue: Vec<RecordTargetSpec>,
    /// Latency-based: the answer is the target in the Region with the lowest latency from the
    /// resolver's Region (the p50 of the scenario's latency between the Regions), among the
    /// healthy ones.
    #[serde(default)]
    pub latency: Vec<RecordTargetSpec>,
}

impl RecordSpec {
    fn default_ttl() -> Dur {
        Dur(60_000_000_000)
    }
}

/// A failover pair.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailoverSpec {
    pub primary: RecordTargetSpec,
    pub secondary: RecordTargetSpec,
}

/// What a record answers with: an API's regional endpoint, a service's instances, or (an
/// alias record) a load balancer's nodes, with the load balancer's 60 s TTL.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordTargetSpec {
    #[schemars(with = "String")]
    pub target: Ref,
    #[serde(default)]
    pub health_check: Option<String>,
    /// An alias to a load balancer: healthy only while every target group that has targets
    /// has a healthy one (default false).
    #[serde(default)]
    pub evaluate_target_health: bool,
    /// Weighted records: 0 to 255 (default 1).
    #[serde(default = "RecordTargetSpec::default_weight")]
    pub weight: u32,
}

impl RecordTargetSpec {
    fn default_weight() -> u32 {
        1
    }
}

/// A CloudFront distribution, served from one edge location.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudFrontSpec {
    /// The edge location's AZ (of a Region standing for AWS's edge).
    #[schemars(with = "String")]
    pub az: Ref,
    /// The origin's DNS name (a Route 53 record).
    pub origin: String,
    /// An origin group's secondary origin (a Route 53 record).
    #[serde(default)]
    pub secondary_origin: Option<String>,
    /// Statuses from the primary that send a request to the secondary (timeouts and refusals
    /// always do). Default 500, 502, 503, 504.
    #[serde(default = "CloudFrontSpec::default_failover_statuses")]
    pub failover_statuses: Vec<u16>,
    /// CloudFront's origin response timeout (default 30s).
    #[serde(default = "CloudFrontSpec::default_timeout")]
    pub response_timeout: Dur,
    /// WAF: only clients from these CIDR blocks or clients (others get 403).
    #[serde(default)]
    pub allow: Vec<String>,
    /// The edge's own time per request (default 0).
    #[serde(default)]
    pub processing: DistSpec,
}

impl CloudFrontSpec {
    fn default_failover_statuses() -> Vec<u16> {
        vec![500, 502, 503, 504]
    }
    fn default_timeout() -> Dur {
        Dur(30_000_000_000)
    }
}

/// NAT gateways of one VPC.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatSpec {
    /// A zonal NAT in each of these AZs (hosts `<name>-<az>`, each with its Elastic IP). For a
    /// regional NAT gateway: the AZs it has expanded to (where workloads are).
    #[schemars(with = "Vec<String>")]
    pub azs: Spanned<Vec<String>>,
    /// A regional NAT gateway (late 2025): one gateway with an address in each AZ, every
    /// subnet using its own AZ's (so `routes` must stay empty).
    #[serde(default)]
    pub regional: bool,
    /// Route tables: a subnet's AZ -> the AZ of the NAT it sends through (default: its own).
    /// A subnet routed to another AZ's NAT crosses an AZ and dies with that AZ.
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
}

/// An egress proxy fleet (a service's instances).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressSpec {
    /// The NAT gateways its subnets route through.
    #[schemars(with = "String")]
    pub nat: Ref,
    /// Where it sends what it accepts (a service).
    #[schemars(with = "String")]
    pub destination: Ref,
    /// The header with the shared secret (default `x-egress-secret`).
    #[serde(default = "EgressSpec::default_header")]
    pub header: String,
    /// The secrets it takes, each in a window (a rotation: the old one until some time, the
    /// new one from an earlier time).
    pub secrets: Vec<SecretSpec>,
    /// `shallow` (default, the sample's: the proxy answers its health check itself) or `deep`
    /// (healthy only while a probe of the destination through the NAT passed in the last 15 s;
    /// probes every 5 s).
    #[serde(default)]
    pub health: EgressHealth,
    /// How long it waits for the destination (default 10s; then 504).
    #[serde(default = "EgressSpec::default_timeout")]
    pub timeout: Dur,
    /// Keep connections to the destination open between requests, as Envoy does (default:
    /// a connection per request). A pooled connection idle past the NAT's 350 s timeout gets
    /// an RST on its next request (503), unless `keepalive` is under 350 s.
    #[serde(default)]
    pub upstream_pool: Option<UpstreamPoolSpec>,
}

/// An egress proxy's upstream connection pool.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamPoolSpec {
    /// The proxy closes a connection idle this long (default 1h, Envoy's).
    #[serde(default = "UpstreamPoolSpec::default_idle")]
    pub idle_timeout: Dur,
    /// TCP keep-alive interval on its connections (default: none, as Envoy).
    #[serde(default)]
    pub keepalive: Option<Dur>,
}

impl UpstreamPoolSpec {
    fn default_idle() -> Dur {
        Dur(3_600_000_000_000)
    }
}

impl EgressSpec {
    fn default_header() -> String {
        "x-egress-secret".into()
    }
    fn default_timeout() -> Dur {
        Dur(10_000_000_000)
    }
}

/// A shared secret and when it is taken.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    pub value: String,
    #[serde(default)]
    pub from: Dur,
    #[serde(default)]
    pub until: Option<Dur>,
}

/// What an egress proxy's health check covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EgressHealth {
    #[default]
    Shallow,
    Deep,
}

/// A NAT gateway's host.
pub fn nat_host(name: &str, az: &str) -> String {
    format!("{name}-{az}")
}

/// A Route 53 checker's host, and a CloudFront distribution's edge host.
pub fn checker_host(n: u32) -> String {
    format!("route53-checker-{n}")
}
pub fn edge_host(name: &str) -> String {
    format!("{name}-edge")
}

/// The host of an API's gateway (`<api>-apigw`) and of its VPC link's ENI in `az`.
pub fn apigw_host(api: &str) -> String {
    format!("{api}-apigw")
}
pub fn vpclink_host(api: &str, az: &str) -> String {
    format!("{api}-vpclink-{az}")
}

/// Which proxies an agent connects to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentConnect {
    /// Every agent to every proxy (the HA the tunnel is built for).
    #[default]
    EveryProxy,
    /// Agent n to proxy n alone (the AWS sample's HA: one agent per proxy).
    Pinned,
}

/// What a proxy's health check reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// `/ready`: healthy only while an agent serves each backend (a proxy with no agent leaves
    /// the load balancer).
    #[default]
    Agents,
    /// Healthy while the process runs, agents or not (the AWS sample's check).
    Process,
}

/// The host name of tunnel agent `n` in `az`.
pub fn tunnel_agent_host(az: &str, n: u32) -> String {
    format!("tunnel-agent-{az}-{n}")
}

/// How long Cloud Map's changes take to show.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudMapSettingsSpec {
    /// From `RegisterInstance`/`DeregisterInstance` to `DiscoverInstances` seeing it (default
    /// 1s; AWS only says "brief").
    #[serde(default = "CloudMapSettingsSpec::default_registration")]
    pub registration_delay: Dur,
    /// From `UpdateInstanceCustomHealthStatus` to the change (default 30s, as AWS documents).
    #[serde(default = "CloudMapSettingsSpec::default_health")]
    pub health_change_delay: Dur,
    /// From a registration change to Route 53's name servers answering with it (default 60s:
    /// AWS says "generally within 60 seconds").
    #[serde(default = "CloudMapSettingsSpec::default_dns")]
    pub dns_propagation: Dur,
}

impl CloudMapSettingsSpec {
    fn default_registration() -> Dur {
        Dur(1_000_000_000)
    }
    fn default_health() -> Dur {
        Dur(30_000_000_000)
    }
    fn default_dns() -> Dur {
        Dur(60_000_000_000)
    }
}

impl Default for CloudMapSettingsSpec {
    fn default() -> Self {
        CloudMapSettingsSpec {
            registration_delay: Self::default_registration(),
            health_change_delay: Self::default_health(),
            dns_propagation: Self::default_dns(),
        }
    }
}

/// A Region.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Its AZ IDs (e.g. `use1-az1`); names must be unique across Regions.
    pub azs: Vec<String>,
    /// `closed`: a firewall drops every connection opened from outside the Region (an
    /// on-premises site); connections opened from inside, and their replies, pass. Default
    /// `open`. Enforced by the kernel on the byte-stream path.
    #[serde(default)]
    pub inbound: Inbound,
}

/// Whether a Region accepts connections opened from outside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Inbound {
    #[default]
    Open,
    Closed,
}

/// One-way latency rules; the most specific wins: link, AZ pair, Region pair, then the defaults.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Between hosts of the same AZ (default 300us, the article's p50).
    #[serde(default = "NetworkSpec::default_intra_az")]
    pub intra_az: DistSpec,
    /// Between AZs of one Region (default 1.5ms, the article's p50).
    #[serde(default = "NetworkSpec::default_inter_az")]
    pub inter_az: DistSpec,
    /// Between Regions (default 30ms; set it for your Region pair).
    #[serde(default = "NetworkSpec::default_inter_region")]
    pub inter_region: DistSpec,
    /// Overrides for AZ pairs (from, to); `symmetric` (default true) sets both directions.
    #[serde(default)]
    pub az_pairs: Vec<PairLatency>,
    /// Overrides for Region pairs.
    #[serde(default)]
    pub region_pairs: Vec<PairLatency>,
    /// What one lost packet costs: a TCP retransmission timeout (default 200ms).
    #[serde(default = "NetworkSpec::default_rto")]
    pub retransmit_timeout: Dur,
}

impl NetworkSpec {
    fn default_intra_az() -> DistSpec {
        DistSpec::Fixed(Dur(300_000))
    }
    fn default_inter_az() -> DistSpec {
        DistSpec::Fixed(Dur(1_500_000))
    }
    fn default_inter_region() -> DistSpec {
        DistSpec::Fixed(Dur(30_000_000))
    }
    fn default_rto() -> Dur {
        Dur(200_000_000)
    }
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            intra_az: Self::default_intra_az(),
            inter_az: Self::default_inter_az(),
            inter_region: Self::default_inter_region(),
            az_pairs: Vec::new(),
            region_pairs: Vec::new(),
            retransmit_timeout: Self::default_rto(),
        }
    }
}

fn yes() -> bool {
    true
}

/// Latency from one AZ (or Region) to another.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PairLatency {
    #[schemars(with = "String")]
    pub from: Ref,
    #[schemars(with = "String")]
    pub to: Ref,
    pub latency: DistSpec,
    /// Also set the reverse direction (default true).
    #[serde(default = "yes")]
    pub symmetric: bool,
}

/// A compute service (ECS tasks, EC2 instances): instances in AZs, each with a processing time
/// and a concurrency limit with a queue, optionally calling other services.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Instances per AZ, e.g. `{ use1-az1: 2, use1-az2: 2 }`.
    #[schemars(with = "BTreeMap<String, u32>")]
    pub instances: Spanned<BTreeMap<String, u32>>,
    /// Time an instance spends on a request before its steps (default 0).
    #[serde(default)]
    pub processing: DistSpec,
    /// Requests an instance works on at once (default: unlimited).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Requests an instance queues when busy; beyond it answers 503 (default 1000).
    #[serde(default = "ServiceSpec::default_queue")]
    pub queue: u32,
    /// What the service does after processing, in order.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// Lambda-style execution environments: a request that finds none warm pays a cold start.
    #[serde(default)]
    pub cold_start: Option<ColdStartSpec>,
    /// Register every instance in Cloud Map (as ECS does, with `AWS_INSTANCE_IPV4`,
    /// `AWS_INSTANCE_PORT`, `AVAILABILITY_ZONE` and `REGION`).
    #[serde(default)]
    pub cloud_map: Option<CloudMapRegistration>,
    /// Canned answers (a static backend): the first route whose conditions match answers
    /// with its status and body size after `processing`, instead of running the steps.
    #[serde(default)]
    pub routes: Vec<CannedRouteSpec>,
    /// Sources allowed in (default: everyone); others get 403. Each is an IPv4 CIDR block or
    /// the name of a client, load balancer or service (its hosts' addresses, as a security
    /// group reference). Behind an ALB the source is the ALB node; behind an NLB, the client
    /// (client IP preservation).
    #[serde(default)]
    pub allow_sources: Vec<String>,
    /// The body of the instances' health-check page (what a Route 53 string-match check
    /// reads; default empty).
    #[serde(default)]
    pub health_body: Option<String>,
    /// Run the instances as egress proxies (the Envoy fleet of seeds/003) instead: they check a
    /// shared secret and send what they accept through their subnet's NAT gateway.
    #[serde(default)]
    pub egress: Option<EgressSpec>,
    /// Run the instances as an ECS service's tasks: `instances` is where they run at the start;
    /// ECS checks them, deregisters and replaces failed ones, and registers new ones once they
    /// are healthy.
    #[serde(default)]
    pub ecs: Option<EcsSpec>,
}

/// A canned answer of a static backend: conditions as in ALB listener rules (absent: any).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedRouteSpec {
    /// Path patterns with `*` and `?`.
    #[serde(default)]
    pub path: Vec<String>,
    /// Methods, exact.
    #[serde(default)]
    pub method: Vec<String>,
    /// Host header patterns (case-insensitive).
    #[serde(default)]
    pub host: Vec<String>,
    /// Status answered (default 200).
    #[serde(default = "CannedRouteSpec::default_status")]
    pub status: u16,
    /// Body bytes answered (default 0).
    #[serde(default)]
    pub bytes: u64,
}

impl CannedRouteSpec {
    fn default_status() -> u16 {
        200
    }
}

/// An ECS service's task lifecycle. AWS documents the container health check defaults; the
/// launch and startup times are yours (Fargate tasks commonly take 30 to 60 s to start).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsSpec {
    /// From placement to the container running (default 30s).
    #[serde(default = "EcsSpec::default_launch")]
    pub launch_time: DistSpec,
    /// From the container running to the application answering (default 5s).
    #[serde(default = "EcsSpec::default_startup")]
    pub startup: DistSpec,
    /// The container health check (ECS defaults: interval 30s, retries 3, start_period 0s).
    #[serde(default)]
    pub health_check: ContainerHealthCheckSpec,
    /// Hosts per AZ that can run a task (default: the service's total task count, or the auto
    /// scaling maximum if larger, so every task fits in any one AZ). Replacements go where there
    /// is a free one.
    #[serde(default)]
    pub capacity_per_az: Option<u32>,
    /// Service auto scaling: target tracking on average CPU.
    #[serde(default)]
    pub autoscaling: Option<AutoScalingSpec>,
}

/// Target tracking on CPU, with AWS's alarm behaviour (3 datapoints a minute apart to scale
/// out, 15 below 90 % of the target to scale in). A task's CPU is its processing time over its
/// `concurrency` slots.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoScalingSpec {
    /// Average CPU to hold, 0 to 1 (e.g. 0.5).
    pub target_cpu: f64,
    pub min: u32,
    pub max: u32,
    /// After a scale-out, none for this long (default 300s, AWS's).
    #[serde(default = "AutoScalingSpec::default_cooldown")]
    pub scale_out_cooldown: Dur,
    /// After a scale-in, none for this long (default 300s).
    #[serde(default = "AutoScalingSpec::default_cooldown")]
    pub scale_in_cooldown: Dur,
}

impl AutoScalingSpec {
    fn default_cooldown() -> Dur {
        Dur(300_000_000_000)
    }
}

impl EcsSpec {
    fn default_launch() -> DistSpec {
        DistSpec::Fixed(Dur(30_000_000_000))
    }
    fn default_startup() -> DistSpec {
        DistSpec::Fixed(Dur(5_000_000_000))
    }
}

/// A container health check, as in an ECS task definition.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerHealthCheckSpec {
    /// Between checks (default 30s; ECS allows 5s to 300s).
    #[serde(default = "ContainerHealthCheckSpec::default_interval")]
    pub interval: Dur,
    /// Failed checks in a row that make the task unhealthy (default 3; 1 to 10).
    #[serde(default = "ContainerHealthCheckSpec::default_retries")]
    pub retries: u32,
    /// After the container starts, failures in this period do not count (default 0s).
    #[serde(default)]
    pub start_period: Dur,
}

impl ContainerHealthCheckSpec {
    fn default_interval() -> Dur {
        Dur(30_000_000_000)
    }
    fn default_retries() -> u32 {
        3
    }
}

impl Default for ContainerHealthCheckSpec {
    fn default() -> Self {
        ContainerHealthCheckSpec { interval: Self::default_interval(), retries: Self::default_retries(), start_period: Dur(0) }
    }
}

/// Where a service's instances are registered.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudMapRegistration {
    /// The namespace (created if needed): HTTP, or private DNS when `dns` is given.
    pub namespace: String,
    /// The Cloud Map service (created if needed, with a custom health check).
    pub service: String,
    /// Also publish A records in Route 53 (a private DNS namespace), as ECS service discovery
    /// does.
    #[serde(default)]
    pub dns: Option<CloudMapDnsSpec>,
}

/// The DNS records of a Cloud Map service.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudMapDnsSpec {
    /// The records' TTL (default 60s).
    #[serde(default = "CloudMapDnsSpec::default_ttl")]
    pub ttl: Dur,
    /// `multivalue` (up to 8 healthy records per answer, the default) or `weighted` (one).
    #[serde(default)]
    pub routing: DnsRouting,
}

impl CloudMapDnsSpec {
    fn default_ttl() -> Dur {
        Dur(60_000_000_000)
    }
}

/// A Cloud Map service's DNS routing policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DnsRouting {
    #[default]
    Multivalue,
    Weighted,
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

/// How a client discovers instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryVia {
    #[default]
    Api,
    Dns,
}

/// Cold starts (Lambda). Each execution environment works on one request at a time.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColdStartSpec {
    /// How long starting an environment takes (Lambda in a VPC with a JVM: seconds).
    pub duration: DistSpec,
    /// How long an idle environment stays warm (default 10m; AWS does not document it, 5 to 15
    /// minutes are commonly observed).
    #[serde(default = "ColdStartSpec::default_keep_warm")]
    pub keep_warm: Dur,
    /// Extra time a cold start takes when the function is attached to a VPC (its ENI). Before
    /// AWS's 2019 Hyperplane ENIs this was about 10 s (shared/seeds/003); now it is small.
    /// Default: none.
    #[serde(default)]
    pub vpc_attach: Option<DistSpec>,
}

impl ColdStartSpec {
    fn default_keep_warm() -> Dur {
        Dur(600_000_000_000)
    }
}

impl ServiceSpec {
    fn default_queue() -> u32 {
        1000
    }

    /// Hosts the service has in `az`: its instances or, for an ECS service, every host that
    /// can run a task (`capacity_per_az`, default the total task count).
    pub fn hosts_in(&self, az: &str) -> u32 {
        let initial = self.instances.value.get(az).copied().unwrap_or(0);
        match &self.ecs {
            Some(ecs) => {
                let most = self.instances.value.values().sum::<u32>().max(ecs.autoscaling.as_ref().map_or(0, |a| a.max));
                ecs.capacity_per_az.unwrap_or(most).max(initial)
            }
            None => initial,
        }
    }
}

/// One step: `call` (request and response, then continue) or `forward` (hand the request on;
/// the last service of a forward chain answers the original caller directly, as chain
/// replication does).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Call this service (or load balancer) and wait for its answer.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub call: Option<Ref>,
    /// Hand the request to this service, which answers the original caller.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub forward: Option<Ref>,
    /// How to pick the instance (default `any`).
    #[serde(default)]
    pub pick: Pick,
    /// Headers this step adds to what it sends (a shared secret, say).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// How a caller picks an instance of a service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// Uniformly at random among all instances.
    #[default]
    Any,
    /// Round robin over all instances.
    RoundRobin,
    /// Only instances in the caller's AZ (503 if there are none).
    Local,
    /// The caller's AZ if it has instances, else any.
    PreferLocal,
    /// An AZ this request's forward chain has not used yet (replicas in distinct AZs).
    Spread,
}

/// The kind of a load balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LbKind {
    /// Application Load Balancer: cross-zone load balancing is always on at the LB level.
    Alb,
    /// Network Load Balancer: cross-zone off by default; zonal DNS names per AZ.
    Nlb,
}

/// A load balancer: a node per enabled AZ, in front of a service's instances.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerSpec {
    pub kind: LbKind,
    /// AZs with a node (at least two for an ALB).
    #[schemars(with = "Vec<String>")]
    pub azs: Spanned<Vec<String>>,
    /// The service whose instances are the targets.
    #[schemars(with = "String")]
    pub targets: Ref,
    /// Cross-zone load balancing. ALB: always on at the load balancer; `false` turns it off on
    /// the target group (then a node in an AZ without targets answers 503). NLB: default off.
    #[serde(default)]
    pub cross_zone: Option<bool>,
    /// Time a node spends on each request (default 0).
    #[serde(default)]
    pub processing: DistSpec,
    /// ALB routing algorithm of the target group (default `round_robin`).
    #[serde(default)]
    pub algorithm: Option<Algorithm>,
    /// NLB DNS client routing policy for clients resolving the regional name (default
    /// `any_availability_zone`).
    #[serde(default)]
    pub dns_client_routing_policy: Option<ClientRoutingPolicy>,
    /// Target health checks (defaults: AWS's for the kind).
    #[serde(default)]
    pub health_check: Option<HealthCheckSpec>,
    /// ALB listener rules, evaluated by priority (lowest first); requests no rule matches are
    /// forwarded to `targets` (the default action).
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// How long a deregistered target keeps its in-flight requests (default 300s, AWS's).
    #[serde(default)]
    pub deregistration_delay: Option<Dur>,
    /// Target group health thresholds (AWS's `target_group_health` attributes).
    #[serde(default)]
    pub target_group_health: Option<TargetGroupHealthSpec>,
}

/// Target group health thresholds, counted per AZ when cross-zone is off and over the group
/// when it is on.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupHealthSpec {
    /// DNS failover: a node whose group has fewer healthy targets leaves DNS (default: 1 for an
    /// NLB, as AWS documents; off for an ALB). `0` turns it off.
    #[serde(default)]
    pub dns_failover_min_healthy: Option<u32>,
    /// Routing failover: with fewer healthy targets, the node routes to every target,
    /// unhealthy ones included (default 1: only when none is healthy).
    #[serde(default)]
    pub routing_failover_min_healthy: Option<u32>,
}

/// An ALB listener rule: conditions (OR within one, AND across them; absent means any) and
/// exactly one action.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// 1 to 50000, unique; lowest first.
    #[schemars(with = "u32")]
    pub priority: Spanned<u32>,
    /// Path patterns with `*` and `?` (case-sensitive, path only).
    #[serde(default)]
    pub path: Vec<String>,
    /// Host patterns (case-insensitive; `*.example.com` does not match `example.com`).
    #[serde(default)]
    pub host: Vec<String>,
    /// Methods, exact.
    #[serde(default)]
    pub method: Vec<String>,
    /// Header name -> accepted values (case-insensitive, wildcards).
    #[serde(default)]
    pub headers: BTreeMap<String, Vec<String>>,
    /// Query key -> accepted values (wildcards).
    #[serde(default)]
    pub query: BTreeMap<String, Vec<String>>,
    /// Source CIDRs (IPv4), matched against the client's address.
    #[serde(default)]
    pub source_ip: Vec<String>,
    /// Forward to services (target groups), by weight.
    #[serde(default)]
    pub forward: Vec<ForwardSpec>,
    /// Answer at the load balancer.
    #[serde(default)]
    pub fixed_response: Option<FixedResponseSpec>,
    /// Answer with a redirect.
    #[serde(default)]
    pub redirect: Option<RedirectSpec>,
}

/// One weighted target group of a forward action.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardSpec {
    #[schemars(with = "String")]
    pub service: Ref,
    /// 0 to 999 (default 1).
    #[serde(default = "ForwardSpec::default_weight")]
    pub weight: u32,
}

impl ForwardSpec {
    fn default_weight() -> u32 {
        1
    }
}

/// A fixed response.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedResponseSpec {
    /// 2XX, 4XX or 5XX.
    pub status: u16,
    /// Body size (default 0).
    #[serde(default)]
    pub bytes: u64,
}

/// A redirect.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectSpec {
    /// 301 or 302.
    pub status: u16,
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
    pub jwt: Option<String>,
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

/// ALB target-group routing algorithms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    #[default]
    RoundRobin,
    /// The target with the fewest requests in flight from this node.
    LeastOutstandingRequests,
    /// A target at random (equal weights; anomaly mitigation is not modelled).
    WeightedRandom,
}

/// NLB `dns_record.client_routing_policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientRoutingPolicy {
    /// Every healthy node's address.
    #[default]
    AnyAvailabilityZone,
    /// 85 % of answers carry only the client's AZ's node.
    PartialAvailabilityZoneAffinity,
    /// Every answer carries only the client's AZ's node (while it is healthy).
    AvailabilityZoneAffinity,
}

/// Target health-check settings. ALB defaults: 30s, 5s, 5, 2. NLB defaults: 30s, 10s, 5, 2.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// 5s to 300s.
    #[serde(default)]
    pub interval: Option<Dur>,
    /// 2s to 120s, less than the interval.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// 2 to 10 consecutive successes to become healthy again.
    #[serde(default)]
    pub healthy_threshold: Option<u32>,
    /// 2 to 10 consecutive failures to become unhealthy.
    #[serde(default)]
    pub unhealthy_threshold: Option<u32>,
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

/// A client workload: hosts in AZs sending requests to a load balancer or a service.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
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
    /// Open loop: requests per second per client host.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Gaps between open-loop requests (default `poisson`).
    #[serde(default)]
    pub arrivals: Arrivals,
    /// Closed loop: requests in flight per client host.
    #[serde(default)]
    pub concurrency: Option<u32>,
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
    /// Send through the AZ-affinity client library (`affinity-client`): zone-aware selection,
    /// outlier ejection, circuit breaking, retries under a budget. Needs `discovery` (the
    /// library discovers every zone's instances and prefers its own; leave `query` out).
    #[serde(default)]
    pub library: Option<LibrarySpec>,
}

impl ClientSpec {
    fn default_bytes() -> u64 {
        1024
    }
    fn default_timeout() -> Dur {
        Dur(10_000_000_000)
    }
}

/// A fault on the timeline: when, for how long, and exactly one kind.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// When it starts.
    pub at: Dur,
    /// How long it lasts (default: until the end).
    #[serde(default, rename = "for")]
    pub duration: Option<Dur>,
    /// Every host in this AZ loses power; links to it are black holes.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub az_outage: Option<Ref>,
    /// Every host in this Region is unreachable.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub region_outage: Option<Ref>,
    /// The process on these hosts crashes (connections refused or reset); it restarts at the end.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub crash: Option<Ref>,
    /// These hosts lose power (packets vanish).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub power_off: Option<Ref>,
    /// Latency between two scopes changes (a gray AZ).
    #[serde(default)]
    pub latency: Option<LatencyFault>,
    /// Packets between two scopes vanish.
    #[serde(default)]
    pub partition: Option<PathFault>,
    /// Packets between two scopes are lost with a probability (each loss costs a retransmission).
    #[serde(default)]
    pub loss: Option<LossFault>,
}

/// A latency change. `from`/`to` name an AZ, a Region, a service, a load balancer, a client, a
/// host, or `*` for everything.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyFault {
    #[schemars(with = "String")]
    pub from: Ref,
    #[schemars(with = "String")]
    pub to: Ref,
    /// Replace the latency with this distribution.
    #[serde(default)]
    pub set: Option<DistSpec>,
    /// Add this distribution to the latency.
    #[serde(default)]
    pub add: Option<DistSpec>,
    /// Also the reverse direction (default true).
    #[serde(default = "yes")]
    pub both_ways: bool,
}

/// A partition between two scopes.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathFault {
    #[schemars(with = "String")]
    pub from: Ref,
    #[schemars(with = "String")]
    pub to: Ref,
    /// Also the reverse direction (default true).
    #[serde(default = "yes")]
    pub both_ways: bool,
}

/// Packet loss between two scopes.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossFault {
    #[schemars(with = "String")]
    pub from: Ref,
    #[schemars(with = "String")]
    pub to: Ref,
    /// Probability that a packet is lost, 0 to 1.
    pub probability: f64,
    #[serde(default = "yes")]
    pub both_ways: bool,
}

/// Which requests an expectation looks at.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Requests started at or after this time.
    #[serde(default)]
    pub from: Dur,
    /// Requests started before this time (default: the end).
    #[serde(default)]
    pub to: Option<Dur>,
}

/// Latency budgets by percentile (each a maximum), and `at_least`, a minimum for every request
/// (to document a cost, e.g. that each request paid a cold start).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyBudget {
    #[serde(default)]
    pub at_least: Option<Dur>,
    #[serde(default)]
    pub p0: Option<Dur>,
    #[serde(default)]
    pub p50: Option<Dur>,
    #[serde(default)]
    pub p90: Option<Dur>,
    #[serde(default)]
    pub p99: Option<Dur>,
    #[serde(default)]
    pub p999: Option<Dur>,
    #[serde(default)]
    pub max: Option<Dur>,
}

/// Bounds on a count per request.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountBudget {
    /// The largest count any request may have.
    #[serde(default)]
    pub max: Option<u32>,
    /// The mean over requests may not exceed this.
    #[serde(default)]
    pub mean: Option<f64>,
}

/// Bounds on a ratio: `min` for a budget; `max` to state that a design *does* lose requests
/// (a scenario that documents a weakness).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RatioBudget {
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// An upper bound on a number.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaxBudget {
    pub max: f64,
}

/// How fast service must return after each fault.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryBudget {
    /// The last failed request (of the selected ones) must have started at most this long after
    /// the fault began, and a successful request must follow it.
    #[schemars(with = "Dur")]
    pub within: Spanned<Dur>,
}

/// An expectation: an optional name and filter, and exactly one check.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectationSpec {
    /// Shown in reports (default: derived from the check).
    #[serde(default)]
    pub name: Option<String>,
    /// Only this client's requests.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub client: Option<Ref>,
    /// Only requests of clients in this AZ.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub az: Option<Ref>,
    /// Only requests started in this window.
    #[serde(default)]
    pub window: Option<Window>,
    /// End-to-end latency of answered requests.
    #[serde(default)]
    pub latency: Option<LatencyBudget>,
    /// Latency of the requests that took the most AZ crossings (the worst-case path).
    #[serde(default)]
    pub worst_path_latency: Option<LatencyBudget>,
    /// AZ crossings per request.
    #[serde(default)]
    pub az_crossings: Option<CountBudget>,
    /// Region crossings per request.
    #[serde(default)]
    pub region_crossings: Option<CountBudget>,
    /// Share of requests answered successfully.
    #[serde(default)]
    pub success_ratio: Option<RatioBudget>,
    /// Data-transfer cost of the whole run, in US dollars.
    #[serde(default)]
    pub cost_usd: Option<MaxBudget>,
    /// Bytes that crossed AZ boundaries.
    #[serde(default)]
    pub cross_az_bytes: Option<MaxBudget>,
    /// Time to recover after every fault on the timeline.
    #[serde(default)]
    pub recovery: Option<RecoveryBudget>,
    /// Failed requests (answered with an error, or not at all).
    #[serde(default)]
    pub failures: Option<FailureBudget>,
    /// Attempts per request of clients using the library (retry amplification): `max` for a
    /// budget, `min` to document a retry storm.
    #[serde(default)]
    pub retry_amplification: Option<RatioBudget>,
    /// After a fault takes down hosts registered in Cloud Map: how long `DiscoverInstances`
    /// kept returning them.
    #[serde(default)]
    pub discovery_staleness: Option<StalenessBudget>,
    /// Requests nobody answered: the client timed out, or they were still in flight at the
    /// end. An error status (502, 503, 504) is an answer: the failure was explicit.
    #[serde(default)]
    pub unanswered: Option<FailureBudget>,
    /// Requests the tunnel's backend executed more than once (the whole run; needs `tunnel`).
    #[serde(default)]
    pub executed_twice: Option<FailureBudget>,
}

/// A bound on failed requests.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureBudget {
    pub max: u64,
}

/// A bound on how long discovery returns instances that are gone.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StalenessBudget {
    #[schemars(with = "Dur")]
    pub max: Spanned<Dur>,
}

/// Prices in US dollars (defaults: AWS public pricing, see reference/aws-semantics.md §7).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Per GB between AZs, charged at each end (default 0.01, so 0.02 per GB that crosses).
    #[serde(default = "Prices::default_cross_az")]
    pub cross_az_per_gb: f64,
    /// Per GB between Regions, charged to the sender (default 0.02).
    #[serde(default = "Prices::default_cross_region")]
    pub cross_region_per_gb: f64,
    /// Whether ALB-to-target traffic across AZs is free (default true: widely reported, not
    /// in AWS's pricing page).
    #[serde(default = "yes")]
    pub alb_to_target_free: bool,
    /// A NAT gateway's processing, per GB in either direction (default 0.045, us-east-1).
    #[serde(default = "Prices::default_nat")]
    pub nat_per_gb: f64,
    /// A NAT gateway's hour (default 0.045, us-east-1).
    #[serde(default = "Prices::default_nat")]
    pub nat_per_hour: f64,
}

impl Prices {
    fn default_nat() -> f64 {
        0.045
    }
    fn default_cross_az() -> f64 {
        0.01
    }
    fn default_cross_region() -> f64 {
        0.02
    }
}

impl Default for Prices {
    fn default() -> Self {
        Prices { cross_az_per_gb: 0.01, cross_region_per_gb: 0.02, alb_to_target_free: true, nat_per_gb: 0.045, nat_per_hour: 0.045 }
    }
}

/// A variant: overrides applied to the baseline. Maps (`profiles`, `services`,
/// `load_balancers`, `clients`) merge entry by entry; other sections replace the baseline's.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub duration: Option<Dur>,
    #[serde(default)]
    pub profiles: BTreeMap<String, DistSpec>,
    #[serde(default)]
    pub network: Option<NetworkSpec>,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
    #[serde(default)]
    pub load_balancers: BTreeMap<String, LoadBalancerSpec>,
    #[serde(default)]
    pub clients: BTreeMap<String, ClientSpec>,
    #[serde(default)]
    pub faults: Option<Vec<FaultSpec>>,
    #[serde(default)]
    pub expectations: Option<Vec<ExpectationSpec>>,
    #[serde(default)]
    pub prices: Option<Prices>,
    #[serde(default)]
    pub cloud_map: Option<CloudMapSettingsSpec>,
    #[serde(default)]
    pub tunnel: Option<TunnelSpec>,
    #[serde(default)]
    pub api_gateways: BTreeMap<String, ApiGatewaySpec>,
    #[serde(default)]
    pub route53: Option<Route53Spec>,
    #[serde(default)]
    pub cloudfront: BTreeMap<String, CloudFrontSpec>,
    #[serde(default)]
    pub nat_gateways: BTreeMap<String, NatSpec>,
}

/// The host name of instance `n` of service `service` in `az` (`router-use1-az1-0`).
pub fn service_host(service: &str, az: &str, n: u32) -> String {
    format!("{service}-{az}-{n}")
}

/// The host name of a load balancer's node in `az` (`foo-alb-use1-az1`).
pub fn lb_node_host(lb: &str, az: &str) -> String {
    format!("{lb}-{az}")
}

/// The host name of client host `n` of `client` in `az` (`app-use1-az1-0`).
pub fn client_host(client: &str, az: &str, n: u32) -> String {
    format!("{client}-{az}-{n}")
}

impl ScenarioFile {
    /// Every host the scenario places, by name (what fault scopes may name).
    pub fn host_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (name, s) in &self.services {
            for az in s.instances.value.keys() {
                names.extend((0..s.hosts_in(az)).map(|n| service_host(name, az, n)));
            }
        }
        for (name, lb) in &self.load_balancers {
            names.extend(lb.azs.value.iter().map(|az| lb_node_host(name, az)));
        }
        for (name, c) in &self.clients {
            for (az, count) in &c.azs.value {
                names.extend((0..*count).map(|n| client_host(name, az, n)));
            }
        }
        if let Some(t) = &self.tunnel {
            for (az, count) in &t.agents.value {
                names.extend((0..*count).map(|n| tunnel_agent_host(az, n)));
            }
        }
        if let Some(r) = &self.route53 {
            names.extend((0..r.checkers.count).map(checker_host));
        }
        names.extend(self.cloudfront.keys().map(|n| edge_host(n)));
        for (name, nat) in &self.nat_gateways {
            names.extend(nat.azs.value.iter().map(|az| nat_host(name, az)));
        }
        for (name, api) in &self.api_gateways {
            names.push(apigw_host(name));
            names.extend(api.vpc_link.value.iter().map(|az| vpclink_host(name, az)));
        }
        names
    }
}

/// A loaded, validated scenario: the baseline and its variants, each fully resolved.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it came from.
    pub path: String,
    pub file: ScenarioFile,
}
