//! The base latency of every link: per ordered host pair, per ordered AZ pair, per ordered Region
//! pair, or a default. Faults change it over time (`faults.rs`).

use std::collections::BTreeMap;

use crate::dist::Dist;
use crate::topology::{AzId, HostId, RegionId, Topology};

/// One-way latency between hosts, looked up from the most specific rule that matches.
#[derive(Clone, Debug)]
pub struct LatencyModel {
    /// Between two hosts in the same AZ.
    pub intra_az: Dist,
    /// Between AZs of one Region, unless an AZ pair says otherwise.
    pub inter_az: Dist,
    /// Between Regions, unless a Region pair says otherwise.
    pub inter_region: Dist,
    /// Ordered AZ pairs (asymmetric when only one direction is given).
    pub az_pairs: BTreeMap<(AzId, AzId), Dist>,
    /// Ordered Region pairs.
    pub region_pairs: BTreeMap<(RegionId, RegionId), Dist>,
    /// Ordered host pairs: explicit links.
    pub links: BTreeMap<(HostId, HostId), Dist>,
}

impl Default for LatencyModel {
    /// The figures of the AZ-affinity article: 300 us within an AZ, 1.5 ms between AZs (p50);
    /// 30 ms between Regions as a placeholder that scenarios are expected to override.
    fn default() -> Self {
        LatencyModel {
            intra_az: Dist::Fixed(300_000),
            inter_az: Dist::Fixed(1_500_000),
            inter_region: Dist::Fixed(30_000_000),
            az_pairs: BTreeMap::new(),
            region_pairs: BTreeMap::new(),
            links: BTreeMap::new(),
        }
    }
}

/// A host to itself: loopback, no network delay (unless a link rule says otherwise).
static LOOPBACK: Dist = Dist::Fixed(0);

impl LatencyModel {
    /// The base distribution from `from` to `to`.
    pub fn base(&self, topo: &Topology, from: HostId, to: HostId) -> &Dist {
        if let Some(d) = self.links.get(&(from, to)) {
            return d;
        }
        if from == to {
            return &LOOPBACK;
        }
        let (a, b) = (topo.host(from), topo.host(to));
        if a.region != b.region {
            return self.region_pairs.get(&(a.region, b.region)).unwrap_or(&self.inter_region);
        }
        if a.az == b.az {
            return self.az_pairs.get(&(a.az, b.az)).unwrap_or(&self.intra_az);
        }
        self.az_pairs.get(&(a.az, b.az)).unwrap_or(&self.inter_az)
    }
}
