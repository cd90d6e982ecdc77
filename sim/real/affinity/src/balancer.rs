//! The synchronous core: which endpoint the next attempt goes to, and what an outcome changes.
//! No I/O, no clock reads, no allocation on `pick` and `record` (the bench holds it to that);
//! time and randomness come in as arguments.
//!
//! - An endpoint is *available* unless it is ejected (outlier detection) or its breaker is open.
//! - Zone choice: the local zone while its available share holds; below `spill_below` (or with
//!   its breaker open) the balancer *spills*: attempts go to the zones of the local Region
//!   in proportion to their available endpoints, then to other Regions if the local Region has
//!   none. It returns to the local zone only after the share has stayed at or above
//!   `failback_above` for `failback_after` (hysteresis).
//! - Panic: with fewer than `panic_threshold` of all endpoints available, health is ignored.
//!   And it has the last word over breakers: when every zone that could take an attempt has its
//!   breaker open, the attempt goes to one of them anyway (by endpoint count, the local Region
//!   first) and that zone's breaker half-opens early ([`Breaker::probe`]), so the attempt is a
//!   probe whose success closes it. A `panic_threshold` of 0 turns both off.

mod snapshot;

use std::net::SocketAddr;

use azsim_net::Rng;
use tokio::time::Instant;

use crate::breaker::{Breaker, BreakerState};
use crate::config::{BreakerScope, Breakers, Config, Selection};
pub use snapshot::{Counters, Snapshot, ZoneSnapshot};

/// An endpoint as discovery reports it. Build one with [`Endpoint::new`] (and
/// [`Endpoint::host`] for a host name); fields may be added, so it has no public literal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Endpoint {
    /// Stable identity across refreshes (Cloud Map's instance id, or the address).
    pub id: String,
    /// Where attempts connect: the transport dials this address, never a name.
    pub addr: SocketAddr,
    pub zone: String,
    pub region: String,
    /// The name the endpoint answers to, if it is not its address: the `Host` header (and the
    /// TLS server name, for a transport that speaks TLS). `None`: the address stands in.
    pub host: Option<String>,
}

impl Endpoint {
    /// An endpoint `id` at `addr` in `zone` of `region`, with no host name.
    pub fn new(id: impl Into<String>, addr: SocketAddr, zone: impl Into<String>, region: impl Into<String>) -> Self {
        Endpoint { id: id.into(), addr, zone: zone.into(), region: region.into(), host: None }
    }

    /// The name it answers to (`Host`, and TLS's server name), e.g. `orders.internal`.
    pub fn host(mut self, name: impl Into<String>) -> Self {
        self.host = Some(name.into());
        self
    }
}

/// What an attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure(FailureKind),
}

/// How an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// No connection (refused, unreachable): the request never left.
    Connect,
    /// The connection broke (reset, closed early, a protocol error): the request may have
    /// reached the endpoint.
    Reset,
    /// No answer within the per-try timeout or the deadline.
    Timeout,
    /// A failing answer (with [`HttpPolicy`](crate::HttpPolicy), a 5xx).
    Status(u16),
    /// The endpoint asks the caller to slow down (HTTP 429): the endpoint is alive, so this
    /// does not count against its health (no ejection, no breaker); retried after `Retry-After`.
    Throttled(u16),
}

impl FailureKind {
    /// Whether the endpoint's health (outlier ejection, breakers) hears of it: every kind but
    /// [`Throttled`](Self::Throttled).
    pub fn counts_against_health(self) -> bool {
        !matches!(self, FailureKind::Throttled(_))
    }
}

/// Why nothing could be picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickError {
    NoEndpoints,
    /// Every usable zone's (or endpoint's) breaker is open.
    CircuitOpen,
}

/// The endpoint chosen for an attempt; hand it back to [`Balancer::record`].
///
/// It names the endpoint by a slot number that survives discovery refreshes (an endpoint kept
/// by id keeps its slot), so an attempt that was in flight while the endpoint list was replaced
/// is still recorded against its endpoint; only an endpoint that left the list loses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    /// The endpoint's index when it was picked (it may move on a refresh; `record` finds it).
    pub index: usize,
    /// Its zone's index when it was picked.
    pub zone: usize,
    slot: u64,
}

/// Where the balancer sends: its own zone, or spilled over to others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Local,
    Spilled { since: Instant, recovering_since: Option<Instant> },
}

/// Per-zone counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneStats {
    pub attempts: u64,
    pub failures: u64,
    pub ejections: u64,
}

#[derive(Clone, Debug)]
struct EndpointState {
    endpoint: Endpoint,
    /// Given once, when the endpoint first appears, and kept while its id stays in the list.
    slot: u64,
    zone: usize,
    outstanding: u32,
    consecutive_failures: u32,
    ejected_until: Option<Instant>,
    times_ejected: u32,
    breaker: Option<Breaker>,
    available: bool,
}

#[derive(Clone, Debug)]
struct Zone {
    name: String,
    region: String,
    members: Vec<usize>,
    available: u32,
    breaker: Option<Breaker>,
    stats: ZoneStats,
}

/// The balancer.
#[derive(Clone, Debug)]
pub struct Balancer {
    config: Config,
    endpoints: Vec<EndpointState>,
    zones: Vec<Zone>,
    local: Option<usize>,
    ejected: u32,
    /// When an ejection or an endpoint breaker's open period ends next.
    wakeup: Option<Instant>,
    mode: Mode,
    rr: usize,
    /// The next new endpoint's slot (see [`Pick`]).
    next_slot: u64,
    /// Every zone's breaker refused the last pick, so it probed one (see [`Balancer::pick`]).
    last_word: bool,
    /// A local zone is set and no endpoint is in it (warned once per change).
    local_missing: bool,
    counters: Counters,
}

impl Balancer {
    pub fn new(config: Config) -> Self {
        Balancer {
            config,
            endpoints: Vec::new(),
            zones: Vec::new(),
            local: None,
            ejected: 0,
            wakeup: None,
            mode: Mode::Local,
            rr: 0,
            next_slot: 0,
            last_word: false,
            local_missing: false,
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    pub fn endpoint(&self, index: usize) -> &Endpoint {
        &self.endpoints[index].endpoint
    }

    /// Zone names with their counters, in order of first appearance.
    pub fn zone_stats(&self) -> impl Iterator<Item = (&str, ZoneStats)> {
        self.zones.iter().map(|z| (z.name.as_str(), z.stats))
    }

    /// The state of `zone`'s breaker, if breakers are per zone.
    pub fn zone_breaker(&self, zone: &str) -> Option<BreakerState> {
        self.zones.iter().find(|z| z.name == zone)?.breaker.as_ref().map(Breaker::state)
    }

    /// Whether the endpoint with this id is ejected now.
    pub fn is_ejected(&self, id: &str, now: Instant) -> bool {
        self.endpoints.iter().any(|e| e.endpoint.id == id && e.ejected_until.is_some_and(|t| t > now))
    }

    /// Replaces the endpoint list (a discovery refresh). Endpoints keep their state by id;
    /// zones keep their breakers by name. The same list again (discovery's usual answer)
    /// changes nothing, and attempts in flight are recorded against their endpoints either way.
    pub fn set_endpoints(&mut self, now: Instant, mut list: Vec<Endpoint>) {
        list.sort();
        list.dedup_by(|a, b| a.id == b.id);
        if list.len() == self.endpoints.len() && list.iter().zip(&self.endpoints).all(|(new, old)| *new == old.endpoint) {
            return;
        }
        let old_eps = std::mem::take(&mut self.endpoints);
        let old_zones = std::mem::take(&mut self.zones);
        let breaker = |scope| match self.config.breaker {
            Some(Breakers { scope: s, config, .. }) if s == scope => Some(Breaker::new(config)),
            _ => None,
        };
        let (endpoint_breaker, zone_breaker) = (breaker(BreakerScope::Endpoint), breaker(BreakerScope::Zone));
        for e in list {
            let zone = match self.zones.iter().position(|z| z.name == e.zone) {
                Some(z) => z,
                None => {
                    let kept = old_zones.iter().find(|z| z.name == e.zone);
                    self.zones.push(Zone {
                        name: e.zone.clone(),
                        region: e.region.clone(),
                        members: Vec::new(),
                        available: 0,
                        breaker: kept.map_or(zone_breaker.clone(), |z| z.breaker.clone()),
                        stats: kept.map_or(ZoneStats::default(), |z| z.stats),
                    });
                    self.zones.len() - 1
                }
            };
            let index = self.endpoints.len();
            self.zones[zone].members.push(index);
            let state = match old_eps.iter().find(|o| o.endpoint.id == e.id) {
                Some(o) => EndpointState { endpoint: e, zone, ..o.clone() },
                None => EndpointState {
                    endpoint: e,
                    slot: {
                        self.next_slot += 1;
                        self.next_slot
                    },
                    zone,
                    outstanding: 0,
                    consecutive_failures: 0,
                    ejected_until: None,
                    times_ejected: 0,
                    breaker: endpoint_breaker.clone(),
                    available: true,
                },
            };
            self.endpoints.push(state);
        }
        self.local = self.config.local_zone.as_ref().and_then(|l| self.zones.iter().position(|z| z.name == *l));
        self.warn_if_local_zone_missing();
        self.refresh(now);
    }

    /// A retry is going out (the client counts it here, beside the attempts).
    pub(crate) fn count_retry(&mut self) {
        self.counters.retries += 1;
    }

    /// A retry was due and the budget refused it.
    pub(crate) fn count_budget_refusal(&mut self) {
        self.counters.budget_refusals += 1;
    }

    /// Recomputes availability after ejections or open periods ended.
    fn refresh(&mut self, now: Instant) {
        self.wakeup = None;
        self.ejected = 0;
        self.zones.iter_mut().for_each(|z| z.available = 0);
        for e in &mut self.endpoints {
            let ejected = e.ejected_until.is_some_and(|t| t > now);
            if let Some(t) = e.ejected_until.filter(|_| ejected) {
                self.wakeup = Some(self.wakeup.map_or(t, |w| w.min(t)));
            }
            if !ejected {
                e.ejected_until = None;
            }
            let open_until = match e.breaker.as_ref().map(Breaker::state) {
                Some(BreakerState::Open { until }) if until > now => Some(until),
                _ => None,
            };
            if let Some(t) = open_until {
                self.wakeup = Some(self.wakeup.map_or(t, |w| w.min(t)));
            }
            e.available = !ejected && open_until.is_none();
            self.ejected += u32::from(ejected);
            self.zones[e.zone].available += u32::from(e.available);
        }
    }

    fn zone_usable(&self, z: usize, now: Instant) -> bool {
        self.zones[z].breaker.as_ref().is_none_or(|b| b.is_available(now))
    }

    fn local_share(&self, local: usize) -> f64 {
        let z = &self.zones[local];
        if z.members.is_empty() { 0.0 } else { f64::from(z.available) / z.members.len() as f64 }
    }

    /// Spills or fails back, with hysteresis.
    fn update_mode(&mut self, now: Instant) {
        let Some(local) = self.local else { return };
        let zc = self.config.zones;
        let share = self.local_share(local);
        let closed = self.zones[local].breaker.as_ref().is_none_or(|b| b.state() == BreakerState::Closed);
        match self.mode {
            Mode::Local => {
                if share < zc.spill_below || !self.zone_usable(local, now) {
                    self.mode = Mode::Spilled { since: now, recovering_since: None };
                    self.counters.spills += 1;
                    tracing::warn!(zone = %self.zones[local].name, share, "local zone degraded: spilling over to other zones");
                }
            }
            Mode::Spilled { since, recovering_since } => {
                if share >= zc.failback_above && closed {
                    let start = recovering_since.unwrap_or(now);
                    if now.saturating_duration_since(start) >= zc.failback_after {
                        self.mode = Mode::Local;
                        self.counters.failbacks += 1;
                        tracing::info!(zone = %self.zones[local].name, "local zone healthy again: failing back");
                    } else {
                        self.mode = Mode::Spilled { since, recovering_since: Some(start) };
                    }
                } else if recovering_since.is_some() {
                    self.mode = Mode::Spilled { since, recovering_since: None };
                }
            }
        }
    }

    /// Chooses the endpoint for an attempt. `avoid` is a zone to stay out of if another will do
    /// (a retry after a failure there).
    pub fn pick(&mut self, now: Instant, rng: &mut dyn Rng, avoid: Option<usize>) -> Result<Pick, PickError> {
        if self.endpoints.is_empty() {
            return Err(PickError::NoEndpoints);
        }
        if self.wakeup.is_some_and(|w| now >= w) {
            self.refresh(now);
        }
        self.update_mode(now);
        let total_available: u32 = self.zones.iter().map(|z| z.available).sum();
        let threshold = self.config.zones.panic_threshold;
        let mut panic = f64::from(total_available) < threshold * self.endpoints.len() as f64;
        let (zone, last_word) = match self.choose_zone(now, rng, avoid, panic, false) {
            Ok(zone) => (zone, false),
            // The last word: every zone that could take the call has its breaker open. Probe
            // rather than fail everything (a blip everywhere would otherwise fail every call for
            // `open_for` after it ended). A zero threshold turns panic off, this included.
            Err(PickError::CircuitOpen) if threshold > 0.0 => {
                panic = true;
                (self.choose_zone(now, rng, avoid, true, true)?, true)
            }
            Err(e) => return Err(e),
        };
        self.set_last_word(last_word);
        let index = self.choose_in_zone(zone, panic, rng).ok_or(PickError::NoEndpoints)?;
        // A breaker that refuses here lets the call through as a probe: a zone's only in the
        // last word, an endpoint's in panic (health ignored) or with its half-open probes all
        // out; either way the outcome tells the breaker about recovery.
        if let Some(b) = &mut self.zones[zone].breaker
            && !b.try_acquire(now)
        {
            b.probe();
        }
        if let Some(b) = &mut self.endpoints[index].breaker
            && !b.try_acquire(now)
        {
            b.probe();
        }
        self.endpoints[index].outstanding += 1;
        self.zones[zone].stats.attempts += 1;
        self.counters.attempts += 1;
        self.counters.panic_probes += u64::from(last_word);
        Ok(Pick { index, zone, slot: self.endpoints[index].slot })
    }

    /// Enters or leaves the last word (every zone's breaker open, so picks probe them); logs
    /// the changes only.
    fn set_last_word(&mut self, on: bool) {
        if on && !self.last_word {
            tracing::warn!(zones = self.zones.len(), "every zone's circuit breaker is open: probing them (panic) rather than failing every call");
        } else if !on && self.last_word {
            tracing::info!("a zone's circuit breaker lets calls through again: panic over");
        }
        self.last_word = on;
    }

    /// The zone for an attempt. In `panic` a zone weighs its endpoints, healthy or not, else its
    /// available ones; `ignore_breakers` (the last word) lets zones whose breaker refuses in.
    fn choose_zone(&self, now: Instant, rng: &mut dyn Rng, avoid: Option<usize>, panic: bool, ignore_breakers: bool) -> Result<usize, PickError> {
        let weight = |z: &Zone| if panic { z.members.len() as u32 } else { z.available };
        let usable = |z: usize| ignore_breakers || self.zone_usable(z, now);
        if let Some(local) = self.local {
            let big_enough = self.zones[local].members.len() as u32 >= self.config.zones.min_zone_size;
            if self.mode == Mode::Local && big_enough && avoid != Some(local) && usable(local) && weight(&self.zones[local]) > 0 {
                return Ok(local);
            }
        }
        let region = self.local.map(|l| self.zones[l].region.as_str());
        let any_open = (0..self.zones.len()).any(|z| !usable(z));
        // Candidates: usable zones with weight, preferring the local Region, then not `avoid`.
        let tiers: [&dyn Fn(usize) -> bool; 4] = [
            &|z| region.is_none_or(|r| self.zones[z].region == r) && Some(z) != avoid,
            &|z| region.is_none_or(|r| self.zones[z].region == r),
            &|z| Some(z) != avoid,
            &|_| true,
        ];
        for tier in tiers {
            let ok = |z: usize| tier(z) && usable(z) && weight(&self.zones[z]) > 0;
            let total: u64 = (0..self.zones.len()).filter(|z| ok(*z)).map(|z| u64::from(weight(&self.zones[z]))).sum();
            if total == 0 {
                continue;
            }
            let mut x = rng.below(total);
            for z in (0..self.zones.len()).filter(|z| ok(*z)) {
                let w = u64::from(weight(&self.zones[z]));
                if x < w {
                    return Ok(z);
                }
                x -= w;
            }
        }
        Err(if any_open { PickError::CircuitOpen } else { PickError::NoEndpoints })
    }

    fn choose_in_zone(&mut self, zone: usize, panic: bool, rng: &mut dyn Rng) -> Option<usize> {
        let members = &self.zones[zone].members;
        let n = members.len();
        if n == 0 {
            return None;
        }
        let ok = |i: usize| panic || self.endpoints[i].available;
        match self.config.selection {
            Selection::RoundRobin => {
                let start = self.rr;
                self.rr = self.rr.wrapping_add(1);
                (0..n).map(|k| members[(start + k) % n]).find(|i| ok(*i))
            }
            Selection::PowerOfTwoChoices => {
                let draw = |rng: &mut dyn Rng| {
                    for _ in 0..4 {
                        let i = members[rng.below(n as u64) as usize];
                        if ok(i) {
                            return Some(i);
                        }
                    }
                    let start = rng.below(n as u64) as usize;
                    (0..n).map(|k| members[(start + k) % n]).find(|i| ok(*i))
                };
                let a = draw(rng)?;
                let b = draw(rng).unwrap_or(a);
                Some(if self.endpoints[b].outstanding < self.endpoints[a].outstanding { b } else { a })
            }
        }
    }

    /// A throttled attempt: the endpoint answered, so its health is untouched; only the
    /// permits and the count of requests in flight the pick took are given back.
    fn record_throttled(&mut self, pick: Pick) {
        self.counters.throttled += 1;
        if let Some(b) = &mut self.zones[pick.zone].breaker {
            b.release();
        }
        let e = &mut self.endpoints[pick.index];
        e.outstanding = e.outstanding.saturating_sub(1);
        if let Some(b) = &mut e.breaker {
            b.release();
        }
    }

    /// The zone (index) the picked endpoint is in now, if it is still in the list: a refresh
    /// may have renumbered the zones since the pick.
    pub fn zone_of(&self, pick: Pick) -> Option<usize> {
        self.find(pick).map(|i| self.endpoints[i].zone)
    }

    /// Where the picked endpoint is now: at its index unless a refresh moved it (a linear
    /// search then, without allocating), or nowhere if it left.
    fn find(&self, pick: Pick) -> Option<usize> {
        match self.endpoints.get(pick.index) {
            Some(e) if e.slot == pick.slot => Some(pick.index),
            _ => self.endpoints.iter().position(|e| e.slot == pick.slot),
        }
    }

    fn count_breaker(&mut self, state: BreakerState) {
        match state {
            BreakerState::Open { .. } => self.counters.breakers_opened += 1,
            BreakerState::Closed => self.counters.breakers_closed += 1,
            BreakerState::HalfOpen { .. } => {}
        }
    }

    /// Records what the attempt to `pick` came to.
    pub fn record(&mut self, now: Instant, pick: Pick, outcome: Outcome) {
        let Some(index) = self.find(pick) else {
            return; // the endpoint left the list while the attempt was out: its state is gone
        };
        let pick = Pick { index, zone: self.endpoints[index].zone, ..pick };
        let failed = match outcome {
            Outcome::Success => false,
            Outcome::Failure(kind) if kind.counts_against_health() => true,
            Outcome::Failure(_) => return self.record_throttled(pick),
        };
        let zone = pick.zone;
        self.zones[zone].stats.failures += u64::from(failed);
        if let Some(state) = self.zones[zone].breaker.as_mut().and_then(|b| b.record(now, failed)) {
            self.count_breaker(state);
            match state {
                BreakerState::Open { until } => {
                    tracing::warn!(zone = %self.zones[zone].name, open_for = ?until.saturating_duration_since(now), "zone circuit breaker opened")
                }
                _ => tracing::info!(zone = %self.zones[zone].name, ?state, "zone circuit breaker"),
            }
        }
        let max_ejected = self.config.outlier.map_or(0, |o| ((o.max_ejected_share * self.endpoints.len() as f64) as u32).max(1));
        let e = &mut self.endpoints[pick.index];
        e.outstanding = e.outstanding.saturating_sub(1);
        let mut became_unavailable = None;
        if let Some(state) = e.breaker.as_mut().and_then(|b| b.record(now, failed)) {
            match state {
                BreakerState::Open { until } => {
                    tracing::warn!(endpoint = %e.endpoint.id, open_for = ?until.saturating_duration_since(now), "endpoint circuit breaker opened");
                    self.counters.breakers_opened += 1;
                    became_unavailable = Some(until);
                }
                BreakerState::Closed => {
                    tracing::info!(endpoint = %e.endpoint.id, "endpoint circuit breaker closed");
                    self.counters.breakers_closed += 1;
                    // Closed by probes sent in panic, before its open period ended.
                    if !e.available && e.ejected_until.is_none_or(|t| t <= now) {
                        e.available = true;
                        self.zones[zone].available += 1;
                    }
                }
                BreakerState::HalfOpen { .. } => {}
            }
        }
        if failed {
            e.consecutive_failures += 1;
            if let Some(o) = self.config.outlier {
                let already = e.ejected_until.is_some_and(|t| t > now);
                if e.consecutive_failures >= o.consecutive_failures && !already && self.ejected < max_ejected {
                    e.times_ejected += 1;
                    let span = o.base_ejection.saturating_mul(e.times_ejected).min(o.max_ejection);
                    e.ejected_until = Some(now + span);
                    e.consecutive_failures = 0;
                    self.ejected += 1;
                    self.zones[zone].stats.ejections += 1;
                    self.counters.ejections += 1;
                    tracing::warn!(endpoint = %e.endpoint.id, zone = %self.zones[zone].name, ejected_for = ?span, "outlier ejected");
                    became_unavailable = Some(now + span).max(became_unavailable);
                }
            }
        } else {
            e.consecutive_failures = 0;
        }
        if let Some(until) = became_unavailable {
            let e = &mut self.endpoints[pick.index];
            if e.available {
                e.available = false;
                self.zones[zone].available -= 1;
            }
            self.wakeup = Some(self.wakeup.map_or(until, |w| w.min(until)));
        }
    }
}
