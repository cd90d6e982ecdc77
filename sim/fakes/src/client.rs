//! A client workload on one host: open loop (a rate) or closed loop (requests in flight), each
//! request with a timeout. Outcomes go to the kernel's request history.
//!
//! With [`Client::with_connections`] the client keeps HTTP/1.1 keep-alive connections
//! (`conn.rs`), as a pool keyed by the destination's name: a request takes the most recently
//! used idle connection, whichever node address it went to, or resolves the name and opens a
//! new one (SYN, its retransmissions, SYN-ACK); idle ones close after the idle timeout, and
//! each after `max_requests` if set. A reset connection fails its request (`Refused`), as
//! ECONNRESET does; the client's timeout cuts a stalled connect short.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use azsim_kernel::{AzId, Cx, Failure, HostId, Message, Nanos, Outcome, Process, RequestId, TimerToken};

use crate::cloudmap::{DISCOVER_REQUEST_BYTES, Discover, DiscoverAnswer, DiscoverCall, Found, Registry};
use crate::conn::{Acquired, ConnStats, Pool};
use crate::deadline::Deadlines;
use crate::lb::LbDirectory;
use crate::matcher::Matcher;
use crate::pick::{Endpoint, Picker, weighted_index};
use crate::rpc::{self, Body, HttpRequest, Request};
use crate::tls::Tls;

/// Where the client sends.
#[derive(Clone, Debug)]
pub enum Destination {
    /// A load balancer's DNS name: regional (any node) or the client's own AZ's zonal name.
    LoadBalancer { name: String, zonal: bool, directory: LbDirectory, ttl: Nanos },
    /// Straight to a service's instances.
    Service(Picker),
    /// A service's instances as Cloud Map's `DiscoverInstances` returns them (client-side
    /// discovery), refreshed every `refresh`; on an error the last good set is kept.
    CloudMap { endpoint: HostId, request: Discover, refresh: Nanos },
    /// A Cloud Map service's DNS name (DNS namespace) through the VPC resolver: its A records,
    /// cached for their TTL, or for `cache` when the client keeps answers longer.
    CloudMapDns { registry: Arc<Mutex<Registry>>, namespace: String, service: String, cache: Option<Nanos> },
    /// A Route 53 name, through a resolver that caches answers for their TTL, or for `cache`.
    Route53 { zone: crate::route53::Route53, name: String, cache: Option<Nanos> },
}

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// Requests per second, with exponential (Poisson) or equal gaps.
    Open { rate: f64, poisson: bool },
    /// This many requests in flight at all times.
    Closed { concurrency: u32 },
}

/// A client's configuration.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Recorded with each request (which workload it belongs to).
    pub label: u32,
    pub destination: Destination,
    pub pacing: Pacing,
    /// Stop after this many requests (`None`: until `stop_at`).
    pub max_requests: Option<u64>,
    pub start_at: Nanos,
    /// No new request starts at or after this time.
    pub stop_at: Nanos,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub timeout: Nanos,
    /// The requests it sends, with weights (empty: `GET /`).
    pub mix: Vec<(u32, Arc<HttpRequest>)>,
}

/// A client's TCP connections (to a load balancer that routes connections: an NLB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConnections {
    /// Close a connection idle this long.
    pub idle_timeout: Nanos,
    /// Close a connection after this many requests (`None`: never).
    pub max_requests: Option<u64>,
    /// Each new connection's TLS handshake before its first request (`None`: plain HTTP).
    pub tls: Option<Tls>,
    /// Keep each server's session and resume it on the next connection to that server.
    pub resumption: bool,
}

/// The client's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientTimer {
    /// Time to send (open loop), or to try again after finding no address (closed loop).
    NextArrival,
    /// The request-deadline sweep ([`Deadlines`]).
    Timeout,
    /// Time to ask Cloud Map again.
    Refresh,
    /// Connections waiting for a SYN-ACK are due a retransmission or to be given up.
    Connect,
    /// Idle connections are due to close.
    ConnSweep,
}

impl TimerToken for ClientTimer {
    fn into_token(self) -> u64 {
        self as u64
    }
    fn from_token(token: u64) -> Self {
        match token {
            0 => ClientTimer::NextArrival,
            1 => ClientTimer::Timeout,
            2 => ClientTimer::Refresh,
            3 => ClientTimer::Connect,
            4 => ClientTimer::ConnSweep,
            _ => unreachable!("not a client timer: {token}"),
        }
    }
}

/// How long a closed-loop client waits after finding nothing to send to (a DNS retry).
const NO_ADDRESS_BACKOFF: Nanos = 1_000_000_000;

/// The client process.
pub struct Client {
    config: ClientConfig,
    sent: u64,
    pending: BTreeMap<u64, RequestId>,
    resolved: Vec<Endpoint>,
    /// Discovery: the first answer has arrived (and the workload started).
    discovery_answered: bool,
    /// DNS: when the cached answer expires.
    expires_at: Option<Nanos>,
    deadlines: Deadlines,
    /// Keep-alive connections (with [`Client::with_connections`]).
    pool: Option<Pool>,
    /// Each call on a connection: the connection, and the request while it waits for the
    /// SYN-ACK (and the TLS handshake).
    on_conn: BTreeMap<u64, (u64, Option<Request>)>,
    tls: Option<Tls>,
    /// Whether it keeps TLS sessions, and the servers it holds one with.
    resumption: bool,
    sessions: BTreeSet<HostId>,
    /// The statuses that count as answered (`expected_statuses`).
    expected: Matcher,
}

/// What a client expects unless told: 2xx and 3xx (k6's default `expected_response`).
pub const EXPECTED_STATUSES: Matcher = Matcher::range(200, 399);

impl Client {
    pub fn new(config: ClientConfig) -> Self {
        Client {
            config,
            sent: 0,
            pending: BTreeMap::new(),
            resolved: Vec::new(),
            discovery_answered: false,
            expires_at: None,
            deadlines: Deadlines::default(),
            pool: None,
            on_conn: BTreeMap::new(),
            tls: None,
            resumption: false,
            sessions: BTreeSet::new(),
            expected: EXPECTED_STATUSES,
        }
    }

    /// Counts the statuses in `expected` as answered (the rest fail): a probe that expects
    /// 401 stays out of the failures.
    pub fn expecting(mut self, expected: Matcher) -> Self {
        self.expected = expected;
        self
    }

    /// Sends on keep-alive connections. The client's own timeout bounds a connection attempt
    /// (the kernel's SYN retries would go on for 127 s).
    pub fn with_connections(mut self, c: ClientConnections) -> Self {
        self.pool = Some(Pool::new(c.idle_timeout, self.config.timeout).with_max_requests(c.max_requests));
        (self.tls, self.resumption) = (c.tls, c.resumption);
        self
    }

    /// What this client's connections did (zeros without connections).
    pub fn conn_stats(&self) -> ConnStats {
        self.pool.as_ref().map(|p| p.stats).unwrap_or_default()
    }

    /// Whether this client keeps connections.
    pub fn connects(&self) -> bool {
        self.pool.is_some()
    }

    /// Call `call` ends with `outcome` (its connection, if any, is given up: closed with a FIN
    /// if it was open).
    fn fail(&mut self, cx: &mut Cx<'_>, call: u64, outcome: Outcome) {
        if let (Some((conn, _)), Some(pool)) = (self.on_conn.remove(&call), self.pool.as_mut()) {
            pool.give_up(cx, conn);
        }
        if let Some(id) = self.pending.remove(&call) {
            cx.finish_request(id, outcome);
            self.refill(cx);
        }
    }

    /// Sends `req` (call `id`) on a connection: an idle one, or a new one to the address the
    /// destination resolves to now. False if there is no address.
    fn send_on_connection(&mut self, cx: &mut Cx<'_>, id: RequestId, req: Request) -> bool {
        let call = id.0;
        let pool = self.pool.as_mut().expect("a client with connections");
        if let Some((conn, to)) = pool.reuse_any(call) {
            cx.send(to, Body::on_conn(id, conn, req));
            self.on_conn.insert(call, (conn, None));
            return true;
        }
        let my_az = cx.az();
        let Some(to) = self.destination(cx, my_az) else { return false };
        let pool = self.pool.as_mut().expect("a client with connections");
        let (Acquired::Opened(conn) | Acquired::Reused(conn)) = pool.acquire(cx, to.host, call, ClientTimer::Connect);
        cx.note_handshake(id);
        cx.send(to.host, Body::syn(conn));
        self.on_conn.insert(call, (conn, Some(req)));
        true
    }

    /// Connection `conn` to `to` is ready: call `call`'s request goes on it.
    fn send_waiting(&mut self, cx: &mut Cx<'_>, to: HostId, conn: u64, call: u64) {
        if let Some(req) = self.on_conn.get_mut(&call).and_then(|(_, req)| req.take()) {
            cx.send(to, Body::on_conn(RequestId(req.call_id), conn, req));
        }
    }

    fn may_send(&self, now: Nanos) -> bool {
        now < self.config.stop_at && self.config.max_requests.is_none_or(|m| self.sent < m)
    }

    fn destination(&mut self, cx: &mut Cx<'_>, my_az: AzId) -> Option<Endpoint> {
        match &mut self.config.destination {
            Destination::Service(picker) => picker.pick(cx.rng(), my_az, &[]),
            Destination::CloudMap { .. } => {
                if self.resolved.is_empty() {
                    return None;
                }
                let i = cx.rng().below(self.resolved.len() as u64) as usize;
                Some(self.resolved[i])
            }
            Destination::CloudMapDns { registry, namespace, service, cache } => {
                let now = cx.now();
                if self.expires_at.is_none_or(|t| now >= t) {
                    let answer = registry.lock().expect("cloud map lock").dns_answer(now, cx.rng(), namespace, service);
                    let (found, ttl) = answer.unwrap_or_default();
                    let ttl = cache.unwrap_or(ttl).max(1);
                    let age = if self.expires_at.is_none() { cx.rng().below(ttl) } else { 0 };
                    self.resolved = endpoints(cx, &found);
                    self.expires_at = Some(now + ttl - age);
                }
                if self.resolved.is_empty() {
                    return None;
                }
                let i = cx.rng().below(self.resolved.len() as u64) as usize;
                Some(self.resolved[i])
            }
            Destination::Route53 { zone, name, cache } => {
                let now = cx.now();
                if self.expires_at.is_none_or(|t| now >= t) {
                    let (found, ttl) = zone.resolve(cx, name).unwrap_or_default();
                    let ttl = cache.unwrap_or(ttl).max(1);
                    let age = if self.expires_at.is_none() { cx.rng().below(ttl) } else { 0 };
                    self.resolved = found;
                    self.expires_at = Some(now + ttl - age);
                }
                if self.resolved.is_empty() {
                    return None;
                }
                let i = cx.rng().below(self.resolved.len() as u64) as usize;
                Some(self.resolved[i])
            }
            Destination::LoadBalancer { name, zonal, directory, ttl } => {
                let now = cx.now();
                if self.expires_at.is_none_or(|t| now >= t) {
                    // The first answer of a run is as old as a random share of the TTL: the
                    // client looked the name up at some point before the run began, so clients
                    // do not all look it up again at the same instant.
                    let age = if self.expires_at.is_none() { cx.rng().below(*ttl) } else { 0 };
                    self.resolved = directory.resolve(cx, name, zonal.then_some(my_az));
                    self.expires_at = Some(now + *ttl - age);
                }
                if self.resolved.is_empty() {
                    return None;
                }
                let i = cx.rng().below(self.resolved.len() as u64) as usize;
                Some(self.resolved[i])
            }
        }
    }

    /// Sends one request; false if it failed at once (nothing to send to).
    fn send_one(&mut self, cx: &mut Cx<'_>) -> bool {
        self.sent += 1;
        let id = cx.new_request(self.config.label);
        let sent = if self.pool.is_some() {
            let http = self.pick_http(cx, id);
            let req = self.request(cx, id, http);
            self.send_on_connection(cx, id, req)
        } else {
            self.send_as_message(cx, id)
        };
        if !sent {
            cx.finish_request(id, Outcome::Failed(Failure::NoAddress));
            return false;
        }
        self.pending.insert(id.0, id);
        self.deadlines.add(cx, id.0, self.config.timeout, ClientTimer::Timeout);
        true
    }

    /// Sends request `id` as a message to the address the destination resolves to now. False if
    /// there is none.
    fn send_as_message(&mut self, cx: &mut Cx<'_>, id: RequestId) -> bool {
        let my_az = cx.az();
        let Some(to) = self.destination(cx, my_az) else { return false };
        let http = self.pick_http(cx, id);
        let req = self.request(cx, id, http);
        cx.send(to.host, rpc::request(id, req));
        true
    }

    /// Request `id` with `http`.
    fn request(&self, cx: &Cx<'_>, id: RequestId, http: Arc<HttpRequest>) -> Request {
        Request {
            reply_to: cx.host(),
            call_id: id.0,
            request_bytes: self.config.request_bytes + http.large_header_bytes,
            response_bytes: self.config.response_bytes,
            chain_azs: Vec::new(),
            http,
            source: cx.host(),
        }
    }

    /// Client-side discovery: asks Cloud Map and schedules the next refresh.
    fn discover(&mut self, cx: &mut Cx<'_>) {
        let Destination::CloudMap { endpoint, request, refresh } = &self.config.destination else { return };
        let call = DiscoverCall { call_id: 0, request: request.clone() };
        let (endpoint, refresh) = (*endpoint, *refresh);
        cx.send(endpoint, Body::DiscoverCall(call).message(None, DISCOVER_REQUEST_BYTES));
        cx.set_timer(refresh, ClientTimer::Refresh);
    }

    /// Keeps the instances Cloud Map returned (their `AWS_INSTANCE_IPV4`); on an error keeps
    /// the last good set (static stability).
    fn discovered(&mut self, cx: &mut Cx<'_>, answer: DiscoverAnswer) {
        if !self.discovery_answered {
            self.discovery_answered = true;
            let wait = self.config.start_at.saturating_sub(cx.now());
            cx.set_timer(wait, ClientTimer::NextArrival);
        }
        let Ok(found) = answer.result else { return };
        self.resolved = endpoints(cx, &found);
    }

    /// One request of the mix, by weight.
    /// Picks request `id`'s entry of the mix (by weight) and tags the request with its index.
    fn pick_http(&self, cx: &mut Cx<'_>, id: RequestId) -> Arc<HttpRequest> {
        let i = weighted_index(cx.rng(), self.config.mix.iter().map(|(w, _)| *w)).unwrap_or(0);
        cx.tag_request(id, i as u32);
        self.config.mix.get(i).map(|(_, r)| r.clone()).unwrap_or_default()
    }

    /// Closed loop: replace a finished request. A request that fails at once (no address) is
    /// retried after a pause rather than in a loop at the same instant.
    fn refill(&mut self, cx: &mut Cx<'_>) {
        if let Pacing::Closed { concurrency } = self.config.pacing {
            while (self.pending.len() as u32) < concurrency && self.may_send(cx.now()) {
                if !self.send_one(cx) {
                    cx.set_timer(NO_ADDRESS_BACKOFF, ClientTimer::NextArrival);
                    return;
                }
            }
        }
    }

    fn next_gap(&self, cx: &mut Cx<'_>, rate: f64, poisson: bool) -> Nanos {
        let mean = 1e9 / rate;
        let gap = if poisson { -mean * (1.0 - cx.rng().next_f64()).ln() } else { mean };
        gap.round().max(1.0) as Nanos
    }
}

impl Process for Client {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        // A discovering client starts its workload once it has heard from Cloud Map.
        if matches!(self.config.destination, Destination::CloudMap { .. }) {
            return self.discover(cx);
        }
        let wait = self.config.start_at.saturating_sub(cx.now());
        cx.set_timer(wait, ClientTimer::NextArrival);
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        match Body::of(msg) {
            Body::DiscoverAnswer(answer) => self.discovered(cx, answer),
            Body::SynAck(seg) => {
                let Some(pool) = self.pool.as_mut() else { return };
                match pool.established(seg.conn).filter(|call| self.on_conn.contains_key(call)) {
                    Some(_) if self.tls.is_some() => cx.send(from, Body::tls_hello(seg.conn, 1, self.sessions.contains(&from))),
                    Some(call) => self.send_waiting(cx, from, seg.conn, call),
                    None => cx.send(from, Body::fin(seg.conn)), // given up meanwhile
                }
            }
            // The server's flight: the handshake's next round trip, or the request.
            Body::TlsReply(f) => {
                let Some(call) = self.pool.as_ref().and_then(|p| p.busy_with(f.conn)) else { return }; // given up meanwhile
                match f.round < self.tls.map_or(0, |t| t.round_trips(f.resumed)) {
                    true => cx.send(from, Body::tls_hello(f.conn, f.round + 1, f.resumed)),
                    false => {
                        if self.resumption {
                            self.sessions.insert(from);
                        }
                        self.send_waiting(cx, from, f.conn, call)
                    }
                }
            }
            Body::Fin(seg) => {
                if let Some(pool) = self.pool.as_mut() {
                    pool.server_closed(seg.conn);
                }
            }
            // ECONNRESET: the request on the connection fails.
            Body::Rst(seg) => {
                if let Some(call) = self.pool.as_mut().and_then(|pool| pool.reset(seg.conn)) {
                    self.on_conn.remove(&call);
                    self.fail(cx, call, Outcome::Failed(Failure::Reset));
                }
            }
            Body::Response(resp) => {
                if let (Some((conn, _)), Some(pool)) = (self.on_conn.remove(&resp.call_id), self.pool.as_mut())
                    && let Some(dest) = pool.release(cx, conn, resp.connection_close, ClientTimer::ConnSweep)
                {
                    cx.send(dest, Body::fin(conn)); // its last allowed request
                }
                let Some(id) = self.pending.remove(&resp.call_id) else { return }; // after its timeout
                // The statuses the client expects are answers (2xx and 3xx unless it says).
                let outcome = if self.expected.matches(resp.status) { Outcome::Ok } else { Outcome::Failed(Failure::Status(resp.status)) };
                cx.note_status(id, resp.status);
                cx.finish_request(id, outcome);
                self.refill(cx);
            }
            _ => {}
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        match Body::of(msg) {
            Body::Request(req) => {
                if let Some(id) = self.pending.remove(&req.call_id) {
                    cx.finish_request(id, Outcome::Failed(Failure::Refused));
                    self.refill(cx);
                }
            }
            // The node is gone: its kernel resets the open connection under the request.
            Body::ConnRequest(cr) => {
                if let Some(pool) = self.pool.as_mut() {
                    pool.reset(cr.conn);
                }
                self.on_conn.remove(&cr.req.call_id);
                self.fail(cx, cr.req.call_id, Outcome::Failed(Failure::Reset));
            }
            Body::Syn(seg) => {
                if let Some(call) = self.pool.as_mut().and_then(|pool| pool.reset(seg.conn)) {
                    self.on_conn.remove(&call);
                    self.fail(cx, call, Outcome::Failed(Failure::Refused));
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        match ClientTimer::from_token(token) {
            ClientTimer::Refresh => self.discover(cx),
            ClientTimer::Timeout => {
                for key in self.deadlines.expire(cx, ClientTimer::Timeout) {
                    self.fail(cx, key, Outcome::Failed(Failure::Timeout));
                }
            }
            ClientTimer::Connect => {
                let Some(pool) = self.pool.as_mut() else { return };
                let events = pool.connect_timer(cx, ClientTimer::Connect);
                for call in events.resend(cx) {
                    self.on_conn.remove(&call);
                    self.fail(cx, call, Outcome::Failed(Failure::Timeout));
                }
            }
            ClientTimer::ConnSweep => {
                let Some(pool) = self.pool.as_mut() else { return };
                pool.sweep(cx, ClientTimer::ConnSweep);
            }
            ClientTimer::NextArrival => match self.config.pacing {
                Pacing::Closed { .. } => self.refill(cx),
                Pacing::Open { rate, poisson } => {
                    if !self.may_send(cx.now()) {
                        return;
                    }
                    let _ = self.send_one(cx);
                    let gap = self.next_gap(cx, rate, poisson);
                    cx.set_timer(gap, ClientTimer::NextArrival);
                }
            },
        }
    }

    fn on_crash(&mut self) {
        // The client's memory is gone; its in-flight requests stay `unknown` in the history.
        self.pending.clear();
        self.deadlines.clear();
        self.resolved.clear();
        self.discovery_answered = false;
        self.expires_at = None;
        self.on_conn.clear();
        if let Some(pool) = self.pool.as_mut() {
            pool.clear();
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The hosts behind Cloud Map instances (their `AWS_INSTANCE_IPV4`).
fn endpoints(cx: &Cx<'_>, found: &[Found]) -> Vec<Endpoint> {
    let topo = cx.topology();
    found
        .iter()
        .filter_map(|f| f.attributes.get("AWS_INSTANCE_IPV4")?.parse().ok())
        .filter_map(|ip| topo.host_by_ip(ip))
        .map(|h| Endpoint { host: h, az: topo.host(h).az })
        .collect()
}
