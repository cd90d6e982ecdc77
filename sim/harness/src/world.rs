//! Scenario -> kernel world: hosts placed in AZs, latency rules, fakes on the hosts, faults.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azsim_fakes::apigw::mapping::{MapAction, MapTarget, Mapping};
use azsim_fakes::apigw::{ApiGateway, ApiGatewayConfig, VpcLinkEni};
use azsim_fakes::cloudmap::{CloudMapNode, Discover, HealthConfig, NamespaceKind, Registry, RoutingPolicy, Settings};
use azsim_fakes::edge::{Edge, EdgeConfig};
use azsim_fakes::nat::{EgressConfig, EgressProxy, NatGateway, Secret, UpstreamPool};
use azsim_fakes::route53::{AliasTarget, CalculatedCheck, CheckKind, HealthCheckConfig as R53Check, HealthChecker, Policy, RecordSet, RecordTarget, Route53};
use azsim_fakes::rules::{Action, Conditions, Rule};
use azsim_fakes::{
    AutoScaling, CannedRoute, Client, ClientConfig, ClientRouting, ColdStart, ContainerHealthCheck, Destination, EcsCloudMap, EcsService, EcsServiceConfig,
    Endpoint, HealthCheckConfig, HttpRequest, LbAlgorithm, LbDirectory, LbNode, LbNodeConfig, Pacing, PickPolicy, Picker, ServiceConfig, ServiceInstance, Step,
    StepKind, TargetRegistry, TaskEvents, TaskSlot, TaskSwitch,
};
use azsim_kernel::{AzId, Dist, Fault, HostId, LatencyModel, RegionId, Scope, Sim, SimConfig, Topology};

use crate::library_client::{LibraryClient, LibraryClientConfig};
use crate::tunnel::{TunnelCounters, TunnelPlan};
use azsim_scenario::{
    Algorithm, Arrivals, ClientRoutingPolicy, DiscoveryVia, DistSpec, DnsRouting, LbKind, LoadBalancerSpec, Pick, R53CheckType, ScenarioFile,
};

/// What kind of thing a host is, for accounting (ALB-to-target traffic may be free).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Client(String),
    Service(String),
    LbNode {
        lb: String,
        kind: LbKind,
        targets: String,
    },
    /// Cloud Map's regional endpoint (its API traffic is not inter-AZ data transfer).
    CloudMap,
    /// An ECS service's control plane (it sends nothing on the network).
    EcsControl(String),
    /// A tunnel's forwarding agent (real code).
    TunnelAgent,
    /// An API Gateway API's regional endpoint.
    ApiGateway(String),
    /// An ENI of an API's VPC link.
    VpcLinkEni(String),
    /// A Route 53 health checker.
    Route53Checker,
    /// A CloudFront distribution's edge location.
    Edge(String),
    /// A zonal NAT gateway.
    Nat(String),
}

/// A built world: the simulation plus what the harness needs to read it.
pub(crate) struct World {
    pub(crate) sim: Sim,
    pub(crate) roles: BTreeMap<HostId, Role>,
    /// Client names by label.
    pub(crate) client_labels: Vec<String>,
    /// What ECS did to each task.
    pub(crate) task_events: TaskEvents,
    /// Cloud Map's registry, if any service registers.
    pub(crate) cloud_map: Option<Arc<Mutex<Registry>>>,
    /// For each fault of the scenario, the hosts it takes down (by name).
    pub(crate) fault_hosts: Vec<Vec<String>>,
    /// What the tunnel's parts counted, if the scenario has one.
    pub(crate) tunnel: Option<TunnelCounters>,
    /// Route 53's zone (health changes), if the scenario has one.
    pub(crate) route53: Option<azsim_fakes::route53::Route53>,
}

/// A scenario distribution as a kernel distribution (profiles resolved; validation has
/// checked the names).
pub fn dist(f: &ScenarioFile, d: &DistSpec) -> Dist {
    match d {
        DistSpec::Fixed(v) => Dist::Fixed(v.nanos()),
        DistSpec::Uniform { min, max } => Dist::Uniform { lo: min.nanos(), hi: max.nanos() },
        DistSpec::Normal { p50, p99, min } => Dist::normal_from_percentiles(min.nanos(), p50.nanos(), p99.nanos()),
        DistSpec::Lognormal { min, p50, p99 } => Dist::lognormal_from_percentiles(min.nanos(), p50.nanos(), p99.nanos()),
        DistSpec::Empirical(points) => Dist::Empirical(points.iter().map(|(q, v)| (*q, v.nanos())).collect()),
        DistSpec::Profile(name) => dist(f, &f.profiles[name]),
    }
}

fn pick_policy(p: Pick) -> PickPolicy {
    match p {
        Pick::Any => PickPolicy::Any,
        Pick::RoundRobin => PickPolicy::RoundRobin,
        Pick::Local => PickPolicy::Local,
        Pick::PreferLocal => PickPolicy::PreferLocal,
        Pick::Spread => PickPolicy::Spread,
    }
}

/// The TTL of load balancer DNS records (AWS: 60 s).
const LB_DNS_TTL: u64 = 60_000_000_000;
/// How long a service waits on a call before answering 504.
const SERVICE_CALL_TIMEOUT: u64 = 5_000_000_000;

/// Builds the world. Fails (bad input, not a panic) if two generated host names collide, e.g.
/// a service `a` and a client `a-use1-az1`.
pub(crate) fn build(f: &ScenarioFile, seed: u64, record_hops: bool) -> Result<World, String> {
    let mut topo = Topology::default();
    let mut azs: BTreeMap<String, AzId> = BTreeMap::new();
    for (region, spec) in &f.regions.value {
        let r = topo.add_region(region);
        if spec.inbound == azsim_scenario::Inbound::Closed {
            topo.close_inbound(r);
        }
        for az in &spec.azs {
            azs.insert(az.clone(), topo.add_az(r, az));
        }
    }
    let mut roles = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<HostId>> = BTreeMap::new();
    let mut add = |topo: &mut Topology, group: &str, name: String, az: &str, role: Role| {
        if topo.host_by_name(&name).is_some() {
            return Err(format!("two hosts would be named `{name}`; rename the service, load balancer or client `{group}`"));
        }
        let zone = topo.az_by_name(az).expect("AZs are added before hosts");
        let h = topo.add_host(&name, zone, None);
        roles.insert(h, role);
        groups.entry(group.to_string()).or_default().push(h);
        Ok(h)
    };
    // Services: `<service>-<az>-<n>`. `instances` are those running at the start; an ECS
    // service also has hosts where replacement tasks can run (`slots`).
    let mut instances: BTreeMap<String, Vec<Endpoint>> = BTreeMap::new();
    let mut slots: BTreeMap<String, Vec<TaskSlot>> = BTreeMap::new();
    for (name, svc) in &f.services {
        for (az, count) in &svc.instances.value {
            for n in 0..svc.hosts_in(az) {
                let host_name = azsim_scenario::service_host(name, az, n);
                let h = add(&mut topo, name, host_name.clone(), az, Role::Service(name.clone()))?;
                let endpoint = Endpoint { host: h, az: azs[az] };
                if n < *count {
                    instances.entry(name.clone()).or_default().push(endpoint);
                }
                if svc.ecs.is_some() {
                    let slot = TaskSlot { name: host_name, endpoint, switch: TaskSwitch::new(n < *count), running_at_start: n < *count };
                    slots.entry(name.clone()).or_default().push(slot);
                }
            }
        }
    }
    // Load balancer nodes: `<lb>-<az>`.
    let mut nodes: BTreeMap<String, Vec<(HostId, String)>> = BTreeMap::new();
    for (name, lb) in &f.load_balancers {
        for az in &lb.azs.value {
            let role = Role::LbNode { lb: name.clone(), kind: lb.kind, targets: lb.targets.value.clone() };
            let h = add(&mut topo, name, azsim_scenario::lb_node_host(name, az), az, role)?;
            nodes.entry(name.clone()).or_default().push((h, az.clone()));
        }
    }
    // Clients: `<client>-<az>-<n>`.
    let mut client_hosts: BTreeMap<String, Vec<HostId>> = BTreeMap::new();
    for (name, c) in &f.clients {
        for (az, count) in &c.azs.value {
            for n in 0..*count {
                let h = add(&mut topo, name, azsim_scenario::client_host(name, az, n), az, Role::Client(name.clone()))?;
                client_hosts.entry(name.clone()).or_default().push(h);
            }
        }
    }

    // Tunnel agents: `tunnel-agent-<az>-<n>`.
    let mut tunnel_agents = Vec::new();
    if let Some(t) = &f.tunnel {
        for (az, count) in &t.agents.value {
            for n in 0..*count {
                let name = azsim_scenario::tunnel_agent_host(az, n);
                let h = add(&mut topo, "tunnel-agent", name.clone(), az, Role::TunnelAgent)?;
                tunnel_agents.push((name, h));
            }
        }
    }

    // Cloud Map: one regional endpoint where a registered service runs. It is a regional AWS
    // service that survives an AZ outage, so it sits in a zone of its own (`aws-api-<region>`,
    // latency as between AZs); its API traffic is left out of cross-AZ bytes and cost.
    let region_of = |az: &str| f.regions.value.iter().find(|(_, r)| r.azs.iter().any(|a| a == az)).map(|(name, _)| name.clone()).expect("validated AZ");
    let api_zone = |topo: &mut Topology, region: &str| {
        let zone = format!("aws-api-{region}");
        if topo.az_by_name(&zone).is_none() {
            let region_id = topo.region_by_name(region).expect("added above");
            let az = topo.add_az(region_id, &zone);
            topo.mark_regional(az);
        }
        zone
    };
    let mut cloud_map_hosts: BTreeMap<String, HostId> = BTreeMap::new();
    for svc in f.services.values().filter(|s| s.cloud_map.is_some()) {
        for az in svc.instances.value.keys() {
            let region = region_of(az);
            if let std::collections::btree_map::Entry::Vacant(slot) = cloud_map_hosts.entry(region) {
                let zone = api_zone(&mut topo, slot.key());
                let h = add(&mut topo, "cloudmap", format!("cloudmap-{}", slot.key()), &zone, Role::CloudMap)?;
                slot.insert(h);
            }
        }
    }
    // API Gateway: the regional endpoint in its Region's API zone (`<api>-apigw`), and an ENI
    // of its VPC link in each subnet's AZ (`<api>-vpclink-<az>`).
    let mut apis: BTreeMap<String, (HostId, AzId, Vec<HostId>)> = BTreeMap::new();
    for (name, api) in &f.api_gateways {
        let region = match (&api.region, api.vpc_link.value.first()) {
            (Some(r), _) => r.clone(),
            (None, Some(az)) => region_of(az),
            (None, None) => unreachable!("validated: a region or a VPC link"),
        };
        let zone = api_zone(&mut topo, &region);
        let gw = add(&mut topo, name, azsim_scenario::apigw_host(name), &zone, Role::ApiGateway(name.clone()))?;
        let mut enis = Vec::new();
        for az in &api.vpc_link.value {
            enis.push(add(&mut topo, name, azsim_scenario::vpclink_host(name, az), az, Role::VpcLinkEni(name.clone()))?);
        }
        let zone_id = topo.az_by_name(&zone).expect("added above");
        apis.insert(name.clone(), (gw, zone_id, enis));
    }
    // NAT gateways: `<nat>-<az>`.
    let mut nat_hosts: BTreeMap<(String, String), HostId> = BTreeMap::new();
    for (name, nat) in &f.nat_gateways {
        for az in &nat.azs.value {
            nat_hosts.insert((name.clone(), az.clone()), add(&mut topo, name, azsim_scenario::nat_host(name, az), az, Role::Nat(name.clone()))?);
        }
    }
    // Route 53's checkers (`route53-checker-<n>`) and CloudFront's edges (`<name>-edge`).
    let mut checkers = Vec::new();
    if let Some(r) = &f.route53 {
        for n in 0..r.checkers.count {
            checkers.push(add(&mut topo, "route53-checker", azsim_scenario::checker_host(n), r.checkers.az_of(n), Role::Route53Checker)?);
        }
    }
    let mut edges: BTreeMap<String, HostId> = BTreeMap::new();
    for (name, cf) in &f.cloudfront {
        edges.insert(name.clone(), add(&mut topo, name, azsim_scenario::edge_host(name), &cf.az.value, Role::Edge(name.clone()))?);
    }
    // AWS's edge and Route 53's checkers are in no AZ of a VPC: hops to them are not AZ
    // crossings (their latency still applies; Region crossings still count).
    let edge_zones: Vec<&str> = f
        .cloudfront
        .values()
        .map(|c| c.az.value.as_str())
        .chain(f.route53.iter().flat_map(|r| std::iter::once(&r.checkers.az).chain(&r.checkers.also_in).map(|a| a.value.as_str())))
        .collect();
    for z in edge_zones {
        let az = topo.az_by_name(z).expect("validated");
        topo.mark_regional(az);
    }
    // ECS: a control plane per service, in its Region's API zone.
    let mut ecs_hosts: BTreeMap<String, HostId> = BTreeMap::new();
    for (name, svc) in f.services.iter().filter(|(_, s)| s.ecs.is_some()) {
        let first_az = svc.instances.value.keys().next().expect("validated: a service has instances");
        let zone = api_zone(&mut topo, &region_of(first_az));
        let h = add(&mut topo, name, format!("ecs-{name}"), &zone, Role::EcsControl(name.clone()))?;
        ecs_hosts.insert(name.clone(), h);
    }

    let mut config = SimConfig::new(seed, topo);
    config.record_hops = record_hops;
    config.retransmit_timeout = Duration::from_nanos(f.network.retransmit_timeout.nanos());
    config.latency = latency_model(f, &azs, &config.topology);
    let sim = Sim::new(config);
    let directory = LbDirectory::default();
    let target_groups = TargetRegistry::default();
    for (name, list) in &instances {
        for e in list {
            target_groups.register(name, *e);
        }
    }
    let task_events = TaskEvents::default();
    let mut cloud_map = None;
    let mut fault_hosts = Vec::new();

    let tunnel_plan = f.tunnel.as_ref().map(|t| TunnelPlan {
        spec: t.clone(),
        proxies: instances.get(&t.proxies.value).into_iter().flatten().map(|e| e.host).collect(),
        agents: tunnel_agents.clone(),
        backends: instances.get(&t.backend.value).into_iter().flatten().map(|e| e.host).collect(),
        processing: dist(f, &f.services[&t.backend.value].processing),
    });
    let real_code: Vec<&str> = f.tunnel.iter().flat_map(|t| [t.proxies.value.as_str(), t.backend.value.as_str()]).collect();
    let mut proxy_tasks = Vec::new();
    let mut route53 = None;

    sim.with_core(|core| -> Result<(), String> {
        if let Some(plan) = &tunnel_plan {
            for (host, front, task) in crate::tunnel::fronts(plan) {
                core.add_process(host, Box::new(front));
                proxy_tasks.push((host, task));
            }
        }
        for (name, svc) in f.services.iter().filter(|(name, _)| !real_code.contains(&name.as_str())) {
            let steps = svc
                .steps
                .iter()
                .map(|s| {
                    let (kind, target) = match (&s.call, &s.forward) {
                        (Some(t), _) => (StepKind::Call, t),
                        (None, Some(t)) => (StepKind::Forward, t),
                        (None, None) => unreachable!("validated"),
                    };
                    // A load balancer's nodes, or a service's instances.
                    let endpoints = match nodes.get(&target.value) {
                        Some(n) => n.iter().map(|(h, az)| Endpoint { host: *h, az: azs[az] }).collect(),
                        None => instances.get(&target.value).cloned().unwrap_or_default(),
                    };
                    Step { kind, picker: Picker::new(pick_policy(s.pick), endpoints), headers: s.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect() }
                })
                .collect();
            let cfg = Arc::new(ServiceConfig {
                name: name.clone(),
                processing: dist(f, &svc.processing),
                concurrency: svc.concurrency,
                queue: svc.queue,
                steps,
                call_timeout: SERVICE_CALL_TIMEOUT,
                cold_start: svc.cold_start.as_ref().map(|cs| ColdStart {
                    duration: dist(f, &cs.duration),
                    keep_warm: cs.keep_warm.nanos(),
                    vpc_attach: cs.vpc_attach.as_ref().map(|d| dist(f, d)),
                }),
                routes: svc
                    .routes
                    .iter()
                    .map(|r| CannedRoute {
                        conditions: Conditions { paths: r.path.clone(), hosts: r.host.clone(), methods: r.method.clone(), ..Conditions::default() },
                        status: r.status,
                        bytes: r.bytes,
                    })
                    .collect(),
                allow_sources: svc
                    .allow_sources
                    .iter()
                    .flat_map(|source| match azsim_scenario::parse_cidr(source) {
                        Some(cidr) => vec![cidr],
                        None => match core.topology().host_by_name(source) {
                            Some(h) => vec![(core.topology().host(h).ip, 32)],
                            None => groups.get(source).into_iter().flatten().map(|h| (core.topology().host(*h).ip, 32)).collect(),
                        },
                    })
                    .collect(),
                health_body: svc.health_body.as_deref().map(Arc::from),
            });
            if let Some(e) = &svc.egress {
                let nat = &f.nat_gateways[&e.nat.value];
                let destination = instances.get(&e.destination.value).and_then(|i| i.first()).map(|e| e.host).expect("validated: a service has instances");
                for inst in instances.get(name).into_iter().flatten() {
                    let az = core.topology().az_name(inst.az).to_string();
                    let nat_az = nat.routes.get(&az).unwrap_or(&az).clone();
                    let config = EgressConfig {
                        header: e.header.clone(),
                        secrets: e.secrets.iter().map(|s| Secret { value: s.value.clone(), from: s.from.nanos(), until: s.until.map(|u| u.nanos()) }).collect(),
                        nat: nat_hosts[&(e.nat.value.clone(), nat_az)],
                        destination,
                        deep: (e.health == azsim_scenario::EgressHealth::Deep).then_some((5_000_000_000, 15_000_000_000)),
                        timeout: e.timeout.nanos(),
                        pool: e.upstream_pool.map(|p| UpstreamPool { idle_timeout: p.idle_timeout.nanos(), keepalive: p.keepalive.map(|k| k.nanos()) }),
                    };
                    core.add_process(inst.host, Box::new(EgressProxy::new(Arc::new(config))));
                }
                continue;
            }
            match slots.get(name) {
                Some(task_slots) => {
                    for slot in task_slots {
                        core.add_process(slot.endpoint.host, Box::new(ServiceInstance::new(cfg.clone()).with_switch(slot.switch.clone())));
                    }
                }
                None => {
                    for e in instances.get(name).into_iter().flatten() {
                        core.add_process(e.host, Box::new(ServiceInstance::new(cfg.clone())));
                    }
                }
            }
        }
        for (name, lb) in &f.load_balancers {
            let cross_zone = lb.cross_zone.unwrap_or(lb.kind == LbKind::Alb);
            let health = health_check(lb);
            let algorithm = match lb.algorithm.unwrap_or_default() {
                Algorithm::RoundRobin => LbAlgorithm::RoundRobin,
                Algorithm::LeastOutstandingRequests => LbAlgorithm::LeastOutstandingRequests,
                Algorithm::WeightedRandom => LbAlgorithm::WeightedRandom,
            };
            // ALB: idle timeout 60 s; NLB: TCP idle timeout 350 s.
            let target_timeout = if lb.kind == LbKind::Alb { 60_000_000_000 } else { 350_000_000_000 };
            let (groups, rules) = listener_rules(lb);
            let tg_health = lb.target_group_health.clone().unwrap_or_default();
            let dns_failover = match (tg_health.dns_failover_min_healthy, lb.kind) {
                (Some(0), _) => None,
                (Some(n), _) => Some(n),
                (None, LbKind::Nlb) => Some(1),
                (None, LbKind::Alb) => None,
            };
            for (host, az) in nodes.get(name).into_iter().flatten() {
                directory.register_node(name, *host, azs[az]);
                let cfg = LbNodeConfig {
                    lb: name.clone(),
                    groups: groups.clone(),
                    registry: target_groups.clone(),
                    deregistration_delay: deregistration_delay(lb),
                    routing_failover_min_healthy: tg_health.routing_failover_min_healthy.unwrap_or(1),
                    dns_failover_min_healthy: dns_failover,
                    cross_zone,
                    preserve_client_ip: lb.kind == LbKind::Nlb,
                    header_limits: lb.kind == LbKind::Alb,
                    processing: dist(f, &lb.processing),
                    health,
                    target_timeout,
                    algorithm,
                    directory: directory.clone(),
                    rules: rules.clone(),
                };
                core.add_process(*host, Box::new(LbNode::new(cfg)));
            }
            let own_az_share = match lb.dns_client_routing_policy.unwrap_or_default() {
                ClientRoutingPolicy::AnyAvailabilityZone => 0.0,
                ClientRoutingPolicy::PartialAvailabilityZoneAffinity => 0.85,
                ClientRoutingPolicy::AvailabilityZoneAffinity => 1.0,
            };
            directory.set_client_routing(name, ClientRouting { own_az_share });
        }
        let registry = cloud_map_registry(f, &instances, core.topology());
        for host in cloud_map_hosts.values() {
            core.add_process(*host, Box::new(CloudMapNode::new(registry.clone())));
        }
        if !cloud_map_hosts.is_empty() {
            cloud_map = Some(registry.clone());
        }
        for h in nat_hosts.values() {
            core.add_process(*h, Box::new(NatGateway::new()));
        }
        if let Some(r) = &f.route53 {
            let endpoints_of = |name: &str| -> Vec<Endpoint> {
                match apis.get(name) {
                    Some((gw, zone, _)) => vec![Endpoint { host: *gw, az: *zone }],
                    None => instances.get(name).cloned().unwrap_or_default(),
                }
            };
            let target = |t: &azsim_scenario::RecordTargetSpec| RecordTarget {
                endpoints: endpoints_of(&t.target.value),
                health_check: t.health_check.clone(),
                alias: f.load_balancers.contains_key(&t.target.value).then(|| AliasTarget {
                    lb: t.target.value.clone(),
                    directory: directory.clone(),
                    evaluate_target_health: t.evaluate_target_health,
                }),
            };
            let topo = core.topology();
            // A latency record's Region: its load balancer's first AZ, or its first endpoint's.
            let region_of = |name: &str| -> Option<RegionId> {
                let az = match f.load_balancers.get(name) {
                    Some(lb) => lb.azs.value.first().and_then(|az| topo.az_by_name(az)),
                    None => endpoints_of(name).first().map(|e| e.az),
                };
                az.map(|az| topo.az_region(az))
            };
            let records = r
                .records
                .iter()
                .map(|(name, rec)| {
                    let policy = if let Some(t) = &rec.simple {
                        Policy::Simple(target(t))
                    } else if let Some(fo) = &rec.failover {
                        Policy::Failover { primary: target(&fo.primary), secondary: target(&fo.secondary) }
                    } else if !rec.weighted.is_empty() {
                        Policy::Weighted(rec.weighted.iter().map(|t| (t.weight, target(t))).collect())
                    } else if !rec.latency.is_empty() {
                        let targets = rec.latency.iter().map(|t| {
                            region_of(&t.target.value)
                                .map(|r| (r, target(t)))
                                .ok_or_else(|| format!("route53.records.{name}.latency: `{}` has no Region", t.target.value))
                        });
                        Policy::Latency(targets.collect::<Result<_, _>>()?)
                    } else {
                        Policy::Multivalue(rec.multivalue.iter().map(target).collect())
                    };
                    Ok((name.clone(), RecordSet { ttl: rec.ttl.nanos(), policy }))
                })
                .collect::<Result<_, String>>()?;
            let checks = r
                .health_checks
                .iter()
                .filter_map(|(id, hc)| {
                    let host = endpoints_of(&hc.target.value).first()?.host;
                    let kind = match (&hc.search_string, hc.kind) {
                        (_, R53CheckType::Tcp) => CheckKind::Tcp,
                        (Some(needle), _) => CheckKind::StringMatch(needle.clone()),
                        (None, R53CheckType::Https) => CheckKind::Https,
                        (None, R53CheckType::Http) => CheckKind::Http,
                    };
                    Some((id.clone(), R53Check { target: host, interval: hc.interval.nanos(), failure_threshold: hc.failure_threshold, kind }))
                })
                .collect();
            let calculated =
                r.calculated_checks.iter().map(|(id, c)| (id.clone(), CalculatedCheck { children: c.children.clone(), threshold: c.threshold })).collect();
            // What latency records compare: the p50 of the one-way latency between Regions.
            let model = core.latency_model();
            let latencies = topo
                .regions()
                .flat_map(|a| topo.regions().map(move |b| (a, b)))
                .filter(|(a, b)| a != b)
                .map(|(a, b)| ((a, b), model.region_pairs.get(&(a, b)).unwrap_or(&model.inter_region).quantile(0.5)))
                .collect();
            let zone = Route53::new(records, checks, checkers.len(), dist(f, &r.propagation), core.seed().stream("route53"))
                .with_calculated(calculated)
                .with_latencies(latencies);
            for (i, h) in checkers.iter().enumerate() {
                core.add_process(*h, Box::new(HealthChecker::new(zone.clone(), i)));
            }
            route53 = Some(zone);
        }
        for (name, cf) in &f.cloudfront {
            let zone = route53.clone().expect("validated: CloudFront origins are Route 53 records");
            let allow = cf
                .allow
                .iter()
                .flat_map(|a| match azsim_scenario::parse_cidr(a) {
                    Some(cidr) => vec![cidr],
                    None => groups.get(a).into_iter().flatten().map(|h| (core.topology().host(*h).ip, 32)).collect(),
                })
                .collect();
            let config = EdgeConfig {
                zone,
                origin: cf.origin.clone(),
                secondary: cf.secondary_origin.clone().map(|o| (o, cf.failover_statuses.clone())),
                response_timeout: cf.response_timeout.nanos(),
                allow,
                processing: dist(f, &cf.processing),
            };
            core.add_process(edges[name], Box::new(Edge::new(config)));
        }
        for (name, api) in &f.api_gateways {
            let (gw, _, enis) = &apis[name];
            let config = Arc::new(api_gateway_config(f, name, api, enis, &directory, &registry, &instances)?);
            let cache = azsim_fakes::apigw::DiscoveryCache::default();
            for eni in enis {
                core.add_process(*eni, Box::new(VpcLinkEni::new(Arc::new(config.integrations.clone()), cache.clone())));
            }
            core.add_process(*gw, Box::new(ApiGateway::new(config)));
        }
        for (name, host) in &ecs_hosts {
            let svc = &f.services[name];
            let ecs = svc.ecs.as_ref().expect("ECS services only");
            let lbs: Vec<&LoadBalancerSpec> = f.load_balancers.values().filter(|lb| lb_groups(lb).contains(name)).collect();
            let drain = lbs.iter().map(|lb| deregistration_delay(lb)).max();
            let cfg = EcsServiceConfig {
                service: name.clone(),
                slots: slots.get(name).cloned().unwrap_or_default(),
                azs: svc.instances.value.keys().map(|a| azs[a]).collect(),
                launch: dist(f, &ecs.launch_time),
                startup: dist(f, &ecs.startup),
                health: ContainerHealthCheck {
                    interval: ecs.health_check.interval.nanos(),
                    retries: ecs.health_check.retries,
                    start_period: ecs.health_check.start_period.nanos(),
                },
                target_groups: drain.map(|d| (target_groups.clone(), d)),
                cloud_map: svc.cloud_map.as_ref().map(|reg| EcsCloudMap {
                    registry: registry.clone(),
                    namespace: reg.namespace.clone(),
                    service: reg.service.clone(),
                    attributes: ecs_attributes(name, &region_of(svc.instances.value.keys().next().expect("validated"))),
                }),
                events: task_events.clone(),
                autoscaling: ecs.autoscaling.as_ref().map(|a| AutoScaling {
                    target: a.target_cpu,
                    min: a.min,
                    max: a.max,
                    scale_out_cooldown: a.scale_out_cooldown.nanos(),
                    scale_in_cooldown: a.scale_in_cooldown.nanos(),
                    cpus: f64::from(svc.concurrency.unwrap_or(1)),
                }),
            };
            core.add_process(*host, Box::new(EcsService::new(cfg)));
        }
        for (label, (name, c)) in f.clients.iter().enumerate() {
            let is_record = f.route53.as_ref().is_some_and(|r| r.records.contains_key(&c.target.value));
            let destination = if let Some((gw, zone, _)) = apis.get(&c.target.value) {
                Destination::Service(Picker::new(PickPolicy::Any, vec![Endpoint { host: *gw, az: *zone }]))
            } else if let Some(edge) = edges.get(&c.target.value) {
                let az = core.topology().host(*edge).az;
                Destination::Service(Picker::new(PickPolicy::Any, vec![Endpoint { host: *edge, az }]))
            } else if is_record {
                let zone = route53.clone().expect("a record implies a zone");
                Destination::Route53 { zone, name: c.target.value.clone(), cache: c.dns_cache.map(|d| d.nanos()) }
            } else if f.load_balancers.contains_key(&c.target.value) {
                Destination::LoadBalancer {
                    name: c.target.value.clone(),
                    zonal: c.resolve == azsim_scenario::Resolve::OwnAz,
                    directory: directory.clone(),
                    ttl: c.dns_cache.map_or(LB_DNS_TTL, |d| d.nanos()),
                }
            } else {
                Destination::Service(Picker::new(PickPolicy::Any, instances.get(&c.target.value).cloned().unwrap_or_default()))
            };
            let pacing = match (c.rate, c.concurrency) {
                (Some(rate), _) => Pacing::Open { rate, poisson: c.arrivals == Arrivals::Poisson },
                (None, Some(n)) => Pacing::Closed { concurrency: n },
                (None, None) => unreachable!("validated"),
            };
            let cfg = ClientConfig {
                label: label as u32,
                destination,
                pacing,
                max_requests: c.requests,
                start_at: c.start.nanos(),
                stop_at: f.duration.nanos(),
                request_bytes: c.request_bytes,
                response_bytes: c.response_bytes,
                timeout: c.timeout.nanos(),
                mix: c
                    .http
                    .iter()
                    .map(|h| {
                        let mut headers: Vec<(String, String)> = h.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                        if let Some(token) = &h.jwt_token {
                            headers.push(("authorization".into(), format!("Bearer {token}")));
                        }
                        let http = HttpRequest {
                            method: h.method.clone(),
                            path: h.path.clone(),
                            host: h.host.clone(),
                            headers,
                            query: h.query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                            large_header_bytes: h.large_header_bytes,
                        };
                        (h.weight, Arc::new(http))
                    })
                    .collect(),
            };
            for h in client_hosts.get(name).into_iter().flatten() {
                let mut cfg = cfg.clone();
                if let (Some(d), Some(reg)) = (&c.discovery, f.services.get(&c.target.value).and_then(|s| s.cloud_map.as_ref())) {
                    let info = core.topology().host(*h);
                    let (my_az, my_region) = (core.topology().az_name(info.az).to_string(), core.topology().region_name(info.region).to_string());
                    let endpoint =
                        cloud_map_hosts.get(&my_region).or_else(|| cloud_map_hosts.values().next()).copied().expect("a registered service has an endpoint");
                    let query = d.query.iter().map(|(k, v)| (k.clone(), if v == "$az" { my_az.clone() } else { v.clone() })).collect();
                    let request = Discover {
                        namespace: reg.namespace.clone(),
                        service: reg.service.clone(),
                        max_results: None,
                        query,
                        optional: BTreeMap::new(),
                        health: None,
                    };
                    if let Some(lib) = &c.library {
                        let Pacing::Open { rate, poisson } = cfg.pacing else { unreachable!("validated: the library client is open loop") };
                        let discover = Discover { query: BTreeMap::new(), ..request.clone() };
                        let config = LibraryClientConfig {
                            label: label as u32,
                            library: library_config(lib, &my_az),
                            cloud_map: endpoint,
                            discover,
                            refresh: d.refresh.map_or(DISCOVERY_REFRESH, |r| r.nanos()),
                            rate,
                            poisson,
                            start_at: c.start.nanos(),
                            stop_at: f.duration.nanos(),
                            request_bytes: c.request_bytes,
                            response_bytes: c.response_bytes,
                            timeout: c.timeout.nanos(),
                            mix: cfg.mix.clone(),
                            base: core.base(),
                        };
                        core.add_process(*h, Box::new(LibraryClient::new(config)));
                        continue;
                    }
                    cfg.destination = match d.via {
                        DiscoveryVia::Api => Destination::CloudMap { endpoint, request, refresh: d.refresh.map_or(DISCOVERY_REFRESH, |r| r.nanos()) },
                        DiscoveryVia::Dns => Destination::CloudMapDns {
                            registry: registry.clone(),
                            namespace: reg.namespace.clone(),
                            service: reg.service.clone(),
                            cache: c.dns_cache.map(|d| d.nanos()),
                        },
                    };
                }
                core.add_process(*h, Box::new(Client::new(cfg)));
            }
        }
        for fault in &f.faults {
            let start = fault.at.nanos();
            let end = fault.duration.map(|d| start.saturating_add(d.nanos()));
            let mut down = Vec::new();
            for kf in kernel_faults(f, fault, core.topology(), &groups) {
                let topo = core.topology();
                down.extend(topo.hosts().filter(|(h, _)| kf.affects_host(topo, *h)).map(|(_, info)| info.name.clone()));
                core.schedule_fault(start, end, kf);
            }
            fault_hosts.push(down);
        }
        Ok(())
    })?;
    let tunnel = tunnel_plan.map(|plan| {
        let counters = TunnelCounters::default();
        let seed = sim.with_core(|c| c.seed());
        let nets = |h: HostId| sim.net(h);
        crate::tunnel::start(&plan, &nets, proxy_tasks, &counters, seed, &|f| sim.spawn(f));
        counters
    });
    Ok(World { sim, roles, client_labels: f.clients.keys().cloned().collect(), task_events, cloud_map, fault_hosts, tunnel, route53 })
}

/// An API's gateway configuration from its scenario spec (validated).
fn api_gateway_config(
    f: &ScenarioFile,
    name: &str,
    api: &azsim_scenario::ApiGatewaySpec,
    enis: &[HostId],
    directory: &LbDirectory,
    registry: &Arc<Mutex<Registry>>,
    instances: &BTreeMap<String, Vec<Endpoint>>,
) -> Result<ApiGatewayConfig, String> {
    use azsim_fakes::apigw::{ApiKind, ApiRoute, Cors, Integration, IntegrationUri, RouteKey, Throttle, jwt::JwtAuthorizer};
    let rest = api.kind == azsim_scenario::ApiKindSpec::Rest;
    let throttle = |t: &azsim_scenario::ThrottleSpec| Throttle { rate: t.rate, burst: t.burst };
    let mut integrations = Vec::new();
    let mut routes = Vec::new();
    for (key, r) in &api.routes {
        let integration = match (&r.load_balancer, &r.cloud_map) {
            (Some(lb), _) => Integration::LoadBalancer { name: lb.value.clone(), directory: directory.clone() },
            (None, None) if r.lambda.is_some() => {
                let f = r.lambda.as_ref().expect("checked");
                Integration::Lambda(instances.get(&f.value).cloned().unwrap_or_default())
            }
            (None, None) if r.http.is_some() => {
                let svc = r.http.as_ref().expect("checked");
                Integration::Http(instances.get(&svc.value).cloned().unwrap_or_default())
            }
            (None, Some(svc)) => {
                let reg = f.services[&svc.value].cloud_map.as_ref().expect("validated: registered in Cloud Map");
                let discover = Discover {
                    namespace: reg.namespace.clone(),
                    service: reg.service.clone(),
                    max_results: None,
                    query: r.query.clone(),
                    optional: BTreeMap::new(),
                    health: None,
                };
                Integration::CloudMap { registry: registry.clone(), discover, cache_ttl: api.discovery_cache.nanos() }
            }
            (None, None) => unreachable!("validated"),
        };
        integrations.push(integration);
        routes.push(ApiRoute {
            key: RouteKey::parse(key).map_err(|e| format!("api_gateways.{name}.routes: {e}"))?,
            integration: integrations.len() - 1,
            jwt: r.jwt.clone(),
            throttle: r.throttle.as_ref().map(throttle),
            uri: r
                .uri
                .as_ref()
                .map(|u| IntegrationUri::parse(u, r.path_parameters.clone()))
                .transpose()
                .map_err(|e| format!("api_gateways.{name}.routes.{key}: {e}"))?,
            mappings: r
                .request_parameters
                .iter()
                .map(|(k, v)| azsim_scenario::mapping::parse_mapping(k, &v.value).map(mapping))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("api_gateways.{name}.routes.{key}.request_parameters: {e}"))?,
        });
    }
    let authorizer = match &api.jwt {
        Some(j) => Some(Arc::new(JwtAuthorizer::from_jwks(&j.issuer, j.audience.clone(), &j.jwks_text).map_err(|e| format!("api_gateways.{name}.jwt: {e}"))?)),
        None => None,
    };
    Ok(ApiGatewayConfig {
        name: name.to_string(),
        kind: if rest { ApiKind::Rest } else { ApiKind::Http },
        stages: api.stages.clone(),
        strip_stage: api.strip_stage,
        routes,
        integrations,
        account: api.account_throttle.as_ref().map_or(Throttle::ACCOUNT_DEFAULT, throttle),
        stage_throttle: api.stage_throttle.as_ref().map(throttle),
        integration_timeout: api.integration_timeout.map_or(if rest { 29_000_000_000 } else { 30_000_000_000 }, |d| d.nanos()),
        timeout_status: api.timeout_status.unwrap_or(if rest { 504 } else { 503 }),
        epoch_unix: api.jwt.as_ref().map_or(0, |j| j.start_unix),
        authorizer,
        cors: api.cors.as_ref().map(|c| Cors { allow_origins: c.allow_origins.clone() }),
        enis: enis.to_vec(),
        processing: dist(f, &api.processing),
    })
}

/// The library's configuration from a scenario's `library:` (absent fields: its defaults).
fn library_config(l: &azsim_scenario::LibrarySpec, my_az: &str) -> affinity_client::Config {
    use affinity_client::breaker::{BreakerConfig, Trip};
    use affinity_client::config::presets;
    use affinity_client::retry::BudgetConfig;
    let mut c = affinity_client::Config::new(Some(my_az));
    c.retry.max_attempts = l.max_attempts.unwrap_or(c.retry.max_attempts);
    c.retry.per_try_timeout = l.per_try_timeout.map(|d| Duration::from_nanos(d.nanos()));
    c.retry.budget = match l.retry_budget {
        None | Some(azsim_scenario::RetryBudgetKind::TokenBucket) => c.retry.budget,
        Some(azsim_scenario::RetryBudgetKind::Ratio) => presets::envoy_retry_budget(),
        Some(azsim_scenario::RetryBudgetKind::None) => BudgetConfig::Unlimited,
    };
    match l.outlier_consecutive_failures {
        Some(0) => c.outlier = None,
        Some(n) => c.outlier = Some(affinity_client::OutlierConfig { consecutive_failures: n, ..presets::envoy_outlier_detection() }),
        None => {}
    }
    let open_for = l.breaker_open_for.map_or(Duration::from_secs(30), |d| Duration::from_nanos(d.nanos()));
    match l.breaker_consecutive_failures {
        Some(0) => c.breaker = None,
        n => c.breaker = Some((affinity_client::BreakerScope::Zone, BreakerConfig { trip: Trip::ConsecutiveFailures(n.unwrap_or(5)), open_for, probes: 3 })),
    }
    c.zones.spill_below = l.spill_below.unwrap_or(c.zones.spill_below);
    c.zones.failback_after = l.failback_after.map_or(c.zones.failback_after, |d| Duration::from_nanos(d.nanos()));
    c
}

/// The attributes ECS gives every instance it registers in Cloud Map, besides address, port,
/// AZ and initial health.
fn ecs_attributes(service: &str, region: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("REGION".to_string(), region.to_string()),
        ("ECS_SERVICE_NAME".to_string(), service.to_string()),
        ("ECS_CLUSTER_NAME".to_string(), "default".to_string()),
        ("ECS_TASK_DEFINITION_FAMILY".to_string(), service.to_string()),
    ])
}

/// How long a load balancer's deregistered targets drain (AWS default 300 s).
fn deregistration_delay(lb: &LoadBalancerSpec) -> u64 {
    lb.deregistration_delay.map_or(300_000_000_000, |d| d.nanos())
}

/// How often a discovering client asks Cloud Map again, unless the scenario says.
const DISCOVERY_REFRESH: u64 = 30_000_000_000;

/// Cloud Map as the scenario registers it: for each `cloud_map:` service, an HTTP namespace, a
/// service with a custom health check, and every instance with ECS's attributes, visible from
/// the start (they were registered before the run began).
fn cloud_map_registry(f: &ScenarioFile, instances: &BTreeMap<String, Vec<Endpoint>>, topo: &Topology) -> Arc<Mutex<Registry>> {
    let settings = Settings {
        registration_delay: f.cloud_map.registration_delay.nanos(),
        health_change_delay: f.cloud_map.health_change_delay.nanos(),
        dns_propagation: f.cloud_map.dns_propagation.nanos(),
        ..Settings::default()
    };
    let mut registry = Registry::new(settings);
    for (name, svc) in &f.services {
        let Some(reg) = &svc.cloud_map else { continue };
        // A namespace is a private DNS one if any of its services publishes records.
        let dns_namespace = f.services.values().filter_map(|s| s.cloud_map.as_ref()).any(|r| r.namespace == reg.namespace && r.dns.is_some());
        let _ = registry.create_namespace(&reg.namespace, if dns_namespace { NamespaceKind::DnsPrivate } else { NamespaceKind::Http });
        let (routing, ttl) = match &reg.dns {
            Some(d) => {
                (if d.routing == DnsRouting::Weighted { RoutingPolicy::Weighted } else { RoutingPolicy::Multivalue }, (d.ttl.nanos() / 1_000_000_000) as u32)
            }
            None => (RoutingPolicy::Multivalue, 60),
        };
        let _ = registry.create_service(&reg.namespace, &reg.service, HealthConfig::Custom, routing, ttl);
        for e in instances.get(name).into_iter().flatten() {
            let h = topo.host(e.host);
            let region = topo.region_name(h.region);
            let mut attributes = if svc.ecs.is_some() {
                let mut a = ecs_attributes(name, region);
                a.insert("AWS_INIT_HEALTH_STATUS".to_string(), "HEALTHY".to_string());
                a
            } else {
                BTreeMap::from([("REGION".to_string(), region.to_string())])
            };
            attributes.insert("AWS_INSTANCE_IPV4".to_string(), h.ip.to_string());
            attributes.insert("AWS_INSTANCE_PORT".to_string(), "80".to_string());
            attributes.insert("AVAILABILITY_ZONE".to_string(), topo.az_name(h.az).to_string());
            registry.register_instance(0, &reg.namespace, &reg.service, &h.name, attributes).expect("namespace and service exist");
        }
        if let Some(s) = registry.namespaces.get_mut(&reg.namespace).and_then(|ns| ns.services.get_mut(&reg.service)) {
            s.instances.values_mut().for_each(|i| {
                i.visible_at = 0;
                i.dns_visible_at = 0;
            });
        }
    }
    Arc::new(Mutex::new(registry))
}

/// The target groups (services) a load balancer routes to: the default one, then those its
/// listener rules forward to.
fn lb_groups(lb: &LoadBalancerSpec) -> Vec<String> {
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
            let action = if let Some(f) = &r.fixed_response {
                Action::FixedResponse { status: f.status, bytes: f.bytes }
            } else if let Some(red) = &r.redirect {
                Action::Redirect { status: red.status }
            } else {
                let groups = r
                    .forward
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

/// The load balancer's health checks: AWS's defaults for its kind (ALB 30 s / 5 s / 5 / 2; NLB
/// 30 s / 10 s / 5 / 2), overridden field by field.
fn health_check(lb: &LoadBalancerSpec) -> HealthCheckConfig {
    let mut hc = match lb.kind {
        LbKind::Alb => HealthCheckConfig::default(),
        LbKind::Nlb => HealthCheckConfig { timeout: 10_000_000_000, ..HealthCheckConfig::default() },
    };
    if let Some(spec) = &lb.health_check {
        hc.interval = spec.interval.map_or(hc.interval, |d| d.nanos());
        hc.timeout = spec.timeout.map_or(hc.timeout, |d| d.nanos());
        hc.healthy_threshold = spec.healthy_threshold.unwrap_or(hc.healthy_threshold);
        hc.unhealthy_threshold = spec.unhealthy_threshold.unwrap_or(hc.unhealthy_threshold);
    }
    hc
}

fn latency_model(f: &ScenarioFile, azs: &BTreeMap<String, AzId>, topo: &Topology) -> LatencyModel {
    let n = &f.network;
    let mut m =
        LatencyModel { intra_az: dist(f, &n.intra_az), inter_az: dist(f, &n.inter_az), inter_region: dist(f, &n.inter_region), ..LatencyModel::default() };
    for p in &n.az_pairs {
        let (a, b) = (azs[&p.from.value], azs[&p.to.value]);
        m.az_pairs.insert((a, b), dist(f, &p.latency));
        if p.symmetric {
            m.az_pairs.insert((b, a), dist(f, &p.latency));
        }
    }
    for p in &n.region_pairs {
        let (a, b) = (topo.region_by_name(&p.from.value).expect("validated"), topo.region_by_name(&p.to.value).expect("validated"));
        m.region_pairs.insert((a, b), dist(f, &p.latency));
        if p.symmetric {
            m.region_pairs.insert((b, a), dist(f, &p.latency));
        }
    }
    m
}

/// A scope name as kernel scopes: `*`, an AZ, a Region, a host, or a group (every host of a
/// service, load balancer or client).
fn scopes(name: &str, topo: &Topology, groups: &BTreeMap<String, Vec<HostId>>) -> Vec<Scope> {
    if name == "*" {
        return vec![Scope::All];
    }
    if let Some(az) = topo.az_by_name(name) {
        return vec![Scope::Az(az)];
    }
    if let Some(r) = topo.region_by_name(name) {
        return vec![Scope::Region(r)];
    }
    if let Some(h) = topo.host_by_name(name) {
        return vec![Scope::Host(h)];
    }
    groups.get(name).map(|hs| hs.iter().map(|h| Scope::Host(*h)).collect()).unwrap_or_default()
}

fn hosts_of(name: &str, topo: &Topology, groups: &BTreeMap<String, Vec<HostId>>) -> Vec<HostId> {
    scopes(name, topo, groups).into_iter().flat_map(|s| topo.hosts().filter(|(h, _)| s.contains(topo, *h)).map(|(h, _)| h).collect::<Vec<_>>()).collect()
}

fn kernel_faults(f: &ScenarioFile, fault: &azsim_scenario::FaultSpec, topo: &Topology, groups: &BTreeMap<String, Vec<HostId>>) -> Vec<Fault> {
    let pairs = |from: &str, to: &str| {
        let (a, b) = (scopes(from, topo, groups), scopes(to, topo, groups));
        a.iter().flat_map(|x| b.iter().map(move |y| (x.clone(), y.clone()))).collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    if let Some(az) = &fault.az_outage {
        out.push(Fault::AzOutage(topo.az_by_name(&az.value).expect("validated")));
    }
    if let Some(r) = &fault.region_outage {
        out.push(Fault::RegionOutage(topo.region_by_name(&r.value).expect("validated")));
    }
    if let Some(c) = &fault.crash {
        out.extend(hosts_of(&c.value, topo, groups).into_iter().map(Fault::HostCrash));
    }
    if let Some(c) = &fault.power_off {
        out.extend(hosts_of(&c.value, topo, groups).into_iter().map(Fault::HostPowerOff));
    }
    if let Some(l) = &fault.latency {
        let (d, add) = match (&l.set, &l.add) {
            (Some(d), _) => (d, false),
            (None, Some(d)) => (d, true),
            _ => unreachable!("validated"),
        };
        for (from, to) in pairs(&l.from.value, &l.to.value) {
            out.push(Fault::Latency { from, to, latency: dist(f, d), both_ways: l.both_ways, add });
        }
    }
    if let Some(p) = &fault.partition {
        for (from, to) in pairs(&p.from.value, &p.to.value) {
            out.push(Fault::Partition { from, to, both_ways: p.both_ways });
        }
    }
    if let Some(p) = &fault.loss {
        for (from, to) in pairs(&p.from.value, &p.to.value) {
            out.push(Fault::Loss { from, to, probability: p.probability, both_ways: p.both_ways });
        }
    }
    out
}

/// A request parameter mapping as the language parsed it, for the API Gateway fake.
fn mapping(m: azsim_scenario::mapping::RequestMapping) -> Mapping {
    use azsim_scenario::mapping::{MapAction as A, MapTarget as T};
    let action = match m.action {
        A::Append => MapAction::Append,
        A::Overwrite => MapAction::Overwrite,
        A::Remove => MapAction::Remove,
    };
    let target = match m.target {
        T::Header(h) => MapTarget::Header(h),
        T::Query(q) => MapTarget::Query(q),
        T::Path => MapTarget::Path,
    };
    Mapping { action, target, value: m.value }
}
