//! Regions, Availability Zones and hosts.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Index of a Region in the [`Topology`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionId(pub u16);
/// Index of an Availability Zone in the [`Topology`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AzId(pub u16);
/// Index of a host in the [`Topology`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u32);

/// Whether a host answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostState {
    /// Running.
    Up,
    /// Its process crashed; the operating system still answers, so connections are refused
    /// or reset.
    Crashed,
    /// Powered off or cut off (an AZ or Region outage): packets to it vanish.
    Down,
}

/// A host placed in a Region, an AZ and optionally a subnet.
#[derive(Clone, Debug)]
pub struct HostInfo {
    pub name: String,
    pub region: RegionId,
    pub az: AzId,
    pub subnet: Option<String>,
    pub ip: Ipv4Addr,
}

/// What a Region of the topology stands for: most are cloud Regions; some are places on the
/// way in (points of presence of a content network) or outside the cloud altogether (users on
/// the internet, an on-premises site). Only a hop between two cloud Regions crosses Regions;
/// a hop into or out of an outside place is counted apart (it is what a provider bills as
/// internet ingress and egress).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlaceKind {
    #[default]
    Region,
    PointOfPresence,
    Outside,
}

#[derive(Clone, Debug)]
struct Az {
    name: String,
    region: RegionId,
}

/// The static layout of the world.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    regions: Vec<String>,
    /// Each Region's kind, by index.
    places: Vec<PlaceKind>,
    azs: Vec<Az>,
    hosts: Vec<HostInfo>,
    by_ip: BTreeMap<Ipv4Addr, HostId>,
    by_name: BTreeMap<String, HostId>,
    /// Regions whose firewall drops connections opened from outside (an on-premises site).
    closed: Vec<RegionId>,
    /// Zones that stand for a regional service's endpoint rather than an AZ.
    regional: Vec<AzId>,
}

impl Topology {
    /// Adds a Region.
    pub fn add_region(&mut self, name: &str) -> RegionId {
        self.regions.push(name.to_string());
        self.places.push(PlaceKind::Region);
        RegionId((self.regions.len() - 1) as u16)
    }

    /// Adds an AZ to `region`.
    pub fn add_az(&mut self, region: RegionId, name: &str) -> AzId {
        self.azs.push(Az { name: name.to_string(), region });
        AzId((self.azs.len() - 1) as u16)
    }

    /// Adds a host in `az`; it gets the next address of the Region's 10.R.0.0/16 block.
    /// Panics if the name is taken: callers validate names first.
    pub fn add_host(&mut self, name: &str, az: AzId, subnet: Option<&str>) -> HostId {
        assert!(!self.by_name.contains_key(name), "duplicate host name {name}");
        let region = self.azs[az.0 as usize].region;
        let id = HostId(self.hosts.len() as u32);
        let n = self.hosts.iter().filter(|h| h.region == region).count() as u32 + 1;
        let ip = Ipv4Addr::new(10, region.0 as u8, (n >> 8) as u8, n as u8);
        self.hosts.push(HostInfo { name: name.to_string(), region, az, subnet: subnet.map(str::to_string), ip });
        self.by_ip.insert(ip, id);
        self.by_name.insert(name.to_string(), id);
        id
    }

    pub fn host(&self, id: HostId) -> &HostInfo {
        &self.hosts[id.0 as usize]
    }
    pub fn hosts(&self) -> impl Iterator<Item = (HostId, &HostInfo)> {
        self.hosts.iter().enumerate().map(|(i, h)| (HostId(i as u32), h))
    }
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }
    pub fn host_by_ip(&self, ip: Ipv4Addr) -> Option<HostId> {
        self.by_ip.get(&ip).copied()
    }
    pub fn host_by_name(&self, name: &str) -> Option<HostId> {
        self.by_name.get(name).copied()
    }
    pub fn az_name(&self, az: AzId) -> &str {
        &self.azs[az.0 as usize].name
    }
    pub fn az_region(&self, az: AzId) -> RegionId {
        self.azs[az.0 as usize].region
    }
    pub fn az_by_name(&self, name: &str) -> Option<AzId> {
        self.azs.iter().position(|a| a.name == name).map(|i| AzId(i as u16))
    }
    pub fn azs(&self) -> impl Iterator<Item = AzId> + '_ {
        (0..self.azs.len()).map(|i| AzId(i as u16))
    }
    pub fn region_name(&self, r: RegionId) -> &str {
        &self.regions[r.0 as usize]
    }
    pub fn region_by_name(&self, name: &str) -> Option<RegionId> {
        self.regions.iter().position(|n| n == name).map(|i| RegionId(i as u16))
    }
    pub fn regions(&self) -> impl Iterator<Item = RegionId> + '_ {
        (0..self.regions.len()).map(|i| RegionId(i as u16))
    }
    /// Closes `region` to inbound connections: a SYN from a host outside it is dropped (as a
    /// stateful firewall does); connections its hosts open go out and their replies come back.
    pub fn close_inbound(&mut self, region: RegionId) {
        if !self.closed.contains(&region) {
            self.closed.push(region);
        }
    }
    /// Marks `az` as the zone of regional endpoints (services that live in no AZ): a hop
    /// to or from it is not an AZ crossing of the request (its latency still applies).
    pub fn mark_regional(&mut self, az: AzId) {
        if !self.regional.contains(&az) {
            self.regional.push(az);
        }
    }
    /// Whether a hop between `a` and `b` crosses an AZ boundary.
    /// The MTU of the path between two hosts: [`crate::wire::MTU_VPC`] when both are in AZs
    /// of the same Region, [`crate::wire::MTU_OUTSIDE`] when it leaves the VPC (a regional
    /// endpoint or edge location at either end, or another Region).
    pub fn path_mtu(&self, a: HostId, b: HostId) -> u64 {
        let (a, b) = (self.host(a), self.host(b));
        if a.region == b.region && !self.regional.contains(&a.az) && !self.regional.contains(&b.az) { crate::wire::MTU_VPC } else { crate::wire::MTU_OUTSIDE }
    }

    /// Says what `region` stands for (by default a cloud Region).
    pub fn set_place(&mut self, region: RegionId, kind: PlaceKind) {
        self.places[region.0 as usize] = kind;
    }

    pub fn place(&self, region: RegionId) -> PlaceKind {
        self.places[region.0 as usize]
    }

    /// Whether a hop between `a` and `b` crosses from one cloud Region into another.
    pub fn crosses_region(&self, a: RegionId, b: RegionId) -> bool {
        a != b && self.place(a) == PlaceKind::Region && self.place(b) == PlaceKind::Region
    }

    /// Whether a hop between `a` and `b` enters or leaves the cloud: one end is outside it,
    /// the other is not.
    pub fn crosses_outside(&self, a: RegionId, b: RegionId) -> bool {
        (self.place(a) == PlaceKind::Outside) != (self.place(b) == PlaceKind::Outside)
    }

    pub fn crosses_az(&self, a: AzId, b: AzId) -> bool {
        a != b && !self.regional.contains(&a) && !self.regional.contains(&b)
    }
    /// Whether a connection from `client` to `server` passes the server's firewall.
    pub fn admits(&self, client: HostId, server: HostId) -> bool {
        let (c, s) = (self.host(client).region, self.host(server).region);
        c == s || !self.closed.contains(&s)
    }
}
