//! Route 53: records with routing policies, health checks by a fleet of checkers, and the
//! delay before name servers answer with a change (reference/aws-semantics.md §6).
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
//!
//! Not modelled: latency-based records (they need measured latencies), alias records to load
//! balancers with evaluate-target-health, CloudWatch-alarm checks, string match, TCP checks'
//! 10 s connect budget.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use azsim_kernel::{Cx, Dist, HostId, Message, Nanos, Process, SimRng};

use crate::pick::Endpoint;
use crate::rpc::{HEALTH_CHECK_BYTES, HealthCheck, HealthReply};

/// A record's target: where its answer points, and the health check that guards it.
#[derive(Clone, Debug)]
pub struct RecordTarget {
    pub endpoints: Vec<Endpoint>,
    pub health_check: Option<String>,
}

/// A record set's routing policy.
#[derive(Clone, Debug)]
pub enum Policy {
    Simple(RecordTarget),
    Weighted(Vec<(u32, RecordTarget)>),
    Failover { primary: RecordTarget, secondary: RecordTarget },
    Multivalue(Vec<RecordTarget>),
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

/// A health check's settings.
#[derive(Clone, Debug)]
pub struct HealthCheckConfig {
    /// Probed at the first endpoint (an API's regional endpoint, a load balancer node).
    pub target: HostId,
    /// 10 s (fast) or 30 s (standard).
    pub interval: Nanos,
    /// 1 to 10; AWS's default 3.
    pub failure_threshold: u32,
}

/// How long a checker waits for an answer: 4 s to connect and 2 s for the status.
pub const PROBE_TIMEOUT: Nanos = 6_000_000_000;

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
        Route53(Arc::new(Mutex::new(State { records, checks, calculated: BTreeMap::new(), propagation, rng })))
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
                        config: HealthCheckConfig { target: HostId(u32::MAX), interval: 0, failure_threshold: 0 },
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

    /// What a resolver gets for `name` at `now`: the endpoints and the TTL. `None`: no such
    /// name (NXDOMAIN).
    pub fn resolve(&self, now: Nanos, rng: &mut SimRng, name: &str) -> Option<(Vec<Endpoint>, Nanos)> {
        let mut s = self.lock();
        let set = s.records.get(name)?.clone();
        let mut healthy = |t: &RecordTarget| t.health_check.as_ref().is_none_or(|c| Route53::published(&mut s, now, c));
        let answer = match &set.policy {
            Policy::Simple(t) => t.endpoints.clone(),
            Policy::Failover { primary, secondary } => {
                if healthy(primary) || !healthy(secondary) {
                    primary.endpoints.clone()
                } else {
                    secondary.endpoints.clone()
                }
            }
            Policy::Weighted(targets) => {
                let up: Vec<bool> = targets.iter().map(|(_, t)| healthy(t)).collect();
                let any_up = up.iter().any(|u| *u);
                // If none is healthy, all count as healthy; zero weights only if every
                // non-zero one is unhealthy.
                let live: Vec<(u32, &RecordTarget)> = targets.iter().zip(&up).filter(|(_, u)| **u || !any_up).map(|((w, t), _)| (*w, t)).collect();
                let nonzero: Vec<(u32, &RecordTarget)> = live.iter().copied().filter(|(w, _)| *w > 0).collect();
                let pool = if nonzero.is_empty() { live.iter().map(|(_, t)| (1, *t)).collect() } else { nonzero };
                let total: u64 = pool.iter().map(|(w, _)| u64::from(*w)).sum();
                let mut pick = rng.below(total.max(1));
                let mut chosen = pool.first().map(|(_, t)| t.endpoints.clone()).unwrap_or_default();
                for (w, t) in &pool {
                    if pick < u64::from(*w) {
                        chosen = t.endpoints.clone();
                        break;
                    }
                    pick -= u64::from(*w);
                }
                chosen
            }
            Policy::Multivalue(targets) => {
                let up: Vec<&RecordTarget> = targets.iter().filter(|t| healthy(t)).collect();
                let pool: Vec<&RecordTarget> = if up.is_empty() { targets.iter().collect() } else { up };
                pool.into_iter().take(8).flat_map(|t| t.endpoints.clone()).collect()
            }
        };
        Some((answer, set.ttl))
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

const ROUND: u64 = 0;
const TIMEOUT: u64 = 1;

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
            cx.set_timer(phase, (i as u64) << 1 | ROUND);
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, _from: HostId, msg: Message) {
        if let Ok(r) = msg.body.downcast::<HealthReply>() {
            let (check, seq) = ((r.seq >> 32) as usize, r.seq);
            self.result(cx, check, seq, r.passes());
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        if let Ok(hc) = msg.body.downcast::<HealthCheck>() {
            self.result(cx, (hc.seq >> 32) as usize, hc.seq, false);
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        let value = token >> 1;
        if token & 1 == TIMEOUT {
            return self.result(cx, (value >> 32) as usize, value, false);
        }
        let check = value as usize;
        let Some((_, c)) = self.checks.get(check) else { return };
        let (target, interval) = (c.target, c.interval);
        cx.set_timer(interval, (check as u64) << 1 | ROUND);
        if self.state[check].2.is_some() {
            return; // the previous probe is still out
        }
        self.seq += 1;
        let seq = (check as u64) << 32 | (self.seq & 0xffff_ffff);
        self.state[check].2 = Some(seq);
        cx.send(target, Message { request: None, bytes: HEALTH_CHECK_BYTES, body: Box::new(HealthCheck { seq }) });
        cx.set_timer(PROBE_TIMEOUT, seq << 1 | TIMEOUT);
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

    fn target(host: u32, check: Option<&str>) -> RecordTarget {
        RecordTarget { endpoints: vec![Endpoint { host: HostId(host), az: AzId(0) }], health_check: check.map(String::from) }
    }

    fn zone(policy: Policy, checks: &[&str]) -> Route53 {
        let records = BTreeMap::from([("api.example.com".to_string(), RecordSet { ttl: 60_000_000_000, policy })]);
        let checks = checks.iter().map(|c| (c.to_string(), HealthCheckConfig { target: HostId(0), interval: 10_000_000_000, failure_threshold: 3 })).collect();
        Route53::new(records, checks, 10, Dist::Fixed(0), Seed(1).stream("r53"))
    }

    fn down(z: &Route53, check: &str, checkers: usize) {
        for i in 0..checkers {
            z.report(0, check, i, false);
        }
    }

    fn answer(z: &Route53) -> Vec<u32> {
        let mut rng = Seed(2).stream("resolver");
        z.resolve(1, &mut rng, "api.example.com").unwrap().0.iter().map(|e| e.host.0).collect()
    }

    /// One case per rule of reference/aws-semantics.md §6.1.
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
        let checks = BTreeMap::from([("p".to_string(), HealthCheckConfig { target: HostId(0), interval: 10_000_000_000, failure_threshold: 3 })]);
        let z = Route53::new(records, checks, 1, Dist::Fixed(30_000_000_000), Seed(1).stream("r53"));
        z.report(5_000_000_000, "p", 0, false);
        let mut rng = Seed(2).stream("resolver");
        let at = |t: u64, rng: &mut SimRng| z.resolve(t, rng, "api.example.com").unwrap().0[0].host.0;
        assert_eq!(at(34_999_999_999, &mut rng), 1, "not yet published");
        assert_eq!(at(35_000_000_000, &mut rng), 2, "published 30 s after the change");
        assert!(z.resolve(0, &mut rng, "other.example.com").is_none(), "NXDOMAIN");
    }
}
