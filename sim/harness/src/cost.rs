//! What a run cost, by component and by AZ pair, from what the simulation carried: each API's
//! billed requests, each load balancer's hours and capacity units (from the connections,
//! flows, bytes and rule evaluations its nodes saw), each NAT gateway's hours and bytes, Cloud
//! Map's discovery calls, CloudFront's requests and transfer, and data transfer between AZs,
//! between Regions and out to the internet. Prices come from the scenario's `prices:` (AWS's
//! us-east-1 prices where it sets none); nothing here is typed in per scenario.

use std::collections::BTreeMap;

use azsim_kernel::{Core, HostId, PlaceKind};
use azsim_scenario::{ApiKindSpec, LbKind, PriceTable, ScenarioFile};

use crate::record::{AzPairCost, CostLine, CostRecord};
use crate::world::{Role, World};

const GB: f64 = 1e9;

/// The run's cost. `requests`: the requests the clients sent (for the cost per million).
pub(crate) fn cost(f: &ScenarioFile, world: &World, core: &Core, requests: u64) -> CostRecord {
    let topo = core.topology();
    let hours = f.duration.nanos() as f64 / 3.6e12;
    let table = |h: HostId| f.prices.table(topo.region_name(topo.host(h).region));
    let mut lines = Vec::new();
    lines.extend(api_gateways(f, world, core, &table));
    lines.extend(load_balancers(world, core, hours, &table));
    lines.extend(nat_gateways(world, core, hours, &table));
    lines.extend(cloud_map(f, world));
    lines.extend(lambdas(f, world, core, &table));
    lines.extend(cloudfront(world, core, &table));
    let (transfer, by_az_pair) = transfer(f, world, core);
    lines.extend(transfer);
    lines.retain(|l| l.quantity > 0.0);
    let total: f64 = lines.iter().map(|l| l.usd).sum();
    let used: Vec<String> = lines.iter().map(|l| l.price.clone()).collect();
    let mut notes = vec![
        "a client without `connections` opens a connection per request; API Gateway's VPC link and other callers sent as messages count as on kept connections"
            .to_string(),
    ];
    notes.push("load balancers that carried nothing in this run are left out (AWS bills a deployed one its hours)".into());
    notes.push("hours are pro rata to the run's duration (AWS bills each started hour of a load balancer or NAT gateway in full)".into());
    notes.push("no free tier and no volume tier applied: the first tier's price throughout".into());
    if f.prices.table("").alb_to_target_free && used.iter().any(|k| k.starts_with("alb_")) {
        notes.push("traffic between an ALB and its targets across AZs is free (`alb_to_target_free`)".into());
    }
    CostRecord {
        total_usd: usd(total),
        per_million_requests_usd: (requests > 0).then(|| usd(total / requests as f64 * 1e6)),
        lines,
        by_az_pair,
        defaults: f.prices.defaulted().into_iter().filter(|k| used.iter().any(|u| u == k)).map(String::from).collect(),
        notes,
    }
}

/// Rounded to a billionth of a dollar, so that records stay readable and stable.
fn usd(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

/// A line of `quantity` units priced at `prices:`'s `key` (`times` it: both ends of a
/// cross-AZ GB pay).
fn line(component: impl Into<String>, item: impl Into<String>, quantity: f64, (key, table, times): (&str, &PriceTable, f64)) -> CostLine {
    let unit_usd = table.get(key).expect("a key of prices") * times;
    let unit = azsim_scenario::Prices::DEFAULTS.iter().find(|(k, _, _)| *k == key).map_or("", |(_, _, u)| *u);
    CostLine {
        component: component.into(),
        item: item.into(),
        quantity: (quantity * 1e6).round() / 1e6,
        unit: unit.to_string(),
        unit_usd,
        usd: usd(quantity * unit_usd),
        price: key.to_string(),
    }
}

fn api_gateways(f: &ScenarioFile, world: &World, core: &Core, table: &impl Fn(HostId) -> PriceTable) -> Vec<CostLine> {
    let mut billed: BTreeMap<&String, (u64, HostId)> = BTreeMap::new();
    for (h, role) in &world.roles {
        let Role::ApiGateway(name) = role else { continue };
        let Some(gw) = core.process(*h).and_then(|p| p.as_any().downcast_ref::<azsim_fakes::apigw::ApiGateway>()) else { continue };
        billed.entry(name).or_insert((0, *h)).0 += gw.counts.billed;
    }
    billed
        .into_iter()
        .map(|(name, (n, h))| {
            let p = table(h);
            let (what, key) = match f.api_gateways.get(name).map(|a| a.kind) {
                Some(ApiKindSpec::Rest) => ("requests (REST API)", "rest_api_per_million"),
                _ => ("requests (HTTP API, 512 KB units)", "http_api_per_million"),
            };
            line(format!("api_gateways.{name}"), what, n as f64 / 1e6, (key, &p, 1.0))
        })
        .collect()
}

/// What one load balancer's nodes saw, summed.
#[derive(Default)]
struct LbSeen {
    kind: Option<LbKind>,
    host: Option<HostId>,
    new_connections: u64,
    open_ns: u128,
    processed_bytes: u64,
    rule_evaluations: u64,
}

fn load_balancers(world: &World, core: &Core, hours: f64, table: &impl Fn(HostId) -> PriceTable) -> Vec<CostLine> {
    let mut seen: BTreeMap<&String, LbSeen> = BTreeMap::new();
    let now = core.now();
    for (h, role) in &world.roles {
        let Role::LbNode { lb, kind, .. } = role else { continue };
        let Some(node) = core.process(*h).and_then(|p| p.as_any().downcast_ref::<azsim_fakes::LbNode>()) else { continue };
        let s = seen.entry(lb).or_default();
        (s.kind, s.host) = (Some(*kind), Some(s.host.unwrap_or(*h)));
        let conns = if *kind == LbKind::Nlb { node.flow_usage() } else { node.client_connections() };
        // A client without `connections` opens one per request; other callers the simulation
        // sends as messages (API Gateway's VPC link to an ALB) keep theirs open.
        let per_request: u64 = node.usage.without_connection.iter().filter(|(h, _)| matches!(world.roles.get(h), Some(Role::Client(_)))).map(|(_, n)| n).sum();
        s.new_connections += conns.opened + per_request;
        s.open_ns += conns.open_ns(now);
        s.rule_evaluations += node.usage.billable_rule_evaluations;
        s.processed_bytes += processed_bytes(world, core, *h, *kind);
    }
    let run_s = hours * 3600.0;
    let mut lines = Vec::new();
    for (name, s) in seen {
        let (Some(kind), Some(host)) = (s.kind, s.host) else { continue };
        let p = table(host);
        let per_s = |n: u64| if run_s > 0.0 { n as f64 / run_s } else { 0.0 };
        let active = if run_s > 0.0 { s.open_ns as f64 / 1e9 / run_s } else { 0.0 };
        let gb_per_hour = if hours > 0.0 { s.processed_bytes as f64 / GB / hours } else { 0.0 };
        // Each dimension in units, averaged over the run (AWS takes the largest each hour).
        let dims: Vec<(f64, String)> = match kind {
            LbKind::Alb => vec![
                (per_s(s.new_connections) / 25.0, format!("{:.2} new connections/s", per_s(s.new_connections))),
                (active / 3000.0, format!("{active:.1} active connections")),
                (gb_per_hour, format!("{gb_per_hour:.4} GB processed an hour")),
                (per_s(s.rule_evaluations) / 1000.0, format!("{:.1} rule evaluations/s beyond 10 a request", per_s(s.rule_evaluations))),
            ],
            LbKind::Nlb => vec![
                (per_s(s.new_connections) / 800.0, format!("{:.2} new flows/s", per_s(s.new_connections))),
                (active / 100_000.0, format!("{active:.1} active flows")),
                (gb_per_hour, format!("{gb_per_hour:.4} GB processed an hour")),
            ],
        };
        let (units, why) = dims.into_iter().fold((0.0, String::new()), |best, d| if d.0 > best.0 { d } else { best });
        if units == 0.0 {
            continue; // deployed but unused in this variant: left out (AWS would bill its hours)
        }
        let (hour_key, unit_key, lb_name) = match kind {
            LbKind::Alb => ("alb_per_hour", "alb_per_lcu_hour", "ALB"),
            LbKind::Nlb => ("nlb_per_hour", "nlb_per_nlcu_hour", "NLB"),
        };
        let component = format!("load_balancers.{name}");
        lines.push(line(&component, format!("{lb_name} hours"), hours, (hour_key, &p, 1.0)));
        lines.push(line(&component, format!("capacity units (largest dimension: {why})"), units * hours, (unit_key, &p, 1.0)));
    }
    lines
}

/// Bytes a load balancer node exchanged with its callers (not its targets or health checks):
/// an ALB's processed bytes are HTTP heads and bodies; an NLB's include TCP/IP headers.
fn processed_bytes(world: &World, core: &Core, node: HostId, kind: LbKind) -> u64 {
    let Some(Role::LbNode { targets, .. }) = world.roles.get(&node) else { return 0 };
    let target = |h: &HostId| matches!(world.roles.get(h), Some(Role::Service(s)) if s == targets);
    core.traffic()
        .by_host_pair
        .iter()
        .filter(|((a, b), _)| (*a == node && !target(b)) || (*b == node && !target(a)))
        .map(|(_, c)| if kind == LbKind::Alb { c.payload } else { c.bytes })
        .sum()
}

fn nat_gateways(world: &World, core: &Core, hours: f64, table: &impl Fn(HostId) -> PriceTable) -> Vec<CostLine> {
    let mut lines = Vec::new();
    for (h, role) in &world.roles {
        let Role::Nat(name) = role else { continue };
        let Some(nat) = core.process(*h).and_then(|p| p.as_any().downcast_ref::<azsim_fakes::nat::NatGateway>()) else { continue };
        let p = table(*h);
        let component = format!("nat_gateways.{name} ({})", core.topology().host(*h).name);
        lines.push(line(&component, "hours", hours, ("nat_per_hour", &p, 1.0)));
        lines.push(line(&component, "data processed", nat.counts.bytes as f64 / GB, ("nat_per_gb", &p, 1.0)));
    }
    lines
}

fn cloud_map(f: &ScenarioFile, world: &World) -> Vec<CostLine> {
    let Some(registry) = &world.cloud_map else { return Vec::new() };
    let calls = registry.lock().expect("cloud map lock").discover_calls;
    // Cloud Map's prices are the first Region's (the registry is not placed in one).
    let region = f.regions.value.iter().find(|(_, r)| r.kind == azsim_scenario::PlaceKind::Region).map(|(n, _)| n.as_str()).unwrap_or("");
    vec![line("cloud_map", "DiscoverInstances calls", calls as f64 / 1e6, ("cloud_map_per_million_discoveries", &f.prices.table(region), 1.0))]
}

/// Services that are API Gateway's Lambda integrations: each invocation, and its duration in
/// GB-seconds of the function's memory.
fn lambdas(f: &ScenarioFile, world: &World, core: &Core, table: &impl Fn(HostId) -> PriceTable) -> Vec<CostLine> {
    let functions: std::collections::BTreeSet<&str> = f
        .api_gateways
        .values()
        .flat_map(|a| a.routes.values())
        .filter_map(|r| match &r.integration {
            azsim_scenario::RouteIntegration::Lambda(s) => Some(s.value.as_str()),
            _ => None,
        })
        .collect();
    let mut seen: BTreeMap<&str, (u64, u64, HostId)> = BTreeMap::new();
    for (h, role) in &world.roles {
        let Role::Service(name) = role else { continue };
        if !functions.contains(name.as_str()) {
            continue;
        }
        let Some(i) = core.process(*h).and_then(|p| p.as_any().downcast_ref::<azsim_fakes::ServiceInstance>()) else { continue };
        let e = seen.entry(name.as_str()).or_insert((0, 0, *h));
        (e.0, e.1) = (e.0 + i.served, e.1 + i.billed_ms);
    }
    let mut lines = Vec::new();
    for (name, (requests, billed_ms, host)) in seen {
        let p = table(host);
        let memory_mb = f.services.get(name).and_then(|s| s.cold_start.as_ref()).map_or(128, |c| c.memory_mb);
        let component = format!("lambda {name} ({memory_mb} MB)");
        lines.push(line(&component, "requests", requests as f64 / 1e6, ("lambda_per_million_requests", &p, 1.0)));
        let gb_s = billed_ms as f64 / 1000.0 * f64::from(memory_mb) / 1024.0;
        lines.push(line(&component, "duration", gb_s, ("lambda_per_gb_second", &p, 1.0)));
    }
    lines
}

fn cloudfront(world: &World, core: &Core, table: &impl Fn(HostId) -> PriceTable) -> Vec<CostLine> {
    let topo = core.topology();
    let mut lines = Vec::new();
    for (h, role) in &world.roles {
        let Role::Edge(name) = role else { continue };
        let Some(edge) = core.process(*h).and_then(|p| p.as_any().downcast_ref::<azsim_fakes::edge::Edge>()) else { continue };
        let p = table(*h);
        let (mut to_viewers, mut to_origins) = (0, 0);
        for ((a, b), c) in &core.traffic().by_host_pair {
            if a != h {
                continue;
            }
            match topo.place(topo.host(*b).region) {
                PlaceKind::Outside => to_viewers += c.bytes,
                PlaceKind::Region => to_origins += c.bytes,
                PlaceKind::PointOfPresence => {}
            }
        }
        let component = format!("cloudfront.{name}");
        lines.push(line(&component, "requests", edge.counts.requests as f64 / 1e4, ("cloudfront_per_10k_requests", &p, 1.0)));
        lines.push(line(&component, "transfer out to viewers", to_viewers as f64 / GB, ("cloudfront_egress_per_gb", &p, 1.0)));
        lines.push(line(&component, "transfer out to origins", to_origins as f64 / GB, ("cloudfront_to_origin_per_gb", &p, 1.0)));
    }
    lines
}

/// Data transfer: between AZs of a Region (each end pays), between AWS Regions (the sender
/// pays), and out of AWS to the internet or an on-premises site. AWS's own endpoints (Cloud
/// Map, Route 53's checkers) are not billed as transfer; API Gateway's and CloudFront's
/// transfer to AWS origins is free; CloudFront's own lines price its transfer to viewers.
fn transfer(f: &ScenarioFile, world: &World, core: &Core) -> (Vec<CostLine>, Vec<AzPairCost>) {
    let topo = core.topology();
    let mut cross_az: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_pair: BTreeMap<(String, String), (u64, f64)> = BTreeMap::new();
    let mut cross_region: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut egress: BTreeMap<String, u64> = BTreeMap::new();
    let aws_own = |h: &HostId| matches!(world.roles.get(h), Some(Role::CloudMap | Role::Route53Checker));
    for ((a, b), c) in &core.traffic().by_host_pair {
        if aws_own(a) || aws_own(b) {
            continue;
        }
        let (ha, hb) = (topo.host(*a), topo.host(*b));
        let (pa, pb) = (topo.place(ha.region), topo.place(hb.region));
        let region = topo.region_name(ha.region).to_string();
        if pb == PlaceKind::Outside && pa == PlaceKind::Region {
            *egress.entry(region).or_default() += c.bytes;
        } else if topo.crosses_region(ha.region, hb.region) {
            *cross_region.entry((region, topo.region_name(hb.region).to_string())).or_default() += c.bytes;
        } else if ha.region == hb.region && topo.crosses_az(ha.az, hb.az) {
            if f.prices.table(&region).alb_to_target_free && alb_target_pair(world, *a, *b) {
                continue;
            }
            *cross_az.entry(region.clone()).or_default() += c.bytes;
            let p = f.prices.table(&region).cross_az_per_gb;
            let e = by_pair.entry((topo.az_name(ha.az).to_string(), topo.az_name(hb.az).to_string())).or_default();
            e.0 += c.bytes;
            e.1 += c.bytes as f64 / GB * 2.0 * p;
        }
    }
    // A line of `bytes` priced at `key` in `region`, `times` over (both ends of a cross-AZ GB).
    let priced = |item: String, bytes: u64, (key, region, times): (&str, &str, f64)| {
        line("data transfer", item, bytes as f64 / GB, (key, &f.prices.table(region), times))
    };
    let mut lines = Vec::new();
    for (region, bytes) in cross_az {
        lines.push(priced(format!("between AZs of {region} (both ends)"), bytes, ("cross_az_per_gb", &region, 2.0)));
    }
    for ((from, to), bytes) in cross_region {
        lines.push(priced(format!("{from} to {to}"), bytes, ("cross_region_per_gb", &from, 1.0)));
    }
    for (region, bytes) in egress {
        lines.push(priced(format!("{region} out to the internet"), bytes, ("internet_egress_per_gb", &region, 1.0)));
    }
    let pairs = by_pair.into_iter().map(|((from, to), (bytes, cost))| AzPairCost { from, to, bytes, usd: usd(cost) }).collect();
    (lines, pairs)
}

fn alb_target_pair(world: &World, a: HostId, b: HostId) -> bool {
    let is_pair = |x, y| match (world.roles.get(&x), world.roles.get(&y)) {
        (Some(Role::LbNode { kind: LbKind::Alb, targets, .. }), Some(Role::Service(s))) => targets == s,
        _ => false,
    };
    is_pair(a, b) || is_pair(b, a)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_default_is_a_key_of_prices() {
        let schema: serde_json::Value = serde_json::from_str(&azsim_scenario::schema_json()).expect("schema");
        let props = &schema["$defs"]["Prices"]["properties"];
        for (key, default, _) in azsim_scenario::Prices::DEFAULTS {
            assert!(props.get(*key).is_some(), "{key} is not in the schema");
            assert!(*default > 0.0);
        }
    }

    #[test]
    fn a_region_overrides_only_what_it_sets() {
        let eu = azsim_scenario::RegionPrices { nat_per_hour: Some(0.048), ..Default::default() };
        let p = azsim_scenario::Prices { cross_az_per_gb: Some(0.02), regions: [("eu-west-1".to_string(), eu)].into(), ..Default::default() };
        let eu = p.table("eu-west-1");
        assert_eq!((eu.cross_az_per_gb, eu.nat_per_hour, eu.nat_per_gb), (0.02, 0.048, 0.045));
        let us = p.table("us-east-1");
        assert_eq!((us.cross_az_per_gb, us.nat_per_hour), (0.02, 0.045));
        assert!(!p.defaulted().contains(&"nat_per_hour") && !p.defaulted().contains(&"cross_az_per_gb") && p.defaulted().contains(&"nat_per_gb"));
    }
}
