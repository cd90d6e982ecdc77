//! Cloud Map: its delays (`cloud_map:`) and a service's registration (`services.<name>.cloud_map`).
//! How clients discover through it is theirs (`clients.<name>.discovery`, in `clients.rs`).

use schemars::JsonSchema;
use serde::Deserialize;

use crate::units::Dur;

/// How long Cloud Map's changes take to show.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudMapSettingsSpec {
    /// From `RegisterInstance`/`DeregisterInstance` to `DiscoverInstances` seeing it (default
    /// 1s; AWS only says "brief").
    #[serde(default = "CloudMapSettingsSpec::default_registration")]
    pub registration_delay: Dur,
    /// From `UpdateInstanceCustomHealthStatus` to the change (default 30s, as AWS documents).
    #[serde(default = "CloudMapSettingsSpec::default_health")]
    pub health_change_delay: Dur,
    /// From a registration change to Route 53's name servers answering with it (default 60s:
    /// AWS says "generally within 60 seconds").
    #[serde(default = "CloudMapSettingsSpec::default_dns")]
    pub dns_propagation: Dur,
}

impl CloudMapSettingsSpec {
    fn default_registration() -> Dur {
        Dur(1_000_000_000)
    }
    fn default_health() -> Dur {
        Dur(30_000_000_000)
    }
    fn default_dns() -> Dur {
        Dur(60_000_000_000)
    }
}

impl Default for CloudMapSettingsSpec {
    fn default() -> Self {
        CloudMapSettingsSpec {
            registration_delay: Self::default_registration(),
            health_change_delay: Self::default_health(),
            dns_propagation: Self::default_dns(),
        }
    }
}

/// Where a service's instances are registered.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudMapRegistration {
    /// The namespace (created if needed): HTTP, or private DNS when `dns` is given.
    pub namespace: String,
    /// The Cloud Map service (created if needed, with a custom health check).
    pub service: String,
    /// Also publish A records in Route 53 (a private DNS namespace), as ECS service discovery
    /// does.
    #[serde(default)]
    pub dns: Option<CloudMapDnsSpec>,
}

/// The DNS records of a Cloud Map service.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudMapDnsSpec {
    /// The records' TTL (default 60s).
    #[serde(default = "CloudMapDnsSpec::default_ttl")]
    pub ttl: Dur,
    /// `multivalue` (up to 8 healthy records per answer, the default) or `weighted` (one).
    #[serde(default)]
    pub routing: DnsRouting,
}

impl CloudMapDnsSpec {
    fn default_ttl() -> Dur {
        Dur(60_000_000_000)
    }
}

/// A Cloud Map service's DNS routing policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DnsRouting {
    #[default]
    Multivalue,
    Weighted,
}
