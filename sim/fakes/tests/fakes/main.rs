//! The fakes on their own, on small worlds built directly on the kernel. One line per
//! documented behaviour where it fits.

mod apigw;
mod cloudmap;
mod cloudmap_sdk;
mod conn;
mod edge;
mod lifecycle;
mod nat;
mod nlb_flows;
mod route53;
mod slow_start;

use std::sync::Arc;
use std::time::Duration;

use azsim_fakes::*;
use azsim_kernel::{AzId, Dist, Failure, Fault, HostId, Outcome, Sim, SimConfig, Topology};

const MS: u64 = 1_000_000;

struct World {
    sim: Sim,
    azs: Vec<AzId>,
    topo_hosts: Vec<(String, HostId)>,
}

/// Three AZs; `services` instances of `api` per AZ, and the named extra hosts.
fn world(per_az: u32, extra: &[(&str, usize)]) -> World {
    let mut topo = Topology::default();
    let r = topo.add_region("r");
    let azs: Vec<AzId> = (1..=3).map(|i| topo.add_az(r, &format!("az{i}"))).collect();
    let mut hosts = Vec::new();
    for (i, az) in azs.iter().enumerate() {
        for n in 0..per_az {
            let name = format!("api-{i}-{n}");
            hosts.push((name.clone(), topo.add_host(&name, *az, None)));
        }
    }
    for (name, az) in extra {
        hosts.push((name.to_string(), topo.add_host(name, azs[*az], None)));
    }
    let mut config = SimConfig::new(1, topo);
    config.latency.intra_az = Dist::Fixed(100_000);
    config.latency.inter_az = Dist::Fixed(MS);
    World { sim: Sim::new(config), azs, topo_hosts: hosts }
}

/// The `api` service: `processing` per request, no steps, no limits beyond those given.
fn api_config(processing: Dist, concurrency: Option<u32>, queue: u32) -> ServiceConfig {
    ServiceConfig {
        name: "api".into(),
        processing,
        concurrency,
        queue,
        steps: vec![],
        call_timeout: 5_000 * MS,
        cold_start: None,
        routes: vec![],
        allow_sources: vec![],
        health_body: None,
    }
}

/// A client sending at most `max` requests of `GET /` (100 bytes each way, 2 s timeout).
fn client_config(destination: Destination, pacing: Pacing, max: u64) -> ClientConfig {
    ClientConfig {
        label: 0,
        destination,
        pacing,
        max_requests: Some(max),
        start_at: 0,
        stop_at: u64::MAX,
        request_bytes: 100,
        response_bytes: 100,
        timeout: 2_000 * MS,
        mix: vec![],
    }
}

/// How many addresses load balancer `lb` resolves to from `host`, asked now.
fn resolve_from(w: &mut World, dir: &LbDirectory, host: &str) -> usize {
    struct Probe(LbDirectory, Vec<usize>);
    impl azsim_kernel::Process for Probe {
        fn on_start(&mut self, cx: &mut azsim_kernel::Cx<'_>) {
            self.1.push(self.0.resolve(cx, "lb", None).len());
        }
        fn on_message(&mut self, _: &mut azsim_kernel::Cx<'_>, _: HostId, _: azsim_kernel::Message) {}
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }
    let h = w.host(host);
    w.sim.with_core(|c| c.add_process(h, Box::new(Probe(dir.clone(), Vec::new()))));
    let now = w.sim.now();
    w.sim.run_until(Duration::from_nanos(now + MS));
    w.sim.with_core(|c| c.process(h).unwrap().as_any().downcast_ref::<Probe>().unwrap().1[0])
}

impl World {
    fn host(&self, name: &str) -> HostId {
        self.topo_hosts.iter().find(|(n, _)| n == name).unwrap().1
    }
    fn api(&self) -> Vec<Endpoint> {
        self.sim.with_core(|c| {
            self.topo_hosts.iter().filter(|(n, _)| n.starts_with("api-")).map(|(_, h)| Endpoint { host: *h, az: c.topology().host(*h).az }).collect()
        })
    }
    fn add_api(&self, processing: Dist, concurrency: Option<u32>, queue: u32) {
        let cfg = Arc::new(api_config(processing, concurrency, queue));
        let api = self.api();
        self.sim.with_core(|c| {
            for e in api {
                c.add_process(e.host, Box::new(ServiceInstance::new(cfg.clone())));
            }
        });
    }
    fn client(&self, host: &str, destination: Destination, pacing: Pacing, max: u64) {
        let cfg = client_config(destination, pacing, max);
        let h = self.host(host);
        self.sim.with_core(|c| c.add_process(h, Box::new(Client::new(cfg))));
    }
    fn results(&self) -> Vec<(Option<u64>, Outcome, u32)> {
        self.sim.with_core(|c| c.requests().iter().map(|r| (r.latency(), r.outcome.clone(), r.az_crossings)).collect())
    }
}

#[test]
fn a_busy_instance_queues_so_latency_rises_under_load() {
    let mut w = world(1, &[("client", 0)]);
    w.add_api(Dist::Fixed(10 * MS), Some(1), 10);
    let local = vec![w.api()[0]];
    w.client("client", Destination::Service(Picker::new(PickPolicy::Any, local)), Pacing::Closed { concurrency: 3 }, 3);
    w.sim.run_until(Duration::from_secs(1));
    let lat: Vec<u64> = w.results().iter().map(|r| r.0.unwrap()).collect();
    // 0.2 ms of network each, then 10, 20 and 30 ms of waiting and processing.
    assert_eq!(lat, vec![10_200_000, 20_200_000, 30_200_000]);
}

#[test]
fn a_full_queue_answers_503() {
    let mut w = world(1, &[("client", 0)]);
    w.add_api(Dist::Fixed(10 * MS), Some(1), 0);
    let local = vec![w.api()[0]];
    w.client("client", Destination::Service(Picker::new(PickPolicy::Any, local)), Pacing::Closed { concurrency: 2 }, 2);
    w.sim.run_until(Duration::from_secs(1));
    let outcomes: Vec<Outcome> = w.results().into_iter().map(|r| r.1).collect();
    assert_eq!(outcomes, vec![Outcome::Ok, Outcome::Failed(Failure::Status(503))]);
}

fn lb(w: &World, kind: LbKindConfig, cross_zone: bool, algorithm: LbAlgorithm, dir: &LbDirectory) {
    lb_to(w, kind, cross_zone, algorithm, dir, w.api());
}

/// The kind of load balancer a test builds: an NLB node leaves DNS when its AZ has no healthy
/// target (DNS failover threshold 1); an ALB's does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LbKindConfig {
    Alb,
    Nlb,
}

/// An ALB node of load balancer `lb` routing to the target group `api` in `registry`, with the
/// fake's defaults; a case changes what it tests with struct update syntax.
fn alb_node(registry: TargetRegistry, directory: LbDirectory) -> LbNodeConfig {
    LbNodeConfig {
        lb: "lb".into(),
        groups: vec!["api".into()],
        registry,
        deregistration_delay: 300_000 * MS,
        routing_failover_min_healthy: 1,
        dns_failover_min_healthy: None,
        cross_zone: true,
        preserve_client_ip: false,
        header_limits: true,
        processing: Dist::Fixed(0),
        health: HealthCheckConfig::default(),
        target_timeout: 60_000 * MS,
        algorithm: LbAlgorithm::RoundRobin,
        directory,
        rules: vec![],
        tls_handshake_cpu: 0,
    }
}

fn lb_to(w: &World, kind: LbKindConfig, cross_zone: bool, algorithm: LbAlgorithm, dir: &LbDirectory, targets: Vec<Endpoint>) {
    let registry = TargetRegistry::default();
    for t in targets {
        registry.register("api", t);
    }
    for (i, az) in w.azs.iter().enumerate() {
        let h = w.host(&format!("lb-{i}"));
        dir.register_node("lb", h, *az);
        let cfg = LbNodeConfig {
            dns_failover_min_healthy: (kind == LbKindConfig::Nlb).then_some(1),
            cross_zone,
            preserve_client_ip: kind == LbKindConfig::Nlb,
            header_limits: kind == LbKindConfig::Alb,
            algorithm,
            ..alb_node(registry.clone(), dir.clone())
        };
        w.sim.with_core(|c| c.add_process(h, Box::new(LbNode::new(cfg))));
    }
}

const LB_HOSTS: [(&str, usize); 4] = [("lb-0", 0), ("lb-1", 1), ("lb-2", 2), ("client", 0)];

/// `per_az` api instances per AZ (1 ms each) behind a load balancer with a node per AZ, and a
/// client in the first AZ sending `requests` at 100/s through the regional or zonal name.
fn lb_world(per_az: u32, kind: LbKindConfig, cross_zone: bool, zonal: bool, requests: u64) -> World {
    let w = world(per_az, &LB_HOSTS);
    w.add_api(Dist::Fixed(MS), None, 0);
    let dir = LbDirectory::default();
    lb(&w, kind, cross_zone, LbAlgorithm::RoundRobin, &dir);
    let dest = Destination::LoadBalancer { name: "lb".into(), zonal, directory: dir, ttl: 60_000 * MS };
    w.client("client", dest, Pacing::Open { rate: 100.0, poisson: false }, requests);
    w
}

#[test]
fn nlb_without_cross_zone_and_a_zonal_name_keeps_every_hop_in_the_az() {
    let mut w = lb_world(2, LbKindConfig::Nlb, false, true, 200);
    w.sim.run_until(Duration::from_secs(5));
    let r = w.results();
    assert_eq!(r.len(), 200);
    assert!(r.iter().all(|(lat, o, x)| *o == Outcome::Ok && *x == 0 && *lat == Some(1_400_000)), "{:?}", &r[..3]);
}

#[test]
fn alb_balances_across_zones_round_robin() {
    let mut w = lb_world(1, LbKindConfig::Alb, true, false, 300);
    w.sim.run_until(Duration::from_secs(5));
    let served = served(&w);
    assert_eq!(served.iter().sum::<u64>(), 300);
    for s in served {
        assert!((90..=110).contains(&s), "uneven: {s}");
    }
}

#[test]
fn alb_answers_502_for_a_crashed_target_until_health_checks_eject_it() {
    let mut w = lb_world(1, LbKindConfig::Alb, true, false, 12_000);
    let crashed = w.api()[1].host;
    w.sim.with_core(|c| c.schedule_fault(5_000 * MS, None, Fault::HostCrash(crashed)));
    w.sim.run_until(Duration::from_secs(125));
    let failures: Vec<u64> = w.sim.with_core(|c| c.requests().iter().filter(|r| r.outcome != Outcome::Ok).map(|r| r.started / MS).collect());
    assert!(failures.iter().all(|t| *t >= 5_000), "failures before the crash");
    // Two failed checks (30 s apart, 5 s timeout) after the crash at 5 s: ejected by 65 s.
    assert!(failures.iter().all(|t| *t < 65_000), "still failing at {:?}", failures.last());
    assert!(failures.len() > 1000, "a third of the requests fail while the target is still in rotation: {}", failures.len());
    let outcomes: Vec<Outcome> = w.sim.with_core(|c| c.requests().iter().filter(|r| r.outcome != Outcome::Ok).map(|r| r.outcome.clone()).take(1).collect());
    assert_eq!(outcomes, vec![Outcome::Failed(Failure::Status(502))]);
}

#[test]
fn a_powered_off_node_leaves_dns() {
    let w = world(1, &LB_HOSTS);
    w.add_api(Dist::Fixed(MS), None, 0);
    let dir = LbDirectory::default();
    lb(&w, LbKindConfig::Nlb, false, LbAlgorithm::RoundRobin, &dir);
    let node1 = w.host("lb-1");
    let mut w = w;
    w.sim.with_core(|c| c.schedule_fault(1_000 * MS, None, Fault::HostPowerOff(node1)));
    w.sim.run_until(Duration::from_secs(2));
    assert_eq!(resolve_from(&mut w, &dir, "client"), 2, "the powered-off node is not published");
}

/// AWS does not document how soon a dead node's address leaves the load balancer's DNS
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/how-elastic-load-balancing-works.html>):
/// at once by default (`defaults::elb::DNS_REMOVAL_DELAY`, the most optimistic choice), or
/// after `dns_removal_delay`.
#[test]
fn a_dead_node_stays_in_dns_for_the_removal_delay() {
    assert_eq!(defaults::elb::DNS_REMOVAL_DELAY, 0);
    let published_at = |delay: u64, at_ms: u64| {
        let w = world(1, &LB_HOSTS);
        w.add_api(Dist::Fixed(MS), None, 0);
        let dir = LbDirectory::default();
        lb(&w, LbKindConfig::Nlb, false, LbAlgorithm::RoundRobin, &dir);
        dir.set_dns_removal_delay("lb", delay);
        let node1 = w.host("lb-1");
        let mut w = w;
        w.sim.with_core(|c| c.schedule_fault(1_000 * MS, None, Fault::HostPowerOff(node1)));
        w.sim.run_until(Duration::from_millis(at_ms));
        resolve_from(&mut w, &dir, "client")
    };
    assert_eq!(published_at(0, 1_001), 2, "default: gone the moment it dies");
    assert_eq!(published_at(30_000 * MS, 30_990), 3, "still published just before the delay ends");
    assert_eq!(published_at(30_000 * MS, 31_010), 2, "gone once it has been dead for the delay");
}

fn served(w: &World) -> Vec<u64> {
    w.api().iter().map(|e| w.sim.with_core(|c| c.process(e.host).unwrap().as_any().downcast_ref::<ServiceInstance>().unwrap().served)).collect()
}

#[test]
fn least_outstanding_requests_avoids_a_slow_target() {
    let share_of_slow = |algorithm| {
        let mut w = world(1, &LB_HOSTS);
        let api = w.api();
        w.sim.with_core(|c| {
            for (i, e) in api.iter().enumerate() {
                let processing = if i == 2 { Dist::Fixed(50 * MS) } else { Dist::Fixed(MS) };
                let cfg = Arc::new(api_config(processing, None, 0));
                c.add_process(e.host, Box::new(ServiceInstance::new(cfg)));
            }
        });
        let dir = LbDirectory::default();
        lb(&w, LbKindConfig::Alb, true, algorithm, &dir);
        let dest = Destination::LoadBalancer { name: "lb".into(), zonal: false, directory: dir, ttl: 60_000 * MS };
        w.client("client", dest, Pacing::Closed { concurrency: 6 }, 3000);
        w.sim.run_until(Duration::from_secs(60));
        let s = served(&w);
        s[2] as f64 / s.iter().sum::<u64>() as f64
    };
    let (rr, lor) = (share_of_slow(LbAlgorithm::RoundRobin), share_of_slow(LbAlgorithm::LeastOutstandingRequests));
    assert!((rr - 1.0 / 3.0).abs() < 0.02, "round robin ignores speed: {rr}");
    assert!(lor < 0.15, "least outstanding requests sends less to the slow target: {lor}");
}

#[test]
fn nlb_dns_affinity_answers_the_clients_own_az() {
    let run = |routing: Option<ClientRouting>| {
        let mut w = world(1, &LB_HOSTS);
        w.add_api(Dist::Fixed(MS), None, 0);
        let dir = LbDirectory::default();
        lb(&w, LbKindConfig::Nlb, false, LbAlgorithm::RoundRobin, &dir);
        if let Some(routing) = routing {
            dir.set_client_routing("lb", routing);
        }
        // A short TTL, so the client asks many times.
        let dest = Destination::LoadBalancer { name: "lb".into(), zonal: false, directory: dir, ttl: 10 * MS };
        w.client("client", dest, Pacing::Open { rate: 100.0, poisson: false }, 300);
        w.sim.run_until(Duration::from_secs(10));
        w.results()
    };
    let affine = run(Some(ClientRouting { own_az_share: 1.0 }));
    assert_eq!(affine.len(), 300, "every request was sent");
    let (ok, crossed) = (affine.iter().filter(|r| r.1 == Outcome::Ok).count(), affine.iter().filter(|r| r.2 > 0).count());
    assert_eq!((ok, crossed), (300, 0), "every request answered, none leaving the client's AZ");
    // Without the policy the regional name answers every AZ's node: about two thirds of the
    // requests leave the AZ, so the zero above is the policy's doing.
    let regional = run(None);
    assert_eq!(regional.len(), 300);
    let crossed = regional.iter().filter(|r| r.2 > 0).count();
    assert!((150..250).contains(&crossed), "{crossed} of 300 crossed an AZ boundary");
}

#[test]
fn alb_with_target_group_cross_zone_off_answers_503_in_an_az_without_targets() {
    let mut w = world(1, &LB_HOSTS);
    w.add_api(Dist::Fixed(MS), None, 0);
    let in_two_azs: Vec<Endpoint> = w.api().into_iter().filter(|e| e.az != w.azs[2]).collect();
    let dir = LbDirectory::default();
    lb_to(&w, LbKindConfig::Alb, false, LbAlgorithm::RoundRobin, &dir, in_two_azs);
    let dest = Destination::LoadBalancer { name: "lb".into(), zonal: false, directory: dir, ttl: 60_000 * MS };
    w.client("client", dest, Pacing::Open { rate: 100.0, poisson: false }, 900);
    w.sim.run_until(Duration::from_secs(15));
    let r = w.results();
    let failed: Vec<&Outcome> = r.iter().map(|x| &x.1).filter(|o| **o != Outcome::Ok).collect();
    assert!(failed.iter().all(|o| **o == Outcome::Failed(Failure::Status(503))));
    // The client picks a node at random: about a third enter the AZ without targets.
    assert!((250..350).contains(&failed.len()), "{}", failed.len());
}

#[test]
fn a_static_backend_answers_the_first_matching_route_and_refuses_sources_not_allowed() {
    let run = |allow: Vec<(std::net::Ipv4Addr, u8)>| {
        let mut w = world(1, &[("client", 0)]);
        let route = |path: &str, status| CannedRoute { conditions: rules::Conditions { paths: vec![path.into()], ..Default::default() }, status, bytes: 10 };
        let cfg =
            Arc::new(ServiceConfig { routes: vec![route("/gone*", 410), route("/*", 200)], allow_sources: allow, ..api_config(Dist::Fixed(MS), None, 0) });
        let api = w.api()[0];
        w.sim.with_core(|c| c.add_process(api.host, Box::new(ServiceInstance::new(cfg))));
        let mut config = client_config(Destination::Service(Picker::new(PickPolicy::Any, vec![api])), Pacing::Closed { concurrency: 1 }, 2);
        let req = |path: &str| Arc::new(HttpRequest { path: path.into(), ..HttpRequest::default() });
        config.mix = vec![(1, req("/gone/1")), (1, req("/here"))];
        let client = w.host("client");
        w.sim.with_core(|c| c.add_process(client, Box::new(Client::new(config))));
        w.sim.run_until(Duration::from_secs(1));
        let mut outcomes: Vec<String> = w.results().into_iter().map(|r| format!("{:?}", r.1)).collect();
        outcomes.sort();
        outcomes
    };
    let client_ip = |w: &World| w.sim.with_core(|c| c.topology().host(w.host("client")).ip);
    let ip = client_ip(&world(1, &[("client", 0)]));
    assert_eq!(run(vec![(ip, 32)]), ["Failed(Status(410))", "Ok"]);
    assert_eq!(run(vec![(std::net::Ipv4Addr::new(192, 168, 0, 0), 16)]), ["Failed(Status(403))", "Failed(Status(403))"]);
}

#[test]
fn an_alb_answers_400_to_a_header_over_16_kib_and_an_nlb_passes_it() {
    let run = |kind: LbKindConfig, header: u64| {
        let w = world(1, &LB_HOSTS);
        w.add_api(Dist::Fixed(MS), None, 0);
        let dir = LbDirectory::default();
        lb(&w, kind, true, LbAlgorithm::RoundRobin, &dir);
        let destination = Destination::LoadBalancer { name: "lb".into(), zonal: false, directory: dir, ttl: 60_000 * MS };
        let mut config = client_config(destination, Pacing::Closed { concurrency: 1 }, 1);
        config.mix = vec![(1, Arc::new(HttpRequest { large_header_bytes: header, ..HttpRequest::default() }))];
        let client = w.host("client");
        let mut w = w;
        w.sim.with_core(|c| c.add_process(client, Box::new(Client::new(config))));
        w.sim.run_until(Duration::from_secs(1));
        w.results()[0].1.clone()
    };
    assert_eq!(run(LbKindConfig::Alb, 16 * 1024), Outcome::Ok);
    assert_eq!(run(LbKindConfig::Alb, 16 * 1024 + 1), Outcome::Failed(Failure::Status(400)));
    assert_eq!(run(LbKindConfig::Nlb, 16 * 1024 + 1), Outcome::Ok);
}
