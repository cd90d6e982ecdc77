//! `regions:`: Regions and their Availability Zones, and the places outside AWS (users on the
//! internet, on-premises sites) and CloudFront edge locations, each with its zones.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::units::DistSpec;

/// A place: an AWS Region (the default), a CloudFront edge location, or a place outside AWS.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// What the place is (default `region`, an AWS Region). Only a hop between two AWS Regions
    /// counts as a Region crossing; a hop into or out of an `internet` or `on_premises` place
    /// is counted apart, as internet traffic, and priced as AWS prices it (internet egress;
    /// ingress is free).
    #[serde(default)]
    pub kind: PlaceKind,
    /// Its zones: AZ IDs (e.g. `use1-az1`) in a Region, or any names elsewhere (`users`,
    /// `dc1`); names must be unique across places.
    pub azs: Vec<String>,
    /// One-way latency between this place and every other place that
    /// `network.region_pairs` does not name (both directions). A place outside AWS
    /// (`internet`, `on_premises`) takes no default: give it this or `region_pairs` for
    /// every other place. Other places fall back to `network.inter_region`.
    #[serde(default)]
    pub latency: Option<DistSpec>,
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

/// What a place in `regions:` stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    /// An AWS Region.
    #[default]
    Region,
    /// CloudFront edge locations (AWS's, in no Region).
    Edge,
    /// Users on the internet.
    Internet,
    /// An on-premises site (a data centre, an office), reached over the internet.
    OnPremises,
}

impl PlaceKind {
    /// Whether the place is outside AWS: its traffic to AWS is internet traffic.
    pub fn outside_aws(self) -> bool {
        matches!(self, PlaceKind::Internet | PlaceKind::OnPremises)
    }
}
