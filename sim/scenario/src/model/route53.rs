//! `route53:`: record sets and their routing policies, health checks, the checker fleet.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Ref;
use crate::one_of::{deserialize_through, exactly_one, given};
use crate::units::{DistSpec, Dur};

/// Route 53: routing policies
/// (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy.html>), health
/// checks and failover
/// (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html>).
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
    /// An API (its regional endpoint), a service (its first instance) or a load balancer (its
    /// DNS name: each probe resolves it and probes one of its nodes, which passes while it has
    /// a healthy target).
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
#[derive(Clone, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    /// The answer's TTL (default 60s).
    #[serde(default = "RecordSpec::default_ttl")]
    pub ttl: Dur,
    #[serde(flatten)]
    pub policy: RecordPolicy,
}

/// A record set's routing policy: exactly one of these keys (a list must not be empty).
#[derive(Clone, Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordPolicy {
    Simple(RecordTargetSpec),
    Failover(FailoverSpec),
    Weighted(Vec<RecordTargetSpec>),
    Multivalue(Vec<RecordTargetSpec>),
    /// Latency-based: the answer is the target in the Region with the lowest latency from the
    /// resolver's Region (the p50 of the scenario's latency between the Regions), among the
    /// healthy ones.
    Latency(Vec<RecordTargetSpec>),
}

impl RecordPolicy {
    /// Every target the record may answer with.
    pub fn targets(&self) -> Vec<&RecordTargetSpec> {
        match self {
            RecordPolicy::Simple(t) => vec![t],
            RecordPolicy::Failover(f) => vec![&f.primary, &f.secondary],
            RecordPolicy::Weighted(ts) | RecordPolicy::Multivalue(ts) | RecordPolicy::Latency(ts) => ts.iter().collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordSpecRaw {
    #[serde(default = "RecordSpec::default_ttl")]
    ttl: Dur,
    #[serde(default)]
    simple: Option<Spanned<RecordTargetSpec>>,
    #[serde(default)]
    failover: Option<Spanned<FailoverSpec>>,
    #[serde(default)]
    weighted: Option<Spanned<Vec<RecordTargetSpec>>>,
    #[serde(default)]
    multivalue: Option<Spanned<Vec<RecordTargetSpec>>>,
    #[serde(default)]
    latency: Option<Spanned<Vec<RecordTargetSpec>>>,
}

impl RecordSpecRaw {
    fn parse<E: serde::de::Error>(self) -> Result<RecordSpec, E> {
        // An empty list is no policy, as it always was.
        let list = |l: Option<Spanned<Vec<RecordTargetSpec>>>| l.filter(|l| !l.value.is_empty());
        let policies = [
            given(self.simple, RecordPolicy::Simple),
            given(self.failover, RecordPolicy::Failover),
            given(list(self.weighted), RecordPolicy::Weighted),
            given(list(self.multivalue), RecordPolicy::Multivalue),
            given(list(self.latency), RecordPolicy::Latency),
        ];
        let policy = exactly_one(policies, None, |_| "a record set has exactly one of `simple`, `failover`, `weighted`, `multivalue` and `latency`".into())?;
        Ok(RecordSpec { ttl: self.ttl, policy })
    }
}

deserialize_through!(RecordSpec, RecordSpecRaw);

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
