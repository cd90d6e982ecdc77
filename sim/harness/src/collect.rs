//! Reads a finished run into a [`RunRecord`]: requests, latency, crossings, bytes and cost,
//! per-client, per-service and per-hop tables, what each fake counted, and the verdict of
//! every expectation.

use std::collections::BTreeMap;

use azsim_fakes::ConnStats;
use azsim_kernel::PlaceKind;
use azsim_scenario::ScenarioFile;

use crate::checks;
use crate::record::*;
use crate::view::{RequestView, counts, fault_records, round3, timeline};
use crate::world::{Role, World};

pub(crate) fn record(f: &ScenarioFile, scenario: &str, variant: &str, seed: u64, world: &World) -> RunRecord {
    world.sim.with_core(|core| {
        let views: Vec<RequestView> = core.requests().iter().map(|r| RequestView::new(r, core.topology())).collect();
        let mut ok_latencies: Vec<u64> = views.iter().filter(|v| v.ok).filter_map(|v| v.latency).collect();
        let (crossings, worst_path) = crossings(&views);
        let analytic = crate::analytic::on_paper(f);
        let mut faults = fault_records(f, &views.iter().collect::<Vec<_>>());
        for (record, stale) in faults.iter_mut().zip(discovery_staleness(f, world)) {
            record.discovery_stale_s = stale;
        }
        let mut rec = RunRecord {
            scenario: scenario.to_string(),
            variant: variant.to_string(),
            seed,
            description: f.description.trim().to_string(),
            duration_s: f.duration.nanos() as f64 / 1e9,
            requests: counts(&views),
            latency_us: Percentiles::of(&mut ok_latencies),
            crossings,
            worst_path,
            analytic,
            bytes: bytes(world, core, &views),
            cost_usd: 0.0,
            cost: CostRecord::default(),
            clients: client_records(world, core, &views),
            services: service_records(f, world, core),
            timeline: timeline(f, &views),
            hops: hop_stats(world, core),
            connections: connections(world, core),
            nlb_flows: nlb_flows(world, core),
            slow_start: slow_start(world, core),
            faults,
            task_events: task_events(world),
            tunnel: world.tunnel.as_ref().map(|t| TunnelRecord {
                executed: t.executed(),
                executed_twice: t.executed_twice(),
                sent_to_proxy_without_agent: t.no_agent.load(std::sync::atomic::Ordering::Relaxed),
                unanswered: views.iter().filter(|v| v.unanswered).count() as u64,
                firewall_drops: core.firewall_drops(),
            }),
            api_gateways: api_gateway_records(world, core),
            nat_gateways: nat_records(world, core),
            egress: egress_records(world, core),
            health_changes: health_changes(world),
            edges: edge_records(world, core),
            expectations: Vec::new(),
            passed: true,
            events: core.events_processed(),
        };
        rec.cost = crate::cost::cost(f, world, core, views.len() as u64);
        for i in 0..rec.faults.len() {
            rec.faults[i].recovery_chain = recovery_chain(f, &rec, &rec.faults[i]);
        }
        rec.cost_usd = rec.cost.total_usd;
        rec.expectations = checks::evaluate(f, &rec, &views, &world.client_labels, core.topology());
        rec.passed = rec.expectations.iter().all(|e| e.passed);
        rec
    })
}

/// AZ and Region crossings per request, and the requests that took the most AZ crossings.
fn crossings(views: &[RequestView]) -> (Crossings, WorstPath) {
    let n = views.len().max(1) as f64;
    let max_az = views.iter().map(|v| v.az_crossings).max().unwrap_or(0);
    let mut hist = std::collections::BTreeMap::new();
    for v in views {
        *hist.entry(v.az_crossings).or_insert(0u64) += 1;
    }
    let stats = |count: fn(&RequestView) -> u32| CrossingStats {
        max: views.iter().map(count).max().unwrap_or(0),
        mean: round3(views.iter().map(|v| count(v) as f64).sum::<f64>() / n),
    };
    let crossings = Crossings {
        az: stats(|v| v.az_crossings),
        region: stats(|v| v.region_crossings),
        internet: stats(|v| v.internet_crossings),
        az_histogram: hist.into_iter().collect(),
    };
    let mut worst: Vec<u64> = views.iter().filter(|v| v.ok && v.az_crossings == max_az).filter_map(|v| v.latency).collect();
    (crossings, WorstPath { az_crossings: max_az, requests: worst.len() as u64, latency_us: Percentiles::of(&mut worst) })
}

/// Bytes on the wire: in all, across AZs (as billed), across Regions, per request, dropped.
fn bytes(world: &World, core: &azsim_kernel::Core, views: &[RequestView]) -> Bytes {
    let (topo, traffic) = (core.topology(), core.traffic());
    let request_cross_az: u64 = core.requests().iter().map(|r| r.bytes_cross_az).sum();
    Bytes {
        total: traffic.bytes_sent,
        payload_total: traffic.payload_sent,
        cross_az: cross_az_bytes(world, core),
        payload_cross_az: cross_az_payload(world, core),
        cross_region: traffic.cross_region_bytes(topo),
        internet_in: internet_bytes(topo, traffic, true),
        internet_out: internet_bytes(topo, traffic, false),
        cross_az_per_request: round3(request_cross_az as f64 / views.len().max(1) as f64),
        dropped: traffic.bytes_dropped,
        by_az_pair: traffic
            .by_az_pair
            .iter()
            .map(|((a, b), c)| PairBytes { from: topo.az_name(*a).to_string(), to: topo.az_name(*b).to_string(), bytes: c.bytes })
            .collect(),
    }
}

/// `mine`'s (one client's requests) failures by cause, most frequent first (then by name).
fn failure_causes(mine: &[RequestView]) -> Vec<FailureCause> {
    let mut by: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for v in mine {
        if let Some(cause) = &v.failure {
            by.entry(cause.as_str()).or_default().extend(v.latency);
        }
    }
    let mut causes: Vec<FailureCause> = by
        .into_iter()
        .map(|(cause, mut lat)| FailureCause { cause: cause.to_string(), requests: lat.len() as u64, latency_us: Percentiles::of(&mut lat) })
        .collect();
    causes.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.cause.cmp(&b.cause)));
    causes
}

/// How `mine` (one client's requests) split between those that waited for a handshake and
/// those that did not; `None` when none did.
fn handshakes(mine: &[RequestView]) -> Option<Handshakes> {
    let paid = mine.iter().filter(|v| v.handshakes > 0).count() as u64;
    if paid == 0 {
        return None;
    }
    let latencies = |paid: bool| -> Vec<u64> { mine.iter().filter(|v| v.ok && (v.handshakes > 0) == paid).filter_map(|v| v.latency).collect() };
    Some(Handshakes {
        paid,
        share: round3(paid as f64 / mine.len() as f64),
        paid_latency_us: Percentiles::of(&mut latencies(true)),
        open_latency_us: Percentiles::of(&mut latencies(false)),
    })
}

/// Each client's requests and latency; for the library's clients, attempts and retries too.
fn client_records(world: &World, core: &azsim_kernel::Core, views: &[RequestView]) -> Vec<ClientRecord> {
    world
        .client_labels
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mine: Vec<RequestView> = views.iter().filter(|v| v.client == i).cloned().collect();
            let mut lat: Vec<u64> = mine.iter().filter(|v| v.ok).filter_map(|v| v.latency).collect();
            let library: Vec<&crate::library_client::LibraryClient> =
                world.roles.iter().filter(|(_, r)| **r == Role::Client(name.clone())).filter_map(|(h, _)| core.process(*h)?.as_any().downcast_ref()).collect();
            let (attempts, retries) = if library.is_empty() {
                (None, None)
            } else {
                (Some(library.iter().map(|l| l.sent_attempts()).sum()), Some(library.iter().map(|l| l.retries()).sum()))
            };
            ClientRecord {
                client: name.clone(),
                requests: counts(&mine),
                latency_us: Percentiles::of(&mut lat),
                attempts,
                retries,
                handshakes: handshakes(&mine),
                failures: failure_causes(&mine),
            }
        })
        .collect()
}

/// What ECS did to each task.
fn task_events(world: &World) -> Vec<TaskEventRecord> {
    world
        .task_events
        .all()
        .into_iter()
        .map(|e| TaskEventRecord { at_s: e.at as f64 / 1e9, service: e.service, task: e.task, host: e.host, event: e.event })
        .collect()
}

/// Each NAT gateway's address, bytes, refusals and idle resets.
fn nat_records(world: &World, core: &azsim_kernel::Core) -> Vec<NatRecord> {
    world
        .roles
        .iter()
        .filter_map(|(h, r)| match r {
            Role::Nat(_) => Some((*h, core.process(*h)?.as_any().downcast_ref::<azsim_fakes::nat::NatGateway>()?)),
            _ => None,
        })
        .map(|(h, n)| {
            let info = core.topology().host(h);
            NatRecord {
                nat: info.name.clone(),
                elastic_ip: info.ip.to_string(),
                bytes: n.counts.bytes,
                port_exhausted: n.counts.port_exhausted,
                idle_resets: n.counts.idle_resets,
            }
        })
        .collect()
}

/// What each caller's connections did: clients (those with `connections`), CloudFront's edges
/// to their origins and load balancers' nodes to their targets (those that pool them), then
/// each API's VPC link (those that connected).
fn connections(world: &World, core: &azsim_kernel::Core) -> Vec<ConnectionsRecord> {
    let mut by: BTreeMap<String, ConnStats> = BTreeMap::new();
    let mut links: BTreeMap<String, ConnStats> = BTreeMap::new();
    let mut clients: BTreeMap<String, ConnStats> = BTreeMap::new();
    for (h, r) in &world.roles {
        let process = core.process(*h).map(|p| p.as_any());
        match r {
            Role::LbNode { lb, .. } => {
                if let Some(node) = process.and_then(|p| p.downcast_ref::<azsim_fakes::LbNode>()).filter(|n| n.pools_targets()) {
                    by.entry(format!("{lb} -> targets")).or_default().add(&node.conn_stats());
                }
            }
            Role::Client(name) => {
                if let Some(client) = process.and_then(|p| p.downcast_ref::<azsim_fakes::Client>()).filter(|c| c.connects()) {
                    clients.entry(format!("client {name}")).or_default().add(&client.conn_stats());
                }
            }
            Role::Edge(name) => {
                if let Some(edge) = process.and_then(|p| p.downcast_ref::<azsim_fakes::edge::Edge>()) {
                    by.entry(format!("cloudfront {name} -> origins")).or_default().add(&edge.conn_stats());
                }
            }
            Role::Service(name) => {
                if let Some(i) = process.and_then(|p| p.downcast_ref::<azsim_fakes::ServiceInstance>()) {
                    by.entry(format!("{name} -> calls")).or_default().add(&i.call_conn_stats());
                }
            }
            Role::VpcLinkEni(api) => {
                if let Some(eni) = process.and_then(|p| p.downcast_ref::<azsim_fakes::apigw::VpcLinkEni>()) {
                    links.entry(format!("{api} VPC link")).or_default().add(&eni.conn_stats());
                }
            }
            _ => {}
        }
    }
    links.retain(|_, c| c.opened > 0);
    by.retain(|_, c| c.opened > 0); // a load balancer whose variant sends it nothing
    clients
        .into_iter()
        .chain(by)
        .chain(links)
        .map(|(caller, c)| ConnectionsRecord {
            caller,
            opened: c.opened,
            reused: c.reused,
            closed_idle_by_caller: c.closed_idle_by_caller,
            closed_idle_by_server: c.closed_idle_by_server,
            closed_after_response: c.closed_after_response,
            reset: c.reset,
            recycled: c.recycled,
            syn_retransmits: c.syn_retransmits,
            connect_timeouts: c.connect_timeouts,
        })
        .collect()
}

/// What each NLB's nodes did with flows, for NLBs that saw any.
fn nlb_flows(world: &World, core: &azsim_kernel::Core) -> Vec<NlbFlowsRecord> {
    let mut by: BTreeMap<String, azsim_fakes::lb::FlowStats> = BTreeMap::new();
    for (h, r) in &world.roles {
        let (Role::LbNode { lb, .. }, Some(node)) = (r, core.process(*h).and_then(|p| p.as_any().downcast_ref::<azsim_fakes::LbNode>())) else { continue };
        by.entry(lb.clone()).or_default().add(&node.flow_stats());
    }
    by.into_iter()
        .filter(|(_, f)| f.flows + f.syns_dropped > 0)
        .map(|(lb, f)| NlbFlowsRecord { load_balancer: lb, flows: f.flows, syns_dropped: f.syns_dropped, idle_expired: f.idle_expired, resets: f.resets })
        .collect()
}

/// What slow start cost each service's answers on connections, for services that answered on
/// any.
fn slow_start(world: &World, core: &azsim_kernel::Core) -> Vec<SlowStartRecord> {
    let mut by: BTreeMap<String, azsim_fakes::SlowStartStats> = BTreeMap::new();
    for (h, r) in &world.roles {
        let process = core.process(*h).map(|p| p.as_any());
        match r {
            Role::Service(name) => {
                if let Some(i) = process.and_then(|p| p.downcast_ref::<azsim_fakes::ServiceInstance>()) {
                    by.entry(name.clone()).or_default().add(&i.slow_start_stats());
                }
            }
            // An ALB node's answers to the callers connected to it.
            Role::LbNode { lb, .. } => {
                if let Some(node) = process.and_then(|p| p.downcast_ref::<azsim_fakes::LbNode>()) {
                    by.entry(format!("{lb} (to callers)")).or_default().add(&node.slow_start_stats());
                }
            }
            _ => {}
        }
    }
    by.into_iter()
        .filter(|(_, s)| s.answers > 0)
        .map(|(service, s)| SlowStartRecord { service, answers: s.answers, multi_flight: s.multi_flight, extra_wait_ms: s.extra_wait as f64 / 1e6 })
        .collect()
}

/// What each egress proxy fleet forwarded and refused, summed over its instances.
fn egress_records(world: &World, core: &azsim_kernel::Core) -> Vec<EgressRecord> {
    let mut by: std::collections::BTreeMap<String, EgressRecord> = std::collections::BTreeMap::new();
    for (h, r) in &world.roles {
        let (Role::Service(name), Some(e)) = (r, core.process(*h).and_then(|p| p.as_any().downcast_ref::<azsim_fakes::nat::EgressProxy>())) else {
            continue;
        };
        let rec = by.entry(name.clone()).or_insert(EgressRecord { service: name.clone(), forwarded: 0, rejected: 0, timeouts: 0, resets: 0 });
        rec.forwarded += e.counts.forwarded;
        rec.rejected += e.counts.rejected;
        rec.timeouts += e.counts.timeouts;
        rec.resets += e.counts.resets;
    }
    by.into_values().collect()
}

/// Route 53's health changes: when the checkers turned, and when name servers answered so.
fn health_changes(world: &World) -> Vec<HealthChangeRecord> {
    world
        .route53
        .iter()
        .flat_map(|z| z.changes())
        .map(|c| HealthChangeRecord { check: c.check, healthy: c.healthy, at_s: c.at as f64 / 1e9, published_s: c.published_at as f64 / 1e9 })
        .collect()
}

/// What each CloudFront edge blocked, timed out, failed over and could not resolve.
fn edge_records(world: &World, core: &azsim_kernel::Core) -> Vec<EdgeRecord> {
    world
        .roles
        .iter()
        .filter_map(|(h, r)| match r {
            Role::Edge(name) => Some((name, core.process(*h)?.as_any().downcast_ref::<azsim_fakes::edge::Edge>()?)),
            _ => None,
        })
        .map(|(name, e)| EdgeRecord {
            distribution: name.clone(),
            blocked: e.counts.blocked,
            timeouts: e.counts.timeouts,
            connect_failures: e.counts.connect_failures,
            retries: e.counts.retries,
            failed_over: e.counts.failed_over,
            no_origin: e.counts.no_origin,
        })
        .collect()
}

/// Bytes into AWS from places outside it (`inbound`), or out of AWS to them.
fn internet_bytes(topo: &azsim_kernel::Topology, traffic: &azsim_kernel::Traffic, inbound: bool) -> u64 {
    let outside = |r: &azsim_kernel::RegionId| topo.place(*r) == PlaceKind::Outside;
    traffic.by_region_pair.iter().filter(|((a, b), _)| if inbound { outside(a) && !outside(b) } else { !outside(a) && outside(b) }).map(|(_, c)| c.bytes).sum()
}

/// Bytes between different AZs of a Region, leaving out calls to regional AWS endpoints.
fn cross_az_bytes(world: &World, core: &azsim_kernel::Core) -> u64 {
    cross_az_pairs(world, core).map(|c| c.bytes).sum()
}

/// What the applications wrote on the pairs [`cross_az_bytes`] counts.
fn cross_az_payload(world: &World, core: &azsim_kernel::Core) -> u64 {
    cross_az_pairs(world, core).map(|c| c.payload).sum()
}

/// The host pairs whose traffic crosses an AZ boundary inside a Region (regional endpoints
/// excluded).
fn cross_az_pairs<'a>(world: &'a World, core: &'a azsim_kernel::Core) -> impl Iterator<Item = &'a azsim_kernel::PairCounter> + 'a {
    let topo = core.topology();
    let api = |h: &azsim_kernel::HostId| regional(world, h);
    core.traffic()
        .by_host_pair
        .iter()
        .filter(move |((a, b), _)| !api(a) && !api(b))
        .filter(move |((a, b), _)| {
            let (x, y) = (topo.host(*a), topo.host(*b));
            x.region == y.region && x.az != y.az
        })
        .map(|(_, c)| c)
}

fn api_gateway_records(world: &World, core: &azsim_kernel::Core) -> Vec<ApiGatewayRecord> {
    world
        .roles
        .iter()
        .filter_map(|(h, r)| match r {
            Role::ApiGateway(name) => Some((name, core.process(*h)?.as_any().downcast_ref::<azsim_fakes::apigw::ApiGateway>()?)),
            _ => None,
        })
        .map(|(name, gw)| {
            let c = &gw.counts;
            ApiGatewayRecord {
                api: name.clone(),
                statuses: c.by_status.iter().map(|(s, n)| (*s, *n)).collect(),
                throttled: c.throttled,
                unauthorized: c.unauthorized,
                forbidden: c.forbidden,
                preflights: c.preflights,
                timeouts: c.timeouts,
                challenges: c.challenges.iter().map(|(h, n)| (h.clone(), *n)).collect(),
            }
        })
        .collect()
}

/// A regional AWS endpoint (Cloud Map, API Gateway), CloudFront's edge or Route 53's checkers:
/// not in an AZ of the VPC, and not billed as data transfer between AZs or Regions here.
fn regional(world: &World, h: &azsim_kernel::HostId) -> bool {
    matches!(world.roles.get(h), Some(Role::CloudMap | Role::ApiGateway(_) | Role::Edge(_) | Role::Route53Checker))
}

/// For each fault: how long after it began `DiscoverInstances` still returned a host it took
/// down (`None` when it took down no registered host).
fn discovery_staleness(f: &ScenarioFile, world: &World) -> Vec<Option<f64>> {
    let Some(registry) = &world.cloud_map else { return vec![None; f.faults.len()] };
    let registry = registry.lock().expect("cloud map lock");
    if registry.last_returned.is_empty() {
        return vec![None; f.faults.len()]; // nothing was ever discovered: no staleness to speak of
    }
    let registered: std::collections::BTreeSet<&String> =
        registry.namespaces.values().flat_map(|ns| ns.services.values()).flat_map(|s| s.instances.keys()).chain(registry.last_returned.keys()).collect();
    f.faults
        .iter()
        .zip(&world.fault_hosts)
        .map(|(fault, hosts)| {
            let start = fault.at.nanos();
            let mine: Vec<&String> = hosts.iter().filter(|h| registered.contains(h)).collect();
            if mine.is_empty() {
                return None;
            }
            let last = mine.iter().filter_map(|h| registry.last_returned.get(*h)).filter(|t| **t >= start).max();
            Some(last.map_or(0.0, |t| (t - start) as f64 / 1e9))
        })
        .collect()
}

/// Why failures after a fault ended when they did: the events between its start and its last
/// failure (ECS task events, Route 53 health changes and their publication, the last time
/// Cloud Map returned a lost host and when the API caches of that answer ran out, the fault's
/// end), in time order, up to the last failure and the first event after it (what ended them).
fn recovery_chain(f: &ScenarioFile, rec: &RunRecord, fault: &FaultRecord) -> Vec<ChainEvent> {
    let Some(last) = fault.last_failure_after_s else { return Vec::new() };
    let mut chain = vec![ChainEvent { after_s: 0.0, what: format!("{} began", fault.fault) }];
    // Events from the fault's start on; those after the last failure are cut below, but for
    // the first of them: what ended the failures.
    let within = |t: f64| t >= 0.0; // not before the fault
    for e in &rec.task_events {
        let t = e.at_s - fault.at_s;
        if within(t) {
            chain.push(ChainEvent { after_s: t, what: format!("ECS: `{}` task {} on {}: {}", e.service, e.task, e.host, e.event) });
        }
    }
    for c in &rec.health_changes {
        let (t, published) = (c.at_s - fault.at_s, c.published_s - fault.at_s);
        let state = if c.healthy { "healthy" } else { "unhealthy" };
        if within(t) {
            chain.push(ChainEvent { after_s: t, what: format!("Route 53: check `{}` turned {state}", c.check) });
        }
        if within(published) {
            chain.push(ChainEvent { after_s: published, what: format!("Route 53: name servers answer as `{}` is {state}", c.check) });
        }
    }
    if let Some(stale) = fault.discovery_stale_s.filter(|t| *t > 0.0) {
        chain.push(ChainEvent {
            after_s: stale,
            what: "Cloud Map: discovery (DiscoverInstances, or its name servers) returned a host the fault took down for the last time".into(),
        });
        for (api, spec) in
            f.api_gateways.iter().filter(|(_, a)| a.routes.values().any(|r| matches!(r.integration, azsim_scenario::RouteIntegration::CloudMap(_))))
        {
            let expiry = stale + spec.discovery_cache.nanos() as f64 / 1e9;
            if within(expiry) {
                chain.push(ChainEvent { after_s: expiry, what: format!("API `{api}`: its {} cache of that answer ran out", spec.discovery_cache) });
            }
        }
    }
    if let Some(until) = fault.until_s.map(|u| u - fault.at_s).filter(|t| within(*t)) {
        chain.push(ChainEvent { after_s: until, what: format!("{} ended", fault.fault) });
    }
    chain.sort_by(|a, b| a.after_s.total_cmp(&b.after_s));
    let ended = chain.iter().position(|e| e.after_s > last).unwrap_or(chain.len());
    chain.truncate(ended + 1);
    chain.insert(ended, ChainEvent { after_s: last, what: "the last failed request began".into() });
    chain
}

/// The group a host belongs to (the service, load balancer or client it was made for).
fn group(world: &World, host: azsim_kernel::HostId) -> String {
    match world.roles.get(&host) {
        Some(Role::Client(n)) | Some(Role::Service(n)) => n.clone(),
        Some(Role::LbNode { lb, .. }) => lb.clone(),
        Some(Role::CloudMap) => "cloudmap".to_string(),
        Some(Role::EcsControl(n)) => format!("ecs-{n}"),
        Some(Role::TunnelAgent) => "tunnel-agent".to_string(),
        Some(Role::ApiGateway(n)) | Some(Role::Edge(n)) => n.clone(),
        Some(Role::Route53Checker) => "route53-checker".to_string(),
        Some(Role::Nat(n)) => n.clone(),
        Some(Role::VpcLinkEni(n)) => format!("{n}-vpclink"),
        None => "?".to_string(),
    }
}

/// Per-hop figures, by (from group, to group), from the recorded hops of every request.
fn hop_stats(world: &World, core: &azsim_kernel::Core) -> Vec<HopStats> {
    struct Acc {
        hops: u64,
        crossing: u64,
        bytes: u64,
        dropped: u64,
        latencies: Vec<u64>,
    }
    let mut by_pair: std::collections::BTreeMap<(String, String), Acc> = std::collections::BTreeMap::new();
    // The per-request rule: a hop crosses an AZ when its ends are in different zones and
    // neither is a regional one (AWS's endpoints, edges and checkers).
    let topo = core.topology();
    for r in core.requests() {
        for h in &r.hops {
            let acc =
                by_pair.entry((group(world, h.from), group(world, h.to))).or_insert(Acc { hops: 0, crossing: 0, bytes: 0, dropped: 0, latencies: Vec::new() });
            acc.hops += 1;
            acc.crossing += u64::from(topo.crosses_az(h.from_az, h.to_az));
            acc.bytes += h.bytes;
            match h.arrived_at {
                Some(t) => acc.latencies.push(t - h.sent_at),
                None => acc.dropped += 1,
            }
        }
    }
    by_pair
        .into_iter()
        .map(|((from, to), mut a)| {
            let p = Percentiles::of(&mut a.latencies);
            HopStats {
                from,
                to,
                hops: a.hops,
                cross_az_share: round3(a.crossing as f64 / a.hops as f64),
                bytes: a.bytes,
                dropped: a.dropped,
                p50_us: p.p50,
                p99_us: p.p99,
            }
        })
        .collect()
}

/// Per service: instances, requests served, rejected, cold starts (read from the processes).
fn service_records(f: &ScenarioFile, world: &World, core: &azsim_kernel::Core) -> Vec<ServiceRecord> {
    let mut by_name: std::collections::BTreeMap<String, ServiceRecord> = std::collections::BTreeMap::new();
    for (host, role) in &world.roles {
        let Role::Service(name) = role else { continue };
        let entry = by_name.entry(name.clone()).or_insert(ServiceRecord {
            service: name.clone(),
            instances: 0,
            tasks_at_start: f.services.get(name).filter(|s| s.ecs.is_some()).map(|s| s.instances.value.values().sum()),
            served: 0,
            served_by_host: Vec::new(),
            rejected: 0,
            cold_starts: 0,
            forbidden: 0,
            received: Vec::new(),
        });
        entry.instances += 1;
        if let Some(i) = core.process(*host).and_then(|p| p.as_any().downcast_ref::<azsim_fakes::ServiceInstance>()) {
            entry.served += i.served;
            if i.served > 0 {
                entry.served_by_host.push((core.topology().host(*host).name.clone(), i.served));
            }
            entry.rejected += i.rejected;
            entry.cold_starts += i.cold_starts;
            entry.forbidden += i.forbidden;
            for ((method, host, path), count) in &i.received {
                match entry.received.iter_mut().find(|r| r.method == *method && r.host == *host && r.path == *path) {
                    Some(r) => r.count += count,
                    None => entry.received.push(Received { method: method.clone(), host: host.clone(), path: path.clone(), count: *count }),
                }
            }
        }
    }
    for r in by_name.values_mut() {
        r.received.sort_by(|a, b| (&a.method, &a.host, &a.path).cmp(&(&b.method, &b.host, &b.path)));
    }
    by_name.into_values().collect()
}
