//! Route 53: the hosted zone's records and health checks, and the checker fleet.

use std::collections::BTreeMap;

use azsim_fakes::Endpoint;
use azsim_fakes::route53::{AliasTarget, CalculatedCheck, CheckKind, CheckTarget, HealthCheckConfig, HealthChecker, Policy, RecordSet, RecordTarget, Route53};
use azsim_kernel::{Core, RegionId};
use azsim_scenario::{R53CheckType, RecordPolicy, RecordTargetSpec, Route53Spec, ScenarioFile};

use super::Shared;
use super::hosts::Placed;
use super::network::dist;

/// Builds the zone and puts a checker on each checker host; `None` without `route53:`.
pub(super) fn add(f: &ScenarioFile, placed: &Placed<'_>, shared: &Shared, core: &mut Core) -> Result<Option<Route53>, String> {
    let Some(r) = &f.route53 else { return Ok(None) };
    let records = records(f, r, placed, shared, core)?;
    let checks = r
        .health_checks
        .iter()
        .filter_map(|(id, hc)| {
            // A load balancer is checked by its DNS name (each probe resolves it to a node).
            let target = match f.load_balancers.contains_key(&hc.target.value) {
                true => CheckTarget::LoadBalancer { name: hc.target.value.clone(), directory: shared.directory.clone() },
                false => CheckTarget::Host(endpoints_of(&hc.target.value, placed).first()?.host),
            };
            let kind = match (&hc.search_string, hc.kind) {
                (_, R53CheckType::Tcp) => CheckKind::Tcp,
                (Some(needle), _) => CheckKind::StringMatch(needle.clone()),
                (None, R53CheckType::Https) => CheckKind::Https,
                (None, R53CheckType::Http) => CheckKind::Http,
            };
            Some((id.clone(), HealthCheckConfig { target, interval: hc.interval.nanos(), failure_threshold: hc.failure_threshold, kind }))
        })
        .collect();
    let calculated = r.calculated_checks.iter().map(|(id, c)| (id.clone(), CalculatedCheck { children: c.children.clone(), threshold: c.threshold })).collect();
    let checkers = placed.checkers();
    let zone = Route53::new(records, checks, checkers.len(), dist(f, &r.propagation), core.seed().stream("route53"))
        .with_calculated(calculated)
        .with_latencies(region_latencies(core));
    for (i, h) in checkers.iter().enumerate() {
        core.add_process(*h, Box::new(HealthChecker::new(zone.clone(), i)));
    }
    Ok(Some(zone))
}

/// What a record's target answers with: an API's endpoint, or a service's instances.
fn endpoints_of(name: &str, placed: &Placed<'_>) -> Vec<Endpoint> {
    match placed.api_endpoint(name) {
        Some(api) => vec![api],
        None => placed.instances(name),
    }
}

fn records(f: &ScenarioFile, r: &Route53Spec, placed: &Placed<'_>, shared: &Shared, core: &Core) -> Result<BTreeMap<String, RecordSet>, String> {
    let target = |t: &RecordTargetSpec| RecordTarget {
        endpoints: endpoints_of(&t.target.value, placed),
        health_check: t.health_check.clone(),
        alias: f.load_balancers.contains_key(&t.target.value).then(|| AliasTarget {
            lb: t.target.value.clone(),
            directory: shared.directory.clone(),
            evaluate_target_health: t.evaluate_target_health,
        }),
    };
    let topo = core.topology();
    // A latency record's Region: its load balancer's first AZ, or its first endpoint's.
    let region_of = |name: &str| -> Option<RegionId> {
        let az = match f.load_balancers.get(name) {
            Some(lb) => lb.azs.value.first().and_then(|az| topo.az_by_name(az)),
            None => endpoints_of(name, placed).first().map(|e| e.az),
        };
        az.map(|az| topo.az_region(az))
    };
    r.records
        .iter()
        .map(|(name, rec)| {
            let policy = match &rec.policy {
                RecordPolicy::Simple(t) => Policy::Simple(target(t)),
                RecordPolicy::Failover(fo) => Policy::Failover { primary: target(&fo.primary), secondary: target(&fo.secondary) },
                RecordPolicy::Weighted(ts) => Policy::Weighted(ts.iter().map(|t| (t.weight, target(t))).collect()),
                RecordPolicy::Latency(ts) => {
                    let targets = ts.iter().map(|t| {
                        region_of(&t.target.value)
                            .map(|r| (r, target(t)))
                            .ok_or_else(|| format!("route53.records.{name}.latency: `{}` has no Region", t.target.value))
                    });
                    Policy::Latency(targets.collect::<Result<_, _>>()?)
                }
                RecordPolicy::Multivalue(ts) => Policy::Multivalue(ts.iter().map(target).collect()),
            };
            Ok((name.clone(), RecordSet { ttl: rec.ttl.nanos(), policy }))
        })
        .collect()
}

/// What latency records compare: the p50 of the one-way latency between each two Regions.
fn region_latencies(core: &Core) -> BTreeMap<(RegionId, RegionId), u64> {
    let (topo, model) = (core.topology(), core.latency_model());
    topo.regions()
        .flat_map(|a| topo.regions().map(move |b| (a, b)))
        .filter(|(a, b)| a != b)
        .map(|(a, b)| ((a, b), model.region_pairs.get(&(a, b)).unwrap_or(&model.inter_region).quantile(0.5)))
        .collect()
}
