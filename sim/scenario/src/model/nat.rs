//! `nat_gateways:`, and the egress proxies (`services.<name>.egress`) that send through them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Ref;
use crate::units::Dur;

/// NAT gateways of one VPC.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatSpec {
    /// A zonal NAT in each of these AZs (hosts `<name>-<az>`, each with its Elastic IP). For a
    /// regional NAT gateway: the AZs it has expanded to (where workloads are).
    #[schemars(with = "Vec<String>")]
    pub azs: Spanned<Vec<String>>,
    /// A regional NAT gateway (late 2025): one gateway with an address in each AZ, every
    /// subnet using its own AZ's (so `routes` must stay empty).
    #[serde(default)]
    pub regional: bool,
    /// Route tables: a subnet's AZ -> the AZ of the NAT it sends through (default: its own).
    /// A subnet routed to another AZ's NAT crosses an AZ and dies with that AZ.
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
}

/// An egress proxy fleet (a service's instances).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressSpec {
    /// The NAT gateways its subnets route through.
    #[schemars(with = "String")]
    pub nat: Ref,
    /// Where it sends what it accepts (a service).
    #[schemars(with = "String")]
    pub destination: Ref,
    /// The header with the shared secret (default `x-egress-secret`).
    #[serde(default = "EgressSpec::default_header")]
    pub header: String,
    /// The secrets it takes, each in a window (a rotation: the old one until some time, the
    /// new one from an earlier time).
    pub secrets: Vec<SecretSpec>,
    /// `shallow` (default, the sample's: the proxy answers its health check itself) or `deep`
    /// (healthy only while a probe of the destination through the NAT passed in the last 15 s;
    /// probes every 5 s).
    #[serde(default)]
    pub health: EgressHealth,
    /// How long it waits for the destination (default 10s; then 504).
    #[serde(default = "EgressSpec::default_timeout")]
    pub timeout: Dur,
    /// Keep connections to the destination open between requests, as Envoy does (default:
    /// a connection per request). A pooled connection idle past the NAT's 350 s timeout gets
    /// an RST on its next request (503), unless `keepalive` is under 350 s.
    #[serde(default)]
    pub upstream_pool: Option<UpstreamPoolSpec>,
}

/// An egress proxy's upstream connection pool.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamPoolSpec {
    /// The proxy closes a connection idle this long (default 1h, Envoy's).
    #[serde(default = "UpstreamPoolSpec::default_idle")]
    pub idle_timeout: Dur,
    /// TCP keep-alive interval on its connections (default: none, as Envoy).
    #[serde(default)]
    pub keepalive: Option<Dur>,
}

impl UpstreamPoolSpec {
    fn default_idle() -> Dur {
        Dur(3_600_000_000_000)
    }
}

impl EgressSpec {
    fn default_header() -> String {
        "x-egress-secret".into()
    }
    fn default_timeout() -> Dur {
        Dur(10_000_000_000)
    }
}

/// A shared secret and when it is taken.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    pub value: String,
    #[serde(default)]
    pub from: Dur,
    #[serde(default)]
    pub until: Option<Dur>,
}

/// What an egress proxy's health check covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EgressHealth {
    #[default]
    Shallow,
    Deep,
}
