//! `faults:`: what goes wrong on the timeline.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Ref, yes};
use crate::one_of::{deserialize_through, exactly_one, given, given_ref};
use crate::units::{DistSpec, Dur};

/// A fault on the timeline: when, for how long, and exactly one kind.
#[derive(Clone, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// When it starts.
    pub at: Dur,
    /// How long it lasts (default: until the end).
    #[serde(default, rename = "for")]
    pub duration: Option<Dur>,
    #[serde(flatten)]
    pub kind: FaultKind,
}

/// What a fault does: exactly one of these keys.
#[derive(Clone, Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Every host in this AZ loses power; links to it are black holes.
    AzOutage(#[schemars(with = "String")] Ref),
    /// Every host in this Region is unreachable.
    RegionOutage(#[schemars(with = "String")] Ref),
    /// The process on these hosts crashes (connections refused or reset); it restarts at the end.
    Crash(#[schemars(with = "String")] Ref),
    /// These hosts lose power (packets vanish).
    PowerOff(#[schemars(with = "String")] Ref),
    /// Latency between two scopes changes (a gray AZ).
    Latency(LatencyFault),
    /// Packets between two scopes vanish.
    Partition(PathFault),
    /// Packets between two scopes are lost with a probability (each loss costs a retransmission).
    Loss(LossFault),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultSpecRaw {
    at: Dur,
    #[serde(default, rename = "for")]
    duration: Option<Dur>,
    #[serde(default)]
    az_outage: Option<Ref>,
    #[serde(default)]
    region_outage: Option<Ref>,
    #[serde(default)]
    crash: Option<Ref>,
    #[serde(default)]
    power_off: Option<Ref>,
    #[serde(default)]
    latency: Option<Spanned<LatencyFault>>,
    #[serde(default)]
    partition: Option<Spanned<PathFault>>,
    #[serde(default)]
    loss: Option<Spanned<LossFault>>,
}

impl FaultSpecRaw {
    fn parse<E: serde::de::Error>(self) -> Result<FaultSpec, E> {
        let kinds = [
            given_ref(self.az_outage, FaultKind::AzOutage),
            given_ref(self.region_outage, FaultKind::RegionOutage),
            given_ref(self.crash, FaultKind::Crash),
            given_ref(self.power_off, FaultKind::PowerOff),
            given(self.latency, FaultKind::Latency),
            given(self.partition, FaultKind::Partition),
            given(self.loss, FaultKind::Loss),
        ];
        let kind = exactly_one(kinds, None, |n| {
            format!("a fault has exactly one kind (az_outage, region_outage, crash, power_off, latency, partition, loss); found {n}")
        })?;
        Ok(FaultSpec { at: self.at, duration: self.duration, kind })
    }
}

deserialize_through!(FaultSpec, FaultSpecRaw);

/// A latency change. `from`/`to` name an AZ, a Region, a service, a load balancer, a client, a
/// host, or `*` for everything.
#[derive(Clone, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyFault {
    #[schemars(with = "String")]
    pub from: Ref,
    #[schemars(with = "String")]
    pub to: Ref,
    #[serde(flatten)]
    pub change: LatencyChange,
    /// Also the reverse direction (default true).
    #[serde(default = "yes")]
    pub both_ways: bool,
}

/// How a latency fault changes the latency: exactly one of `set` and `add`.
#[derive(Clone, Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LatencyChange {
    /// Replace the latency with this distribution.
    Set(DistSpec),
    /// Add this distribution to the latency.
    Add(DistSpec),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyFaultRaw {
    from: Ref,
    to: Ref,
    #[serde(default)]
    set: Option<Spanned<DistSpec>>,
    #[serde(default)]
    add: Option<Spanned<DistSpec>>,
    #[serde(default = "yes")]
    both_ways: bool,
}

impl LatencyFaultRaw {
    fn parse<E: serde::de::Error>(self) -> Result<LatencyFault, E> {
        let changes = [given(self.set, LatencyChange::Set), given(self.add, LatencyChange::Add)];
        let change = exactly_one(changes, Some(self.from.referenced), |_| "give exactly one of `set` and `add`".into())?;
        Ok(LatencyFault { from: self.from, to: self.to, change, both_ways: self.both_ways })
    }
}

deserialize_through!(LatencyFault, LatencyFaultRaw);

/// A partition between two scopes.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathFault {
    #[schemars(with = "String")]
    pub from: Ref,
    #[schemars(with = "String")]
    pub to: Ref,
    /// Also the reverse direction (default true).
    #[serde(default = "yes")]
    pub both_ways: bool,
}

/// Packet loss between two scopes.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossFault {
    #[schemars(with = "String")]
    pub from: Ref,
    #[schemars(with = "String")]
    pub to: Ref,
    /// Probability that a packet is lost, 0 to 1.
    pub probability: f64,
    #[serde(default = "yes")]
    pub both_ways: bool,
}
