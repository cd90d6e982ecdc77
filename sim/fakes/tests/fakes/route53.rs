//! Route 53 through the kernel: each kind of health check against real fakes, and the health an
//! alias record inherits from a load balancer's nodes (`sim/fakes/FIDELITY.md` R53-11, R53-14).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use azsim_fakes::route53::{CheckKind, CheckTarget, HealthCheckConfig as Check, HealthChecker, Route53};
use azsim_fakes::*;
use azsim_kernel::{Dist, Fault, Seed};

use crate::{LB_HOSTS, LbKindConfig, MS, World, alb_node, api_config, lb, world};

/// A fault for a host.
type MakeFault = fn(azsim_kernel::HostId) -> Fault;

/// One checker host; every check probes the first `api` instance, whose health page says
/// `status: ok`. Runs 120 s, with `fault` (made for that instance) from its time if given;
/// returns each check's health changes (checker time, healthy).
fn checks(kinds: &[(&str, CheckKind)], fault: Option<(u64, MakeFault)>) -> BTreeMap<String, Vec<(u64, bool)>> {
    let w: World = world(1, &[("checker", 0)]);
    let cfg = Arc::new(ServiceConfig { health_body: Some(Arc::from("<html>status: ok</html>")), ..api_config(Dist::Fixed(MS), None, 0) });
    let api = w.api();
    let target = api[0].host;
    let checks = kinds
        .iter()
        .map(|(id, kind)| (id.to_string(), Check { target: CheckTarget::Host(target), interval: 10_000 * MS, failure_threshold: 3, kind: kind.clone() }))
        .collect();
    let zone = Route53::new(BTreeMap::new(), checks, 1, Dist::Fixed(0), Seed(1).stream("r53"));
    let checker = w.host("checker");
    w.sim.with_core(|c| {
        for e in &api {
            c.add_process(e.host, Box::new(ServiceInstance::new(cfg.clone())));
        }
        c.add_process(checker, Box::new(HealthChecker::new(zone.clone(), 0)));
        if let Some((t, fault)) = fault {
            c.schedule_fault(t, None, fault(target));
        }
    });
    let mut w = w;
    w.sim.run_until(Duration::from_secs(120));
    let mut out: BTreeMap<String, Vec<(u64, bool)>> = kinds.iter().map(|(id, _)| (id.to_string(), Vec::new())).collect();
    for c in zone.changes() {
        out.entry(c.check).or_default().push((c.at / MS, c.healthy));
    }
    out
}

#[test]
fn each_check_kind_judges_the_same_endpoint_by_its_own_criteria() {
    let got = checks(
        &[
            ("http", CheckKind::Http),
            ("https", CheckKind::Https),
            ("tcp", CheckKind::Tcp),
            ("match", CheckKind::StringMatch("status: ok".into())),
            ("mismatch", CheckKind::StringMatch("status: ready".into())),
        ],
        None,
    );
    for id in ["http", "https", "tcp", "match"] {
        assert_eq!(got[id], vec![], "{id}: the endpoint passes, so the check never changes");
    }
    let mismatch = &got["mismatch"];
    assert_eq!(mismatch.len(), 1, "{mismatch:?}");
    assert!(!mismatch[0].1 && mismatch[0].0 >= 20_000 && mismatch[0].0 <= 30_001, "three failed probes, 10 s apart: {mismatch:?}");
}

#[test]
fn a_crashed_endpoint_fails_every_kind_after_three_probes() {
    let kinds = [("http", CheckKind::Http), ("tcp", CheckKind::Tcp), ("match", CheckKind::StringMatch("ok".into()))];
    let got = checks(&kinds, Some((40_000 * MS, Fault::HostCrash)));
    for (id, changes) in &got {
        assert_eq!(changes.len(), 1, "{id}: {changes:?}");
        let (at, healthy) = changes[0];
        assert!(!healthy && (60_000..=70_001).contains(&at), "{id}: unhealthy after three refused probes (30 s at most), at {at} ms");
    }
    // Powered off, nothing answers: each probe fails at its budget (HTTP 6 s, string match
    // 8 s) or, for TCP (10 s, the interval itself), when the next round finds it still out.
    let got = checks(&kinds, Some((40_000 * MS, Fault::HostPowerOff)));
    for (id, changes) in &got {
        assert_eq!(changes.len(), 1, "{id}: {changes:?}");
        let (at, healthy) = changes[0];
        assert!(!healthy && (66_000..=80_001).contains(&at), "{id}: unhealthy after three unanswered probes, at {at} ms");
    }
}

/// A load balancer with a node per AZ in front of one `api` instance per AZ: whether
/// evaluate-target-health sees it healthy, asked from the client host at `at` seconds.
fn alias_health(faults: &[(u64, Fault)], at: &[u64]) -> Vec<bool> {
    let mut w = world(1, &LB_HOSTS);
    w.add_api(Dist::Fixed(MS), None, 0);
    let dir = LbDirectory::default();
    lb(&w, LbKindConfig::Alb, true, LbAlgorithm::RoundRobin, &dir);
    w.sim.with_core(|c| {
        for (t, f) in faults {
            c.schedule_fault(*t, None, f.clone());
        }
    });
    at.iter().map(|t| ask_alias_health(&mut w, &dir, *t)).collect()
}

/// Whether `lb` of `dir` is healthy to evaluate-target-health, asked from the client host at
/// `at` seconds (the run goes on to then).
fn ask_alias_health(w: &mut World, dir: &LbDirectory, at: u64) -> bool {
    struct Ask(LbDirectory, Vec<bool>);
    impl azsim_kernel::Process for Ask {
        fn on_start(&mut self, cx: &mut azsim_kernel::Cx<'_>) {
            let healthy = self.0.targets_healthy(cx, "lb");
            self.1.push(healthy);
        }
        fn on_message(&mut self, _: &mut azsim_kernel::Cx<'_>, _: azsim_kernel::HostId, _: azsim_kernel::Message) {}
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }
    let client = w.host("client");
    w.sim.run_until(Duration::from_secs(at));
    w.sim.with_core(|c| c.add_process(client, Box::new(Ask(dir.clone(), Vec::new()))));
    w.sim.run_until(Duration::from_nanos(at * 1_000 * MS + MS));
    w.sim.with_core(|c| c.process(client).unwrap().as_any().downcast_ref::<Ask>().unwrap().1[0])
}

#[test]
fn an_alias_is_healthy_while_its_target_group_has_a_healthy_target() {
    let w = world(1, &LB_HOSTS);
    let api: Vec<_> = w.api().iter().map(|e| e.host).collect();
    let nodes: Vec<_> = (0..3).map(|i| w.host(&format!("lb-{i}"))).collect();
    drop(w);
    assert_eq!(alias_health(&[], &[10, 100]), vec![true, true], "every target healthy");
    let two = [(5_000 * MS, Fault::HostCrash(api[0])), (5_000 * MS, Fault::HostCrash(api[1]))];
    assert_eq!(alias_health(&two, &[100]), vec![true], "one healthy target of three is enough");
    let all: Vec<(u64, Fault)> = api.iter().map(|h| (5_000 * MS, Fault::HostCrash(*h))).collect();
    // AWS's default target checks: 30 s apart, unhealthy after 2 failures.
    assert_eq!(alias_health(&all, &[20, 100]), vec![true, false], "healthy until the checks notice, then no healthy target");
    let no_nodes: Vec<(u64, Fault)> = nodes.iter().map(|h| (5_000 * MS, Fault::HostPowerOff(*h))).collect();
    assert_eq!(alias_health(&no_nodes, &[10]), vec![false], "no live node");
}

/// Evaluate-target-health over several target groups: an ALB whose default group is `api`
/// (one instance per AZ) and whose rules may forward to `extra` (the given targets, or none),
/// its empty groups counting as `empty` says.
fn alias_health_with_groups(extra_targets: bool, crash_extra: bool, empty: EmptyTargetGroups) -> bool {
    let mut w = world(2, &LB_HOSTS);
    w.add_api(Dist::Fixed(MS), None, 0);
    let api = w.api();
    // `api-<az>-0` serve the default group, `api-<az>-1` the extra one.
    let (main, extra): (Vec<&Endpoint>, Vec<&Endpoint>) = api.iter().partition(|e| w.sim.with_core(|c| c.topology().host(e.host).name.ends_with("-0")));
    let registry = TargetRegistry::default();
    main.iter().for_each(|e| registry.register("api", **e));
    if extra_targets {
        extra.iter().for_each(|e| registry.register("extra", **e));
    }
    let dir = LbDirectory::default();
    for (i, az) in w.azs.clone().iter().enumerate() {
        let h = w.host(&format!("lb-{i}"));
        dir.register_node("lb", h, *az);
        dir.set_empty_target_groups("lb", empty);
        let cfg = LbNodeConfig { groups: vec!["api".into(), "extra".into()], ..alb_node(registry.clone(), dir.clone()) };
        w.sim.with_core(|c| c.add_process(h, Box::new(LbNode::new(cfg))));
    }
    if crash_extra {
        w.sim.with_core(|c| {
            extra.iter().for_each(|e| {
                c.schedule_fault(5_000 * MS, None, Fault::HostCrash(e.host));
            })
        });
    }
    ask_alias_health(&mut w, &dir, 100)
}

/// "For an Application or Network Load Balancer to be considered healthy, every target group
/// that contains targets must contain at least one healthy target. If any target group contains
/// only unhealthy targets, the load balancer is considered unhealthy".
/// <https://docs.aws.amazon.com/Route53/latest/APIReference/API_AliasTarget.html>
#[test]
fn every_target_group_with_targets_needs_a_healthy_one() {
    let default = azsim_fakes::defaults::elb::EMPTY_TARGET_GROUPS;
    assert!(alias_health_with_groups(true, false, default), "both groups have healthy targets");
    assert!(!alias_health_with_groups(true, true, default), "a group whose every target failed makes the load balancer unhealthy, though the other is fine");
    assert!(!alias_health_with_groups(true, true, EmptyTargetGroups::Healthy), "whatever empty groups count as");
}

/// "A target group that has no registered targets is considered unhealthy" (the current page;
/// older versions counted it healthy): the default, and `healthy` as a setting.
/// <https://docs.aws.amazon.com/Route53/latest/APIReference/API_AliasTarget.html>
#[test]
fn a_target_group_without_targets_makes_the_alias_unhealthy_unless_set_to_count_healthy() {
    assert_eq!(azsim_fakes::defaults::elb::EMPTY_TARGET_GROUPS, EmptyTargetGroups::Unhealthy);
    assert!(!alias_health_with_groups(false, false, EmptyTargetGroups::Unhealthy), "the current page: an empty group is unhealthy");
    assert!(alias_health_with_groups(false, false, EmptyTargetGroups::Healthy), "the older reading: an empty group is ignored");
}

/// A health check of a load balancer's DNS name, run 150 s by one checker with `faults`: each
/// check kind's health changes (ms, healthy). The ALB has a node per AZ over one instance per
/// AZ, with AWS's default target checks (30 s, unhealthy after 2).
fn lb_name_checks(faults: &[(&str, MakeFault)]) -> BTreeMap<String, Vec<(u64, bool)>> {
    let hosts: Vec<(&str, usize)> = LB_HOSTS.iter().copied().chain([("checker", 0)]).collect();
    let mut w = world(1, &hosts);
    w.add_api(Dist::Fixed(MS), None, 0);
    let dir = LbDirectory::default();
    lb(&w, LbKindConfig::Alb, true, LbAlgorithm::RoundRobin, &dir);
    let target = || CheckTarget::LoadBalancer { name: "lb".into(), directory: dir.clone() };
    let checks = [("http", CheckKind::Http), ("tcp", CheckKind::Tcp)]
        .into_iter()
        .map(|(id, kind)| (id.to_string(), Check { target: target(), interval: 10_000 * MS, failure_threshold: 3, kind }))
        .collect();
    let zone = Route53::new(BTreeMap::new(), checks, 1, Dist::Fixed(0), Seed(1).stream("r53"));
    let checker = w.host("checker");
    let faults: Vec<(u64, Fault)> = faults.iter().map(|(host, fault)| (5_000 * MS, fault(w.host(host)))).collect();
    w.sim.with_core(|c| {
        c.add_process(checker, Box::new(HealthChecker::new(zone.clone(), 0)));
        faults.into_iter().for_each(|(at, f)| {
            c.schedule_fault(at, None, f);
        });
    });
    w.sim.run_until(Duration::from_secs(150));
    let mut out: BTreeMap<String, Vec<(u64, bool)>> = ["http", "tcp"].iter().map(|id| (id.to_string(), Vec::new())).collect();
    for c in zone.changes() {
        out.entry(c.check).or_default().push((c.at / MS, c.healthy));
    }
    out
}

/// Route 53 checks an endpoint by domain name, as it is told to check a load balancer's DNS
/// name ("Domain name" in Values that you specify when you create or update health checks,
/// https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-creating-values.html):
/// each probe resolves the name to one of the balancer's live nodes. Here a node passes an HTTP
/// probe while it has a healthy target, and any answer passes a TCP one.
#[test]
fn a_check_of_a_load_balancers_name_probes_a_live_node_which_passes_while_it_has_a_healthy_target() {
    let none = lb_name_checks(&[]);
    assert_eq!(none, BTreeMap::from([("http".into(), vec![]), ("tcp".into(), vec![])]), "healthy targets: never changes");
    // Two of the three nodes die: the name resolves to the live one only, so no probe fails.
    let nodes = lb_name_checks(&[("lb-0", Fault::HostPowerOff), ("lb-1", Fault::HostPowerOff)]);
    assert_eq!(nodes["http"], vec![], "probes go to the live node");
    // Every target crashes at 5 s: the nodes find them unhealthy 35 to 65 s in (two failed
    // checks 30 s apart), then the node answers 503 and three probes 10 s apart fail the check.
    let targets = lb_name_checks(&[("api-0-0", Fault::HostCrash), ("api-1-0", Fault::HostCrash), ("api-2-0", Fault::HostCrash)]);
    let http = &targets["http"];
    assert_eq!(http.len(), 1, "{http:?}");
    assert!(!http[0].1 && (55_000..=100_000).contains(&http[0].0), "{http:?}");
    assert_eq!(targets["tcp"], vec![], "a TCP probe passes on any answer: the listener still answers");
}
