//! Runs one variant of a scenario and reads the history into a [`RunRecord`].

use std::time::Duration;

use azsim_kernel::{Outcome, RequestRecord};
use azsim_scenario::{LbKind, Scenario, ScenarioFile};

use crate::analytic::worst_case_path;
use crate::checks;
use crate::record::*;
use crate::world::{Role, World, build};

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Keep every hop of every request (default): the per-hop table needs them. About 64 bytes
    /// per hop; turn off for long drills.
    pub record_hops: bool,
    /// Show a progress bar when stderr is a terminal.
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { seed: None, record_hops: true, progress: false }
    }
}

/// What the checks need of one request.
#[derive(Clone, Debug)]
pub(crate) struct RequestView {
    pub(crate) client: usize,
    pub(crate) client_az: String,
    pub(crate) started: u64,
    pub(crate) latency: Option<u64>,
    pub(crate) ok: bool,
    pub(crate) done: bool,
    /// Nobody answered: the client timed out, or it was in flight at the end.
    pub(crate) unanswered: bool,
    pub(crate) az_crossings: u32,
    pub(crate) region_crossings: u32,
}

impl RequestView {
    fn new(r: &RequestRecord, topo: &azsim_kernel::Topology) -> Self {
        RequestView {
            client: r.label as usize,
            client_az: topo.az_name(topo.host(r.client).az).to_string(),
            started: r.started,
            latency: r.latency(),
            ok: r.outcome == Outcome::Ok,
            done: r.outcome != Outcome::Unknown,
            unanswered: match &r.outcome {
                Outcome::Unknown => true,
                Outcome::Failed(reason) => reason.contains("timeout") || reason.contains("timed out"),
                Outcome::Ok => false,
            },
            az_crossings: r.az_crossings,
            region_crossings: r.region_crossings,
        }
    }
}

/// Runs `variant` (or `baseline`) of `scenario`.
pub fn run_variant(scenario: &Scenario, variant: &str, opts: &RunOptions) -> Result<RunRecord, String> {
    let f =
        scenario.resolve(variant).ok_or_else(|| format!("{}: no variant named `{variant}`; it has: {}", scenario.path, scenario.variant_names().join(", ")))?;
    let seed = opts.seed.unwrap_or(f.seed);
    let mut world = build(&f, seed, opts.record_hops).map_err(|e| format!("{}: variant `{variant}`: {e}", scenario.path))?;
    let end = Duration::from_nanos(f.duration.nanos().saturating_add(f.drain.nanos()));
    drive(&mut world, end, opts.progress);
    Ok(record(&f, &scenario.file.name, variant, seed, &world))
}

fn drive(world: &mut World, end: Duration, progress: bool) {
    use std::io::IsTerminal;
    if progress && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(end.as_secs().max(1));
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} simulated {pos}s / {len}s [{bar:40}] {elapsed}").expect("template"));
        world.sim.run_until_with_progress(end, &|t| bar.set_position(t / 1_000_000_000));
        bar.finish_and_clear();
    } else {
        world.sim.run_until(end);
    }
}

fn record(f: &ScenarioFile, scenario: &str, variant: &str, seed: u64, world: &World) -> RunRecord {
    world.sim.with_core(|core| {
        let views: Vec<RequestView> = core.requests().iter().map(|r| RequestView::new(r, core.topology())).collect();
        let totals = counts(&views);
        let mut ok_latencies: Vec<u64> = views.iter().filter(|v| v.ok).filter_map(|v| v.latency).collect();
        let latency_us = Percentiles::of(&mut ok_latencies);

        let n = views.len().max(1) as f64;
        let max_az = views.iter().map(|v| v.az_crossings).max().unwrap_or(0);
        let mut hist = std::collections::BTreeMap::new();
        for v in &views {
            *hist.entry(v.az_crossings).or_insert(0u64) += 1;
        }
        let crossings = Crossings {
            az: CrossingStats { max: max_az, mean: round3(views.iter().map(|v| v.az_crossings as f64).sum::<f64>() / n) },
            region: CrossingStats {
                max: views.iter().map(|v| v.region_crossings).max().unwrap_or(0),
                mean: round3(views.iter().map(|v| v.region_crossings as f64).sum::<f64>() / n),
            },
            az_histogram: hist.into_iter().collect(),
        };
        let mut worst: Vec<u64> = views.iter().filter(|v| v.ok && v.az_crossings == max_az).filter_map(|v| v.latency).collect();
        let worst_path = WorstPath { az_crossings: max_az, requests: worst.len() as u64, latency_us: Percentiles::of(&mut worst) };

        let topo = core.topology();
        let traffic = core.traffic();
        let request_cross_az: u64 = core.requests().iter().map(|r| r.bytes_cross_az).sum();
        let bytes = Bytes {
            total: traffic.bytes_sent,
            cross_az: cross_az_bytes(world, core),
            cross_region: traffic.cross_region_bytes(),
            cross_az_per_request: round3(request_cross_az as f64 / n),
            dropped: traffic.bytes_dropped,
            by_az_pair: traffic
                .by_az_pair
                .iter()
                .map(|((a, b), c)| PairBytes { from: topo.az_name(*a).to_string(), to: topo.az_name(*b).to_string(), bytes: c.bytes })
                .collect(),
        };
        let cost_usd = cost(f, world, core);
        let analytic = worst_case_path(f)
            .map(|p| Analytic { max_az_crossings: p.crossings, p0_us: p.p0 as f64 / 1000.0, p50_us: p.p50 as f64 / 1000.0, path: p.path })
            .unwrap_or_default();
        let clients = world
            .client_labels
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mine: Vec<RequestView> = views.iter().filter(|v| v.client == i).cloned().collect();
                let mut lat: Vec<u64> = mine.iter().filter(|v| v.ok).filter_map(|v| v.latency).collect();
                let library: Vec<&crate::library_client::LibraryClient> = world
                    .roles
                    .iter()
                    .filter(|(_, r)| **r == Role::Client(name.clone()))
                    .filter_map(|(h, _)| core.process(*h)?.as_any().downcast_ref())
                    .collect();
                let (attempts, retries) = if library.is_empty() {
                    (None, None)
                } else {
                    (Some(library.iter().map(|l| l.sent_attempts).sum()), Some(library.iter().map(|l| l.retries).sum()))
                };
                ClientRecord { client: name.clone(), requests: counts(&mine), latency_us: Percentiles::of(&mut lat), attempts, retries }
            })
            .collect();
        let services = service_records(world, core);
        let timeline = timeline(f, &views);
        let hops = hop_stats(world, core);
        let mut faults = fault_records(f, &views.iter().collect::<Vec<_>>());
        for (record, stale) in faults.iter_mut().zip(discovery_staleness(f, world)) {
            record.discovery_stale_s = stale;
        }
        let task_events = world
            .task_events
            .all()
            .into_iter()
            .map(|e| TaskEventRecord { at_s: e.at as f64 / 1e9, service: e.service, task: e.task, host: e.host, event: e.event })
            .collect();
        let mut rec = RunRecord {
            scenario: scenario.to_string(),
            variant: variant.to_string(),
            seed,
            description: f.description.trim().to_string(),
            duration_s: f.duration.nanos() as f64 / 1e9,
            requests: totals,
            latency_us,
            crossings,
            worst_path,
            analytic,
            bytes,
            cost_usd,
            clients,
            services,
            timeline,
            hops,
            faults,
            task_events,
            tunnel: world.tunnel.as_ref().map(|t| TunnelRecord {
                executed: t.executed(),
                executed_twice: t.executed_twice(),
                sent_to_proxy_without_agent: t.no_agent.load(std::sync::atomic::Ordering::Relaxed),
                unanswered: views.iter().filter(|v| v.unanswered).count() as u64,
                firewall_drops: core.firewall_drops(),
            }),
            api_gateways: api_gateway_records(world, core),
            nat_gateways: world
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
                .collect(),
            egress: {
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
            },
            health_changes: world
                .route53
                .iter()
                .flat_map(|z| z.changes())
                .map(|c| HealthChangeRecord { check: c.check, healthy: c.healthy, at_s: c.at as f64 / 1e9, published_s: c.published_at as f64 / 1e9 })
                .collect(),
            edges: world
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
                    failed_over: e.counts.failed_over,
                    no_origin: e.counts.no_origin,
                })
                .collect(),
            expectations: Vec::new(),
            passed: true,
            events: core.events_processed(),
        };
        rec.expectations = checks::evaluate(f, &rec, &views, &world.client_labels);
        rec.passed = rec.expectations.iter().all(|e| e.passed);
        rec
    })
}

pub(crate) fn counts(views: &[RequestView]) -> Counts {
    let ok = views.iter().filter(|v| v.ok).count() as u64;
    let done = views.iter().filter(|v| v.done).count() as u64;
    Counts { sent: views.len() as u64, ok, failed: done - ok, unknown: views.len() as u64 - done }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Data-transfer cost from the bytes each host pair carried: between AZs, the price at each
/// end; between Regions, at the sender; ALB-to-target hops free if the price table says so.
fn cost(f: &ScenarioFile, world: &World, core: &azsim_kernel::Core) -> f64 {
    let topo = core.topology();
    let p = &f.prices;
    let mut usd = 0.0;
    for ((a, b), c) in &core.traffic().by_host_pair {
        let (ha, hb) = (topo.host(*a), topo.host(*b));
        let gb = c.bytes as f64 / 1e9;
        if regional(world, a) || regional(world, b) {
            continue;
        }
        if ha.region != hb.region {
            usd += gb * p.cross_region_per_gb;
        } else if ha.az != hb.az {
            if p.alb_to_target_free && alb_target_pair(world, *a, *b) {
                continue;
            }
            // Calls to AWS APIs (Cloud Map, API Gateway's regional endpoint) are not billed as
            // data transfer between AZs.
            if regional(world, a) || regional(world, b) {
                continue;
            }
            usd += gb * 2.0 * p.cross_az_per_gb;
        }
    }
    // NAT gateways: each GB processed, and each hour of each gateway.
    let hours = f.duration.nanos() as f64 / 3.6e12;
    for (h, role) in &world.roles {
        if let (Role::Nat(_), Some(nat)) = (role, core.process(*h).and_then(|p| p.as_any().downcast_ref::<azsim_fakes::nat::NatGateway>())) {
            usd += nat.counts.bytes as f64 / 1e9 * p.nat_per_gb + hours * p.nat_per_hour;
        }
    }
    (usd * 1e9).round() / 1e9
}

/// Bytes between different AZs of a Region, leaving out calls to regional AWS endpoints.
fn cross_az_bytes(world: &World, core: &azsim_kernel::Core) -> u64 {
    let topo = core.topology();
    let api = |h: &azsim_kernel::HostId| regional(world, h);
    core.traffic()
        .by_host_pair
        .iter()
        .filter(|((a, b), _)| !api(a) && !api(b))
        .filter(|((a, b), _)| {
            let (x, y) = (topo.host(*a), topo.host(*b));
            x.region == y.region && x.az != y.az
        })
        .map(|(_, c)| c.bytes)
        .sum()
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

fn alb_target_pair(world: &World, a: azsim_kernel::HostId, b: azsim_kernel::HostId) -> bool {
    let is_pair = |x, y| match (world.roles.get(&x), world.roles.get(&y)) {
        (Some(Role::LbNode { kind: LbKind::Alb, targets, .. }), Some(Role::Service(s))) => targets == s,
        _ => false,
    };
    is_pair(a, b) || is_pair(b, a)
}

fn timeline(f: &ScenarioFile, views: &[RequestView]) -> Vec<TimelinePoint> {
    let duration = f.duration.nanos().max(1);
    let window = (duration / 60).max(1_000_000_000);
    let n = duration.div_ceil(window);
    (0..n)
        .map(|i| {
            let (lo, hi) = (i * window, (i + 1) * window);
            let mine: Vec<&RequestView> = views.iter().filter(|v| v.started >= lo && v.started < hi).collect();
            let ok = mine.iter().filter(|v| v.ok).count() as u64;
            let failed = mine.iter().filter(|v| v.done && !v.ok).count() as u64;
            let mut lat: Vec<u64> = mine.iter().filter(|v| v.ok).filter_map(|v| v.latency).collect();
            TimelinePoint {
                start_s: lo as f64 / 1e9,
                sent: mine.len() as u64,
                ok,
                failed,
                success_ratio: if mine.is_empty() { 1.0 } else { round3(ok as f64 / mine.len() as f64) },
                p50_us: Percentiles::of(&mut lat).p50,
            }
        })
        .collect()
}

/// A fault as a short label: its kind and target.
fn fault_label(fault: &azsim_scenario::FaultSpec) -> String {
    let pair = |k: &str, from: &str, to: &str| format!("{k} {from} -> {to}");
    if let Some(r) = &fault.az_outage {
        format!("az_outage {}", r.value)
    } else if let Some(r) = &fault.region_outage {
        format!("region_outage {}", r.value)
    } else if let Some(r) = &fault.crash {
        format!("crash {}", r.value)
    } else if let Some(r) = &fault.power_off {
        format!("power_off {}", r.value)
    } else if let Some(l) = &fault.latency {
        pair("latency", &l.from.value, &l.to.value)
    } else if let Some(p) = &fault.partition {
        pair("partition", &p.from.value, &p.to.value)
    } else if let Some(p) = &fault.loss {
        pair("loss", &p.from.value, &p.to.value)
    } else {
        "fault".to_string()
    }
}

/// Attributes each request to the latest fault started before it, and measures how long
/// failures went on after each fault began.
pub(crate) fn fault_records(f: &ScenarioFile, views: &[&RequestView]) -> Vec<FaultRecord> {
    let mut order: Vec<usize> = (0..f.faults.len()).collect();
    order.sort_by_key(|i| (f.faults[*i].at.nanos(), *i));
    let mut out = vec![None; f.faults.len()];
    for (k, i) in order.iter().enumerate() {
        let fault = &f.faults[*i];
        let start = fault.at.nanos();
        let next = order.get(k + 1).map_or(u64::MAX, |j| f.faults[*j].at.nanos());
        let mine: Vec<&&RequestView> = views.iter().filter(|v| v.started >= start && v.started < next).collect();
        let last_failure = mine.iter().filter(|v| !v.ok).map(|v| v.started).max();
        let recovered = match last_failure {
            Some(t) => mine.iter().any(|v| v.ok && v.started > t),
            None => true,
        };
        out[*i] = Some(FaultRecord {
            fault: fault_label(fault),
            at_s: start as f64 / 1e9,
            until_s: fault.duration.map(|d| start.saturating_add(d.nanos()) as f64 / 1e9),
            failed: mine.iter().filter(|v| !v.ok).count() as u64,
            last_failure_after_s: last_failure.map(|t| (t - start) as f64 / 1e9),
            recovered,
            discovery_stale_s: None,
        });
    }
    out.into_iter().map(|r| r.expect("every fault recorded")).collect()
}

/// For each fault: how long after it began `DiscoverInstances` still returned a host it took
/// down (`None` when it took down no registered host).
fn discovery_staleness(f: &ScenarioFile, world: &World) -> Vec<Option<f64>> {
    let Some(registry) = &world.cloud_map else { return vec![None; f.faults.len()] };
    let registry = registry.lock().expect("cloud map lock");
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
    for r in core.requests() {
        for h in &r.hops {
            let acc =
                by_pair.entry((group(world, h.from), group(world, h.to))).or_insert(Acc { hops: 0, crossing: 0, bytes: 0, dropped: 0, latencies: Vec::new() });
            acc.hops += 1;
            acc.crossing += u64::from(h.from_az != h.to_az);
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
fn service_records(world: &World, core: &azsim_kernel::Core) -> Vec<ServiceRecord> {
    let mut by_name: std::collections::BTreeMap<String, ServiceRecord> = std::collections::BTreeMap::new();
    for (host, role) in &world.roles {
        let Role::Service(name) = role else { continue };
        let entry = by_name.entry(name.clone()).or_insert(ServiceRecord {
            service: name.clone(),
            instances: 0,
            served: 0,
            rejected: 0,
            cold_starts: 0,
            forbidden: 0,
            received: Vec::new(),
        });
        entry.instances += 1;
        if let Some(i) = core.process(*host).and_then(|p| p.as_any().downcast_ref::<azsim_fakes::ServiceInstance>()) {
            entry.served += i.served;
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
