//! Every default the fakes start from, in one place, each with where it comes from: the AWS
//! page that documents it, or "ours" where AWS is silent (then it is a scenario setting, and
//! `sim/fakes/FIDELITY.md` says so). The world builder and the fakes read these; nothing else
//! spells them out.

use azsim_kernel::Nanos;

use crate::lb::HealthCheckConfig;

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
    /// The TTL of a load balancer's DNS records, 60 s.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/how-elastic-load-balancing-works.html>
    pub const DNS_TTL: Nanos = secs(60);
}

/// Application Load Balancer.
pub mod alb {
    use super::*;

    /// Health checks every 30 s, 5 s timeout, healthy after 5, unhealthy after 2.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html>
    pub const HEALTH_CHECK: HealthCheckConfig = HealthCheckConfig { interval: secs(30), timeout: secs(5), healthy_threshold: 5, unhealthy_threshold: 2 };
    /// The connection idle timeout, 60 s (1 to 4000 s): a target that does not answer within it
    /// gets 504, and a node closes a keep-alive connection to a target idle for that long.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#connection-idle-timeout>
    pub const IDLE_TIMEOUT: Nanos = secs(60);
    /// DNS failover of a node whose targets are unhealthy is off for an ALB unless set (the
    /// ELB user guide's 2023 text gives `off`; the CDK describes a count of 1: a setting,
    /// `target_group_health.dns_failover_min_healthy`).
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health.html>
    pub const DNS_FAILOVER_MIN_HEALTHY: Option<u32> = None;
}

/// Network Load Balancer.
pub mod nlb {
    use super::*;

    /// Health checks every 30 s, 10 s timeout, healthy after 5, unhealthy after 2.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html>
    pub const HEALTH_CHECK: HealthCheckConfig = HealthCheckConfig { interval: secs(30), timeout: secs(10), healthy_threshold: 5, unhealthy_threshold: 2 };
    /// The TCP idle timeout, 350 s.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html>
    pub const IDLE_TIMEOUT: Nanos = secs(350);
    /// A node whose AZ has no healthy target leaves DNS ("we remove the IP address for the
    /// corresponding subnet from DNS"): DNS failover below 1 healthy target.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html>
    pub const DNS_FAILOVER_MIN_HEALTHY: Option<u32> = Some(1);
    /// Partial AZ affinity sends 85 % of a client's DNS queries to its own AZ's node.
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-load-balancer-attributes.html#zonal-dns-affinity>
    pub const PARTIAL_AZ_AFFINITY_SHARE: f64 = 0.85;
}

/// API Gateway.
pub mod api_gateway {
    use super::*;

    /// An HTTP API's integration timeout, 30 s, answered 503.
    /// <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html>
    pub const HTTP_INTEGRATION_TIMEOUT: Nanos = secs(30);
    pub const HTTP_TIMEOUT_STATUS: u16 = 503;
    /// A REST API's integration timeout, 29 s, answered 504.
    /// <https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html>
    pub const REST_INTEGRATION_TIMEOUT: Nanos = secs(29);
    pub const REST_TIMEOUT_STATUS: u16 = 504;
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
}

/// Clients.
pub mod client {
    use super::*;

    /// How often a discovering client asks Cloud Map again, unless the scenario says. Ours.
    pub const DISCOVERY_REFRESH: Nanos = secs(30);
}
