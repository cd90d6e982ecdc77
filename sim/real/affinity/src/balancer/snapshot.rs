//! What the balancer shows: an owned [`Snapshot`] (mode, zones, breakers, ejections), the
//! [`Counters`] behind metrics, and the warning when the local zone matches no endpoint.

use tokio::time::Instant;

use super::{Balancer, BreakerState, Mode, ZoneStats};
use crate::breaker::Breaker;

/// What the client has done since it was built, for metrics and tests. Every count only grows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Attempts sent, first tries and retries.
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Retries that were due but refused by the retry budget.
    pub budget_refusals: u64,
    /// Outlier ejections.
    pub ejections: u64,
    /// Breakers (zone or endpoint) that opened, and that closed again.
    pub breakers_opened: u64,
    pub breakers_closed: u64,
    /// Spill-overs away from the local zone, and failbacks to it.
    pub spills: u64,
    pub failbacks: u64,
    /// Attempts the endpoint answered with throttling (429): retried, not held against it.
    pub throttled: u64,
    /// Attempts sent as probes because every zone's breaker was open (panic's last word).
    pub panic_probes: u64,
}

/// One zone in a [`Snapshot`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ZoneSnapshot {
    pub name: String,
    pub region: String,
    pub endpoints: u32,
    /// Endpoints neither ejected nor behind an open endpoint breaker.
    pub available: u32,
    /// The zone's breaker, if breakers are per zone.
    pub breaker: Option<BreakerState>,
    pub stats: ZoneStats,
}

/// An owned picture of the balancer at one instant ([`Balancer::snapshot`],
/// [`AffinityClient::snapshot`](crate::AffinityClient::snapshot)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    pub mode: Mode,
    /// The local zone is set and some endpoint is in it. False with endpoints present usually
    /// means a zone ID (`use1-az1`) was given where endpoints carry zone names (`us-east-1a`),
    /// or the reverse.
    pub local_zone_found: bool,
    /// Every zone's breaker was open at the last pick, so it probed one (panic's last word).
    pub panic_last_word: bool,
    /// In order of first appearance among the endpoints sorted by id.
    pub zones: Vec<ZoneSnapshot>,
    /// The ids of the endpoints ejected now.
    pub ejected: Vec<String>,
    pub counters: Counters,
}

impl Snapshot {
    /// The zone with this name.
    pub fn zone(&self, name: &str) -> Option<&ZoneSnapshot> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// Whether the endpoint with this id was ejected.
    pub fn is_ejected(&self, id: &str) -> bool {
        self.ejected.iter().any(|e| e == id)
    }
}

// === impl Balancer ===

impl Balancer {
    /// An owned picture of the state now: mode, zones, ejections, counters.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        Snapshot {
            mode: self.mode,
            local_zone_found: self.local.is_some(),
            panic_last_word: self.last_word,
            zones: self
                .zones
                .iter()
                .map(|z| ZoneSnapshot {
                    name: z.name.clone(),
                    region: z.region.clone(),
                    endpoints: z.members.len() as u32,
                    available: z.available,
                    breaker: z.breaker.as_ref().map(Breaker::state),
                    stats: z.stats,
                })
                .collect(),
            ejected: self.endpoints.iter().filter(|e| e.ejected_until.is_some_and(|t| t > now)).map(|e| e.endpoint.id.clone()).collect(),
            counters: self.counters,
        }
    }

    /// A local zone that matches no endpoint turns zone affinity off; say why, once per change.
    pub(super) fn warn_if_local_zone_missing(&mut self) {
        let missing = self.local.is_none() && !self.zones.is_empty();
        if let (Some(local), Some(seen), true) = (&self.config.local_zone, self.zones.first(), missing && !self.local_missing) {
            tracing::warn!(
                "local zone `{local}` ({}) matches no endpoint, whose zones look like `{}` ({}): no zone affinity. AZ names map to different AZs in each \
                 account, so give the local zone as the endpoints name theirs (ECS task metadata's AvailabilityZone is a name, EC2 instance metadata's \
                 placement/availability-zone-id an ID)",
                zone_kind(local),
                seen.name,
                zone_kind(&seen.name)
            );
        }
        self.local_missing = missing;
    }
}

/// What a zone string looks like, for the warning about a local zone that matches nothing.
fn zone_kind(zone: &str) -> &'static str {
    let id = zone.rsplit_once("-az").is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let bytes = zone.as_bytes();
    let name = bytes.len() >= 2 && bytes[bytes.len() - 1].is_ascii_lowercase() && bytes[bytes.len() - 2].is_ascii_digit() && zone.contains('-');
    match (id, name) {
        (true, _) => "an AZ ID",
        (false, true) => "an AZ name",
        _ => "neither an AZ ID nor an AZ name",
    }
}

#[cfg(test)]
mod tests {
    use super::zone_kind;

    #[test]
    fn zone_ids_and_zone_names_are_told_apart() {
        for (zone, kind) in [
            ("use1-az1", "an AZ ID"),
            ("usw2-lax1-az2", "an AZ ID"),
            ("us-east-1a", "an AZ name"),
            ("us-west-2-lax-1a", "an AZ name"),
            ("az1", "neither an AZ ID nor an AZ name"),
            ("", "neither an AZ ID nor an AZ name"),
        ] {
            assert_eq!(zone_kind(zone), kind, "{zone}");
        }
    }
}
