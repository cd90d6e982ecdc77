//! Route 53: records with routing policies, health checks by a fleet of checkers, and the
//! delay before name servers answer with a change (`sim/fakes/FIDELITY.md` R53-01 to R53-19).
//!
//! - Policies: simple, weighted (weight / sum; zero weights only when every non-zero record is
//!   unhealthy), failover (primary while healthy; the secondary if the primary is unhealthy
//!   and it is not; both unhealthy: the primary), multivalue (up to 8 healthy, else up to 8).
//!   A record without a health check is healthy; if no record of a set is healthy, all count as
//!   healthy.
//! - Health checks: each [`HealthChecker`] host probes every target on its own phase, every
//!   10 s or 30 s, with a 6 s budget per probe (4 s to connect, 2 s for the status), and
//!   changes its verdict after `failure_threshold` (default 3) results in a row either way.
//!   A check is healthy while more than 18 % of the checkers say so, and healthy until they
//!   have data.
//! - A changed health status reaches the name servers `propagation` later (AWS: "generally
//!   within 60 seconds"; default here: uniform 0 to 60 s), and resolvers cache answers for the
//!   record's TTL.
//!
//! - Calculated checks: healthy while at least `threshold` children are.
//! - Check kinds: HTTP and HTTPS (a 2xx or 3xx within 4 s + 2 s; HTTPS validates no
//!   certificate), TCP (a connection within 10 s: any answer passes, whatever its status) and
//!   string match (HTTP(S) whose body must hold the string in its first 5,120 bytes, within 2 s
//!   more).
//! - Latency records: the record of the Region with the lowest latency from the resolver's
//!   Region (AWS measures it; here the p50 of the scenario's latency between the two Regions,
//!   which does not change over the run), among the healthy ones.
//! - Alias records to a load balancer: the answer is the load balancer's own (its live nodes),
//!   with its 60 s TTL; with `evaluate_target_health` the record is healthy iff every target
//!   group that has targets has a healthy one (empty groups count healthy, AWS's current
//!   documentation). AWS does not say how soon a target's health reaches Route 53: here, at once.
//!
//! - A check may target a load balancer by its DNS name, as checks of an ALB's or NLB's name
//!   do: each probe resolves the name (its live, published nodes) and probes one node at
//!   random; the node answers 200 while it has a healthy target it would route to, else 503
//!   (ours: the probe is not routed on to a target). No node to resolve: the probe fails.
//!
//! - Checkers are hosts, so they can sit in several places (AWS's checker Regions): a fault
//!   between some of them and a target leaves the others' verdicts.
//!
//! Not modelled: CloudWatch-alarm checks, geolocation and geoproximity records.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use azsim_kernel::{Cx, Dist, HostId, Message, Nanos, Packer, Process, RegionId, SimRng, TimerToken, Unpacker};

use crate::lb::LbDirectory;
use crate::pick::Endpoint;
use crate::rpc::{Body, HealthReply};

/// A record's target: where its answer points, and the health check that guards it.
#[derive(Clone, Debug)]
pub struct RecordTarget {
    pub endpoints: Vec<Endpoint>,
    pub health_check: Option<String>,
    /// An alias to a load balancer: its answer replaces `endpoints`.
    pub alias: Option<AliasTarget>,
}

/// An alias record's load balancer.
#[derive(Clone, Debug)]
pub struct AliasTarget {
    pub lb: String,
    pub directory: LbDirectory,
    /// The record is healthy only while the load balancer is (every target group with
    /// targets has a healthy one).
    pub evaluate_target_health: bool,
}

/// An alias to an Elastic Load Balancer answers with the load balancer's TTL, 60 s.
pub const ELB_ALIAS_TTL: Nanos = 60_000_000_000;

/// Who is asking, as Route 53 sees it: the time, the resolver's Region (for latency
/// records), a random stream (weighted records), and what an alias target answers now.
pub trait Resolver {
    fn now(&self) -> Nanos;
    fn region(&self) -> RegionId;
    fn rng(&mut self) -> &mut SimRng;
    /// The alias target's endpoints, and whether it is healthy.
    fn alias(&mut self, alias: &AliasTarget) -> (Vec<Endpoint>, bool);
}

impl Resolver for Cx<'_> {
    fn now(&self) -> Nanos {
        Cx::now(self)
    }
    fn region(&self) -> RegionId {
        self.topology().az_region(self.az())
    }
    fn rng(&mut self) -> &mut SimRng {
        Cx::rng(self)
    }
    fn alias(&mut self, alias: &AliasTarget) -> (Vec<Endpoint>, bool) {
        let endpoints = alias.directory.resolve(self, &alias.lb, None);
        let healthy = !alias.evaluate_target_health || alias.directory.targets_healthy(self, &alias.lb);
        (endpoints, healthy)
    }
}

/// A record set's routing policy.
#[derive(Clone, Debug)]
pub enum Policy {
    Simple(RecordTarget),
    Weighted(Vec<(u32, RecordTarget)>),
    Failover {
        primary: RecordTarget,
        secondary: RecordTarget,
    },
    Multivalue(Vec<RecordTarget>),
    /// Each target in a Region: the lowest latency from the resolver's Region wins.
    Latency(Vec<(RegionId, RecordTarget)>),
}

/// A name's records.
#[derive(Clone, Debug)]
pub struct RecordSet {
    pub ttl: Nanos,
    pub policy: Policy,
}

/// A calculated health check: healthy while at least `threshold` of its `children` are (a
/// threshold above the number of children: never; 0: always).
#[derive(Clone, Debug)]
pub struct CalculatedCheck {
    pub children: Vec<String>,
    pub threshold: u32,
}

/// How a checker decides that one probe passed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CheckKind {
    /// A 2xx or 3xx status.
    #[default]
    Http,
    /// The same over TLS (Route 53 validates no certificate).
    Https,
    /// A TCP connection: any answer passes.
    Tcp,
    /// HTTP(S) whose body holds this string in its first [`STRING_MATCH_BYTES`] bytes.
    StringMatch(String),
}

/// How much of the body a string-match check searches.
pub const STRING_MATCH_BYTES: usize = 5_120;

impl CheckKind {
    /// How long a checker waits: HTTP(S) 4 s to connect and 2 s for the status; TCP 10 s to
    /// connect; a string match 2 s more for the body.
    pub fn timeout(&self) -> Nanos {
        match self {
            CheckKind::Http | CheckKind::Https => 6_000_000_000,
            CheckKind::Tcp => 10_000_000_000,
            CheckKind::StringMatch(_) => 8_000_000_000,
        }
    }

    /// Whether `reply` passes.
    pub fn passes(&self, reply: &HealthReply) -> bool {
        match self {
            CheckKind::Tcp => true,
            CheckKind::Http | CheckKind::Https => reply.passes(),
            CheckKind::StringMatch(needle) => {
                let body = reply.body.as_deref().unwrap_or("");
                let mut end = body.len().min(STRING_MATCH_BYTES);
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                reply.passes() && body[..end].contains(needle.as_str())
            }
        }
    }
}

/// What a health check probes.
#[derive(Clone, Debug)]
pub enum CheckTarget {
    /// One host (an API's regional endpoint, a service's first instance).
    Host(HostId),
    /// A load balancer's DNS name: each probe resolves it and probes one of the nodes it
    /// answers with.
    LoadBalancer { name: String, directory: LbDirectory },
}

/// A health check's settings.
#[derive(Clone, Debug)]
pub struct HealthCheckConfig {
    pub target: CheckTarget,
    /// 10 s (fast) or 30 s (standard).
    pub interval: Nanos,
    /// 1 to 10; AWS's default 3.
    pub failure_threshold: u32,
    pub kind: CheckKind,
}

struct CheckState {
    config: HealthCheckConfig,
    /// Each checker's verdict.
    verdicts: Vec<bool>,
    /// The aggregate (> 18 % healthy).
    healthy: bool,
    /// What the name servers answer with, and the changes on their way to them.
    published: bool,
    pending: Vec<(Nanos, bool)>,
    /// When each aggregate change happened and reached the name servers, for reports.
    changes: Vec<(Nanos, Nanos, bool)>,
}

struct State {
    records: BTreeMap<String, RecordSet>,
    checks: BTreeMap<String, CheckState>,
    calculated: BTreeMap<String, CalculatedCheck>,
    /// What latency records compare: from a resolver's Region to a target's.
    latencies: BTreeMap<(RegionId, RegionId), Nanos>,
    propagation: Dist,
    rng: SimRng,
}

/// The hosted zone(s) and health checks of a run, shared by checkers and resolvers.
#[derive(Clone)]
pub struct Route53(Arc<Mutex<State>>);

impl std::fmt::Debug for Route53 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Route53")
    }
}

/// One health status change: when the checkers' aggregate changed, and when name servers
/// started answering with it.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthChange {
    pub check: String,
    pub at: Nanos,
    pub published_at: Nanos,
    pub healthy: bool,
}

impl Route53 {
    /// A zone with `records` and `checks`, watched by `checkers` checkers; changes reach the
    /// name servers after a delay drawn from `propagation` (with `rng`).
    pub fn new(records: BTreeMap<String, RecordSet>, checks: BTreeMap<String, HealthCheckConfig>, checkers: usize, propagation: Dist, rng: SimRng) -> Route53 {
        let checks = checks
            .into_iter()
            .map(|(id, config)| {
                (id, CheckState { config, verdicts: vec![true; checkers], healthy: true, published: true, pending: Vec::new(), changes: Vec::new() })
            })
            .collect();
        Route53(Arc::new(Mutex::new(State { records, checks, calculated: BTreeMap::new(), latencies: BTreeMap::new(), propagation, rng })))
    }

    /// Sets the latencies latency records compare (from the resolver's Region, to the
    /// target's); a pair not given counts as farther than any given.
    pub fn with_latencies(self, latencies: BTreeMap<(RegionId, RegionId), Nanos>) -> Route53 {
        self.lock().latencies = latencies;
        self
    }

    /// Adds calculated checks (their children are endpoint checks or other calculated ones).
    pub fn with_calculated(self, calculated: BTreeMap<String, CalculatedCheck>) -> Route53 {
        {
            let mut s = self.lock();
            for (id, c) in &calculated {
                let healthy = c.threshold == 0 || (c.threshold as usize <= c.children.len());
                s.checks.insert(
                    id.clone(),
                    CheckState {
                        config: HealthCheckConfig { target: CheckTarget::Host(HostId(u32::MAX)), interval: 0, failure_threshold: 0, kind: CheckKind::Http },
                        verdicts: Vec::new(),
                        healthy,
                        published: healthy,
                        pending: Vec::new(),
                        changes: Vec::new(),
                    },
                );
            }
            s.calculated = calculated;
        }
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().expect("route53 lock")
    }

    /// The endpoint checks' settings, by id (what checkers probe).
    pub fn checks(&self) -> Vec<(String, HealthCheckConfig)> {
        let s = self.lock();
        s.checks.iter().filter(|(id, _)| !s.calculated.contains_key(*id)).map(|(id, c)| (id.clone(), c.config.clone())).collect()
    }

    /// Checker `checker`'s verdict on `check` changed at `now`.
    pub fn report(&self, now: Nanos, check: &str, checker: usize, healthy: bool) {
        let mut s = self.lock();
        let State { checks, propagation, rng, .. } = &mut *s;
        let Some(c) = checks.get_mut(check) else { return };
        if let Some(v) = c.verdicts.get_mut(checker) {
            *v = healthy;
        }
        let share = c.verdicts.iter().filter(|v| **v).count() as f64 / c.verdicts.len().max(1) as f64;
        let aggregate = share > 0.18;
        if aggregate != c.healthy {
            c.healthy = aggregate;
            let at = now + propagation.sample(rng);
            c.pending.push((at, aggregate));
            c.changes.push((now, at, aggregate));
            Route53::recalculate(&mut s, now);
        }
    }

    /// Calculated checks follow their children (until nothing changes: parents of parents).
    fn recalculate(s: &mut State, now: Nanos) {
        for _ in 0..=s.calculated.len() {
            let mut changed = false;
            let parents: Vec<(String, CalculatedCheck)> = s.calculated.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (id, calc) in parents {
                let up = calc.children.iter().filter(|c| s.checks.get(*c).is_some_and(|x| x.healthy)).count() as u32;
                let healthy = up >= calc.threshold;
                let State { checks, propagation, rng, .. } = &mut *s;
                let Some(c) = checks.get_mut(&id) else { continue };
                if c.healthy != healthy {
                    c.healthy = healthy;
                    let at = now + propagation.sample(rng);
                    c.pending.push((at, healthy));
                    c.changes.push((now, at, healthy));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Whether name servers consider `check` healthy at `now`.
    fn published(s: &mut State, now: Nanos, check: &str) -> bool {
        let Some(c) = s.checks.get_mut(check) else { return true };
        c.pending.sort_by_key(|(at, _)| *at);
        while c.pending.first().is_some_and(|(at, _)| *at <= now) {
            c.published = c.pending.remove(0).1;
        }
        c.published
    }

    /// What `resolver` gets for `name`: the endpoints and the TTL. `None`: no such name
    /// (NXDOMAIN).
    pub fn resolve(&self, resolver: &mut dyn Resolver, name: &str) -> Option<(Vec<Endpoint>, Nanos)> {
        let now = resolver.now();
        let mut guard = self.lock();
        let s = &mut *guard;
        let set = s.records.get(name)?.clone();
        // A latency record's distance to each target's Region, from the resolver's.
        let from = resolver.region();
        let distance: Vec<Nanos> = match &set.policy {
            Policy::Latency(targets) => targets.iter().map(|(region, _)| latency_between(&s.latencies, from, *region)).collect(),
            _ => Vec::new(),
        };
        let mut view = |t: &RecordTarget, resolver: &mut dyn Resolver| Route53::view(s, resolver, now, t, set.ttl);
        let chosen = match &set.policy {
            Policy::Simple(t) => Some(view(t, resolver)),
            Policy::Failover { primary, secondary } => {
                let (p, second) = (view(primary, resolver), view(secondary, resolver));
                Some(if p.healthy || !second.healthy { p } else { second })
            }
            Policy::Weighted(targets) => {
                let seen: Vec<(u32, Seen)> = targets.iter().map(|(w, t)| (*w, view(t, resolver))).collect();
                let live = usable(seen, |(_, v)| v.healthy);
                // Zero weights only if every non-zero record is unhealthy; all zero: equal.
                let nonzero: Vec<(u32, usize)> = live.iter().enumerate().filter(|(_, (w, _))| *w > 0).map(|(i, (w, _))| (*w, i)).collect();
                let pool = if nonzero.is_empty() { (0..live.len()).map(|i| (1, i)).collect() } else { nonzero };
                let total: u64 = pool.iter().map(|(w, _)| u64::from(*w)).sum();
                let mut pick = resolver.rng().below(total.max(1));
                let mut chosen = pool.first().map(|(_, i)| *i);
                for (w, i) in &pool {
                    if pick < u64::from(*w) {
                        chosen = Some(*i);
                        break;
                    }
                    pick -= u64::from(*w);
                }
                chosen.and_then(|i| live.into_iter().nth(i)).map(|(_, v)| v)
            }
            Policy::Multivalue(targets) => {
                let seen: Vec<Seen> = targets.iter().map(|t| view(t, resolver)).collect();
                let endpoints = usable(seen, |v| v.healthy).into_iter().take(8).flat_map(|v| v.endpoints).collect();
                Some(Seen { endpoints, healthy: true, ttl: set.ttl })
            }
            Policy::Latency(targets) => {
                let seen: Vec<(Nanos, Seen)> = targets.iter().zip(&distance).map(|((_, t), d)| (*d, view(t, resolver))).collect();
                // The nearest Region (list order breaks ties).
                usable(seen, |(_, v)| v.healthy).into_iter().min_by_key(|(l, _)| *l).map(|(_, v)| v)
            }
        };
        Some(chosen.map_or((Vec::new(), set.ttl), |v| (v.endpoints, v.ttl)))
    }

    /// A target's endpoints, health and TTL, as name servers see them at `now`.
    fn view(s: &mut State, resolver: &mut dyn Resolver, now: Nanos, t: &RecordTarget, ttl: Nanos) -> Seen {
        let checked = t.health_check.as_ref().is_none_or(|c| Route53::published(s, now, c));
        match &t.alias {
            Some(a) => {
                let (endpoints, healthy) = resolver.alias(a);
                Seen { endpoints, healthy: checked && healthy, ttl: ELB_ALIAS_TTL }
            }
            None => Seen { endpoints: t.endpoints.clone(), healthy: checked, ttl },
        }
    }

    /// Every aggregate health change so far.
    pub fn changes(&self) -> Vec<HealthChange> {
        let s = self.lock();
        s.checks
            .iter()
            .flat_map(|(id, c)| {
                c.changes.iter().map(move |(at, published_at, healthy)| HealthChange {
                    check: id.clone(),
                    at: *at,
                    published_at: *published_at,
                    healthy: *healthy,
                })
            })
            .collect()
    }
}

/// A checker's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CheckerTimer {
    /// Time to probe check number `check`'s target.
    Round { check: usize },
    /// The probe `seq` (see [`probe_seq`]) went unanswered.
    Timeout { seq: u64 },
}

impl TimerToken for CheckerTimer {
    fn into_token(self) -> u64 {
        match self {
            CheckerTimer::Round { check } => Packer::new().put(0, 1).put(check as u64, 63).finish(),
            CheckerTimer::Timeout { seq } => Packer::new().put(1, 1).put(seq, 63).finish(),
        }
    }
    fn from_token(token: u64) -> Self {
        let mut fields = Unpacker::new(token);
        match fields.take(1) {
            0 => CheckerTimer::Round { check: fields.take(63) as usize },
            _ => CheckerTimer::Timeout { seq: fields.take(63) },
        }
    }
}

/// A probe's sequence number: the check, and the checker's probe count (wrapped to 32 bits),
/// so that a reply finds its check and a late one is recognised.
fn probe_seq(check: usize, count: u64) -> u64 {
    Packer::new().put(count & 0xffff_ffff, 32).put(check as u64, 31).finish()
}

/// The check a probe belongs to.
fn probe_check(seq: u64) -> usize {
    let mut fields = Unpacker::new(seq);
    fields.take(32);
    fields.take(32) as usize
}

/// A record as name servers see it.
struct Seen {
    endpoints: Vec<Endpoint>,
    healthy: bool,
    ttl: Nanos,
}

/// The healthy records of a set; if none is healthy, all of them (AWS's rule).
fn usable<T>(records: Vec<T>, healthy: impl Fn(&T) -> bool) -> Vec<T> {
    if records.iter().any(&healthy) { records.into_iter().filter(|r| healthy(r)).collect() } else { records }
}

/// What a latency record compares: nothing within a Region; an unknown pair farthest.
fn latency_between(latencies: &BTreeMap<(RegionId, RegionId), Nanos>, from: RegionId, to: RegionId) -> Nanos {
    if from == to { 0 } else { latencies.get(&(from, to)).copied().unwrap_or(Nanos::MAX) }
}

/// One Route 53 health checker: probes every check's target on its own phase.
pub struct HealthChecker {
    zone: Route53,
    index: usize,
    checks: Vec<(String, HealthCheckConfig)>,
    /// Per check: results in a row (positive: successes), verdict, the probe awaited.
    state: Vec<(i32, bool, Option<u64>)>,
    seq: u64,
}

impl HealthChecker {
    /// Checker number `index` of the fleet.
    pub fn new(zone: Route53, index: usize) -> HealthChecker {
        let checks = zone.checks();
        let state = vec![(0, true, None); checks.len()];
        HealthChecker { zone, index, checks, state, seq: 0 }
    }

    fn result(&mut self, cx: &mut Cx<'_>, check: usize, seq: u64, ok: bool) {
        let Some((streak, verdict, awaited)) = self.state.get_mut(check) else { return };
        if *awaited != Some(seq) {
            return;
        }
        *awaited = None;
        *streak = match (ok, *streak) {
            (true, s) if s > 0 => s + 1,
            (true, _) => 1,
            (false, s) if s < 0 => s - 1,
            (false, _) => -1,
        };
        let threshold = self.checks[check].1.failure_threshold as i32;
        let flipped = (ok && !*verdict && *streak >= threshold) || (!ok && *verdict && -*streak >= threshold);
        if flipped {
            *verdict = ok;
            self.zone.report(cx.now(), &self.checks[check].0, self.index, ok);
        }
    }
}

impl Process for HealthChecker {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        // The checkers do not coordinate: each starts at its own point of the interval.
        for (i, (_, c)) in self.checks.iter().enumerate() {
            let phase = cx.rng().below(c.interval.max(1));
            cx.set_timer(phase, CheckerTimer::Round { check: i });
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, _from: HostId, msg: Message) {
        if let Body::HealthReply(r) = Body::of(msg) {
            let check = probe_check(r.seq);
            let ok = self.checks.get(check).is_some_and(|(_, c)| c.kind.passes(&r));
            self.result(cx, check, r.seq, ok);
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        if let Body::HealthCheck(hc) = Body::of(msg) {
            self.result(cx, probe_check(hc.seq), hc.seq, false);
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        let check = match CheckerTimer::from_token(token) {
            CheckerTimer::Timeout { seq } => return self.result(cx, probe_check(seq), seq, false),
            CheckerTimer::Round { check } => check,
        };
        let Some((_, c)) = self.checks.get(check) else { return };
        let (interval, timeout) = (c.interval, c.kind.timeout());
        let target = match &c.target {
            CheckTarget::Host(host) => Some(*host),
            CheckTarget::LoadBalancer { name, directory } => {
                let nodes = directory.resolve(cx, name, None);
                let pick = cx.rng().below(nodes.len().max(1) as u64) as usize;
                nodes.get(pick).map(|n| n.host)
            }
        };
        cx.set_timer(interval, CheckerTimer::Round { check });
        if let Some(out) = self.state[check].2 {
            // The previous probe is still out at the next round (a TCP check's 10 s budget
            // equals the fast interval): it failed, and a new one goes.
            self.result(cx, check, out, false);
        }
        self.seq += 1;
        let seq = probe_seq(check, self.seq);
        self.state[check].2 = Some(seq);
        let Some(target) = target else {
            // The name resolves to no address: the probe fails.
            return self.result(cx, check, seq, false);
        };
        cx.send(target, Body::health_check(seq));
        cx.set_timer(timeout, CheckerTimer::Timeout { seq });
    }

    fn on_crash(&mut self) {
        self.state.iter_mut().for_each(|s| s.2 = None);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azsim_kernel::{AzId, Seed};
    use std::sync::Arc;

    fn target(host: u32, check: Option<&str>) -> RecordTarget {
        RecordTarget { endpoints: vec![Endpoint { host: HostId(host), az: AzId(0) }], health_check: check.map(String::from), alias: None }
    }

    /// A resolver at a time, in a Region; alias targets answer host 99, healthy or not.
    struct At {
        now: Nanos,
        region: RegionId,
        rng: SimRng,
        alias_healthy: bool,
    }

    impl Resolver for At {
        fn now(&self) -> Nanos {
            self.now
        }
        fn region(&self) -> RegionId {
            self.region
        }
        fn rng(&mut self) -> &mut SimRng {
            &mut self.rng
        }
        fn alias(&mut self, alias: &AliasTarget) -> (Vec<Endpoint>, bool) {
            (vec![Endpoint { host: HostId(99), az: AzId(0) }], !alias.evaluate_target_health || self.alias_healthy)
        }
    }

    fn at(now: Nanos) -> At {
        At { now, region: RegionId(0), rng: Seed(2).stream("resolver"), alias_healthy: true }
    }

    fn zone(policy: Policy, checks: &[&str]) -> Route53 {
        let records = BTreeMap::from([("api.example.com".to_string(), RecordSet { ttl: 60_000_000_000, policy })]);
        let checks = checks
            .iter()
            .map(|c| {
                (
                    c.to_string(),
                    HealthCheckConfig { target: CheckTarget::Host(HostId(0)), interval: 10_000_000_000, failure_threshold: 3, kind: CheckKind::Http },
                )
            })
            .collect();
        Route53::new(records, checks, 10, Dist::Fixed(0), Seed(1).stream("r53"))
    }

    fn down(z: &Route53, check: &str, checkers: usize) {
        for i in 0..checkers {
            z.report(0, check, i, false);
        }
    }

    fn answer(z: &Route53) -> Vec<u32> {
        answer_from(z, &mut at(1))
    }

    fn answer_from(z: &Route53, r: &mut At) -> Vec<u32> {
        z.resolve(r, "api.example.com").unwrap().0.iter().map(|e| e.host.0).collect()
    }

    /// One case per documented rule (`sim/fakes/FIDELITY.md` R53-03, R53-06).
    #[test]
    fn failover_follows_the_documented_rules() {
        let failover = || Policy::Failover { primary: target(1, Some("p")), secondary: target(2, Some("s")) };
        let z = zone(failover(), &["p", "s"]);
        assert_eq!(answer(&z), [1], "primary healthy: primary");
        down(&z, "p", 10);
        assert_eq!(answer(&z), [2], "primary unhealthy, secondary healthy: secondary");
        down(&z, "s", 10);
        assert_eq!(answer(&z), [1], "both unhealthy: primary");
        let z = zone(Policy::Failover { primary: target(1, Some("p")), secondary: target(2, None) }, &["p"]);
        down(&z, "p", 10);
        assert_eq!(answer(&z), [2], "a secondary without a check is used when the primary is down");
    }

    #[test]
    fn a_check_is_healthy_while_more_than_18_percent_of_checkers_say_so() {
        let z = zone(Policy::Failover { primary: target(1, Some("p")), secondary: target(2, None) }, &["p"]);
        down(&z, "p", 8);
        assert_eq!(answer(&z), [1], "2 of 10 healthy (20 %) is healthy");
        z.report(0, "p", 8, false);
        assert_eq!(answer(&z), [2], "1 of 10 (10 %) is not");
    }

    #[test]
    fn a_calculated_check_is_healthy_while_enough_children_are() {
        let z = zone(Policy::Failover { primary: target(1, Some("both")), secondary: target(2, None) }, &["a", "b"])
            .with_calculated(BTreeMap::from([("both".to_string(), CalculatedCheck { children: vec!["a".into(), "b".into()], threshold: 2 })]));
        assert_eq!(answer(&z), [1]);
        down(&z, "a", 10);
        assert_eq!(answer(&z), [2], "one of two children down: below the threshold of 2");
        let never = zone(Policy::Failover { primary: target(1, Some("c")), secondary: target(2, None) }, &["a"])
            .with_calculated(BTreeMap::from([("c".to_string(), CalculatedCheck { children: vec!["a".into()], threshold: 2 })]));
        assert_eq!(answer(&never), [2], "a threshold above the number of children: never healthy");
    }

    #[test]
    fn weighted_and_multivalue_follow_the_documented_rules() {
        let z = zone(Policy::Weighted(vec![(1, target(1, Some("a"))), (0, target(2, None))]), &["a"]);
        assert_eq!(answer(&z), [1], "a zero weight is not used while a non-zero record is healthy");
        down(&z, "a", 10);
        assert_eq!(answer(&z), [2], "it is once every non-zero record is unhealthy");
        let z = zone(Policy::Multivalue((1..=10).map(|h| target(h, Some("m"))).collect()), &["m"]);
        assert_eq!(answer(&z).len(), 8, "at most 8 records");
        down(&z, "m", 10);
        assert_eq!(answer(&z).len(), 8, "all unhealthy: up to 8 unhealthy ones");
    }

    #[test]
    fn a_change_reaches_the_name_servers_after_the_propagation_delay() {
        let records = BTreeMap::from([(
            "api.example.com".to_string(),
            RecordSet { ttl: 60_000_000_000, policy: Policy::Failover { primary: target(1, Some("p")), secondary: target(2, None) } },
        )]);
        let checks = BTreeMap::from([(
            "p".to_string(),
            HealthCheckConfig { target: CheckTarget::Host(HostId(0)), interval: 10_000_000_000, failure_threshold: 3, kind: CheckKind::Http },
        )]);
        let z = Route53::new(records, checks, 1, Dist::Fixed(30_000_000_000), Seed(1).stream("r53"));
        z.report(5_000_000_000, "p", 0, false);
        assert_eq!(answer_from(&z, &mut at(34_999_999_999)), [1], "not yet published");
        assert_eq!(answer_from(&z, &mut at(35_000_000_000)), [2], "published 30 s after the change");
        assert!(z.resolve(&mut at(0), "other.example.com").is_none(), "NXDOMAIN");
    }

    #[test]
    fn latency_records_answer_with_the_nearest_healthy_region() {
        // Targets in Regions 1 and 2; resolvers in Region 0 (nearer to 2) and 3 (nearer to 1).
        let z = zone(Policy::Latency(vec![(RegionId(1), target(1, Some("one"))), (RegionId(2), target(2, Some("two")))]), &["one", "two"]).with_latencies(
            BTreeMap::from([
                ((RegionId(0), RegionId(1)), 20_000_000),
                ((RegionId(0), RegionId(2)), 8_000_000),
                ((RegionId(3), RegionId(1)), 5_000_000),
                ((RegionId(3), RegionId(2)), 30_000_000),
            ]),
        );
        let from = |region: u16| At { region: RegionId(region), ..at(1) };
        assert_eq!(answer_from(&z, &mut from(0)), [2], "Region 2 is nearer from Region 0");
        assert_eq!(answer_from(&z, &mut from(3)), [1], "Region 1 from Region 3");
        assert_eq!(answer_from(&z, &mut from(1)), [1], "a resolver in a target's own Region gets it");
        down(&z, "two", 10);
        assert_eq!(answer_from(&z, &mut from(0)), [1], "the nearest is unhealthy: the next nearest");
        down(&z, "one", 10);
        assert_eq!(answer_from(&z, &mut from(0)), [2], "none healthy: all count, the nearest wins");
    }

    #[test]
    fn alias_records_inherit_the_load_balancers_health_and_ttl() {
        let alias = |evaluate: bool| RecordTarget {
            endpoints: Vec::new(),
            health_check: None,
            alias: Some(AliasTarget { lb: "alb".into(), directory: LbDirectory::default(), evaluate_target_health: evaluate }),
        };
        let z = zone(Policy::Failover { primary: alias(true), secondary: target(2, None) }, &[]);
        let mut healthy = at(1);
        let (answer, ttl) = z.resolve(&mut healthy, "api.example.com").unwrap();
        assert_eq!((answer[0].host.0, ttl), (99, ELB_ALIAS_TTL), "the load balancer's nodes, with its 60 s TTL");
        let mut sick = At { alias_healthy: false, ..at(1) };
        assert_eq!(answer_from(&z, &mut sick), [2], "evaluate-target-health: an unhealthy load balancer fails over");
        let z = zone(Policy::Failover { primary: alias(false), secondary: target(2, None) }, &[]);
        assert_eq!(answer_from(&z, &mut At { alias_healthy: false, ..at(1) }), [99], "without it, the alias always counts healthy");
    }

    #[test]
    fn each_check_kind_has_its_criteria_and_budget() {
        let reply = |status: u16, body: Option<&str>| HealthReply { seq: 0, status, body: body.map(Arc::from) };
        let cases: Vec<(&str, CheckKind, HealthReply, bool)> = vec![
            ("HTTP: 200 passes", CheckKind::Http, reply(200, None), true),
            ("HTTP: 3xx passes", CheckKind::Http, reply(302, None), true),
            ("HTTP: 500 fails", CheckKind::Http, reply(500, None), false),
            ("HTTPS: the same criteria", CheckKind::Https, reply(503, None), false),
            ("TCP: a connection is enough, whatever the status", CheckKind::Tcp, reply(500, None), true),
            ("string match: found", CheckKind::StringMatch("ready".into()), reply(200, Some("status: ready")), true),
            ("string match: missing", CheckKind::StringMatch("ready".into()), reply(200, Some("status: draining")), false),
            ("string match: no body", CheckKind::StringMatch("ready".into()), reply(200, None), false),
            ("string match: found but 500", CheckKind::StringMatch("ready".into()), reply(500, Some("ready")), false),
            (
                "string match: only the first 5,120 bytes count",
                CheckKind::StringMatch("ready".into()),
                reply(200, Some(&format!("{}ready", "x".repeat(STRING_MATCH_BYTES)))),
                false,
            ),
        ];
        for (rule, kind, r, want) in cases {
            assert_eq!(kind.passes(&r), want, "{rule}");
        }
        assert_eq!(CheckKind::Http.timeout(), 6_000_000_000, "4 s to connect, 2 s for the status");
        assert_eq!(CheckKind::Tcp.timeout(), 10_000_000_000, "10 s to connect");
        assert_eq!(CheckKind::StringMatch(String::new()).timeout(), 8_000_000_000, "2 s more for the body");
    }
}
