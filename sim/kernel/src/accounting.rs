//! Bytes and messages between hosts, by AZ pair and Region pair.

use std::collections::BTreeMap;

use crate::topology::{AzId, HostId, RegionId};

/// Bytes and messages on one ordered pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairCounter {
    /// On the wire: payload, TCP/IP headers and ACKs ([`crate::wire`]).
    pub bytes: u64,
    /// What the applications wrote (protocol heads and bodies).
    pub payload: u64,
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
    /// Wire bytes handed to the network.
    pub bytes_sent: u64,
    /// Of which payload (what the applications wrote).
    pub payload_sent: u64,
    /// Wire bytes that arrived.
    pub bytes_delivered: u64,
    /// Wire bytes that a fault (black hole, outage, partition, crash) destroyed.
    pub bytes_dropped: u64,
}

impl Traffic {
    pub(crate) fn record_send(&mut self, hosts: (HostId, HostId), azs: (AzId, AzId), regions: (RegionId, RegionId), bytes: u64, payload: u64) {
        for c in [self.by_host_pair.entry(hosts).or_default(), self.by_az_pair.entry(azs).or_default(), self.by_region_pair.entry(regions).or_default()] {
            c.bytes += bytes;
            c.payload += payload;
            c.messages += 1;
        }
        self.bytes_sent += bytes;
        self.payload_sent += payload;
    }

    /// Bytes that crossed between different AZs of the same Region.
    pub fn cross_az_bytes(&self) -> u64 {
        self.by_az_pair.iter().filter(|((a, b), _)| a != b).map(|(_, c)| c.bytes).sum()
    }

    /// Payload bytes that crossed between different AZs of the same Region.
    pub fn cross_az_payload(&self) -> u64 {
        self.by_az_pair.iter().filter(|((a, b), _)| a != b).map(|(_, c)| c.payload).sum()
    }

    /// Bytes that crossed between cloud Regions.
    pub fn cross_region_bytes(&self, topo: &crate::Topology) -> u64 {
        self.by_region_pair.iter().filter(|((a, b), _)| topo.crosses_region(*a, *b)).map(|(_, c)| c.bytes).sum()
    }
}
