//! The network between hosts: scenario distributions as kernel ones, and the latency model.

use azsim_kernel::{Dist, LatencyModel, Topology};
use azsim_scenario::{DistSpec, ScenarioFile};

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

/// One-way latencies: within an AZ, between AZs, between Regions, and the pairs the scenario
/// names (one way, or both).
pub(super) fn latency_model(f: &ScenarioFile, topo: &Topology) -> LatencyModel {
    let n = &f.network;
    let mut m =
        LatencyModel { intra_az: dist(f, &n.intra_az), inter_az: dist(f, &n.inter_az), inter_region: dist(f, &n.inter_region), ..LatencyModel::default() };
    let az = |name: &str| topo.az_by_name(name).expect("validated: an AZ of the scenario");
    for p in &n.az_pairs {
        let (a, b) = (az(&p.from.value), az(&p.to.value));
        m.az_pairs.insert((a, b), dist(f, &p.latency));
        if p.symmetric {
            m.az_pairs.insert((b, a), dist(f, &p.latency));
        }
    }
    let region = |name: &str| topo.region_by_name(name).expect("validated: a Region of the scenario");
    for a in f.regions.value.keys() {
        for b in f.regions.value.keys().filter(|b| *b != a) {
            m.region_pairs.insert((region(a), region(b)), dist(f, f.region_latency(a, b)));
        }
    }
    m
}
