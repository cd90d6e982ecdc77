//! NAT gateways and an egress proxy fleet (`sim/fakes/FIDELITY.md` NAT and EGR rows).
//!
//! - [`NatGateway`]: a zonal NAT with an Elastic IP (its host's address): what leaves through
//!   it arrives from that address (source translation), and the answer comes back through it.
//!   It holds at most 55,000 connections at once per destination (each request in flight is
//!   one here) and refuses more (a reset: the caller's `on_refused`). It dies with its AZ, and
//!   so does the traffic of every subnet routed to it.
//! - [`EgressProxy`]: stands for an Envoy egress fleet (`sim/fakes/FIDELITY.md` EGR-01): it answers its load balancer's
//!   health check itself (shallow, the sample's) or only while its last probe of the
//!   destination through its NAT passed (`deep`); it requires a shared-secret header, taking
//!   each secret only in its window (so the current and the previous one overlap during a
//!   rotation), strips it, and forwards the request through its subnet's NAT.
//! - The NAT's 350 s idle timeout: a connection the NAT saw nothing on for longer is gone from
//!   its table, and the next packet on it gets an RST. It bites a proxy that keeps idle
//!   upstream connections in a pool ([`UpstreamPool`]; Envoy keeps them an hour) unless TCP
//!   keep-alives under 350 s keep the mapping alive. A proxy without a pool opens a connection
//!   per request, which is never idle.
//!
//! Not modelled: bandwidth and packet-rate limits, secondary addresses.

use std::collections::BTreeMap;
use std::sync::Arc;

use azsim_kernel::{Cx, HostId, Message, Nanos, Packer, Process, TimerToken, Unpacker};

use crate::rpc::{self, Body, HEALTH_CHECK_BYTES, HealthReply, HttpRequest, Relay, Request};

/// AWS: 55,000 simultaneous connections per unique destination per address.
pub const CONNECTIONS_PER_DESTINATION: usize = 55_000;

/// AWS: a connection idle for 350 s is dropped, and the next packet on it gets an RST.
pub const IDLE_TIMEOUT: Nanos = 350_000_000_000;

/// A long-lived connection through the NAT: its id (per inside host), the TCP keep-alive
/// interval its sender uses (keep-alive packets refresh the NAT's mapping), and how long its
/// sender keeps it idle before closing it (after which its keep-alives stop too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conn {
    pub id: u64,
    /// Opened for this request (the NAT creates the mapping).
    pub new: bool,
    pub keepalive: Option<Nanos>,
    pub idle_timeout: Nanos,
}

/// A request for the NAT to send on to `to`, on a pooled connection or (`conn: None`) a
/// connection of its own.
#[derive(Clone, Debug)]
pub struct NatForward {
    pub to: HostId,
    pub req: Request,
    pub conn: Option<Conn>,
}

/// The NAT's RST for a connection it no longer knows (call `call_id` was sent on it).
#[derive(Clone, Debug)]
pub struct ConnReset {
    pub call_id: u64,
}

/// A probe for the NAT to send on to `to` (an egress proxy's deep health check).
#[derive(Clone, Debug)]
pub struct NatProbe {
    pub to: HostId,
    pub seq: u64,
}

/// What a NAT gateway did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatCounts {
    /// Bytes processed (both directions): what AWS charges per GB.
    pub bytes: u64,
    /// Connections refused: no port left for the destination (`ErrorPortAllocation`).
    pub port_exhausted: u64,
    /// Packets on a connection idle past the timeout, answered with RST.
    pub idle_resets: u64,
}

/// A zonal NAT gateway.
#[derive(Default)]
pub struct NatGateway {
    relay: Relay,
    /// Probe seq -> the inside prober.
    probes: BTreeMap<u64, HostId>,
    per_destination: BTreeMap<HostId, usize>,
    destination_of: BTreeMap<u64, HostId>,
    /// Long-lived connections: (inside host, connection id) -> when the NAT last saw traffic
    /// on it, and its keep-alive interval.
    flows: BTreeMap<(HostId, u64), (Nanos, Conn)>,
    /// Call (ours) -> the flow it travels on.
    flow_of: BTreeMap<u64, (HostId, u64)>,
    pub counts: NatCounts,
}

impl NatGateway {
    /// The connection of call `call` is closed.
    fn close(&mut self, now: Nanos, call: u64) {
        // The answer is traffic on the connection too.
        if let Some(key) = self.flow_of.remove(&call)
            && let Some(flow) = self.flows.get_mut(&key)
        {
            flow.0 = now;
        }
        if let Some(to) = self.destination_of.remove(&call)
            && let Some(n) = self.per_destination.get_mut(&to)
        {
            *n = n.saturating_sub(1);
        }
    }
}

impl NatGateway {
    pub fn new() -> NatGateway {
        NatGateway::default()
    }
}

impl Process for NatGateway {
    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        let (id, bytes) = (msg.request, msg.bytes);
        self.counts.bytes += bytes;
        match Body::of(msg) {
            Body::NatForward(NatForward { to, req, conn }) => {
                let Some(id) = id else { return };
                let now = cx.now();
                if let Some(c) = conn {
                    let key = (from, c.id);
                    // Traffic within the timeout keeps a mapping, and so do keep-alives more
                    // often than that, while the sender keeps the connection open.
                    let alive = |(last, conn): (Nanos, Conn)| {
                        let idle = now.saturating_sub(last);
                        idle <= IDLE_TIMEOUT || (conn.keepalive.is_some_and(|k| k < IDLE_TIMEOUT) && idle < conn.idle_timeout)
                    };
                    if !c.new && !self.flows.get(&key).copied().is_some_and(alive) {
                        // The mapping timed out: the NAT answers the inside host with an RST.
                        self.flows.remove(&key);
                        self.counts.idle_resets += 1;
                        cx.send(from, Body::ConnReset(ConnReset { call_id: req.call_id }).packet(Some(id), crate::conn::RST_BYTES));
                        return;
                    }
                    if c.new {
                        // Mappings time out: forget those past it (also those the proxy closed).
                        self.flows.retain(|_, f| alive(*f));
                    }
                    self.flows.insert(key, (now, c));
                }
                let flow = conn.map(|c| (from, c.id));
                let open = self.per_destination.entry(to).or_default();
                if *open >= CONNECTIONS_PER_DESTINATION {
                    self.counts.port_exhausted += 1;
                    cx.send(req.reply_to, rpc::response(Some(id), req.call_id, 502, 0));
                    return;
                }
                *open += 1;
                // Source translation: the destination sees the Elastic IP.
                let out = self.relay.take(cx.host(), id, req);
                self.destination_of.insert(out.call_id, to);
                if let Some(flow) = flow {
                    self.flow_of.insert(out.call_id, flow);
                }
                cx.send(to, rpc::request(id, out));
            }
            Body::NatProbe(p) => {
                self.probes.insert(p.seq, from);
                cx.send(p.to, Body::health_check(p.seq));
            }
            Body::HealthReply(r) => {
                if let Some(prober) = self.probes.remove(&r.seq) {
                    cx.send(prober, Body::health_reply(r));
                }
            }
            // An answer to a call of ours goes back; the connection closes.
            Body::Response(resp) if self.relay.answer(cx, resp.call_id, resp.status, bytes) => self.close(cx.now(), resp.call_id),
            _ => {}
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        if let Body::Request(req) = Body::of(msg)
            && self.relay.answer(cx, req.call_id, 502, 0)
        {
            self.close(cx.now(), req.call_id);
        }
    }

    fn on_crash(&mut self) {
        self.relay.clear();
        self.probes.clear();
        self.per_destination.clear();
        self.destination_of.clear();
        self.flows.clear();
        self.flow_of.clear();
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A secret the egress proxy takes, in a window of time (`until: None`: forever).
#[derive(Clone, Debug)]
pub struct Secret {
    pub value: String,
    pub from: Nanos,
    pub until: Option<Nanos>,
}

/// An egress proxy's configuration.
#[derive(Clone, Debug)]
pub struct EgressConfig {
    /// The header carrying the shared secret.
    pub header: String,
    pub secrets: Vec<Secret>,
    /// The NAT gateway its subnet's route table points at.
    pub nat: HostId,
    /// Where it sends what it accepts.
    pub destination: HostId,
    /// Health checks pass only while a probe of the destination through the NAT passed
    /// within the last `deep.1` (probing every `deep.0`); `None`: they always pass.
    pub deep: Option<(Nanos, Nanos)>,
    /// Its own answer time for the request.
    pub timeout: Nanos,
    /// Keep upstream connections open between requests (`None`: one per request).
    pub pool: Option<UpstreamPool>,
}

/// How an egress proxy keeps connections to its destination (Envoy's cluster settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamPool {
    /// It closes a connection idle this long (Envoy's default: 1 h).
    pub idle_timeout: Nanos,
    /// TCP keep-alive interval on its connections (Envoy: off unless configured).
    pub keepalive: Option<Nanos>,
}

/// What an egress proxy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressCounts {
    pub forwarded: u64,
    /// 403: no secret, or one outside its window.
    pub rejected: u64,
    pub timeouts: u64,
    /// Requests that met an RST from the NAT on a pooled connection (503).
    pub resets: u64,
}

/// An egress proxy's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EgressTimer {
    /// Time for a deep health check of the destination.
    Probe,
    /// The destination did not answer the relayed call in time.
    Timeout { call: u64 },
}

impl TimerToken for EgressTimer {
    fn into_token(self) -> u64 {
        match self {
            EgressTimer::Probe => Packer::new().put(0, 1).finish(),
            EgressTimer::Timeout { call } => Packer::new().put(1, 1).put(call, 63).finish(),
        }
    }
    fn from_token(token: u64) -> Self {
        let mut fields = Unpacker::new(token);
        match fields.take(1) {
            0 => EgressTimer::Probe,
            _ => EgressTimer::Timeout { call: fields.take(63) },
        }
    }
}

/// An egress proxy instance.
pub struct EgressProxy {
    config: Arc<EgressConfig>,
    relay: Relay,
    /// The last probe's number.
    probe: u64,
    /// When a deep probe last passed.
    last_ok: Option<Nanos>,
    /// Idle pooled connections (id, idle since), most recently used last.
    idle: Vec<(u64, Nanos)>,
    /// Call -> the pooled connection it is on.
    on_conn: BTreeMap<u64, u64>,
    conns: u64,
    pub counts: EgressCounts,
}

impl EgressProxy {
    pub fn new(config: Arc<EgressConfig>) -> EgressProxy {
        EgressProxy {
            config,
            relay: Relay::default(),
            probe: 0,
            last_ok: None,
            idle: Vec::new(),
            on_conn: BTreeMap::new(),
            conns: 0,
            counts: EgressCounts::default(),
        }
    }

    /// The connection for call `call`: the most recently used idle one the proxy has not
    /// closed yet, else a new one (`None` without a pool).
    fn connection(&mut self, now: Nanos, call: u64) -> Option<Conn> {
        let pool = self.config.pool?;
        self.idle.retain(|(_, since)| now.saturating_sub(*since) < pool.idle_timeout);
        let (id, new) = match self.idle.pop() {
            Some((id, _)) => (id, false),
            None => {
                self.conns += 1;
                (self.conns, true)
            }
        };
        self.on_conn.insert(call, id);
        Some(Conn { id, new, keepalive: pool.keepalive, idle_timeout: pool.idle_timeout })
    }

    /// Call `call` is over; its connection goes back to the pool if it is still good.
    fn release(&mut self, now: Nanos, call: u64, reusable: bool) {
        if let Some(id) = self.on_conn.remove(&call)
            && reusable
        {
            self.idle.push((id, now));
        }
    }

    fn accepts(&self, now: Nanos, http: &HttpRequest) -> bool {
        let Some((_, value)) = http.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(&self.config.header)) else { return false };
        self.config.secrets.iter().any(|s| s.value == *value && s.from <= now && s.until.is_none_or(|u| now < u))
    }

    fn healthy(&self, now: Nanos) -> bool {
        match self.config.deep {
            None => true,
            Some((_, window)) => self.last_ok.is_some_and(|t| now.saturating_sub(t) <= window),
        }
    }
}

impl Process for EgressProxy {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        if let Some((every, _)) = self.config.deep {
            let phase = cx.rng().below(every.max(1));
            cx.set_timer(phase, EgressTimer::Probe);
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        let (id, bytes) = (msg.request, msg.bytes);
        // A caller that connects (CloudFront, if a record names the proxies) is accepted
        // without per-connection state.
        let Some(body) = crate::conn::accept_stateless(cx, from, Body::of(msg)) else { return };
        match body {
            Body::Request(req) => {
                let Some(id) = id else { return };
                if !self.accepts(cx.now(), &req.http) {
                    self.counts.rejected += 1;
                    cx.send(req.reply_to, rpc::response(Some(id), req.call_id, 403, 0));
                    return;
                }
                self.counts.forwarded += 1;
                let mut out = self.relay.take(cx.host(), id, req);
                // The secret stays here.
                let mut http = (*out.http).clone();
                http.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&self.config.header));
                out.http = Arc::new(http);
                let call = out.call_id;
                let conn = self.connection(cx.now(), call);
                let bytes = out.request_bytes;
                let head = out.http.request_head_bytes(out.request_bytes);
                cx.send(self.config.nat, Body::NatForward(NatForward { to: self.config.destination, req: out, conn }).message(Some(id), bytes).with_head(head));
                cx.set_timer(self.config.timeout, EgressTimer::Timeout { call });
            }
            // The load balancer's probe: answered here, from what the proxy knows.
            Body::HealthCheck(hc) => {
                let status = if self.healthy(cx.now()) { 200 } else { 503 };
                cx.send(from, Body::health_reply(HealthReply::status(hc.seq, status)));
            }
            // Our probe of the destination, back through the NAT.
            Body::HealthReply(r) if r.passes() => self.last_ok = Some(cx.now()),
            // The NAT forgot the connection: Envoy answers 503 ("upstream connect error or
            // disconnect/reset before headers") and does not reuse it.
            Body::ConnReset(rst) => {
                self.release(cx.now(), rst.call_id, false);
                if self.relay.answer(cx, rst.call_id, 503, 0) {
                    self.counts.resets += 1;
                }
            }
            // An answer to a call of ours goes back; its connection returns to the pool.
            Body::Response(resp) if self.relay.answer(cx, resp.call_id, resp.status, bytes) => self.release(cx.now(), resp.call_id, true),
            _ => {}
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        if let Body::NatForward(fwd) = Body::of(msg) {
            self.release(cx.now(), fwd.req.call_id, false);
            self.relay.answer(cx, fwd.req.call_id, 502, 0);
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        match EgressTimer::from_token(token) {
            EgressTimer::Probe => {
                if let Some((every, _)) = self.config.deep {
                    self.probe += 1;
                    let probe = NatProbe { to: self.config.destination, seq: self.probe };
                    cx.send(self.config.nat, Body::NatProbe(probe).message(None, HEALTH_CHECK_BYTES));
                    cx.set_timer(every, EgressTimer::Probe);
                }
            }
            EgressTimer::Timeout { call } => {
                if self.relay.answer(cx, call, 504, 0) {
                    self.counts.timeouts += 1;
                    self.release(cx.now(), call, false);
                }
            }
        }
    }

    fn on_crash(&mut self) {
        self.relay.clear();
        self.idle.clear();
        self.on_conn.clear();
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
