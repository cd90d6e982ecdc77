//! `load_balancers:`: ALBs and NLBs, their health checks and listener rules.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Ref;
use crate::one_of::{deserialize_through, exactly_one, given};
use crate::units::{DistSpec, Dur};

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
    /// NLB: whether targets see the client's address (client IP preservation). AWS's default
    /// depends on the target type: on for instance targets, off for IP targets over TCP/TLS
    /// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-target-group-attributes.html#client-ip-preservation>).
    /// An ECS service's tasks (awsvpc networking) are IP targets, other services instance
    /// targets. Off, a target sees the NLB node's address, as behind an ALB. Not for an ALB
    /// (it always substitutes its own; the client's goes in `X-Forwarded-For`).
    #[serde(default)]
    pub preserve_client_ip: Option<bool>,
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
    /// The connection idle timeout (`idle_timeout.timeout_seconds`). ALB: default 60s, 1s to
    /// 4000s; a target that does not answer within it gets 504, and the ALB closes its
    /// keep-alive connections to targets idle for that long. NLB: the TCP idle timeout,
    /// default 350s, 60s to 6000s (an NLB passes requests through; connection pooling is
    /// modelled for ALBs only).
    #[serde(default)]
    pub idle_timeout: Option<Dur>,
    /// How long a deregistered target keeps its in-flight requests (default 300s, AWS's).
    #[serde(default)]
    pub deregistration_delay: Option<Dur>,
    /// An ALB's CPU time for a full TLS handshake with a client (`connections: { tls }`):
    /// its first flight leaves this much later; a resumed session costs none. AWS documents
    /// none (default 0s).
    #[serde(default)]
    pub tls_handshake_cpu: Option<Dur>,
    /// Target group health thresholds (AWS's `target_group_health` attributes).
    #[serde(default)]
    pub target_group_health: Option<TargetGroupHealthSpec>,
    /// How a target group without registered targets counts when Route 53 evaluates this load
    /// balancer's target health for an alias record (`evaluate_target_health: true`). Default
    /// `unhealthy`: the current AliasTarget page ("A target group that has no registered
    /// targets is considered unhealthy"); older pages said `healthy`.
    #[serde(default)]
    pub empty_target_groups: Option<EmptyTargetGroups>,
    /// How long a dead node (powered off, its AZ lost) stays in the load balancer's DNS before
    /// it is removed (default 0s: at once). AWS does not document it; instant is the most
    /// optimistic choice.
    #[serde(default)]
    pub dns_removal_delay: Option<Dur>,
}

/// How an empty target group counts to Route 53's evaluate-target-health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmptyTargetGroups {
    /// The load balancer is unhealthy while any of its target groups has no targets (AWS's
    /// current page).
    #[default]
    Unhealthy,
    /// Empty target groups are ignored (older pages): only groups with targets must have a
    /// healthy one.
    Healthy,
}

/// Target group health thresholds, counted per AZ when cross-zone is off and over the group
/// when it is on.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupHealthSpec {
    /// DNS failover: a node whose group has fewer healthy targets leaves DNS (default 1, as
    /// AWS documents for both kinds: with cross-zone off, a node whose AZ has no healthy
    /// target leaves DNS; with it on, only when the whole group has none, and then every node
    /// stays, fail-open). `0` turns it off.
    #[serde(default)]
    pub dns_failover_min_healthy: Option<u32>,
    /// Routing failover: with fewer healthy targets, the node routes to every target,
    /// unhealthy ones included (default 1: only when none is healthy).
    #[serde(default)]
    pub routing_failover_min_healthy: Option<u32>,
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
    /// The success codes (`Matcher.HttpCode`): a code (`200`), a list (`200,202`), a range
    /// (`200-399`) or a mix (`200,300-399`). ALB: default `200` (a redirect fails), codes 200
    /// to 499. NLB HTTP checks: default `200-399`, codes 200 to 599.
    #[serde(default)]
    pub matcher: Option<String>,
}

/// An ALB listener rule: conditions (OR within one, AND across them; absent means any) and
/// exactly one action.
#[derive(Clone, Debug, JsonSchema)]
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
    #[serde(flatten)]
    pub action: RuleAction,
}

/// A rule's action: exactly one of these keys (`forward` with at least one target group).
#[derive(Clone, Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Forward to services (target groups), by weight.
    Forward(Vec<ForwardSpec>),
    /// Answer at the load balancer.
    FixedResponse(FixedResponseSpec),
    /// Answer with a redirect.
    Redirect(RedirectSpec),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpecRaw {
    priority: Spanned<u32>,
    #[serde(default)]
    path: Vec<String>,
    #[serde(default)]
    host: Vec<String>,
    #[serde(default)]
    method: Vec<String>,
    #[serde(default)]
    headers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    query: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    source_ip: Vec<String>,
    #[serde(default)]
    forward: Option<Spanned<Vec<ForwardSpec>>>,
    #[serde(default)]
    fixed_response: Option<Spanned<FixedResponseSpec>>,
    #[serde(default)]
    redirect: Option<Spanned<RedirectSpec>>,
}

impl RuleSpecRaw {
    fn parse<E: serde::de::Error>(self) -> Result<RuleSpec, E> {
        // An empty `forward` is no action, as it always was.
        let actions = [
            given(self.forward.filter(|f| !f.value.is_empty()), RuleAction::Forward),
            given(self.fixed_response, RuleAction::FixedResponse),
            given(self.redirect, RuleAction::Redirect),
        ];
        let action =
            exactly_one(actions, Some(self.priority.referenced), |n| format!("a rule has exactly one action (forward, fixed_response, redirect); found {n}"))?;
        Ok(RuleSpec {
            priority: self.priority,
            path: self.path,
            host: self.host,
            method: self.method,
            headers: self.headers,
            query: self.query,
            source_ip: self.source_ip,
            action,
        })
    }
}

deserialize_through!(RuleSpec, RuleSpecRaw);

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
