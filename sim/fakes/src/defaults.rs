//! Every default the fakes start from, in one place, each with where it comes from: the AWS
//! page that documents it, or "ours" where AWS is silent (then it is a scenario setting, and
//! `sim/fakes/FIDELITY.md` says so). The world builder and the fakes read these; nothing else
//! spells them out.

use azsim_kernel::Nanos;

use crate::lb::HealthCheckConfig;
use crate::matcher::Matcher;

const fn secs(s: u64) -> Nanos {
    s * 1_000_000_000
}

/// Both load balancers (Elastic Load Balancing).
pub mod elb {
    use super::*;

    /// Deregistered targets drain for 300 s.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay>
    pub const DEREGISTRATION_DELAY: Nanos = secs(300);
    /// A target group fails open (routes to every target) when fewer than one target is
    /// healthy: `target_group_health.unhealthy_state_routing.minimum_healthy_targets.count` 1.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health.html>
    pub const ROUTING_FAILOVER_MIN_HEALTHY: u32 = 1;
    /// How Route 53's evaluate-target-health counts a target group without registered
    /// targets: unhealthy. The AliasTarget page (`EvaluateTargetHealth`, Application and
    /// Network Load Balancers) now says "A target group that has no registered targets is
    /// considered unhealthy"; older versions of it said such a group counted healthy. Both
    /// are a scenario setting (`empty_target_groups`); the default is the current text. (The
    /// docs search here surfaced the page's Kotlin SDK copy but not this sentence: the reading
    /// rests on the quote of the current page.)
    /// <https://docs.aws.amazon.com/Route53/latest/APIReference/API_AliasTarget.html>
    pub const EMPTY_TARGET_GROUPS: crate::lb::EmptyTargetGroups = crate::lb::EmptyTargetGroups::Unhealthy;
    /// How long a dead node (powered off, its AZ lost) stays in the load balancer's DNS: 0, at
    /// once. AWS does not document how soon ELB's control plane notices a dead node and
    /// removes its address; instant is the most optimistic choice (clients still hold the
    /// address for the 60 s TTL). Ours: a setting (`dns_removal_delay`).
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/how-elastic-load-balancing-works.html>
    pub const DNS_REMOVAL_DELAY: Nanos = 0;
    /// The TTL of a load balancer's DNS records, 60 s.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/how-elastic-load-balancing-works.html>
    pub const DNS_TTL: Nanos = secs(60);
}

/// Application Load Balancer.
pub mod alb {
    use super::*;

    /// Health checks every 30 s, 5 s timeout, healthy after 5, unhealthy after 2; success
    /// codes (`Matcher.HttpCode`) `200` alone, so a redirect fails the check (settable to
    /// codes, lists and ranges from 200 to 499).
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html>
    pub const HEALTH_CHECK: HealthCheckConfig =
        HealthCheckConfig { interval: secs(30), timeout: secs(5), healthy_threshold: 5, unhealthy_threshold: 2, matcher: Matcher::range(200, 200) };
    /// The connection idle timeout, 60 s (1 to 4000 s): a target that does not answer within it
    /// gets 504, and a node closes a keep-alive connection to a target idle for that long.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#connection-idle-timeout>
    pub const IDLE_TIMEOUT: Nanos = secs(60);
    /// DNS failover below 1 healthy target, as for an NLB: with cross-zone off, a node whose
    /// AZ has no healthy target leaves DNS; with it on (the ALB default) the count is over the
    /// whole group, so a node leaves only when every node would, and then all stay (fail-open).
    /// What the pages say (read 2026-12): the target group health page opens "By default, a
    /// target group is considered healthy as long as it has at least one healthy target" and
    /// says DNS failover acts "when the healthy targets in a zone fall below the threshold",
    /// without a number in the text we could read; AWS's CDK (`TargetGroupHealth`) documents
    /// `dnsMinimumHealthyTargetCount` default 1 ("Use 0 for off"); Pulumi's provider docs for
    /// `target_group_health.dns_failover.minimum_healthy_targets.count` say "The default is
    /// off" (the older text, which this fake followed until now). Chosen: 1, the page's "at
    /// least one healthy target" and AWS's own CDK; `dns_failover_min_healthy: 0` gives `off`.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health.html>
    pub const DNS_FAILOVER_MIN_HEALTHY: Option<u32> = Some(1);
    /// A node gives up connecting to a target after 10 s and answers 504, whatever the idle
    /// timeout ("The load balancer failed to establish a connection to the target before the
    /// connection timeout expired (10 seconds)"); AWS offers no setting for it.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html>
    pub const CONNECT_TIMEOUT: Nanos = secs(10);
}

/// Network Load Balancer.
pub mod nlb {
    use super::*;

    /// Health checks every 30 s, 10 s timeout, healthy after 5, unhealthy after 2; HTTP
    /// checks pass on 200 to 399 (settable from 200 to 599).
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html>
    pub const HEALTH_CHECK: HealthCheckConfig =
        HealthCheckConfig { interval: secs(30), timeout: secs(10), healthy_threshold: 5, unhealthy_threshold: 2, matcher: Matcher::range(200, 399) };
    /// The TCP idle timeout, 350 s (60 to 6000 s per TCP listener): a flow idle that long is
    /// forgotten, and a packet on it afterwards, from either side, is answered with RST.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html>
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/network-load-balancers.html#connection-idle-timeout>
    pub const IDLE_TIMEOUT: Nanos = secs(350);
    /// A node whose AZ has no healthy target leaves DNS ("we remove the IP address for the
    /// corresponding subnet from DNS"): DNS failover below 1 healthy target.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html>
    pub const DNS_FAILOVER_MIN_HEALTHY: Option<u32> = Some(1);
    /// Client IP preservation: on for instance targets, off for IP targets over TCP and TLS
    /// (an ECS service's awsvpc tasks are IP targets).
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-target-group-attributes.html#client-ip-preservation>
    pub const PRESERVE_CLIENT_IP_INSTANCE_TARGETS: bool = true;
    pub const PRESERVE_CLIENT_IP_IP_TARGETS: bool = false;
    /// Partial AZ affinity sends 85 % of a client's DNS queries to its own AZ's node.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-load-balancer-attributes.html#zonal-dns-affinity>
    pub const PARTIAL_AZ_AFFINITY_SHARE: f64 = 0.85;
}

/// Linux TCP, as the callers' kernels behave (the callers of the fakes run Linux: ELB nodes,
/// API Gateway's integration client, tasks and instances).
pub mod tcp {
    use super::*;

    /// The first SYN retransmission comes 1 s after the SYN (`TCP_TIMEOUT_INIT`, RFC 6298
    /// section 2.1's initial RTO), and each later one doubles the wait.
    /// <https://www.rfc-editor.org/rfc/rfc6298#section-2>
    pub const SYN_INITIAL_RTO: Nanos = secs(1);
    /// `net.ipv4.tcp_syn_retries`, 6: SYNs go at 0, 1, 3, 7, 15, 31 and 63 s, and `connect()`
    /// fails (ETIMEDOUT) at 127 s unless the caller gives up sooner.
    /// <https://docs.kernel.org/networking/ip-sysctl.html>
    pub const SYN_RETRIES: u32 = 6;
}

/// API Gateway.
pub mod api_gateway {
    use super::*;

    /// An HTTP API's integration timeout, 30 s ("Maximum integration timeout: 30 seconds").
    /// <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html>
    pub const HTTP_INTEGRATION_TIMEOUT: Nanos = secs(30);
    /// What an HTTP API answers when its integration times out: 503. The sources differ:
    /// - The current HTTP API developer guide gives no status: its quotas page (above) gives
    ///   only the 30 s, its troubleshooting pages cover Lambda integrations and JWT authorizers
    ///   and name no timeout status, and `TimeoutInMillis` (50 to 30,000 ms) says none either.
    ///   <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting.html>
    ///   <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-apigatewayv2-apigatewaymanagedoverrides-integrationoverrides.html>
    /// - The Knowledge Center says 504, but its rule is written for REST APIs ("If an
    ///   integration request takes longer than your API Gateway REST API maximum integration
    ///   timeout parameter, API Gateway returns an HTTP 504 status code"), though the page's
    ///   title covers HTTP APIs too.
    ///   <https://repost.aws/knowledge-center/api-gateway-504-errors>
    ///
    /// With no developer-guide figure to follow, the default stays what HTTP APIs are reported
    /// to answer (503 `{"message":"Service Unavailable"}`); a scenario sets `timeout_status:
    /// 504` for the Knowledge Center's reading.
    pub const HTTP_TIMEOUT_STATUS: u16 = 503;
    /// A REST API's integration timeout, 29 s, answered 504.
    /// <https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html>
    pub const REST_INTEGRATION_TIMEOUT: Nanos = secs(29);
    pub const REST_TIMEOUT_STATUS: u16 = 504;
}

/// CloudFront's origin settings (custom origins), from "Origin settings":
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesOrigin.html>
pub mod cloudfront {
    use super::*;

    /// Connection attempts, 3 (1 to 3): how many times CloudFront tries to connect to an
    /// origin, and, for `GET` and `HEAD` on a custom origin, to get its response, before it
    /// tries the origin group's secondary or answers with an error. "By default, CloudFront
    /// waits as long as 30 seconds (3 attempts of 10 seconds each)."
    pub const CONNECTION_ATTEMPTS: u32 = 3;
    /// Connection timeout, 10 s (1 to 10 s): how long CloudFront waits when trying to
    /// establish a connection to the origin.
    pub const CONNECTION_TIMEOUT: Nanos = secs(10);
    /// Response (origin read) timeout, 30 s: how long CloudFront waits for a response after
    /// forwarding a request (on a connection that is open).
    pub const RESPONSE_TIMEOUT: Nanos = secs(30);
    /// Keep-alive timeout, 5 s (1 to 60 s): how long CloudFront keeps an idle connection to a
    /// custom origin after the last packet of a response.
    pub const KEEP_ALIVE_TIMEOUT: Nanos = secs(5);
}

/// ECS.
pub mod ecs {
    use super::*;

    /// A service's health check grace period, 0 s: "If you don't specify a health check grace
    /// period value, the default value of 0 is used"; for that long after a task first starts,
    /// ECS ignores unhealthy Elastic Load Balancing and container health checks.
    /// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html>
    pub const HEALTH_CHECK_GRACE_PERIOD: Nanos = secs(0);
}

/// Cloud Map.
pub mod cloud_map {
    /// The record TTL of a service without DNS records (HTTP namespaces never answer DNS, so
    /// it is only stored). Ours.
    pub const DNS_TTL_SECONDS: u32 = 60;
}

/// The egress proxy fleet (an Envoy fleet; ours).
pub mod egress {
    use super::*;

    /// A deep health check probes the destination through the NAT every 5 s, and passes while
    /// a probe passed in the last 15 s. Ours.
    pub const DEEP_PROBE_INTERVAL: Nanos = secs(5);
    pub const DEEP_PROBE_FRESH_FOR: Nanos = secs(15);
}

/// Simulated services.
pub mod service {
    use super::*;

    /// How long a service waits on a call before answering 504. Ours.
    pub const CALL_TIMEOUT: Nanos = secs(5);
    /// A service's HTTP keep-alive: it never closes an idle connection (Go `net/http`'s
    /// default), so the load balancer's idle timeout closes first and no request meets a close
    /// unless the scenario sets one (Node.js 5 s, gunicorn 2 s, nginx 75 s). Ours.
    pub const KEEP_ALIVE: crate::conn::KeepAlive = crate::conn::KeepAlive::Unlimited;
    /// How long a service keeps an idle connection to what it calls: 90 s, Go's
    /// `http.DefaultTransport` `IdleConnTimeout`, as for clients. Ours.
    pub const CALL_IDLE_TIMEOUT: Nanos = secs(90);
}

/// Clients.
pub mod client {
    use super::*;

    /// How often a discovering client asks Cloud Map again, unless the scenario says. Ours.
    pub const DISCOVERY_REFRESH: Nanos = secs(30);
}
