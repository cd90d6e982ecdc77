//! Bytes and messages between hosts, by AZ pair and Region pair.

use std::collections::BTreeMap;

use crate::topology::{AzId, HostId, RegionId};

/// Bytes and messages on one ordered pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairCounter {
    pub bytes: u64,
    pub messages: u64,
}

/// Everything that crossed the network.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    /// By ordered (from AZ, to AZ), including same-AZ pairs.
    pub by_az_pair: BTreeMap<(AzId, AzId), PairCounter>,
    /// By ordered (from Region, to Region).
    pub by_region_pair: BTreeMap<(RegionId, RegionId), PairCounter>,
    /// By ordered (from host, to host): what pricing rules that depend on roles need.
    pub by_host_pair: BTreeMap<(HostId, HostId), PairCounter>,
    /// Payload bytes handed to the network.
    pub bytes_sent: u64,
    /// Payload bytes that arrived.
    pub bytes_delivered: u64,
    /// Payload bytes that a fault (black hole, outage, partition, crash) destroyed.
    pub bytes_dropped: u64,
}

impl Traffic {
    pub(crate) fn record_send(&mut self, hosts: (HostId, HostId), azs: (AzId, AzId), regions: (RegionId, RegionId), bytes: u64) {
        let c = self.by_host_pair.entry(hosts).or_default();
        c.bytes += bytes;
        c.messages += 1;
        let c = self.by_az_pair.entry(azs).or_default();
        c.bytes += bytes;
        c.messages += 1;
        let c = self.by_region_pair.entry(regions).or_default();
        c.bytes += bytes;
        c.messages += 1;
        self.bytes_sent += bytes;
    }

    /// Bytes that crossed between different AZs of the same Region.
    pub fn cross_az_bytes(&self) -> u64 {
        self.by_az_pair.iter().filter(|((a, b), _)| a != b).map(|(_, c)| c.bytes).sum()
    }

    /// Bytes that crossed between Regions.
    pub fn cross_region_bytes(&self) -> u64 {
        self.by_region_pair.iter().filter(|((a, b), _)| a != b).map(|(_, c)| c.bytes).sum()
    }
}
