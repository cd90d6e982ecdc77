//! Faults on the timeline. The kernel applies them to every packet and message, so fakes and
//! real code react to them without knowing they exist.

use crate::dist::Dist;
use crate::topology::{AzId, HostId, RegionId, Topology};

/// Identifies a scheduled fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FaultId(pub u32);

/// A set of hosts a fault applies to.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    Host(HostId),
    Az(AzId),
    Region(RegionId),
    /// Every host.
    All,
}

impl Scope {
    pub fn contains(&self, topo: &Topology, host: HostId) -> bool {
        let h = topo.host(host);
        match self {
            Scope::Host(id) => *id == host,
            Scope::Az(az) => h.az == *az,
            Scope::Region(r) => h.region == *r,
            Scope::All => true,
        }
    }
}

/// What a fault does while it is active.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Every host in the AZ is powered off and its links are black holes (AWS FIS "AZ
    /// Availability: Power Interruption"); hosts come back when the fault ends.
    AzOutage(AzId),
    /// Every host in the Region is unreachable.
    RegionOutage(RegionId),
    /// The host's process crashes: connections to it are refused or reset; it restarts when
    /// the fault ends.
    HostCrash(HostId),
    /// The host is powered off: packets to it vanish.
    HostPowerOff(HostId),
    /// Packets from `from` to `to` (and back, if `both_ways`) vanish.
    Partition { from: Scope, to: Scope, both_ways: bool },
    /// Latency from `from` to `to` becomes `latency` (or `latency` is added to it).
    Latency { from: Scope, to: Scope, latency: Dist, both_ways: bool, add: bool },
    /// Each packet or message from `from` to `to` is lost with `probability`. Traffic rides on
    /// TCP, so a loss costs a retransmission timeout rather than the data.
    Loss { from: Scope, to: Scope, probability: f64, both_ways: bool },
}

impl Fault {
    /// Whether this fault matches traffic from `a` to `b` (for the directional kinds).
    pub(crate) fn matches_path(&self, topo: &Topology, a: HostId, b: HostId) -> bool {
        let (from, to, both) = match self {
            Fault::Partition { from, to, both_ways } => (from, to, *both_ways),
            Fault::Latency { from, to, both_ways, .. } => (from, to, *both_ways),
            Fault::Loss { from, to, both_ways, .. } => (from, to, *both_ways),
            _ => return false,
        };
        (from.contains(topo, a) && to.contains(topo, b)) || (both && from.contains(topo, b) && to.contains(topo, a))
    }

    /// Whether this fault takes `host` down (power) or crashes it.
    pub fn affects_host(&self, topo: &Topology, host: HostId) -> bool {
        let h = topo.host(host);
        match self {
            Fault::AzOutage(az) => h.az == *az,
            Fault::RegionOutage(r) => h.region == *r,
            Fault::HostCrash(id) | Fault::HostPowerOff(id) => *id == host,
            _ => false,
        }
    }
}
