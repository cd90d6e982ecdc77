//! `network:`: one-way latency between hosts.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Ref, yes};
use crate::units::{DistSpec, Dur};

/// One-way latency rules; the most specific wins: link, AZ pair, Region pair, then the defaults.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Between hosts of the same AZ (default 300us, the article's p50).
    #[serde(default = "NetworkSpec::default_intra_az")]
    pub intra_az: DistSpec,
    /// Between AZs of one Region (default 1.5ms, the article's p50).
    #[serde(default = "NetworkSpec::default_inter_az")]
    pub inter_az: DistSpec,
    /// Between Regions (default 30ms; set it for your Region pair).
    #[serde(default = "NetworkSpec::default_inter_region")]
    pub inter_region: DistSpec,
    /// Overrides for AZ pairs (from, to); `symmetric` (default true) sets both directions.
    #[serde(default)]
    pub az_pairs: Vec<PairLatency>,
    /// Overrides for Region pairs.
    #[serde(default)]
    pub region_pairs: Vec<PairLatency>,
    /// What one lost packet costs: a TCP retransmission timeout (default 200ms).
    #[serde(default = "NetworkSpec::default_rto")]
    pub retransmit_timeout: Dur,
}

impl NetworkSpec {
    fn default_intra_az() -> DistSpec {
        DistSpec::Fixed(Dur(300_000))
    }
    fn default_inter_az() -> DistSpec {
        DistSpec::Fixed(Dur(1_500_000))
    }
    fn default_inter_region() -> DistSpec {
        DistSpec::Fixed(Dur(30_000_000))
    }
    fn default_rto() -> Dur {
        Dur(200_000_000)
    }
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            intra_az: Self::default_intra_az(),
            inter_az: Self::default_inter_az(),
            inter_region: Self::default_inter_region(),
            az_pairs: Vec::new(),
            region_pairs: Vec::new(),
            retransmit_timeout: Self::default_rto(),
        }
    }
}

/// Latency from one AZ (or Region) to another.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PairLatency {
    #[schemars(with = "String")]
    pub from: Ref,
    #[schemars(with = "String")]
    pub to: Ref,
    pub latency: DistSpec,
    /// Also set the reverse direction (default true).
    #[serde(default = "yes")]
    pub symmetric: bool,
}

impl PairLatency {
    /// The latency `pairs` give from `a` to `b`: the last entry naming the pair (in either
    /// direction when symmetric) wins.
    pub fn find<'p>(pairs: &'p [PairLatency], a: &str, b: &str) -> Option<&'p DistSpec> {
        pairs.iter().rev().find(|x| (x.from.value == a && x.to.value == b) || (x.symmetric && x.from.value == b && x.to.value == a)).map(|x| &x.latency)
    }
}

impl crate::ScenarioFile {
    /// One-way latency from place `a` to another place `b`: `network.region_pairs`, then the
    /// `latency` of either place (the first in name order that has one), then
    /// `network.inter_region`.
    pub fn region_latency(&self, a: &str, b: &str) -> &DistSpec {
        let own = |name: &str| self.regions.value.get(name).and_then(|r| r.latency.as_ref());
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        PairLatency::find(&self.network.region_pairs, a, b).or_else(|| own(first)).or_else(|| own(second)).unwrap_or(&self.network.inter_region)
    }
}
