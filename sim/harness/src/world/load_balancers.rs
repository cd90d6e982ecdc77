//! ALB and NLB nodes: one [`LbNode`] per AZ of a load balancer, its listener rules, health
//! checks and failover thresholds, registered in the DNS view ([`LbDirectory`]).

use azsim_fakes::defaults::{alb, nlb};
use azsim_fakes::rules::{Action, Conditions, Rule};
use azsim_fakes::{ClientRouting, EmptyTargetGroups, HealthCheckConfig, LbAlgorithm, LbNode, LbNodeConfig, Matcher, defaults};
use azsim_kernel::{Core, Nanos};
use azsim_scenario::{Algorithm, ClientRoutingPolicy, LbKind, LoadBalancerSpec, RuleAction, ScenarioFile};

use super::Shared;
use super::hosts::Placed;
use super::network::dist;

/// Puts every load balancer's nodes on their hosts and publishes them in DNS.
pub(super) fn add(f: &ScenarioFile, placed: &Placed<'_>, shared: &Shared, core: &mut Core) {
    for (name, lb) in &f.load_balancers {
        let (groups, rules) = listener_rules(lb);
        let tg_health = lb.target_group_health.clone().unwrap_or_default();
        let dns_failover = match (tg_health.dns_failover_min_healthy, lb.kind) {
            (Some(0), _) => None,
            (Some(n), _) => Some(n),
            (None, LbKind::Nlb) => nlb::DNS_FAILOVER_MIN_HEALTHY,
            (None, LbKind::Alb) => alb::DNS_FAILOVER_MIN_HEALTHY,
        };
        let algorithm = match lb.algorithm.unwrap_or_default() {
            Algorithm::RoundRobin => LbAlgorithm::RoundRobin,
            Algorithm::LeastOutstandingRequests => LbAlgorithm::LeastOutstandingRequests,
            Algorithm::WeightedRandom => LbAlgorithm::WeightedRandom,
        };
        for node in placed.lb_nodes(name) {
            shared.directory.register_node(name, node.host, node.az);
            let config = LbNodeConfig {
                lb: name.clone(),
                groups: groups.clone(),
                registry: shared.target_groups.clone(),
                deregistration_delay: deregistration_delay(lb),
                routing_failover_min_healthy: tg_health.routing_failover_min_healthy.unwrap_or(defaults::elb::ROUTING_FAILOVER_MIN_HEALTHY),
                dns_failover_min_healthy: dns_failover,
                cross_zone: lb.cross_zone.unwrap_or(lb.kind == LbKind::Alb),
                preserve_client_ip: preserve_client_ip(f, lb),
                header_limits: lb.kind == LbKind::Alb,
                processing: dist(f, &lb.processing),
                health: health_check(lb),
                target_timeout: idle_timeout(lb),
                algorithm,
                directory: shared.directory.clone(),
                rules: rules.clone(),
                tls_handshake_cpu: lb.tls_handshake_cpu.map_or(0, |d| d.nanos()),
            };
            let node_process = LbNode::new(config);
            let node_process = if pools_connections(f, lb, &groups) { node_process.with_pooled_targets() } else { node_process };
            let node_process = if routes_flows(f, name) { node_process.with_flows() } else { node_process };
            core.add_process(node.host, Box::new(node_process));
        }
        let own_az_share = match lb.dns_client_routing_policy.unwrap_or_default() {
            ClientRoutingPolicy::AnyAvailabilityZone => 0.0,
            ClientRoutingPolicy::PartialAvailabilityZoneAffinity => nlb::PARTIAL_AZ_AFFINITY_SHARE,
            ClientRoutingPolicy::AvailabilityZoneAffinity => 1.0,
        };
        shared.directory.set_client_routing(name, ClientRouting { own_az_share });
        let empty_target_groups = match lb.empty_target_groups {
            None => defaults::elb::EMPTY_TARGET_GROUPS,
            Some(azsim_scenario::EmptyTargetGroups::Unhealthy) => EmptyTargetGroups::Unhealthy,
            Some(azsim_scenario::EmptyTargetGroups::Healthy) => EmptyTargetGroups::Healthy,
        };
        shared.directory.set_empty_target_groups(name, empty_target_groups);
        shared.directory.set_dns_removal_delay(name, lb.dns_removal_delay.map_or(defaults::elb::DNS_REMOVAL_DELAY, |d| d.nanos()));
    }
}

/// The load balancer's idle timeout: AWS's default for its kind unless set.
fn idle_timeout(lb: &LoadBalancerSpec) -> Nanos {
    let default = if lb.kind == LbKind::Alb { alb::IDLE_TIMEOUT } else { nlb::IDLE_TIMEOUT };
    lb.idle_timeout.map_or(default, |d| d.nanos())
}

/// Whether the load balancer's nodes keep keep-alive connections to their targets: an ALB's
/// do, when every target group is a simulated service reached over TCP. Not Lambda-style
/// services (`cold_start`: an ALB invokes a Lambda target, it does not connect to it), egress
/// proxies or the tunnel's real code, which take requests as messages. An NLB passes requests
/// through (one target connection per client flow is not modelled yet).
fn pools_connections(f: &ScenarioFile, lb: &LoadBalancerSpec, groups: &[String]) -> bool {
    lb.kind == LbKind::Alb && groups.iter().all(|g| f.serves_over_tcp(g))
}

/// Whether load balancer `name` is an NLB whose nodes route connecting callers' flows: its
/// targets must take connections (see [`pools_connections`]).
pub(super) fn routes_flows(f: &ScenarioFile, name: &str) -> bool {
    f.load_balancers.get(name).is_some_and(|lb| lb.kind == LbKind::Nlb && lb_groups(lb).iter().all(|g| f.serves_over_tcp(g)))
}

/// Whether targets see the client's address: never behind an ALB; behind an NLB, as set, else
/// AWS's default for the target type (an ECS service's tasks are IP targets).
fn preserve_client_ip(f: &ScenarioFile, lb: &LoadBalancerSpec) -> bool {
    let ip_targets = f.services.get(&lb.targets.value).is_some_and(|s| s.ecs.is_some());
    let default = if ip_targets { nlb::PRESERVE_CLIENT_IP_IP_TARGETS } else { nlb::PRESERVE_CLIENT_IP_INSTANCE_TARGETS };
    lb.kind == LbKind::Nlb && lb.preserve_client_ip.unwrap_or(default)
}

/// How long a load balancer's deregistered targets drain.
pub(super) fn deregistration_delay(lb: &LoadBalancerSpec) -> Nanos {
    lb.deregistration_delay.map_or(defaults::elb::DEREGISTRATION_DELAY, |d| d.nanos())
}

/// The target groups (services) a load balancer routes to: the default one, then those its
/// listener rules forward to.
pub(super) fn lb_groups(lb: &LoadBalancerSpec) -> Vec<String> {
    listener_rules(lb).0
}

/// An ALB's listener rules as the node runs them: the target groups (the default one first,
/// then those rules forward to) and the rules, sorted by priority, with services replaced by
/// group indices.
fn listener_rules(lb: &LoadBalancerSpec) -> (Vec<String>, Vec<Rule>) {
    let mut group_of: Vec<String> = vec![lb.targets.value.clone()];
    let mut rules: Vec<Rule> = lb
        .rules
        .iter()
        .map(|r| {
            let action = match &r.action {
                RuleAction::FixedResponse(f) => Action::FixedResponse { status: f.status, bytes: f.bytes },
                RuleAction::Redirect(red) => Action::Redirect { status: red.status },
                RuleAction::Forward(forward) => {
                    let groups = forward
                        .iter()
                        .map(|f| {
                            let index = group_of.iter().position(|g| *g == f.service.value).unwrap_or_else(|| {
                                group_of.push(f.service.value.clone());
                                group_of.len() - 1
                            });
                            (index, f.weight)
                        })
                        .collect();
                    Action::Forward(groups)
                }
            };
            let conditions = Conditions {
                paths: r.path.clone(),
                hosts: r.host.clone(),
                methods: r.method.clone(),
                headers: r.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                query: r.query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                source_ips: r.source_ip.iter().filter_map(|c| azsim_scenario::parse_cidr(c)).collect(),
            };
            Rule { priority: r.priority.value, conditions, action }
        })
        .collect();
    rules.sort_by_key(|r| r.priority);
    (group_of, rules)
}

/// The load balancer's health checks: AWS's defaults for its kind, overridden field by field.
fn health_check(lb: &LoadBalancerSpec) -> HealthCheckConfig {
    let mut hc = match lb.kind {
        LbKind::Alb => alb::HEALTH_CHECK,
        LbKind::Nlb => nlb::HEALTH_CHECK,
    };
    if let Some(spec) = &lb.health_check {
        hc.interval = spec.interval.map_or(hc.interval, |d| d.nanos());
        hc.timeout = spec.timeout.map_or(hc.timeout, |d| d.nanos());
        hc.healthy_threshold = spec.healthy_threshold.unwrap_or(hc.healthy_threshold);
        hc.unhealthy_threshold = spec.unhealthy_threshold.unwrap_or(hc.unhealthy_threshold);
        if let Some(text) = &spec.matcher {
            let ranges = azsim_scenario::parse_matcher(text).expect("validation checked the matcher");
            hc.matcher = Matcher::of_ranges(&ranges);
        }
    }
    hc
}
