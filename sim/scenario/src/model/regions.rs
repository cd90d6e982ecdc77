//! `regions:`: Regions and their Availability Zones.

use schemars::JsonSchema;
use serde::Deserialize;

/// A Region.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Its AZ IDs (e.g. `use1-az1`); names must be unique across Regions.
    pub azs: Vec<String>,
    /// `closed`: a firewall drops every connection opened from outside the Region (an
    /// on-premises site); connections opened from inside, and their replies, pass. Default
    /// `open`. Enforced by the kernel on the byte-stream path.
    #[serde(default)]
    pub inbound: Inbound,
}

/// Whether a Region accepts connections opened from outside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Inbound {
    #[default]
    Open,
    Closed,
}
