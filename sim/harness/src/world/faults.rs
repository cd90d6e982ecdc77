//! The fault timeline: each scenario fault as kernel faults on the scopes it names.

use azsim_kernel::{Core, Fault, HostId, Scope, Topology};
use azsim_scenario::{FaultKind, FaultSpec, LatencyChange, ScenarioFile};

use super::hosts::Placed;
use super::network::dist;

/// Schedules every fault; returns, for each, the names of the hosts it takes down.
pub(super) fn schedule(f: &ScenarioFile, placed: &Placed<'_>, core: &mut Core) -> Vec<Vec<String>> {
    let mut fault_hosts = Vec::new();
    for fault in &f.faults {
        let start = fault.at.nanos();
        let end = fault.duration.map(|d| start.saturating_add(d.nanos()));
        let mut down = Vec::new();
        for kf in kernel_faults(f, fault, core.topology(), placed) {
            let topo = core.topology();
            down.extend(topo.hosts().filter(|(h, _)| kf.affects_host(topo, *h)).map(|(_, info)| info.name.clone()));
            core.schedule_fault(start, end, kf);
        }
        fault_hosts.push(down);
    }
    fault_hosts
}

/// A scope name as kernel scopes: `*`, a zone, a Region, a host, or every host of a group.
fn scopes(name: &str, topo: &Topology, placed: &Placed<'_>) -> Vec<Scope> {
    if name == "*" {
        return vec![Scope::All];
    }
    if let Some(az) = topo.az_by_name(name) {
        return vec![Scope::Az(az)];
    }
    if let Some(r) = topo.region_by_name(name) {
        return vec![Scope::Region(r)];
    }
    placed.named(name).into_iter().map(Scope::Host).collect()
}

fn hosts_of(name: &str, topo: &Topology, placed: &Placed<'_>) -> Vec<HostId> {
    scopes(name, topo, placed).into_iter().flat_map(|s| topo.hosts().filter(|(h, _)| s.contains(topo, *h)).map(|(h, _)| h).collect::<Vec<_>>()).collect()
}

fn kernel_faults(f: &ScenarioFile, fault: &FaultSpec, topo: &Topology, placed: &Placed<'_>) -> Vec<Fault> {
    let pairs = |from: &str, to: &str| {
        let (a, b) = (scopes(from, topo, placed), scopes(to, topo, placed));
        a.iter().flat_map(|x| b.iter().map(move |y| (x.clone(), y.clone()))).collect::<Vec<_>>()
    };
    match &fault.kind {
        FaultKind::AzOutage(az) => vec![Fault::AzOutage(topo.az_by_name(&az.value).expect("validated: an AZ"))],
        FaultKind::RegionOutage(r) => vec![Fault::RegionOutage(topo.region_by_name(&r.value).expect("validated: a Region"))],
        FaultKind::Crash(c) => hosts_of(&c.value, topo, placed).into_iter().map(Fault::HostCrash).collect(),
        FaultKind::PowerOff(c) => hosts_of(&c.value, topo, placed).into_iter().map(Fault::HostPowerOff).collect(),
        FaultKind::Latency(l) => {
            let (d, add) = match &l.change {
                LatencyChange::Set(d) => (d, false),
                LatencyChange::Add(d) => (d, true),
            };
            pairs(&l.from.value, &l.to.value)
                .into_iter()
                .map(|(from, to)| Fault::Latency { from, to, latency: dist(f, d), both_ways: l.both_ways, add })
                .collect()
        }
        FaultKind::Partition(p) => {
            pairs(&p.from.value, &p.to.value).into_iter().map(|(from, to)| Fault::Partition { from, to, both_ways: p.both_ways }).collect()
        }
        FaultKind::Loss(p) => pairs(&p.from.value, &p.to.value)
            .into_iter()
            .map(|(from, to)| Fault::Loss { from, to, probability: p.probability, both_ways: p.both_ways })
            .collect(),
    }
}
