//! Target-group membership over time: draining, routing and DNS failover thresholds, and the ECS
//! task lifecycle that registers and deregisters targets. One test per documented behaviour.

use std::sync::Arc;
use std::time::Duration;

use azsim_fakes::*;
use azsim_kernel::{Dist, Failure, Fault, HostId, Outcome, Scope};

use super::{LB_HOSTS, MS, World, api_config, client_config, resolve_from, world};

/// A load balancer over the registry's group `api`, one node per AZ.
struct Lb {
    registry: TargetRegistry,
    directory: LbDirectory,
}

struct LbOptions {
    cross_zone: bool,
    deregistration_delay: u64,
    routing_failover_min_healthy: u32,
    dns_failover_min_healthy: Option<u32>,
    health: HealthCheckConfig,
}

impl Default for LbOptions {
    fn default() -> Self {
        LbOptions {
            cross_zone: true,
            deregistration_delay: 300_000 * MS,
            routing_failover_min_healthy: 1,
            dns_failover_min_healthy: None,
            health: HealthCheckConfig {
                interval: 5_000 * MS,
                timeout: 2_000 * MS,
                healthy_threshold: 2,
                unhealthy_threshold: 2,
                ..HealthCheckConfig::default()
            },
        }
    }
}

fn load_balancer(w: &World, registry: TargetRegistry, o: LbOptions) -> Lb {
    let directory = LbDirectory::default();
    for (i, az) in w.azs.iter().enumerate() {
        let h = w.host(&format!("lb-{i}"));
        directory.register_node("lb", h, *az);
        let cfg = LbNodeConfig {
            lb: "lb".into(),
            groups: vec!["api".into()],
            registry: registry.clone(),
            deregistration_delay: o.deregistration_delay,
            routing_failover_min_healthy: o.routing_failover_min_healthy,
            dns_failover_min_healthy: o.dns_failover_min_healthy,
            cross_zone: o.cross_zone,
            preserve_client_ip: false,
            header_limits: true,
            processing: Dist::Fixed(0),
            health: o.health,
            target_timeout: 60_000 * MS,
            algorithm: LbAlgorithm::RoundRobin,
            directory: directory.clone(),
            rules: vec![],
            tls_handshake_cpu: 0,
        };
        w.sim.with_core(|c| c.add_process(h, Box::new(LbNode::new(cfg))));
    }
    Lb { registry, directory }
}

fn registered(w: &World) -> TargetRegistry {
    let registry = TargetRegistry::default();
    for e in w.api() {
        registry.register("api", e);
    }
    registry
}

fn via_lb(lb: &Lb) -> Destination {
    Destination::LoadBalancer { name: "lb".into(), zonal: false, directory: lb.directory.clone(), ttl: 60_000 * MS }
}

fn served_by(w: &World, host: HostId) -> u64 {
    w.sim.with_core(|c| c.process(host).unwrap().as_any().downcast_ref::<ServiceInstance>().unwrap().served)
}

/// Failed requests' start times (ms) and reasons.
fn failures(w: &World) -> Vec<(u64, Outcome)> {
    w.sim.with_core(|c| c.requests().iter().filter(|r| r.outcome != Outcome::Ok).map(|r| (r.started / MS, r.outcome.clone())).collect())
}

/// Deregisters `host` from `api` at `at` (a test stand-in for the ECS control plane).
struct Deregister {
    registry: TargetRegistry,
    host: HostId,
    at: u64,
}

impl azsim_kernel::Process for Deregister {
    fn on_start(&mut self, cx: &mut azsim_kernel::Cx<'_>) {
        cx.set_timer(self.at, 0);
    }
    fn on_timer(&mut self, cx: &mut azsim_kernel::Cx<'_>, _: u64) {
        self.registry.deregister("api", self.host, cx.now());
    }
    fn on_message(&mut self, _: &mut azsim_kernel::Cx<'_>, _: HostId, _: azsim_kernel::Message) {}
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[test]
fn a_deregistered_target_gets_no_new_requests() {
    let mut w = world(1, &[("lb-0", 0), ("lb-1", 1), ("lb-2", 2), ("client", 0), ("ops", 0)]);
    w.add_api(Dist::Fixed(MS), None, 0);
    let lb = load_balancer(&w, registered(&w), LbOptions::default());
    let leaving = w.api()[0].host;
    let ops = w.host("ops");
    w.sim.with_core(|c| c.add_process(ops, Box::new(Deregister { registry: lb.registry.clone(), host: leaving, at: 10_000 * MS })));
    w.client("client", via_lb(&lb), Pacing::Open { rate: 100.0, poisson: false }, 2000);
    w.sim.run_until(Duration::from_secs(10));
    let before = served_by(&w, leaving);
    w.sim.run_until(Duration::from_secs(25));
    assert!(before > 250, "it served its share before: {before}");
    assert_eq!(served_by(&w, leaving), before, "nothing new after deregistration");
    assert!(failures(&w).is_empty());
}

#[test]
fn requests_still_in_flight_when_the_deregistration_delay_ends_get_502() {
    let mut w = world(1, &[("lb-0", 0), ("lb-1", 1), ("lb-2", 2), ("client", 0), ("ops", 0)]);
    // Every request takes 10 s; the delay is 2 s.
    w.add_api(Dist::Fixed(10_000 * MS), None, 0);
    let lb = load_balancer(&w, registered(&w), LbOptions { deregistration_delay: 2_000 * MS, ..LbOptions::default() });
    let leaving = w.api()[0].host;
    let ops = w.host("ops");
    w.sim.with_core(|c| c.add_process(ops, Box::new(Deregister { registry: lb.registry.clone(), host: leaving, at: 1_000 * MS })));
    let cfg = ClientConfig { timeout: 20_000 * MS, ..client_config(via_lb(&lb), Pacing::Open { rate: 10.0, poisson: false }, 10) };
    let client = w.host("client");
    w.sim.with_core(|c| c.add_process(client, Box::new(Client::new(cfg))));
    w.sim.run_until(Duration::from_secs(15));
    let (done, failed): (Vec<_>, Vec<_>) =
        w.sim.with_core(|c| c.requests().iter().map(|r| (r.finished.map(|f| f / MS), r.outcome.clone())).partition(|(_, o)| *o == Outcome::Ok));
    assert!(!failed.is_empty(), "the leaving target had requests in flight");
    // Deregistered at 1 s, delay 2 s: its requests end with 502 at 3 s, plus the way back from
    // the node (0.1 ms in the AZ, 1 ms from another).
    assert!(failed.iter().all(|(t, o)| *o == Outcome::Failed(Failure::Status(502)) && matches!(t, Some(3_000..=3_001))), "{failed:?}");
    assert_eq!(done.len() + failed.len(), 10);
}

/// A service instance that serves requests but never answers a health check: alive, yet
/// unhealthy to every load-balancer node, so only fail-open sends it traffic.
struct FailsHealthChecks(ServiceInstance);

impl azsim_kernel::Process for FailsHealthChecks {
    fn on_start(&mut self, cx: &mut azsim_kernel::Cx<'_>) {
        self.0.on_start(cx);
    }
    fn on_message(&mut self, cx: &mut azsim_kernel::Cx<'_>, from: HostId, msg: azsim_kernel::Message) {
        if !matches!(msg.body::<Body>(), Some(Body::HealthCheck(_))) {
            self.0.on_message(cx, from, msg);
        }
    }
    fn on_timer(&mut self, cx: &mut azsim_kernel::Cx<'_>, token: u64) {
        self.0.on_timer(cx, token);
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self.0.as_any()
    }
}

#[test]
fn routing_failover_at_the_default_threshold_only_fails_open_when_no_target_is_healthy() {
    let mut w = world(1, &LB_HOSTS);
    let api = w.api();
    let cfg = Arc::new(api_config(Dist::Fixed(MS), None, 0));
    w.sim.with_core(|c| {
        c.add_process(api[0].host, Box::new(ServiceInstance::new(cfg.clone())));
        c.add_process(api[1].host, Box::new(FailsHealthChecks(ServiceInstance::new(cfg.clone()))));
        c.add_process(api[2].host, Box::new(FailsHealthChecks(ServiceInstance::new(cfg.clone()))));
        // The one healthy target goes at 20 s: two failed checks 5 s apart take it out by 31 s.
        c.schedule_fault(20_000 * MS, None, Fault::HostCrash(api[0].host));
    });
    let lb = load_balancer(&w, registered(&w), LbOptions::default());
    w.client("client", via_lb(&lb), Pacing::Open { rate: 100.0, poisson: false }, 4500);
    let unhealthy_served = |w: &World| served_by(w, api[1].host) + served_by(w, api[2].host);

    // The run starts in steady state: every target counts healthy until two of its probes fail.
    // Each node probes on its own phase (under 5 s), and a probe the target ignores fails at its
    // 2 s timeout, so by 12 s every node has marked the two unhealthy; from then on one healthy
    // target is enough: the two unhealthy ones get nothing new while it lives.
    w.sim.run_until(Duration::from_secs(12));
    let (at_12, healthy_at_12) = (unhealthy_served(&w), served_by(&w, api[0].host));
    w.sim.run_until(Duration::from_secs(19));
    assert_eq!(unhealthy_served(&w), at_12, "no fail-open while one target is healthy");
    let healthy_served = served_by(&w, api[0].host) - healthy_at_12;
    assert!(healthy_served >= 690, "the healthy target served the rest (700 sent from 12 s to 19 s): {healthy_served}");
    let failed: Vec<(u64, Outcome)> = failures(&w).into_iter().filter(|(_, o)| *o != Outcome::Unknown).collect();
    assert!(failed.is_empty(), "nothing failed while one target was healthy (the last request is still on its way): {failed:?}");

    // None healthy: fail-open sends every target its share, and the two that are alive answer.
    w.sim.run_until(Duration::from_secs(35));
    let before = (served_by(&w, api[1].host), served_by(&w, api[2].host));
    w.sim.run_until(Duration::from_secs(45));
    let during = (served_by(&w, api[1].host) - before.0, served_by(&w, api[2].host) - before.1);
    assert!((300..=367).contains(&during.0) && (300..=367).contains(&during.1), "fail-open once no target is healthy: {during:?} of 1000");
}

#[test]
fn routing_failover_above_the_healthy_count_routes_to_unhealthy_targets_too() {
    let mut w = world(1, &LB_HOSTS);
    w.add_api(Dist::Fixed(MS), None, 0);
    let lb = load_balancer(&w, registered(&w), LbOptions { routing_failover_min_healthy: 2, ..LbOptions::default() });
    let api = w.api();
    w.sim.with_core(|c| {
        c.schedule_fault(1_000 * MS, None, Fault::HostCrash(api[1].host));
        c.schedule_fault(1_000 * MS, None, Fault::HostCrash(api[2].host));
    });
    w.client("client", via_lb(&lb), Pacing::Open { rate: 100.0, poisson: false }, 4000);
    w.sim.run_until(Duration::from_secs(45));
    let late = failures(&w).iter().filter(|(t, _)| *t >= 20_000).count();
    // One healthy target is below the threshold of 2: every target gets traffic, two of three fail.
    assert!((1300..1400).contains(&late), "{late}");
}

#[test]
fn dns_failover_takes_a_node_out_of_dns_below_its_threshold() {
    let mut w = world(2, &[("lb-0", 0), ("lb-1", 1), ("lb-2", 2), ("probe", 0), ("probe2", 0)]);
    w.add_api(Dist::Fixed(MS), None, 0);
    let lb = load_balancer(&w, registered(&w), LbOptions { cross_zone: false, dns_failover_min_healthy: Some(2), ..LbOptions::default() });
    let one_in_az0 = w.api()[0].host;
    w.sim.with_core(|c| c.schedule_fault(20_000 * MS, None, Fault::HostCrash(one_in_az0)));
    w.sim.run_until(Duration::from_secs(19));
    assert_eq!(resolve_from(&mut w, &lb.directory, "probe"), 3, "every node while each AZ has 2 healthy targets");
    w.sim.run_until(Duration::from_secs(40));
    assert_eq!(resolve_from(&mut w, &lb.directory, "probe2"), 2, "az0 has 1 healthy target, below the threshold of 2");
}

/// An ECS service `api` with `slots` hosts per AZ, the first running; its control plane on
/// `ecs`; registered in the target group `api`.
struct Ecs {
    events: TaskEvents,
    registry: TargetRegistry,
}

fn ecs_world(extra: &[(&str, usize)]) -> World {
    // The control plane runs outside the AZs the tests take down (az1).
    let mut hosts = vec![("ecs", 2)];
    hosts.extend_from_slice(extra);
    world(2, &hosts)
}

fn ecs_service(w: &World, launch: u64, startup: u64, drain: u64) -> Ecs {
    ecs_service_with_grace(w, launch, startup, drain, 0)
}

fn ecs_service_with_grace(w: &World, launch: u64, startup: u64, drain: u64, grace: u64) -> Ecs {
    let cfg = Arc::new(api_config(Dist::Fixed(MS), None, 0));
    let names: Vec<String> = (0..3).flat_map(|az| (0..2).map(move |n| format!("api-{az}-{n}"))).collect();
    let api = w.api();
    let registry = TargetRegistry::default();
    let slots: Vec<TaskSlot> = names
        .iter()
        .zip(api.iter())
        .map(|(name, e)| {
            let running = name.ends_with("-0");
            if running {
                registry.register("api", *e);
            }
            TaskSlot { name: name.clone(), endpoint: *e, switch: TaskSwitch::new(running), running_at_start: running }
        })
        .collect();
    let events = TaskEvents::default();
    let config = EcsServiceConfig {
        service: "api".into(),
        slots: slots.clone(),
        azs: w.azs.clone(),
        launch: Dist::Fixed(launch),
        startup: Dist::Fixed(startup),
        health: ContainerHealthCheck::default(),
        health_check_grace_period: grace,
        target_groups: Some((registry.clone(), drain)),
        cloud_map: None,
        events: events.clone(),
        autoscaling: None,
    };
    let ecs = w.host("ecs");
    w.sim.with_core(|c| {
        for s in &slots {
            c.add_process(s.endpoint.host, Box::new(ServiceInstance::new(cfg.clone()).with_switch(s.switch.clone())));
        }
        c.add_process(ecs, Box::new(EcsService::new(config)));
    });
    Ecs { events, registry }
}

fn events_of(e: &Ecs, task: u32) -> Vec<(u64, String)> {
    e.events.all().into_iter().filter(|x| x.task == task).map(|x| (x.at / MS, x.event)).collect()
}

#[test]
fn ecs_replaces_a_dead_task_after_three_failed_container_checks() {
    let mut w = ecs_world(&[]);
    let ecs = ecs_service(&w, 20_000 * MS, 5_000 * MS, 0);
    let dead = w.host("api-0-0");
    w.sim.with_core(|c| c.schedule_fault(10_000 * MS, None, Fault::HostPowerOff(dead)));
    w.sim.run_until(Duration::from_secs(200));
    let old = events_of(&ecs, 1);
    let (stopped_at, reason) = old[0].clone();
    assert_eq!(reason, "container health check failed 3 times; stopping");
    // Checks every 30 s: the third one to fail comes 60 to 90 s after the host died.
    assert!((70_000..=100_000).contains(&stopped_at), "{stopped_at}");
    // The replacement goes to the AZ that lost a task (fewest tasks), on its free host.
    let new = events_of(&ecs, 4);
    assert_eq!(
        new,
        vec![
            (stopped_at, "placed in az1".to_string()),
            (stopped_at + 20_000, "container running".to_string()),
            // Ready 5 s after starting; the first check runs one interval (30 s) in.
            (stopped_at + 50_000, "container healthy; registered".to_string()),
        ]
    );
    let targets: Vec<String> =
        w.sim.with_core(|c| ecs.registry.targets("api").iter().map(|r| c.topology().host(r.endpoint.host).name.clone()).collect::<Vec<_>>());
    assert_eq!(targets, vec!["api-1-0", "api-2-0", "api-0-1"]);
}

#[test]
fn ecs_places_replacements_outside_an_az_that_is_down() {
    let mut w = ecs_world(&[]);
    let ecs = ecs_service(&w, 20_000 * MS, 5_000 * MS, 0);
    let az0 = w.azs[0];
    w.sim.with_core(|c| c.schedule_fault(10_000 * MS, None, Fault::AzOutage(az0)));
    w.sim.run_until(Duration::from_secs(200));
    let placed: Vec<String> = ecs.events.all().into_iter().filter(|e| e.event.starts_with("placed")).map(|e| e.event).collect();
    // Both survivors have one task: the tie goes to the first AZ in placement order.
    assert_eq!(placed, vec!["placed in az2"]);
}

#[test]
fn a_task_that_never_becomes_ready_is_stopped_after_its_retries_and_retried() {
    let mut w = ecs_world(&[]);
    // It takes 200 s to answer: three checks 30 s apart fail first.
    let ecs = ecs_service(&w, 10_000 * MS, 200_000 * MS, 0);
    let dead = w.host("api-2-0");
    w.sim.with_core(|c| c.schedule_fault(1_000 * MS, None, Fault::HostCrash(dead)));
    w.sim.run_until(Duration::from_secs(300));
    let first_replacement = events_of(&ecs, 4);
    let placed = first_replacement[0].0;
    assert_eq!(first_replacement[1], (placed + 10_000, "container running".to_string()));
    assert_eq!(first_replacement[2], (placed + 100_000, "container health check failed 3 times while starting; stopping".to_string()));
    assert!(events_of(&ecs, 5).first().is_some_and(|(_, e)| e.starts_with("placed")), "it is replaced in turn");
}

#[test]
fn a_task_that_is_not_running_does_not_answer() {
    let mut w = ecs_world(&[("client", 0)]);
    let _ecs = ecs_service(&w, 10_000 * MS, 0, 0);
    let idle = Endpoint { host: w.host("api-0-1"), az: w.azs[0] };
    w.client("client", Destination::Service(Picker::new(PickPolicy::Any, vec![idle])), Pacing::Closed { concurrency: 1 }, 1);
    w.sim.run_until(Duration::from_secs(5));
    assert_eq!(failures(&w), vec![(0, Outcome::Failed(Failure::Timeout))]);
}

#[test]
fn a_stopping_task_drains_for_the_deregistration_delay_before_it_stops() {
    let mut w = ecs_world(&[]);
    let ecs = ecs_service(&w, 10_000 * MS, 0, 45_000 * MS);
    let dead = w.host("api-1-0");
    w.sim.with_core(|c| c.schedule_fault(1_000 * MS, None, Fault::HostCrash(dead)));
    w.sim.run_until(Duration::from_secs(200));
    let old = events_of(&ecs, 2);
    assert_eq!(old.len(), 2);
    assert_eq!(old[1], (old[0].0 + 45_000, "stopped".to_string()));
}

/// ECS replaces a task the load balancer reports unhealthy although its container check passes,
/// once the service's health check grace period is over. AWS: "The service scheduler also
/// replaces tasks determined to be unhealthy after a container health check or a load balancer
/// target group health check fails"
/// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html); the grace
/// period, default 0, ignores unhealthy ELB and container checks "after a task has first
/// started" (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html).
#[test]
fn ecs_replaces_a_task_the_load_balancer_reports_unhealthy_after_the_grace_period() {
    // (grace period, when the old task may stop, in ms): the nodes find it unhealthy 17 to 22 s
    // in (two failed checks 5 s apart, 2 s timeout); ECS reads that at its next container check
    // (every 30 s), or at the first one after the grace period.
    for (grace, earliest, latest) in [(0, 17_000, 52_000), (120_000, 120_000, 150_000)] {
        let mut w = ecs_world(&[("lb-0", 0), ("lb-1", 1), ("lb-2", 2)]);
        let ecs = ecs_service_with_grace(&w, 20_000 * MS, 5_000 * MS, 0, grace * MS);
        let lb = load_balancer(&w, ecs.registry.clone(), LbOptions::default());
        // The task's host stays up (its container check passes), but the health checks of the
        // load balancer's nodes get no answer from it.
        let task = w.host("api-0-0");
        for node in ["lb-0", "lb-1", "lb-2"] {
            let from = Scope::Host(w.host(node));
            w.sim.with_core(|c| c.schedule_fault(10_000 * MS, None, Fault::Partition { from, to: Scope::Host(task), both_ways: true }));
        }
        w.sim.run_until(Duration::from_secs(200));
        let old = events_of(&ecs, 1);
        let (stopped_at, reason) = old[0].clone();
        assert_eq!(reason, "failed ELB health checks in target group api; stopping", "grace {grace} ms");
        assert!((earliest..=latest).contains(&stopped_at), "grace {grace} ms: stopped at {stopped_at}");
        let placed = events_of(&ecs, 4);
        assert_eq!(placed[0], (stopped_at, "placed in az1".to_string()));
        // The replacement (on api-0-1) passes the nodes' checks and stays.
        assert_eq!(placed.last().map(|e| e.1.as_str()), Some("container healthy; registered"));
        assert!(!lb.registry.reported_unhealthy("api", w.host("api-0-1"), |_| true));
    }
}

/// A target that answers every health check with `status` (a redirect, a 404, ...).
struct AnswersHealthWith(u16);

impl azsim_kernel::Process for AnswersHealthWith {
    fn on_message(&mut self, cx: &mut azsim_kernel::Cx<'_>, from: HostId, msg: azsim_kernel::Message) {
        if let Body::HealthCheck(hc) = Body::of(msg) {
            cx.send(from, Body::health_reply(HealthReply::status(hc.seq, self.0)));
        }
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// One target per AZ, cross-zone off and DNS failover at 1, so a node stays in DNS exactly
/// while its AZ's target passes: the first AZ's target answers its checks with `status`, the
/// others with 200. How many nodes DNS publishes after 19 s.
fn nodes_published_when_one_target_answers(status: u16, matcher: Matcher) -> usize {
    let mut w = world(1, &[("lb-0", 0), ("lb-1", 1), ("lb-2", 2), ("probe", 0)]);
    let api = w.api();
    w.sim.with_core(|c| {
        for (i, e) in api.iter().enumerate() {
            c.add_process(e.host, Box::new(AnswersHealthWith(if i == 0 { status } else { 200 })));
        }
    });
    let health = HealthCheckConfig { matcher, ..LbOptions::default().health };
    let lb = load_balancer(&w, registered(&w), LbOptions { cross_zone: false, dns_failover_min_healthy: Some(1), health, ..LbOptions::default() });
    w.sim.run_until(Duration::from_secs(19));
    resolve_from(&mut w, &lb.directory, "probe")
}

/// "Matcher: The codes to use when checking for a successful response from a target ... The
/// default value is 200" (ALB); "200-399" for an NLB's HTTP checks; values are codes, lists
/// (`200,202`) and ranges (`200-299`).
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html>
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html>
#[test]
fn a_health_check_passes_only_on_its_matchers_codes() {
    let alb = azsim_fakes::defaults::alb::HEALTH_CHECK.matcher;
    let nlb = azsim_fakes::defaults::nlb::HEALTH_CHECK.matcher;
    let list = Matcher::of_ranges(&[(200, 200), (202, 202)]);
    let cases = [
        ("ALB default: 200 passes", 200, alb, 3),
        ("ALB default: a redirect fails", 302, alb, 2),
        ("ALB default: 204 fails", 204, alb, 2),
        ("200-399: a redirect passes", 302, Matcher::range(200, 399), 3),
        ("200-399: 404 fails", 404, Matcher::range(200, 399), 2),
        ("200,202: 202 passes", 202, list, 3),
        ("200,202: 201 fails", 201, list, 2),
        ("NLB default: a redirect passes", 302, nlb, 3),
        ("NLB default: 500 fails", 500, nlb, 2),
    ];
    for (rule, status, matcher, published) in cases {
        assert_eq!(nodes_published_when_one_target_answers(status, matcher), published, "{rule}");
    }
}

/// "When the healthy targets in a zone fall below the threshold, we mark the IP addresses of
/// the load balancer node for the zone as unhealthy in DNS", and "By default, a target group is
/// considered healthy as long as it has at least one healthy target": with the ALB's default
/// (`defaults::alb::DNS_FAILOVER_MIN_HEALTHY`, 1) and cross-zone off, a node whose AZ has no
/// healthy target leaves DNS; with cross-zone on, the count is over the group and it stays.
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health.html>
#[test]
fn by_default_an_alb_node_whose_az_has_no_healthy_target_leaves_dns_with_cross_zone_off() {
    let published = |cross_zone: bool| {
        let mut w = world(1, &[("lb-0", 0), ("lb-1", 1), ("lb-2", 2), ("probe", 0)]);
        w.add_api(Dist::Fixed(MS), None, 0);
        let dns_failover_min_healthy = azsim_fakes::defaults::alb::DNS_FAILOVER_MIN_HEALTHY;
        let lb = load_balancer(&w, registered(&w), LbOptions { cross_zone, dns_failover_min_healthy, ..LbOptions::default() });
        let only_in_az0 = w.api()[0].host;
        w.sim.with_core(|c| c.schedule_fault(5_000 * MS, None, Fault::HostCrash(only_in_az0)));
        w.sim.run_until(Duration::from_secs(30));
        resolve_from(&mut w, &lb.directory, "probe")
    };
    assert_eq!(published(false), 2, "cross-zone off: az0's node leaves DNS");
    assert_eq!(published(true), 3, "cross-zone on: the group still has healthy targets");
}
