//! Cloud Map's data: namespaces, services, instances and their health, as plain data (no
//! runtime; `ops.rs` changes it, `server.rs` serves it).

use std::collections::BTreeMap;

use azsim_kernel::Nanos;

/// `HTTP` (API discovery only), `DNS_PRIVATE` or `DNS_PUBLIC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceKind {
    Http,
    DnsPrivate,
    DnsPublic,
}

/// How a service's health is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthConfig {
    /// No health check: every instance is returned whatever its state (AWS: the filter is
    /// ignored).
    None,
    /// `HealthCheckCustomConfig`: set by `UpdateInstanceCustomHealthStatus`.
    Custom,
}

/// `MULTIVALUE` (up to 8 healthy records per answer) or `WEIGHTED` (one at random).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoutingPolicy {
    Multivalue,
    Weighted,
}

/// An instance's health as `DiscoverInstances` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Unhealthy,
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "HEALTHY",
            Health::Unhealthy => "UNHEALTHY",
            Health::Unknown => "UNKNOWN",
        }
    }
}

/// A registered instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub attributes: BTreeMap<String, String>,
    pub health: Health,
    /// A requested health change and when it takes effect (AWS: about 30 s later).
    pub pending_health: Option<(Health, Nanos)>,
    /// When discovery starts returning it (registration is eventually consistent).
    pub visible_at: Nanos,
    /// When Route 53's name servers start answering with it (DNS namespaces).
    pub dns_visible_at: Nanos,
    /// Set when deregistered: discovery stops returning it at this time.
    pub gone_at: Option<Nanos>,
}

/// A service in a namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub id: String,
    pub health: HealthConfig,
    pub routing: RoutingPolicy,
    /// DNS TTL of its records, seconds.
    pub ttl: u32,
    pub instances: BTreeMap<String, Instance>,
    /// Changes on register and deregister, not on health changes (as AWS documents).
    pub revision: u64,
}

/// A namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct Namespace {
    pub id: String,
    pub kind: NamespaceKind,
    pub services: BTreeMap<String, Service>,
}

/// Delays and limits. AWS documents the health delay (about 30 s), the throttle (a bucket of
/// 2,000 tokens refilled at 1,000/s) and DNS propagation (generally within 60 s); it calls the
/// registration delay only "brief", so that default (1 s) is ours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub registration_delay: Nanos,
    /// How long a registration change takes to reach Route 53's name servers (DNS namespaces).
    /// AWS: "generally within 60 seconds"; the default takes that bound.
    pub dns_propagation: Nanos,
    pub health_change_delay: Nanos,
    pub throttle_capacity: f64,
    pub throttle_refill_per_s: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            registration_delay: 1_000_000_000,
            dns_propagation: 60_000_000_000,
            health_change_delay: 30_000_000_000,
            throttle_capacity: 2000.0,
            throttle_refill_per_s: 1000.0,
        }
    }
}

/// The whole registry of one account in one Region.
#[derive(Clone, Debug)]
pub struct Registry {
    pub settings: Settings,
    pub namespaces: BTreeMap<String, Namespace>,
    /// When `DiscoverInstances` last returned each instance, by instance ID (kept after it is
    /// deregistered: how stale discovery was is measured from it).
    pub last_returned: BTreeMap<String, Nanos>,
    /// `DiscoverInstances` calls answered (what AWS bills).
    pub discover_calls: u64,
    pub(crate) tokens: f64,
    pub(crate) tokens_at: Nanos,
    pub(crate) next_id: u64,
}

impl Registry {
    pub fn new(settings: Settings) -> Self {
        Registry {
            settings,
            namespaces: BTreeMap::new(),
            last_returned: BTreeMap::new(),
            discover_calls: 0,
            tokens: settings.throttle_capacity,
            tokens_at: 0,
            next_id: 0,
        }
    }

    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:016x}", self.next_id)
    }
}
