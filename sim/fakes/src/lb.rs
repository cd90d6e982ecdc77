//! A load-balancer node (one per enabled AZ), its health checks, and the DNS view of the load
//! balancer that clients resolve.
//!
//! Behaviour (`sim/fakes/FIDELITY.md`, ELB, TG, ALB and NLB rows):
//! - ALB: cross-zone always on; round robin over healthy targets of every AZ.
//! - NLB: cross-zone off by default (then only targets in the node's AZ); zonal DNS names.
//! - Each node checks each target on its own (interval, timeout, thresholds); a new target must
//!   pass one check; routing failover (fail-open): with fewer healthy candidates than the
//!   threshold (default 1), route to all candidates.
//! - Targets come from the [`TargetRegistry`], which each node reads within a second of a
//!   change (AWS does not document the propagation time); a deregistered target gets no new
//!   requests and, once the deregistration delay (default 300 s) has passed, is dropped:
//!   requests still in flight to it get 502.
//! - DNS: a node is published while it is up and while its target group has at least the DNS
//!   failover threshold of healthy candidates (default 1 for both kinds), unless no node
//!   qualifies: then every node (fail-open). Clients cache the answer for the TTL (60 s).
//!   Route 53's evaluate-target-health reads the same view ([`LbDirectory::targets_healthy`]).
//! - Health checks pass on the health check's success codes ([`Matcher`]: ALB `200`, NLB
//!   `200-399`).
//! - Connections to targets (ALB): pooled with keep-alive, as AWS documents ("the load balancer
//!   ... reuses connections to targets"; HTTP/1.1, no pipelining), idle ones closed after the
//!   idle timeout (default 60 s, 1 to 4000 s), see `conn.rs`: a new connection costs a round
//!   trip; a target whose keep-alive is shorter than the idle timeout closes connections the
//!   node may be about to use, and a request that meets the close gets 502; a target that does
//!   not answer the SYN within 10 s (black-holed) gets 504, whatever the idle timeout
//!   (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html>).
//! - NLB flows ([`flows`]): a caller that connects (API Gateway's VPC link) gets a target per
//!   connection, kept for the connection's life; a node with no target drops the SYN (the
//!   caller's kernel retransmits it); a flow idle for the idle timeout (350 s) is forgotten
//!   and a later packet on it gets RST. Callers that send requests as messages (clients, for
//!   now) are passed through per request.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use azsim_kernel::{AzId, Cx, Dist, HostId, Message, Nanos, Packer, Process, RequestId, TimerToken, Unpacker};

pub mod flows;

pub use flows::{FlowStats, Flows};

use crate::conn::{Accepted, Acquired, ConnKey, ConnStats, KeepAlive, Pool, Taken};
use crate::deadline::Deadlines;
use crate::matcher::Matcher;
use crate::pick::{Endpoint, weighted_index};
use crate::rpc::{self, Body, Request};
use crate::rules::{self, Action, Rule};
use crate::targets::TargetRegistry;

/// Target health-check settings (AWS defaults: 30 s interval, 5 s timeout, 5 healthy, 2
/// unhealthy; success codes: ALB `200`, NLB `200-399`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthCheckConfig {
    pub interval: Nanos,
    pub timeout: Nanos,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// The statuses that pass (`Matcher.HttpCode`); any other answer is a failed check.
    pub matcher: Matcher,
}

impl Default for HealthCheckConfig {
    /// An ALB's ([`crate::defaults::alb::HEALTH_CHECK`]).
    fn default() -> Self {
        crate::defaults::alb::HEALTH_CHECK
    }
}

#[derive(Clone, Debug)]
struct NodeEntry {
    host: HostId,
    az: AzId,
    serving: bool,
    /// Per target group, as this node sees it: whether it has targets, and a healthy one.
    groups: Vec<(bool, bool)>,
}

#[derive(Clone, Debug)]
struct LbRecord {
    routing: ClientRouting,
    empty_groups: EmptyTargetGroups,
    /// How long a dead node stays in DNS ([`crate::defaults::elb::DNS_REMOVAL_DELAY`]).
    dns_removal_delay: Nanos,
    nodes: Vec<NodeEntry>,
}

/// How a target group without registered targets counts when Route 53 evaluates a load
/// balancer's target health ([`crate::defaults::elb::EMPTY_TARGET_GROUPS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyTargetGroups {
    /// The load balancer is unhealthy while a group is empty (AWS's current page).
    Unhealthy,
    /// Empty groups are ignored (older pages).
    Healthy,
}

/// The DNS of every load balancer: which node addresses a name resolves to.
#[derive(Clone, Debug, Default)]
pub struct LbDirectory(Arc<Mutex<BTreeMap<String, LbRecord>>>);

impl LbDirectory {
    /// Adds a node of load balancer `lb`.
    pub fn register_node(&self, lb: &str, host: HostId, az: AzId) {
        let mut map = self.0.lock().expect("directory lock");
        let rec = map.entry(lb.to_string()).or_insert(LbRecord {
            routing: ClientRouting::default(),
            empty_groups: crate::defaults::elb::EMPTY_TARGET_GROUPS,
            dns_removal_delay: crate::defaults::elb::DNS_REMOVAL_DELAY,
            nodes: Vec::new(),
        });
        rec.nodes.push(NodeEntry { host, az, serving: true, groups: Vec::new() });
    }

    /// Sets the DNS client routing policy of `lb` (NLB).
    pub fn set_client_routing(&self, lb: &str, routing: ClientRouting) {
        if let Some(rec) = self.0.lock().expect("directory lock").get_mut(lb) {
            rec.routing = routing;
        }
    }

    /// Sets how `lb`'s empty target groups count to evaluate-target-health.
    pub fn set_empty_target_groups(&self, lb: &str, empty: EmptyTargetGroups) {
        if let Some(rec) = self.0.lock().expect("directory lock").get_mut(lb) {
            rec.empty_groups = empty;
        }
    }

    /// Sets how long a dead node of `lb` stays in DNS.
    pub fn set_dns_removal_delay(&self, lb: &str, delay: Nanos) {
        if let Some(rec) = self.0.lock().expect("directory lock").get_mut(lb) {
            rec.dns_removal_delay = delay;
        }
    }

    fn set_serving(&self, lb: &str, host: HostId, serving: bool, groups: Vec<(bool, bool)>) {
        let mut map = self.0.lock().expect("directory lock");
        if let Some(n) = map.get_mut(lb).and_then(|r| r.nodes.iter_mut().find(|n| n.host == host)) {
            n.serving = serving;
            n.groups = groups;
        }
    }

    /// Whether `lb` is healthy as Route 53's evaluate-target-health sees it: every target
    /// group that has targets has a healthy one (by any live node's checks); a group without
    /// targets (draining ones do not count) makes it unhealthy, or is ignored, as
    /// [`EmptyTargetGroups`] says. No live node: unhealthy.
    pub fn targets_healthy(&self, cx: &Cx<'_>, lb: &str) -> bool {
        let map = self.0.lock().expect("directory lock");
        let Some(rec) = map.get(lb) else { return false };
        let live: Vec<&NodeEntry> = rec.nodes.iter().filter(|n| cx.host_is_up(n.host)).collect();
        let groups = live.iter().map(|n| n.groups.len()).max().unwrap_or(0);
        let empty_is_healthy = rec.empty_groups == EmptyTargetGroups::Healthy;
        !live.is_empty()
            && (0..groups).all(|g| {
                let seen: Vec<(bool, bool)> = live.iter().filter_map(|n| n.groups.get(g).copied()).collect();
                let empty = !seen.iter().any(|(has, _)| *has);
                if empty { empty_is_healthy } else { seen.iter().any(|(_, healthy)| *healthy) }
            })
    }

    /// `lb`'s node in `az`, whatever DNS says of it (a PrivateLink endpoint's network interface
    /// reaches the node in its own AZ).
    pub fn node_in(&self, lb: &str, az: AzId) -> Option<HostId> {
        let map = self.0.lock().expect("directory lock");
        map.get(lb)?.nodes.iter().find(|n| n.az == az).map(|n| n.host)
    }

    /// The nodes `lb`'s regional name (or, with `zone`, its zonal name) resolves to now, for a
    /// client resolving from `cx`'s host (whose AZ the client routing policy prefers).
    pub fn resolve(&self, cx: &mut Cx<'_>, lb: &str, zone: Option<AzId>) -> Vec<Endpoint> {
        let map = self.0.lock().expect("directory lock");
        let Some(rec) = map.get(lb) else { return Vec::new() };
        // ELB's control plane watches its own nodes: a dead node leaves DNS once it has been
        // dead for the removal delay (default 0: at once).
        let delay = rec.dns_removal_delay;
        let up: Vec<&NodeEntry> = rec.nodes.iter().filter(|n| cx.host_down_for(n.host).is_none_or(|down| down < delay)).collect();
        // Nodes below their DNS failover threshold leave DNS, unless every node is: then all
        // of them are served (fail-open).
        let healthy: Vec<&NodeEntry> = up.iter().copied().filter(|n| n.serving).collect();
        let serving = if healthy.is_empty() { up } else { healthy };
        let mut zone = zone;
        let own = cx.az();
        if zone.is_none() && rec.routing.own_az_share > 0.0 && serving.iter().any(|n| n.az == own) && cx.rng().next_f64() < rec.routing.own_az_share {
            zone = Some(own);
        }
        serving.into_iter().filter(|n| zone.is_none_or(|z| n.az == z)).map(|n| Endpoint { host: n.host, az: n.az }).collect()
    }
}

/// A node's configuration.
#[derive(Clone, Debug)]
pub struct LbNodeConfig {
    pub lb: String,
    /// Target group names in the registry: the default action's first, then the groups that
    /// listener rules forward to (by index).
    pub groups: Vec<String>,
    pub registry: TargetRegistry,
    /// How long a deregistered target drains (AWS default 300 s).
    pub deregistration_delay: Nanos,
    /// Routing failover: with fewer healthy candidates than this, route to every candidate
    /// (AWS default 1: only when none is healthy).
    pub routing_failover_min_healthy: u32,
    /// DNS failover: with fewer healthy candidates than this, the node leaves DNS (`None`: off;
    /// an NLB's AZ without a healthy target leaves DNS, i.e. 1).
    pub dns_failover_min_healthy: Option<u32>,
    pub cross_zone: bool,
    /// NLB: targets see the client's address; ALB: the node's.
    pub preserve_client_ip: bool,
    /// ALB: answer 400 to oversized request heads (16 KiB per line, 64 KiB in all).
    pub header_limits: bool,
    pub processing: Dist,
    pub health: HealthCheckConfig,
    /// How long the node waits for a target's answer before answering 504 (ALB idle timeout:
    /// 60 s).
    pub target_timeout: Nanos,
    pub algorithm: LbAlgorithm,
    pub directory: LbDirectory,
    /// ALB listener rules, sorted by priority.
    pub rules: Vec<Rule>,
    /// CPU time for a full TLS handshake with a caller.
    pub tls_handshake_cpu: Nanos,
}

/// How a node picks among eligible targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LbAlgorithm {
    /// ALB's default; also how this fake spreads an NLB's connections (its flow hash spreads
    /// new connections evenly).
    #[default]
    RoundRobin,
    /// ALB `least_outstanding_requests`: fewest requests in flight from this node (ties: the
    /// first in round-robin order).
    LeastOutstandingRequests,
    /// ALB `weighted_random` with equal weights.
    WeightedRandom,
}

/// NLB DNS client routing policy: the share of answers that carry only the client's own AZ's
/// node (0, 0.85 or 1).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClientRouting {
    pub own_az_share: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Health {
    Initial,
    Healthy,
    Unhealthy,
}

#[derive(Clone, Debug)]
struct TargetState {
    health: Health,
    ok_streak: u32,
    fail_streak: u32,
    probe: Option<u64>,
}

impl TargetState {
    fn new() -> Self {
        TargetState { health: Health::Initial, ok_streak: 0, fail_streak: 0, probe: None }
    }
    fn healthy() -> Self {
        TargetState { health: Health::Healthy, ..TargetState::new() }
    }
}

struct Pending {
    id: RequestId,
    req: Request,
    /// The target it was forwarded to, once it was.
    target: Option<HostId>,
    /// The pooled connection it goes (or went) on.
    conn: Option<u64>,
    /// NLB: the client's flow it came on (its number; `target` is the flow's target).
    flow: Option<u64>,
    /// ALB: the caller's connection it came on (`None`: a plain message).
    client_conn: Option<ConnKey>,
}

/// A node's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LbTimer {
    /// Time to probe every target.
    ProbeRound,
    /// A deregistration delay has run out.
    DrainDone,
    /// Time to look for target changes.
    PollTargets,
    /// The probe `seq` (see [`probe_seq`]) went unanswered.
    ProbeTimeout { seq: u64 },
    /// The node's processing of request `call` is done: time to route it.
    Processed { call: u64 },
    /// The target-deadline sweep ([`Deadlines`]).
    TargetTimeout,
    /// Idle target connections are due to close ([`Pool`]).
    ConnSweep,
    /// Connection attempts to targets are due a SYN retransmission or to be given up
    /// ([`Pool::connect_timer`]).
    ConnectTimeout,
    /// Idle flows are due to be forgotten ([`Flows`]).
    FlowSweep,
    /// Callers' connections idle for the idle timeout are due to close ([`Accepted`]).
    ClientConnSweep,
}

const TIMER_KIND_BITS: u32 = 4;

impl TimerToken for LbTimer {
    fn into_token(self) -> u64 {
        let (kind, value) = match self {
            LbTimer::ProbeRound => (0, 0),
            LbTimer::DrainDone => (1, 0),
            LbTimer::PollTargets => (2, 0),
            LbTimer::ProbeTimeout { seq } => (3, seq),
            LbTimer::Processed { call } => (4, call),
            LbTimer::TargetTimeout => (5, 0),
            LbTimer::ConnSweep => (6, 0),
            LbTimer::ConnectTimeout => (7, 0),
            LbTimer::FlowSweep => (8, 0),
            LbTimer::ClientConnSweep => (9, 0),
        };
        Packer::new().put(kind, TIMER_KIND_BITS).put(value, 64 - TIMER_KIND_BITS).finish()
    }
    fn from_token(token: u64) -> Self {
        let mut fields = Unpacker::new(token);
        let (kind, value) = (fields.take(TIMER_KIND_BITS), fields.take(64 - TIMER_KIND_BITS));
        match kind {
            0 => LbTimer::ProbeRound,
            1 => LbTimer::DrainDone,
            2 => LbTimer::PollTargets,
            3 => LbTimer::ProbeTimeout { seq: value },
            4 => LbTimer::Processed { call: value },
            5 => LbTimer::TargetTimeout,
            6 => LbTimer::ConnSweep,
            7 => LbTimer::ConnectTimeout,
            8 => LbTimer::FlowSweep,
            9 => LbTimer::ClientConnSweep,
            _ => unreachable!("not a load balancer timer: {token}"),
        }
    }
}

/// A probe's sequence number: the round and the target (whose reply finds it again).
fn probe_seq(round: u64, target: HostId) -> u64 {
    Packer::new().put(u64::from(target.0), 32).put(round, 32).finish()
}

/// The target a probe went to.
fn probe_target(seq: u64) -> HostId {
    HostId(Unpacker::new(seq).take(32) as u32)
}

/// How soon a node learns of registrations and deregistrations. AWS does not document how
/// fast the control plane propagates them; here, within a second.
const TARGET_POLL_INTERVAL: Nanos = 1_000_000_000;

/// One node of a load balancer.
pub struct LbNode {
    config: LbNodeConfig,
    /// Every target group's targets, one after another; `groups` slices it. Health and
    /// outstanding counts are per (group, target), as AWS routes each group independently.
    endpoints: Vec<Endpoint>,
    groups: Vec<std::ops::Range<usize>>,
    targets: Vec<TargetState>,
    /// Set while a target drains: when its deregistration delay runs out.
    draining: Vec<Option<Nanos>>,
    index_of: BTreeMap<HostId, usize>,
    /// The registry version `endpoints` reflects.
    seen: Option<u64>,
    round: u64,
    rr: usize,
    pending: BTreeMap<u64, Pending>,
    next: u64,
    target_deadlines: Deadlines,
    /// Requests in flight to each target (for least outstanding requests).
    outstanding: Vec<u32>,
    /// Keep-alive connections to targets (when pooled).
    pool: Option<Pool>,
    /// NLB: the flow table of connecting callers.
    flows: Option<Flows>,
    /// ALB: callers' connections to the node (clients, CloudFront), each closed after the
    /// idle timeout (the same setting as toward targets: AWS applies it to "client or target"
    /// connections).
    clients: Accepted,
    pub usage: LbUsage,
}

/// What a node did that its load balancer's capacity units are billed on (beside connections
/// and bytes, which [`LbNode::client_connections`] and the network's accounting give).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LbUsage {
    /// Requests the node admitted that came as messages, on no connection the node kept, by the
    /// host that sent them (a client without `connections` stands for one that opens a
    /// connection per request).
    pub without_connection: BTreeMap<HostId, u64>,
    /// Listener rules processed beyond the first 10 of each request.
    pub billable_rule_evaluations: u64,
}

impl LbNode {
    pub fn new(config: LbNodeConfig) -> Self {
        LbNode {
            pool: None,
            flows: None,
            clients: Accepted::new(KeepAlive::Timeout(config.target_timeout)).with_handshake_cpu(config.tls_handshake_cpu),
            usage: LbUsage::default(),
            config,
            endpoints: Vec::new(),
            groups: Vec::new(),
            targets: Vec::new(),
            draining: Vec::new(),
            index_of: BTreeMap::new(),
            seen: None,
            round: 0,
            rr: 0,
            pending: BTreeMap::new(),
            next: 0,
            target_deadlines: Deadlines::default(),
            outstanding: Vec::new(),
        }
    }

    /// Keeps connections to targets with keep-alive, closing idle ones after the target
    /// timeout (an ALB's idle timeout) and giving up a connection attempt after the ALB's
    /// connect timeout (10 s, [`crate::defaults::alb::CONNECT_TIMEOUT`]: 504). Without it,
    /// requests pass through as messages (an NLB, and targets that are not simulated services).
    pub fn with_pooled_targets(mut self) -> Self {
        self.pool = Some(Pool::new(self.config.target_timeout, crate::defaults::alb::CONNECT_TIMEOUT));
        self
    }

    /// Routes connecting callers' connections as an NLB does: a target per flow, flows idle
    /// for the target timeout (the NLB's idle timeout) forgotten.
    pub fn with_flows(mut self) -> Self {
        self.flows = Some(Flows::new(self.config.target_timeout));
        self
    }

    /// What slow start cost this node's answers on callers' connections (an ALB node's).
    pub fn slow_start_stats(&self) -> crate::SlowStartStats {
        self.clients.stats
    }

    /// The connections callers opened to this node and how long they stayed open (an ALB
    /// node; an NLB's connections are its [`LbNode::flow_stats`]).
    pub fn client_connections(&self) -> crate::ConnUsage {
        self.clients.usage
    }

    /// What this node's flows did (zeros for an ALB node).
    pub fn flow_stats(&self) -> FlowStats {
        self.flows.as_ref().map(|f| f.stats).unwrap_or_default()
    }

    /// The flows callers opened through this node and how long they lasted (an NLB node).
    pub fn flow_usage(&self) -> crate::ConnUsage {
        self.flows.as_ref().map(|f| f.usage).unwrap_or_default()
    }

    /// Whether this node keeps connections to its targets.
    pub fn pools_targets(&self) -> bool {
        self.pool.is_some()
    }

    /// What this node's target connections did (zeros when it does not pool them).
    pub fn conn_stats(&self) -> ConnStats {
        self.pool.as_ref().map(|p| p.stats).unwrap_or_default()
    }

    /// Pending request `call` (removed) ends with `status` from the node itself; its
    /// connection, if any, is given up (and closed at the target, unless `refused`: the target
    /// is gone).
    fn fail_pending(&mut self, cx: &mut Cx<'_>, call: u64, status: u16, refused: bool) {
        let Some(p) = self.pending.remove(&call) else { return };
        self.settle_target(p.target);
        if let (Some(pool), Some(conn)) = (self.pool.as_mut(), p.conn) {
            match refused {
                true => drop(pool.abandon(conn)), // the target is gone: nothing to close there
                false => pool.give_up(cx, conn),
            }
        }
        self.reply(cx, &p, status, 0);
    }

    /// Request `id` arrived (on the caller's connection `conn`, if any): processed, then
    /// routed; an ALB answers 400 itself to a request line or header line over 16 KiB, or a
    /// head over 64 KiB (an NLB passes bytes through).
    fn admit(&mut self, cx: &mut Cx<'_>, id: RequestId, req: Request, conn: Option<ConnKey>) {
        let (line, largest, total) = req.http.head_sizes();
        let p = Pending { id, req, target: None, conn: None, flow: None, client_conn: conn };
        if self.config.header_limits && (line > 16 * 1024 || largest > 16 * 1024 || total > 64 * 1024) {
            return self.reply(cx, &p, 400, 0);
        }
        self.next += 1;
        if conn.is_none() {
            *self.usage.without_connection.entry(p.req.source).or_default() += 1;
        }
        self.pending.insert(self.next, p);
        let t = self.config.processing.sample(cx.rng());
        cx.set_timer(t, LbTimer::Processed { call: self.next });
    }

    /// Answers pending request `p` (removed) with `status` and `bytes`, on the caller's
    /// connection if it came on one.
    fn reply(&mut self, cx: &mut Cx<'_>, p: &Pending, status: u16, bytes: u64) {
        self.clients.reply(cx, p.req.reply_to, p.client_conn, (p.id, p.req.call_id), (status, bytes), LbTimer::ClientConnSweep);
    }

    /// What the node sends its target for pending request `p`.
    fn outgoing(&self, me: HostId, call: u64, p: &Pending) -> Request {
        Request {
            reply_to: me,
            call_id: call,
            request_bytes: p.req.request_bytes,
            response_bytes: p.req.response_bytes,
            chain_azs: Vec::new(),
            http: p.req.http.clone(),
            source: if self.config.preserve_client_ip { p.req.source } else { me },
        }
    }

    /// The SYN-ACK of `conn` arrived from `target`: the request it was opened for goes with the
    /// ACK; if that request ended meanwhile, the connection waits idle for the next.
    fn connected(&mut self, cx: &mut Cx<'_>, target: HostId, conn: u64) {
        let Some(pool) = self.pool.as_mut() else { return };
        let Some(call) = pool.established(conn) else {
            cx.send(target, Body::fin(conn)); // given up meanwhile: close it at the target too
            return;
        };
        match self.pending.get(&call) {
            Some(p) => {
                let fwd = self.outgoing(cx.host(), call, p);
                cx.send(target, Body::on_conn(p.id, conn, fwd));
                self.target_deadlines.add(cx, call, self.config.target_timeout, LbTimer::TargetTimeout);
            }
            None => {
                pool.release(cx, conn, false, LbTimer::ConnSweep);
            }
        }
    }

    /// Re-reads the target groups if they changed (or `force`, when a drain ran out): keeps
    /// each known target's health and load, starts new ones in `initial`, drops targets whose
    /// deregistration delay is over, and answers 502 to requests still in flight to them.
    fn sync(&mut self, cx: &mut Cx<'_>, force: bool) {
        let version = self.config.registry.version();
        if !force && self.seen == Some(version) {
            return;
        }
        self.seen = Some(version);
        let now = cx.now();
        let delay = self.config.deregistration_delay;
        let mut old: BTreeMap<HostId, (TargetState, u32)> = BTreeMap::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            old.insert(e.host, (self.targets[i].clone(), self.outstanding[i]));
        }
        let (mut endpoints, mut groups, mut targets, mut outstanding, mut draining) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut next_drain_end: Option<Nanos> = None;
        for name in &self.config.groups {
            let start = endpoints.len();
            for r in self.config.registry.targets(name) {
                let drain_end = r.deregistered_at.map(|t| t.saturating_add(delay));
                if drain_end.is_some_and(|end| end <= now) {
                    continue;
                }
                if let Some(end) = drain_end {
                    next_drain_end = Some(next_drain_end.map_or(end, |n: Nanos| n.min(end)));
                }
                let (state, load) = old.get(&r.endpoint.host).cloned().unwrap_or((TargetState::new(), 0));
                endpoints.push(r.endpoint);
                targets.push(state);
                outstanding.push(load);
                draining.push(drain_end);
            }
            groups.push(start..endpoints.len());
        }
        self.index_of = endpoints.iter().enumerate().map(|(i, e)| (e.host, i)).collect();
        (self.endpoints, self.groups, self.targets, self.outstanding, self.draining) = (endpoints, groups, targets, outstanding, draining);
        if let Some(end) = next_drain_end {
            cx.set_timer(end - now, LbTimer::DrainDone);
        }
        // The deregistration delay ran out with requests in flight: 502.
        let gone: Vec<u64> = self.pending.iter().filter(|(_, p)| p.target.is_some_and(|h| !self.index_of.contains_key(&h))).map(|(k, _)| *k).collect();
        for key in gone {
            self.fail_pending(cx, key, 502, false);
        }
        self.publish(cx);
    }

    fn is_candidate(&self, i: usize, my_az: AzId) -> bool {
        (self.config.cross_zone || self.endpoints[i].az == my_az) && self.draining[i].is_none()
    }

    fn healthy_candidates(&self, range: std::ops::Range<usize>, my_az: AzId) -> u32 {
        range.filter(|i| self.is_candidate(*i, my_az) && self.targets[*i].health == Health::Healthy).count() as u32
    }

    /// Picks among the healthy candidates, or among every candidate when fewer are healthy
    /// than the routing failover threshold (fail-open). Allocation-free: it runs once per
    /// request.
    fn route(&mut self, group: usize, my_az: AzId, rng: &mut azsim_kernel::SimRng) -> Option<usize> {
        let range = self.groups.get(group)?.clone();
        let (base, n) = (range.start, range.len());
        let healthy_count = self.healthy_candidates(range.clone(), my_az);
        let fail_open = healthy_count < self.config.routing_failover_min_healthy.max(1);
        let eligible = |i: &usize| self.is_candidate(*i, my_az) && (fail_open || self.targets[*i].health == Health::Healthy);
        let count = range.clone().filter(eligible).count();
        if count == 0 {
            return None;
        }
        let turn = self.rr;
        let chosen = match self.config.algorithm {
            LbAlgorithm::RoundRobin => range.clone().filter(eligible).nth(turn % count),
            LbAlgorithm::WeightedRandom => range.clone().filter(eligible).nth(rng.below(count as u64) as usize),
            // Rotate the starting point so ties spread as round robin would.
            LbAlgorithm::LeastOutstandingRequests => (0..n).map(|k| base + (turn + k) % n).filter(eligible).min_by_key(|i| self.outstanding[*i]),
        };
        self.rr = self.rr.wrapping_add(1);
        chosen
    }

    /// Runs the listener rules on pending request `value`: the target group to forward to, or
    /// `None` when the node answered itself (fixed response, redirect).
    fn listener_action(&mut self, cx: &mut Cx<'_>, value: u64) -> Option<usize> {
        let p = self.pending.get(&value)?;
        let source = cx.topology().host(p.req.source).ip;
        let evaluated = rules::evaluate(&self.config.rules, &p.req.http, source);
        // AWS bills rule evaluations beyond the first 10 a request.
        self.usage.billable_rule_evaluations += u64::from(evaluated.processed.saturating_sub(10));
        match evaluated.action {
            None => Some(0),
            Some(Action::Forward(groups)) => {
                let i = weighted_index(cx.rng(), groups.iter().map(|(_, w)| *w)).unwrap_or(0);
                groups.get(i).map(|(g, _)| *g)
            }
            Some(Action::FixedResponse { status, bytes }) => {
                let (status, bytes) = (*status, *bytes);
                let p = self.pending.remove(&value)?;
                self.reply(cx, &p, status, bytes);
                None
            }
            Some(Action::Redirect { status }) => {
                let status = *status;
                let p = self.pending.remove(&value)?;
                self.reply(cx, &p, status, 0);
                None
            }
        }
    }

    fn settle_target(&mut self, target: Option<HostId>) {
        if let Some(i) = target.and_then(|h| self.index_of.get(&h)) {
            self.outstanding[*i] = self.outstanding[*i].saturating_sub(1);
        }
    }

    /// Tells DNS whether this node meets the DNS failover threshold (the default target group's
    /// healthy candidates).
    fn publish(&self, cx: &Cx<'_>) {
        let serving = match (self.config.dns_failover_min_healthy, self.groups.first()) {
            (Some(min), Some(range)) => self.healthy_candidates(range.clone(), cx.az()) >= min.max(1),
            _ => true,
        };
        let groups = self
            .groups
            .iter()
            .map(|r| {
                let live = r.clone().filter(|i| self.draining[*i].is_none());
                (live.clone().next().is_some(), live.clone().any(|i| self.targets[i].health == Health::Healthy))
            })
            .collect();
        self.config.directory.set_serving(&self.config.lb, cx.host(), serving, groups);
    }

    fn probe_round(&mut self, cx: &mut Cx<'_>) {
        self.sync(cx, false);
        self.round += 1;
        for (i, t) in self.targets.iter_mut().enumerate() {
            if t.probe.is_some() {
                continue; // still waiting on the previous probe
            }
            let seq = probe_seq(self.round, self.endpoints[i].host);
            t.probe = Some(seq);
            cx.send(self.endpoints[i].host, Body::health_check(seq));
            cx.set_timer(self.config.health.timeout, LbTimer::ProbeTimeout { seq });
        }
        cx.set_timer(self.config.health.interval, LbTimer::ProbeRound);
    }

    fn probe_result(&mut self, cx: &mut Cx<'_>, seq: u64, ok: bool) {
        let host = probe_target(seq);
        let hc = self.config.health;
        let Some(t) = self.index_of.get(&host).and_then(|i| self.targets.get_mut(*i)) else { return };
        if t.probe != Some(seq) {
            return;
        }
        t.probe = None;
        if ok {
            t.ok_streak += 1;
            t.fail_streak = 0;
            if t.health == Health::Initial || t.ok_streak >= hc.healthy_threshold {
                t.health = Health::Healthy;
            }
        } else {
            t.fail_streak += 1;
            t.ok_streak = 0;
            if t.fail_streak >= hc.unhealthy_threshold {
                t.health = Health::Unhealthy;
            }
        }
        // This node's verdict, as ELB reports target health (ECS reads it).
        let verdict = match t.health {
            Health::Initial => None,
            h => Some(h == Health::Healthy),
        };
        let i = self.index_of[&host];
        if let Some(g) = self.groups.iter().position(|r| r.contains(&i)) {
            self.config.registry.report_health(&self.config.groups[g], host, cx.host(), verdict);
        }
        self.publish(cx);
    }

    /// A SYN from `client`'s connection `conn`: a retransmission goes where the first SYN went;
    /// a new flow gets a target, or, with none (no healthy or fail-open candidate), nothing:
    /// the SYN is dropped and the client's kernel tries again.
    fn flow_syn(&mut self, cx: &mut Cx<'_>, client: HostId, conn: u64) {
        let key = (client, conn);
        if let Some((flow, target)) = self.flows.as_mut().and_then(|f| f.from_client(cx, key, LbTimer::FlowSweep)) {
            cx.send(target, Body::syn(flow));
            return;
        }
        self.sync(cx, false);
        let chosen = self.route(0, cx.az(), cx.rng());
        let flows = self.flows.as_mut().expect("flow_syn is for NLB nodes");
        match chosen {
            None => flows.stats.syns_dropped += 1,
            Some(i) => {
                let target = self.endpoints[i].host;
                let flow = flows.open(cx, key, target, LbTimer::FlowSweep);
                cx.send(target, Body::syn(flow));
            }
        }
    }

    /// A FIN or RST from `from` on connection `conn` ends its flow and passes to the other
    /// side: from the client, to the target on the flow's connection; from the target, to the
    /// client on its own. `rst`: an RST for request `rst` (or none), else a FIN.
    fn flow_end(&mut self, cx: &mut Cx<'_>, from: HostId, conn: u64, rst: Option<Option<RequestId>>) {
        let Some(flows) = self.flows.as_mut() else { return };
        let (to, to_conn, flow) = if let Some(flow) = flows.of_client((from, conn)) {
            let Some((_, target)) = flows.close(cx.now(), flow) else { return };
            (target, flow, flow)
        } else {
            // From the target (or about a flow the node forgot: nothing to pass on).
            let Some((client, _)) = flows.close_from_target(cx.now(), conn, from) else { return };
            (client.0, client.1, conn)
        };
        // Requests still on the flow end with it: the FIN or RST tells the client.
        self.pending.retain(|_, p| p.flow != Some(flow));
        cx.send(
            to,
            match rst {
                Some(id) => Body::rst(id, to_conn),
                None => Body::fin(to_conn),
            },
        );
    }

    /// The node has processed request `call`: picks a target and forwards it there (503 when
    /// there is none).
    fn route_pending(&mut self, cx: &mut Cx<'_>, call: u64) {
        // On a flow: its target, on the node's connection for it.
        if let Some(p) = self.pending.get(&call)
            && let (Some(flow), Some(target)) = (p.flow, p.target)
        {
            cx.send(target, Body::on_conn(p.id, flow, self.outgoing(cx.host(), call, p)));
            return;
        }
        self.sync(cx, false);
        let my_az = cx.az();
        let Some(group) = self.listener_action(cx, call) else { return };
        let Some(index) = self.route(group, my_az, cx.rng()) else {
            if let Some(p) = self.pending.remove(&call) {
                self.reply(cx, &p, 503, 0);
            }
            return;
        };
        let target = self.endpoints[index];
        let Some(p) = self.pending.get_mut(&call) else { return };
        p.target = Some(target.host);
        self.outstanding[index] += 1;
        let acquired = self.pool.as_mut().map(|pool| pool.acquire(cx, target.host, call, LbTimer::ConnectTimeout));
        p.conn = acquired.map(|(Acquired::Reused(conn) | Acquired::Opened(conn))| conn);
        let p = &self.pending[&call];
        match acquired {
            None => cx.send(target.host, rpc::request(p.id, self.outgoing(cx.host(), call, p))),
            Some(Acquired::Reused(conn)) => cx.send(target.host, Body::on_conn(p.id, conn, self.outgoing(cx.host(), call, p))),
            // The idle timeout starts once the request is on its way ([`LbNode::connected`]);
            // until then the connect timeout runs.
            Some(Acquired::Opened(conn)) => {
                cx.note_handshake(p.id);
                cx.send(target.host, Body::syn(conn));
                return;
            }
        }
        self.target_deadlines.add(cx, call, self.config.target_timeout, LbTimer::TargetTimeout);
    }
}

impl Process for LbNode {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        // Nodes are not synchronised: each probes on its own phase, drawn uniformly over the
        // interval from its own stream. A node that starts with the run finds its targets
        // healthy (they were registered and passing before the run began: the run starts in
        // steady state); one that restarts finds them `initial` until one passes a probe
        // (until then, fail-open routes to every target).
        let offset = cx.rng().below(self.config.health.interval.max(1));
        self.sync(cx, false);
        let start = if cx.now() == 0 { TargetState::healthy() } else { TargetState::new() };
        self.targets.iter_mut().for_each(|t| *t = start.clone());
        self.publish(cx);
        cx.set_timer(offset, LbTimer::ProbeRound);
        cx.set_timer(TARGET_POLL_INTERVAL, LbTimer::PollTargets);
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        let (id, bytes) = (msg.request, msg.bytes);
        let body = Body::of(msg);
        // A caller's connection to an ALB node (a FIN from a target is about the node's own
        // connection to it).
        let own_fin = self.pool.as_ref().is_some_and(|p| p.owns_fin(from, &body));
        let body = match self.flows.is_none() && !own_fin {
            true => match self.clients.take(cx, from, id, body, LbTimer::ClientConnSweep) {
                Taken::Serve(req, conn) => return self.admit(cx, id.expect("requests carry their id"), req, conn),
                Taken::Handled => return,
                Taken::Other(body) => body,
            },
            false => body,
        };
        match body {
            Body::Request(req) => self.admit(cx, id.expect("requests carry their id"), req, None),
            Body::Syn(seg) if self.flows.is_some() => self.flow_syn(cx, from, seg.conn),
            Body::ConnRequest(cr) if self.flows.is_some() => {
                let Some(id) = id else { return };
                let flows = self.flows.as_mut().expect("checked");
                let Some((flow, target)) = flows.from_client(cx, (from, cr.conn), LbTimer::FlowSweep) else {
                    // A flow the node forgot (idle past the timeout) or never knew: RST.
                    flows.stats.resets += 1;
                    cx.send(from, Body::rst(Some(id), cr.conn));
                    return;
                };
                self.next += 1;
                self.pending.insert(self.next, Pending { id, req: cr.req, target: Some(target), conn: None, flow: Some(flow), client_conn: None });
                let t = self.config.processing.sample(cx.rng());
                cx.set_timer(t, LbTimer::Processed { call: self.next });
            }
            Body::Response(resp) => {
                if let Some(p) = self.pending.remove(&resp.call_id) {
                    if let (Some(flows), Some(flow)) = (self.flows.as_mut(), p.flow) {
                        // The target closes the connection after its answer: so does the flow.
                        if resp.connection_close {
                            flows.close(cx.now(), flow);
                        } else {
                            flows.from_target(cx, flow, LbTimer::FlowSweep);
                        }
                        let reply = if resp.connection_close { rpc::response_closing } else { rpc::response };
                        cx.send(p.req.reply_to, reply(Some(p.id), p.req.call_id, resp.status, bytes));
                        return;
                    }
                    self.settle_target(p.target);
                    if let (Some(pool), Some(conn)) = (self.pool.as_mut(), p.conn) {
                        pool.release(cx, conn, resp.connection_close, LbTimer::ConnSweep);
                    }
                    // The target's answer, as large as it was.
                    self.reply(cx, &p, resp.status, bytes);
                }
            }
            Body::HealthReply(r) => self.probe_result(cx, r.seq, self.config.health.matcher.matches(r.status)),
            // A Route 53 health check of the load balancer's name: 200 while this node has a
            // healthy target it would route to, else 503 (ours: not routed on to a target).
            Body::HealthCheck(hc) => {
                let healthy = self.groups.first().is_some_and(|r| self.healthy_candidates(r.clone(), cx.az()) > 0);
                cx.send(from, Body::health_reply(rpc::HealthReply { seq: hc.seq, status: if healthy { 200 } else { 503 }, body: None }));
            }
            Body::SynAck(seg) if self.flows.is_some() => {
                if let Some((client, conn)) = self.flows.as_mut().and_then(|f| f.from_target(cx, seg.conn, LbTimer::FlowSweep)) {
                    cx.send(client, Body::syn_ack(conn));
                }
            }
            Body::SynAck(seg) => self.connected(cx, from, seg.conn),
            // A FIN passes to the other side and ends the flow.
            Body::Fin(seg) if self.flows.is_some() => self.flow_end(cx, from, seg.conn, None),
            Body::Fin(seg) => {
                if let Some(pool) = self.pool.as_mut() {
                    pool.server_closed(seg.conn);
                }
            }
            // The target reset the flow (a request on a connection it had closed): the RST
            // passes to the client.
            Body::Rst(seg) if self.flows.is_some() => self.flow_end(cx, from, seg.conn, Some(id)),
            // The target reset the connection under a request: 502 (AWS: "The target closed
            // the connection with a TCP RST or a TCP FIN while the load balancer had an
            // outstanding request to the target").
            Body::Rst(seg) => {
                if let Some(call) = self.pool.as_mut().and_then(|pool| pool.reset(seg.conn)) {
                    self.fail_pending(cx, call, 502, true);
                }
            }
            _ => {}
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, to: HostId, msg: Message) {
        let id = msg.request;
        match Body::of(msg) {
            // The target refused the flow's connection (or a request on it: its process is
            // gone): the client gets the RST.
            Body::Syn(seg) if self.flows.is_some() => self.flow_end(cx, to, seg.conn, Some(None)),
            Body::ConnRequest(cr) if self.flows.is_some() => self.flow_end(cx, to, cr.conn, Some(id)),
            // The target refused the connection: 502 (AWS: "the load balancer received a TCP
            // RST from the target when attempting to establish a connection").
            Body::Request(req) | Body::ConnRequest(crate::conn::ConnRequest { req, .. }) => self.fail_pending(cx, req.call_id, 502, true),
            Body::Syn(seg) => {
                let call = self.pending.iter().find(|(_, p)| p.conn == Some(seg.conn)).map(|(call, _)| *call);
                if let Some(call) = call {
                    self.fail_pending(cx, call, 502, true);
                }
            }
            Body::HealthCheck(hc) => self.probe_result(cx, hc.seq, false),
            _ => {}
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        match LbTimer::from_token(token) {
            LbTimer::DrainDone => self.sync(cx, true),
            LbTimer::PollTargets => {
                self.sync(cx, false);
                cx.set_timer(TARGET_POLL_INTERVAL, LbTimer::PollTargets);
            }
            LbTimer::ProbeRound => self.probe_round(cx),
            LbTimer::ProbeTimeout { seq } => self.probe_result(cx, seq, false),
            LbTimer::Processed { call } => self.route_pending(cx, call),
            LbTimer::TargetTimeout => {
                for id in self.target_deadlines.expire(cx, LbTimer::TargetTimeout) {
                    self.fail_pending(cx, id, 504, false);
                }
            }
            // No SYN-ACK within the connect timeout: 504 (AWS: "The load balancer failed to
            // establish a connection to the target before the connection timeout expired (10
            // seconds)").
            LbTimer::ConnectTimeout => {
                let Some(pool) = self.pool.as_mut() else { return };
                let events = pool.connect_timer(cx, LbTimer::ConnectTimeout);
                for call in events.resend(cx) {
                    self.fail_pending(cx, call, 504, false);
                }
            }
            LbTimer::ClientConnSweep => self.clients.sweep(cx, LbTimer::ClientConnSweep),
            LbTimer::FlowSweep => {
                if let Some(flows) = self.flows.as_mut() {
                    flows.expire(cx, LbTimer::FlowSweep);
                }
            }
            LbTimer::ConnSweep => {
                if let Some(pool) = self.pool.as_mut() {
                    pool.sweep(cx, LbTimer::ConnSweep);
                }
            }
        }
    }

    fn on_crash(&mut self) {
        self.pending.clear();
        self.target_deadlines.clear();
        self.outstanding.iter_mut().for_each(|o| *o = 0);
        if let Some(pool) = self.pool.as_mut() {
            pool.clear();
        }
        if let Some(flows) = self.flows.as_mut() {
            flows.clear();
        }
        self.clients.clear();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
